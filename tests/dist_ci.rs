//! The CI packaging (action.yml, the GitLab template, the example workflows) checked by the
//! checkers their users run: actionlint (with shellcheck on every `run:`), the GitHub
//! Actions and workflow schemas and the GitLab CI schema vendored in check-jsonschema, and
//! shellcheck on the action's and the template's scripts. `.ci/run` installs the pinned
//! checkers; without them these tests skip loudly (and fail under CI). Each checker is
//! also shown a planted mistake, so a checker that accepts anything fails the test.
//! Also: the crate packages only what it needs.

mod support;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Runs a checker: (success, output).
fn check(cmd: &mut Command) -> (bool, String) {
    support::run(cmd)
}

/// A scratch repository holding `action.yml` at its root and `workflow` as
/// `.github/workflows/use.yml`, where `uses: OWNER/bkenv@...` becomes `uses: ./`: actionlint
/// then checks the workflow's inputs against this repository's action.yml.
fn scratch_repo(action: &str, workflow: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(dir.path().join(".git")).expect(".git");
    fs::create_dir_all(dir.path().join(".github/workflows")).expect("workflows");
    fs::write(dir.path().join("action.yml"), action).expect("action.yml");
    let local = workflow
        .lines()
        .map(|l| match l.split_once("uses: OWNER/bkenv@") {
            Some((indent, _)) => format!("{indent}uses: ./"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(dir.path().join(".github/workflows/use.yml"), local).expect("workflow");
    dir
}

fn actionlint(repo: &Path) -> (bool, String) {
    check(
        Command::new("actionlint")
            .args(["-no-color", ".github/workflows/use.yml"])
            .current_dir(repo),
    )
}

const EXAMPLE_WORKFLOW: &str = "examples/ci/github-actions.yml";

#[test]
fn actionlint_accepts_the_example_workflow_and_the_action() {
    if support::tool("actionlint").is_none() || support::tool("shellcheck").is_none() {
        return;
    }
    let (ok, out) = check(Command::new("actionlint").args([
        "-no-color",
        root().join(EXAMPLE_WORKFLOW).to_str().expect("utf-8"),
    ]));
    assert!(ok, "actionlint {EXAMPLE_WORKFLOW}:\n{out}");

    // The example's `uses: OWNER/bkenv@...` against this action.yml.
    let action = read("action.yml");
    let workflow = read(EXAMPLE_WORKFLOW);
    assert!(
        workflow.contains("uses: OWNER/bkenv@"),
        "the example uses the action"
    );
    let repo = scratch_repo(&action, &workflow);
    let (ok, out) = actionlint(repo.path());
    assert!(ok, "actionlint with the local action:\n{out}");

    // Planted: an input the action does not have, and a deprecated checkout.
    let typo = scratch_repo(&action, &workflow.replace("cache-ref:", "cache-reff:"));
    let (ok, out) = actionlint(typo.path());
    assert!(
        !ok && out.contains(r#"input "cache-reff" is not defined in action"#),
        "{out}"
    );
    let old = scratch_repo(&action, &workflow.replace("checkout@v6", "checkout@v4"));
    let (ok, out) = actionlint(old.path());
    assert!(!ok && out.contains("node20"), "{out}");
}

fn schema_check(schema: &str, file: &Path) -> (bool, String) {
    check(
        Command::new("check-jsonschema")
            .args(["--builtin-schema", schema])
            .arg(file),
    )
}

#[test]
fn schemas_accept_the_action_the_workflows_and_the_gitlab_files() {
    if support::tool("check-jsonschema").is_none() {
        return;
    }
    for (schema, file) in [
        ("vendor.github-actions", "action.yml"),
        ("vendor.github-workflows", EXAMPLE_WORKFLOW),
        ("vendor.gitlab-ci", "ci/gitlab/bkenv-preflight.yml"),
        ("vendor.gitlab-ci", "examples/ci/gitlab-ci.yml"),
    ] {
        let (ok, out) = schema_check(schema, &root().join(file));
        assert!(ok, "{schema} {file}:\n{out}");
    }
    // Planted: a composite step without `shell`, and a GitLab `when` that does not exist.
    let dir = tempfile::tempdir().expect("tempdir");
    let action = read("action.yml").replacen("      shell: bash\n", "", 1);
    let bad_action = dir.path().join("action.yml");
    fs::write(&bad_action, action).expect("write");
    let (ok, out) = schema_check("vendor.github-actions", &bad_action);
    assert!(!ok, "a step without shell passed:\n{out}");
    let gitlab = read("ci/gitlab/bkenv-preflight.yml").replace("when: always", "when: sometimes");
    let bad_gitlab = dir.path().join("bkenv-preflight.yml");
    fs::write(&bad_gitlab, gitlab).expect("write");
    let (ok, out) = schema_check("vendor.gitlab-ci", &bad_gitlab);
    assert!(!ok && out.contains("sometimes"), "{out}");
}

#[derive(Deserialize)]
struct Action {
    runs: Runs,
}

#[derive(Deserialize)]
struct Runs {
    using: String,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    name: String,
    run: Option<String>,
    shell: Option<String>,
    uses: Option<String>,
}

#[derive(Deserialize)]
struct GitlabJob {
    script: Vec<String>,
    variables: BTreeMap<String, String>,
    cache: GitlabCache,
}

#[derive(Deserialize)]
struct GitlabCache {
    paths: Vec<String>,
}

fn shellcheck(shell: &str, script: &str) -> (bool, String) {
    let mut file = tempfile::NamedTempFile::new().expect("temp");
    std::io::Write::write_all(&mut file, script.as_bytes()).expect("write");
    check(
        Command::new("shellcheck")
            .args(["--shell", shell, "--severity", "style"])
            .arg(file.path()),
    )
}

/// actionlint shellchecks workflows' `run:` but not a composite action's: done here, as
/// bash (every step says `shell: bash`). The GitLab job's script runs in `sh`.
#[test]
fn shellcheck_accepts_the_action_and_template_scripts() {
    if support::tool("shellcheck").is_none() {
        return;
    }
    let action: Action = serde_saphyr::from_str(&read("action.yml")).expect("action.yml");
    assert_eq!(action.runs.using, "composite");
    for step in &action.runs.steps {
        match (&step.run, &step.uses) {
            (Some(run), None) => {
                assert_eq!(step.shell.as_deref(), Some("bash"), "{}", step.name);
                // `${{ }}` is expanded by the runner before bash sees the script.
                assert!(
                    !run.contains("${{"),
                    "{}: inputs go through env:",
                    step.name
                );
                let (ok, out) = shellcheck("bash", run);
                assert!(ok, "{}:\n{run}\n{out}", step.name);
            }
            (None, Some(uses)) => assert!(
                uses.starts_with("github/codeql-action/upload-sarif@v"),
                "{uses}"
            ),
            _ => panic!("{}: a step runs or uses", step.name),
        }
    }
    let jobs: BTreeMap<String, GitlabJob> =
        serde_saphyr::from_str(&read("ci/gitlab/bkenv-preflight.yml")).expect("template");
    let job = &jobs["bkenv-preflight"];
    // The job's variables are in the script's environment, expanded as GitLab does.
    let mut script: String = job
        .variables
        .iter()
        .map(|(k, v)| format!("export {k}=\"{v}\"\n"))
        .collect();
    script.push_str(&job.script.join("\n"));
    let (ok, out) = shellcheck("sh", &script);
    assert!(ok, "{script}\n{out}");
    // Planted: the unquoted expansion the template avoids.
    let (ok, out) = shellcheck("sh", "cd $CI_PROJECT_DIR\n");
    assert!(!ok && out.contains("SC2086"), "{out}");
}

/// The repository's own scripts (CI entry point, benchmarks), as bash.
#[test]
fn shellcheck_accepts_the_repository_scripts() {
    if support::tool("shellcheck").is_none() {
        return;
    }
    let mut scripts = vec![root().join(".ci/run")];
    for entry in fs::read_dir(root().join("bench")).expect("bench/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "sh") {
            scripts.push(path);
        }
    }
    assert!(scripts.len() >= 4, "{scripts:?}");
    for script in &scripts {
        let (ok, out) = check(
            Command::new("shellcheck")
                .args(["--shell", "bash", "--severity", "style"])
                .arg(script),
        );
        assert!(ok, "{}:\n{out}", script.display());
    }
}

/// The template builds the bkenv of the tag it belongs to: its pin is this version, and
/// so is the example's `uses:` ref.
#[test]
fn pins_are_this_version() {
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let jobs: BTreeMap<String, GitlabJob> =
        serde_saphyr::from_str(&read("ci/gitlab/bkenv-preflight.yml")).expect("template");
    assert_eq!(jobs["bkenv-preflight"].variables["BKENV_VERSION"], version);
    let template = read("ci/gitlab/bkenv-preflight.yml");
    assert!(
        template.contains(&format!("ref: {version}\n")),
        "include example"
    );
    for file in [EXAMPLE_WORKFLOW, "action.yml", "README.md"] {
        for (i, line) in read(file).lines().enumerate() {
            if let Some((_, rest)) = line.split_once("OWNER/bkenv@") {
                assert!(rest.starts_with(&version), "{file}:{}: {line}", i + 1);
            }
        }
    }
}

/// The template caches the bkenv it installs, and nothing of an environment: `.bkenv/` is
/// an environment's state (generated passwords), which a cache would spread to every
/// pipeline of the project.
#[test]
fn template_caches_the_install_and_never_environment_state() {
    let jobs: BTreeMap<String, GitlabJob> =
        serde_saphyr::from_str(&read("ci/gitlab/bkenv-preflight.yml")).expect("template");
    let job = &jobs["bkenv-preflight"];
    let root = job.variables["BKENV_ROOT"]
        .strip_prefix("${CI_PROJECT_DIR}/")
        .expect("BKENV_ROOT under the project (GitLab caches only paths there)");
    assert_eq!(job.cache.paths, [format!("{root}/")]);
    for path in &job.cache.paths {
        assert!(
            !path.trim_end_matches('/').split('/').any(|c| c == ".bkenv"),
            "{path} caches an environment's state"
        );
    }
}

/// What `cargo package` would publish: the sources, templates, build script and docs;
/// no tests, fixtures, benches, fuzz targets, CI files or examples.
#[test]
fn the_package_holds_only_what_the_crate_needs() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["package", "--list", "--allow-dirty", "--offline", "--quiet"])
        .current_dir(root())
        .output()
        .expect("cargo package --list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "README.md",
        "LICENSE",
        "src/main.rs",
        "src/lib.rs",
        "src/catalog/explain/BK002.md",
        "templates/bkenv.toml",
        "templates/docker-compose.yml.j2",
    ] {
        assert!(
            files.iter().any(|f| f == needed),
            "{needed} missing: {files:?}"
        );
    }
    let allowed = ["src/", "templates/"];
    let top = [
        "Cargo.toml",
        "Cargo.toml.orig",
        "Cargo.lock",
        "build.rs",
        "README.md",
        "LICENSE",
        ".cargo_vcs_info.json",
    ];
    for f in &files {
        assert!(
            top.contains(&f.as_str()) || allowed.iter().any(|p| f.starts_with(p)),
            "{f} should not be packaged"
        );
    }
}
