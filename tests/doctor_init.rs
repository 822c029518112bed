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
        let mut findings = report.findings.iter().collect::<Vec<_>>();
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
    for f in report.findings.iter().filter(|f| f.code() != "BK308") {
        let at = &f.location.as_ref().unwrap().path;
        assert_eq!(f.code(), "BK408", "{f:#?}");
        assert!(at.starts_with(Path::new("services").join(b)), "{f:#?}");
    }
}
