//! `--fix` round trips: fixture, fix, doctor again: the finding is gone and the rest of
//! each edited file is byte-identical.

mod support_doctor;

use bkenv::doctor::{self, FileEdit};
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

#[test]
fn fixable_findings_round_trip() {
    for code in [
        "BK002", "BK003", "BK006", "BK201", "BK204", "BK403", "BK511",
    ] {
        let tmp = materialize(&fixtures().join("checks").join(code).join("bad"));
        let before = run(tmp.path());
        assert!(
            before
                .findings
                .iter()
                .any(|f| f.code() == code && f.fixable),
            "{code}: {:#?}",
            describe(&before)
        );
        let edits = doctor::fix(&before.environments, &before.findings, now()).unwrap();
        assert!(!edits.is_empty(), "{code}: no edits");
        for e in &edits {
            let p = tmp.path().join(e.path());
            match e {
                FileEdit::Write { new_contents, .. } => {
                    let old = std::fs::read_to_string(&p).unwrap();
                    let (o, n) = changed(&old, new_contents);
                    assert!(
                        o <= 2 && n <= 3,
                        "{code}: too much changed in {}:\n{new_contents}",
                        e.path().display()
                    );
                    std::fs::write(&p, new_contents).unwrap();
                }
                FileEdit::Chmod { mode, .. } => {
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))
                            .unwrap();
                    }
                }
            }
        }
        let after = describe(&run(tmp.path()));
        assert!(
            after.iter().all(|f| !f.starts_with(code)),
            "{code} still reported: {after:#?}"
        );
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
    let edits = doctor::fix(&report.environments, &report.findings, now()).unwrap();
    assert!(edits.is_empty(), "{edits:#?}");
}
