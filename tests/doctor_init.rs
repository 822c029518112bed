//! Every environment `bkenv init` generates from `examples/` gets zero doctor findings
//! (run by a user who can hand the rootless daemon its key: root, or uid 1000; anyone
//! else is told by init and doctor alike, BK308).

mod support;

use bkenv::doctor::{self, DoctorInputs};
use std::path::Path;

#[test]
fn init_examples_are_clean() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let src = entry.unwrap().path();
        let dir = tempfile::tempdir().unwrap();
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
        }
        support::run_init(&support::options(dir.path()))
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let inputs = DoctorInputs {
            path_env: Some(dir.path().join("bin").into_os_string()),
            ..DoctorInputs::default()
        };
        let report = doctor::run(dir.path(), &inputs, support::NOW).unwrap();
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        let euid = bkenv::safefs::euid();
        if name == "kubernetes" {
            // The note says why: the manifests are not read, not that the files are fine.
            assert!(
                report.findings.iter().any(|f| kubernetes_form_not_read(f)
                    && f.help
                        .as_deref()
                        .is_some_and(|h| h.contains("does not read manifests yet"))),
                "{:#?}",
                report.findings
            );
        }
        let mut findings = report
            .findings
            .iter()
            .filter(|f| !kubernetes_form_not_read(f))
            .collect::<Vec<_>>();
        if name == "rootless" && euid != 0 && euid != 1000 {
            // init could not give the key to uid 1000 and said so; doctor agrees.
            assert!(
                findings.iter().any(|f| f.code() == "BK308"
                    && f.help
                        .as_deref()
                        .is_some_and(|h| h.contains("sudo chown 1000:1000"))),
                "{findings:#?}"
            );
            findings.retain(|f| f.code() != "BK308");
        }
        for f in findings {
            let loc = f
                .location
                .as_ref()
                .map(|l| format!("{}:{}", l.path.display(), l.span.map_or(0, |s| s.line)))
                .unwrap_or_default();
            failures.push(format!(
                "{}: {} {} ({loc})",
                src.file_name().unwrap().to_string_lossy(),
                f.code(),
                f.message
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Doctor does not read the Kubernetes form yet (manifests into the container view is
/// issue 17's item 4): the registry config kustomize turns into a ConfigMap names paths
/// no compose service mounts, and BK903 says they were not checked. That note, and only
/// it, is expected there; when doctor learns manifests this exception must go.
fn kubernetes_form_not_read(f: &bkenv::diag::Finding) -> bool {
    f.code() == "BK903"
        && f.location.as_ref().is_some_and(|l| {
            l.path
                .to_string_lossy()
                .contains("kubernetes/files/registry/config.yml")
        })
}

/// A monorepo holding every example environment side by side: each is checked against
/// its own files (one project's config.json is never matched against another's
/// htpasswd), and a fault planted in one is reported in that one only.
#[test]
fn a_tree_of_environments_is_checked_per_environment() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let root = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let src = entry.unwrap().path();
        if !src.join("bkenv.toml").is_file() {
            continue;
        }
        let name = src.file_name().unwrap().to_owned();
        let dir = root.path().join("services").join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
        support::run_init(&support::options(&dir)).unwrap();
        names.push(name.to_string_lossy().into_owned());
    }
    assert!(names.len() >= 3, "{names:?}");
    let inputs = DoctorInputs {
        path_env: Some(root.path().join("bin").into_os_string()),
        ..DoctorInputs::default()
    };
    let report = doctor::run(root.path(), &inputs, support::NOW).unwrap();
    assert_eq!(report.environments.len(), names.len());
    // As a user other than root or uid 1000, the rootless example's key is not its
    // daemon's (BK308, as init said).
    let euid = bkenv::safefs::euid();
    let unexpected: Vec<_> = report
        .findings
        .iter()
        .filter(|f| euid == 0 || euid == 1000 || f.code() != "BK308")
        .filter(|f| !kubernetes_form_not_read(f))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");

    // Give the second environment the first one's htpasswd: its own config.json no
    // longer verifies, and only its findings appear.
    let (a, b) = (&names[0], &names[1]);
    let htpasswd = |n: &str| {
        root.path()
            .join("services")
            .join(n)
            .join("registry/auth/htpasswd")
    };
    std::fs::copy(htpasswd(a), htpasswd(b)).unwrap();
    let report = doctor::run(root.path(), &inputs, support::NOW).unwrap();
    assert!(!report.findings.is_empty());
    for f in report
        .findings
        .iter()
        .filter(|f| f.code() != "BK308" && !kubernetes_form_not_read(f))
    {
        let at = &f.location.as_ref().unwrap().path;
        assert_eq!(f.code(), "BK408", "{f:#?}");
        assert!(at.starts_with(Path::new("services").join(b)), "{f:#?}");
    }
}

/// The docker-container builder's network follows the compose project Compose uses:
/// `COMPOSE_PROJECT_NAME` from the shell at init names `PROJECT_default` in
/// buildx/create-container.sh, doctor with the same variable (or the line in `.env`)
/// finds it right, and with the project named after the directory instead it reports
/// the script's network as the wrong one (BK811).
#[test]
fn container_builder_network_follows_the_compose_project() {
    use bkenv::output::Writer;
    let dir = tempfile::tempdir().unwrap();
    let rng = ring::rand::SystemRandom::new();
    let env = |var: &str| (var == "COMPOSE_PROJECT_NAME").then(|| "ci_42".to_string());
    bkenv::init::run(
        &support::options(dir.path()),
        &rng,
        &env,
        &mut Writer::new(),
    )
    .unwrap();
    let script = std::fs::read_to_string(dir.path().join("buildx/create-container.sh")).unwrap();
    assert!(script.contains("network=ci_42_default"), "{script}");
    let codes = |project: Option<&str>| {
        let inputs = DoctorInputs {
            path_env: Some(dir.path().join("bin").into_os_string()),
            compose_project_name: project.map(String::from),
            ..DoctorInputs::default()
        };
        let report = doctor::run(dir.path(), &inputs, support::NOW).unwrap();
        report
            .findings
            .iter()
            .map(|f| format!("{} {}", f.code(), f.message))
            .collect::<Vec<_>>()
    };
    assert_eq!(codes(Some("ci_42")), Vec::<String>::new());
    let wrong = codes(None);
    assert_eq!(wrong.len(), 1, "{wrong:#?}");
    assert!(
        wrong[0].starts_with("BK811") && wrong[0].contains("ci_42_default"),
        "{wrong:#?}"
    );
    // The same project named in `.env`, as Compose reads it there too.
    let dotenv = dir.path().join(".env");
    let mut text = std::fs::read_to_string(&dotenv).unwrap();
    text.push_str("COMPOSE_PROJECT_NAME=ci_42\n");
    std::fs::write(&dotenv, text).unwrap();
    assert_eq!(codes(None), Vec::<String>::new());
}
