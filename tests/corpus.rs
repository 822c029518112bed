//! The corpus of issue 14 (tests/fixtures/corpus): patterns from public buildkitd.toml
//! and compose files, each finding judged once by hand and pinned in `verdicts.toml`.
//! Precision cannot regress silently: a finding not pinned, or a pinned one no longer
//! reported, fails the test. It prints the true/false positive counts.

mod support_doctor;

use serde::Deserialize;
use std::collections::BTreeMap;
use support_doctor::{fixtures, run};

#[derive(Deserialize)]
struct Case {
    source: String,
    daemon: String,
    #[serde(default)]
    #[allow(dead_code)] // checked by the e2e suite against the real daemon
    gc: Vec<String>,
    findings: BTreeMap<String, String>,
}

fn verdicts() -> BTreeMap<String, Case> {
    let text = std::fs::read_to_string(fixtures().join("corpus/verdicts.toml")).unwrap();
    toml_edit::de::from_str(&text).unwrap()
}

#[test]
fn corpus_findings_match_the_pinned_verdicts() {
    let cases = verdicts();
    let dirs: Vec<String> = std::fs::read_dir(fixtures().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for d in &dirs {
        assert!(cases.contains_key(d), "{d} has no entry in verdicts.toml");
    }
    let (mut tp, mut fp, mut problems) = (0, 0, Vec::new());
    for (name, case) in &cases {
        assert!(!case.source.is_empty() && !case.daemon.is_empty(), "{name}");
        let report = run(&fixtures().join("corpus").join(name));
        let got: Vec<String> = report
            .findings
            .iter()
            .map(|f| {
                let loc = f.location.as_ref().map_or(String::new(), |l| {
                    format!("{}:{}", l.path.display(), l.span.map_or(0, |s| s.line))
                });
                format!("{} {loc}", f.code())
            })
            .collect();
        for g in &got {
            match case.findings.get(g) {
                Some(v) if v.starts_with("true") => tp += 1,
                Some(v) if v.starts_with("false") => fp += 1,
                Some(v) => problems.push(format!(
                    "{name}: {g}: verdict `{v}` is neither true nor false"
                )),
                None => problems.push(format!("{name}: new finding `{g}`: judge it and pin it")),
            }
        }
        for want in case.findings.keys().filter(|w| !got.contains(w)) {
            problems.push(format!(
                "{name}: pinned finding `{want}` is no longer reported"
            ));
        }
    }
    println!(
        "corpus: {} cases, {} findings: {tp} true positives, {fp} false positives",
        cases.len(),
        tp + fp
    );
    assert!(problems.is_empty(), "{problems:#?}");
    // No known false positive is pinned: a finding judged false is a bug to fix.
    assert_eq!(fp, 0);
    assert!(tp >= 25, "{tp}");
}
