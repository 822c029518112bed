//! Every report format on one fixed set of findings: snapshots, the SARIF schema, and an
//! exit status that does not depend on the format.

use bkenv::catalog;
use bkenv::diag::{Check, Edit, Finding, Fix, Location, Severity, Span};

fn check(code: &str) -> &'static Check {
    catalog::lookup(code).unwrap_or_else(|| panic!("{code}"))
}
use bkenv::report::{
    self, ExitStatus, Format, Level, LevelOverrides, RenderCtx, exit_for, summary_line,
};

/// Each severity; with a span and source line, with a file only, with no location; a
/// message with `%`, `:`, `,` and a newline; a path with `,` and a space.
fn findings() -> Vec<Finding> {
    let mut warning = Finding::new(
        check("BK722"),
        "check `registry-trust` stopped: 100% of 2 names failed, see below:\nregistry:5000",
    )
    .at_file("ci/build, main.yml")
    .note("the other checks ran");
    warning.severity = Severity::Warning;

    let mut note = Finding::new(check("BK722"), "probe of registry.internal:443 skipped");
    note.severity = Severity::Note;

    vec![
        Finding::new(
            check("BK900"),
            "cannot read `certs/ca.crt`: permission denied",
        )
        .at(Location {
            path: "env/buildkitd.toml".into(),
            span: Some(Span {
                line: 12,
                column: 8,
                end_line: 12,
                end_column: 24,
            }),
            line_text: Some("  ca = [\"/certs/ca.crt\"]".to_string()),
        })
        .note("buildkitd reads it as root inside the container")
        .prevents("x509: certificate signed by unknown authority")
        .help("make the file readable by the user running bkenv")
        .fix(Fix::safe([Edit::mode("env/certs/ca.crt", 0o644)])),
        warning,
        note,
    ]
}

fn ctx() -> RenderCtx<'static> {
    RenderCtx {
        command: "doctor",
        tool_version: "0.0.0-test",
        color: false,
        base_uri: Some("file:///home/dev/project/"),
    }
}

fn rendered(format: Format, findings: &[Finding]) -> (String, ExitStatus) {
    let mut out = Vec::new();
    let status = report::report(format, findings, &ctx(), &mut out).unwrap();
    (String::from_utf8(out).unwrap(), status)
}

#[test]
fn human_snapshot() {
    insta::assert_snapshot!(rendered(Format::Human, &findings()).0);
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(rendered(Format::Json, &findings()).0);
}

#[test]
fn sarif_snapshot() {
    insta::assert_snapshot!(rendered(Format::Sarif, &findings()).0);
}

#[test]
fn github_snapshot() {
    insta::assert_snapshot!(rendered(Format::Github, &findings()).0);
}

#[test]
fn gitlab_snapshot() {
    insta::assert_snapshot!(rendered(Format::Gitlab, &findings()).0);
}

#[test]
fn exit_status_is_the_same_in_every_format() {
    let all = findings();
    let warnings_only: Vec<Finding> = all[1..].to_vec();
    let denied = LevelOverrides::from_flags([(Level::Deny, "warnings")])
        .unwrap()
        .apply(warnings_only.clone());
    for (set, want) in [
        (&all, ExitStatus::Findings),
        (&warnings_only, ExitStatus::Clean),
        (&denied, ExitStatus::Findings),
        (&Vec::new(), ExitStatus::Clean),
    ] {
        assert_eq!(exit_for(set), want);
        for format in Format::ALL {
            assert_eq!(rendered(format, set).1, want, "{format}");
        }
    }
}

#[test]
fn sarif_validates_against_the_official_schema() {
    // Vendored unchanged from the npm package @microsoft/jest-sarif (lib/schemas/).
    let official = include_str!("schemas/sarif-2.1.0-rtm.5.json");
    // The official `language` patterns end in a lone `]`, a literal only under ECMA-262
    // Annex B; the meta-schema's strict regex check rejects them. Escaping it keeps the
    // meaning (bkenv never writes `language`).
    let lone = r#"[a-zA-Z]{2}]?$"#;
    assert_eq!(official.matches(lone).count(), 2);
    let patched = official.replace(lone, r#"[a-zA-Z]{2}\\]?$"#);
    let schema: serde_json::Value = serde_json::from_str(&patched).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for set in [findings(), Vec::new()] {
        let log: serde_json::Value =
            serde_json::from_str(&rendered(Format::Sarif, &set).0).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    // The validator does reject a broken log, down to a result's level.
    let broken = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {}}]});
    assert!(!validator.is_valid(&broken));
    let mut log: serde_json::Value =
        serde_json::from_str(&rendered(Format::Sarif, &findings()).0).unwrap();
    log["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&log));
}

#[test]
fn sarif_rules_and_results_agree() {
    let log: serde_json::Value =
        serde_json::from_str(&rendered(Format::Sarif, &findings()).0).unwrap();
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    for result in run["results"].as_array().unwrap() {
        let i = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], result["ruleId"]);
    }
    let region = &run["results"][0]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 12);
    assert_eq!(region["endColumn"], 24);
}

#[test]
fn machine_formats_parse_and_count() {
    let json: serde_json::Value =
        serde_json::from_str(&rendered(Format::Json, &findings()).0).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(
        json["summary"],
        serde_json::json!({"errors": 1, "warnings": 1, "notes": 1})
    );
    let gitlab: serde_json::Value =
        serde_json::from_str(&rendered(Format::Gitlab, &findings()).0).unwrap();
    let fps: Vec<&str> = gitlab
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fps.len(), 3);
    assert!(fps.iter().all(|f| f.len() == 64));
    assert_ne!(fps[1], fps[2], "fingerprints must be unique per finding");
}

#[test]
fn github_annotations_escape_properties_and_data() {
    let out = rendered(Format::Github, &findings()).0;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "one line per finding plus the summary: {out}"
    );
    assert!(lines[0].starts_with(
        "::error file=env/buildkitd.toml,line=12,col=8,endLine=12,endColumn=24,title=BK900 file-unreadable::"
    ));
    assert!(lines[1].starts_with(
        "::warning file=ci/build%2C main.yml,title=BK722 unexpected-endpoint-response::"
    ));
    assert!(lines[1].contains("100%25 of 2 names failed, see below:%0Aregistry:5000"));
    assert!(lines[2].starts_with("::notice title=BK722 unexpected-endpoint-response::"));
    assert_eq!(lines[3], summary_line("doctor", &findings()));
}

#[test]
fn explain_snapshots() {
    let mut one = Vec::new();
    report::explain::explain("BK900", &mut one, false).unwrap();
    insta::assert_snapshot!("explain_bk900", String::from_utf8(one).unwrap());
    let mut all = Vec::new();
    report::explain::explain_all(&mut all, false).unwrap();
    // Column widths depend on the whole catalog, so compare fields, not text.
    let text = String::from_utf8(all).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("BK9"))
        .map(|l| l.split_whitespace().take(3).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["BK900", "file-unreadable", "error"],
            ["BK902", "nothing-to-check", "error"],
            ["BK903", "files-not-checked", "note"],
        ]
    );
}
