//! Every environment `bkenv init` generates from `examples/` gets zero doctor findings.

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
        for f in &report.findings {
            let loc = f
                .location
                .as_ref()
                .map(|l| format!("{}:{}", l.path.display(), l.span.map_or(0, |s| s.line)))
                .unwrap_or_default();
            failures.push(format!(
                "{}: {} {} ({loc})",
                src.file_name().unwrap().to_string_lossy(),
                f.code,
                f.message
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
