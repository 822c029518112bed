//! Catalog invariants, the golden environment, and one bad/good fixture pair per code.

mod support_doctor;

use bkenv::catalog;
use std::collections::BTreeSet;
use support_doctor::{describe, fixtures, materialize, run};

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
fn golden_environment_has_no_findings() {
    let tmp = materialize(&fixtures().join("golden"));
    let got = describe(&run(tmp.path()));
    assert!(got.is_empty(), "{got:#?}");
}

#[test]
fn every_code_has_bad_and_good_fixtures() {
    let mut failures = Vec::new();
    for code in bkenv::doctor::checks::codes() {
        let Some(m) = catalog::lookup(code) else {
            failures.push(format!("{code}: not in the catalog"));
            continue;
        };
        let dir = fixtures().join("checks").join(m.code);
        let (bad, good) = (dir.join("bad"), dir.join("good"));
        if !bad.is_dir() || !good.is_dir() {
            failures.push(format!("{}: missing fixtures", m.code));
            continue;
        }
        let tmp = materialize(&bad);
        let got = describe(&run(tmp.path()));
        let distinct: BTreeSet<&str> = got.iter().map(|c| &c[..5]).collect();
        if distinct != BTreeSet::from([m.code]) {
            failures.push(format!(
                "{} bad: expected only {}, got {got:#?}",
                m.code, m.code
            ));
        }
        let tmp = materialize(&good);
        let got = describe(&run(tmp.path()));
        if got.iter().any(|c| c.starts_with(m.code)) {
            failures.push(format!("{} good: raised {got:#?}", m.code));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn doctor_catalog_table() {
    let table: String = bkenv::doctor::checks::codes()
        .filter_map(catalog::lookup)
        .map(|m| {
            format!(
                "{} {:<7} {:<5} {:<40} {}\n",
                m.code,
                m.severity.as_str(),
                if m.fixable { "fix" } else { "-" },
                m.slug,
                m.title
            )
        })
        .collect();
    insta::assert_snapshot!("doctor_catalog", table);
}
