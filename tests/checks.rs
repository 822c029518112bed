//! Catalog invariants and one bad/good fixture pair per check code.

use bkenv::catalog;
use bkenv::doctor::{self, DoctorInputs};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checks")
}

fn codes(dir: &Path) -> Vec<String> {
    let inputs = DoctorInputs {
        path_env: Some(dir.join("bin").into_os_string()),
        ..DoctorInputs::default()
    };
    let report =
        doctor::run(dir, &inputs, now()).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    report
        .findings
        .iter()
        .map(|f| {
            let loc = f
                .location
                .as_ref()
                .map(|l| format!("{}:{:?}", l.path.display(), l.span.map(|s| s.line)))
                .unwrap_or_default();
            format!("{} {} ({loc})", f.code, f.message)
        })
        .collect()
}

#[test]
fn codes_are_unique_and_well_formed() {
    let mut seen = BTreeSet::new();
    for m in catalog::all() {
        assert!(seen.insert(m.code), "duplicate code {}", m.code);
        assert!(m.code.len() == 5 && m.code.starts_with("BK"), "{}", m.code);
        assert!(
            m.slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()),
            "{}",
            m.slug
        );
        for h in ["## What it checks", "## Why it matters", "## How to fix"] {
            assert!(m.explanation.contains(h), "{} lacks {h}", m.code);
        }
        assert!(catalog::lookup(m.slug).is_some_and(|l| l.code == m.code));
    }
}

#[test]
fn every_code_has_bad_and_good_fixtures() {
    let mut failures = Vec::new();
    for m in catalog::all() {
        let dir = fixtures().join(m.code);
        let (bad, good) = (dir.join("bad"), dir.join("good"));
        if !bad.is_dir() || !good.is_dir() {
            failures.push(format!("{}: missing fixtures", m.code));
            continue;
        }
        let got = codes(&bad);
        let distinct: BTreeSet<&str> = got.iter().map(|c| &c[..5]).collect();
        if distinct != BTreeSet::from([m.code]) {
            failures.push(format!(
                "{} bad: expected only {}, got {got:#?}",
                m.code, m.code
            ));
        }
        let got = codes(&good);
        if got.iter().any(|c| c.starts_with(m.code)) {
            failures.push(format!("{} good: raised {got:#?}", m.code));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn now() -> OffsetDateTime {
    // 2026-11-23 12:00 UTC
    OffsetDateTime::from_unix_timestamp(1_795_435_200).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
