//! `--fix` round trips, for every check the registry declares fixable: its `bad` fixture
//! is fixed, the finding is gone, nothing new appears, and the rest of each edited file
//! is byte-identical.

mod support_doctor;

use bkenv::catalog;
use bkenv::doctor::{self, DoctorInputs};
use bkenv::output::Writer;
use std::path::Path;
use support_doctor::{describe, fixtures, materialize, now, run};

/// Lines of `old` and `new` outside their common prefix and suffix.
fn changed(old: &str, new: &str) -> (usize, usize) {
    let (o, n): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let pre = o.iter().zip(&n).take_while(|(a, b)| a == b).count();
    let suf = o[pre..]
        .iter()
        .rev()
        .zip(n[pre..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    (o.len() - pre - suf, n.len() - pre - suf)
}

/// `doctor --fix` on `root` without `-A/-W/-D`: the files it changed.
fn fix(root: &Path) -> Vec<std::path::PathBuf> {
    doctor::fix::apply(
        root,
        &DoctorInputs::default(),
        now(),
        &|f| f,
        &mut Writer::new(),
    )
    .unwrap()
}

#[test]
fn fixable_findings_round_trip() {
    let fixable: Vec<_> = catalog::static_checks()
        .into_iter()
        .filter(|c| c.fixable)
        .collect();
    assert!(fixable.len() >= 7, "{fixable:?}");
    for check in fixable {
        let code = check.code;
        let tmp = materialize(&fixtures().join("checks").join(code).join("bad"));
        let before = run(tmp.path());
        assert!(
            before
                .findings
                .iter()
                .any(|f| f.check == check && f.fixable()),
            "{code}: {:#?}",
            describe(&before)
        );
        let texts: Vec<(std::path::PathBuf, Option<String>)> = before
            .environments
            .iter()
            .flat_map(|e| e.sources())
            .map(|s| {
                (
                    s.path.clone(),
                    std::fs::read_to_string(tmp.path().join(&s.path)).ok(),
                )
            })
            .collect();
        let changed_files = fix(tmp.path());
        assert!(!changed_files.is_empty(), "{code}: no edits");
        for path in &changed_files {
            let Some((_, Some(old))) = texts.iter().find(|(p, _)| p == path) else {
                continue;
            };
            let new = std::fs::read_to_string(tmp.path().join(path)).unwrap();
            let (o, n) = changed(old, &new);
            assert!(
                o <= 2 && n <= 3,
                "{code}: too much changed in {}:\n{new}",
                path.display()
            );
        }
        let after = describe(&run(tmp.path()));
        assert!(
            after.is_empty(),
            "{code}: fix left or introduced findings: {after:#?}"
        );
    }
}

#[test]
fn unparseable_files_are_never_edited() {
    let tmp = materialize(&fixtures().join("checks/BK001/bad"));
    let report = run(tmp.path());
    let plan = doctor::fix::plan(&report.environments, &report.findings).unwrap();
    assert!(plan.edits.is_empty(), "{:#?}", plan.edits);
}

/// BK403 renames the key under `auths`, not the first `"registry":` anywhere in the file
/// (here a header of `HttpHeaders`), and the finding points at that key.
#[test]
fn bk403_renames_only_the_key_under_auths() {
    let tmp = materialize(&fixtures().join("checks/BK403/bad"));
    let config = tmp.path().join("docker/config.json");
    let text = "{\n  \"HttpHeaders\": {\n    \"registry\": \"x\"\n  },\n  \"auths\": {\n    \"registry\": {\n      \"auth\": \"dGVzdHVzZXI6dGVzdHBhc3N3b3Jk\"\n    }\n  }\n}\n";
    std::fs::write(&config, text).unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), "FROM registry:5000/base:1\n").unwrap();
    let report = run(tmp.path());
    let bk403: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code() == "BK403")
        .collect();
    assert_eq!(bk403.len(), 1, "{:#?}", describe(&report));
    let line = bk403[0]
        .location
        .as_ref()
        .and_then(|l| l.span)
        .map(|s| s.line);
    assert_eq!(line, Some(6), "the key under auths");
    fix(tmp.path());
    let fixed = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        fixed,
        text.replacen("    \"registry\": {", "    \"registry:5000\": {", 1),
        "{fixed}"
    );
    assert!(fixed.contains("\"registry\": \"x\""), "{fixed}");
    assert!(describe(&run(tmp.path())).is_empty());
}
