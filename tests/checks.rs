//! Catalog invariants, the golden environment, and one bad/good fixture pair per code,
//! all derived from the registry: a new check is covered by declaring it, writing its
//! explanation and its fixtures.

mod support_doctor;

use bkenv::catalog;
use bkenv::report::{self, Format, RenderCtx};
use std::collections::BTreeSet;
use std::path::Path;
use support_doctor::{describe, fixtures, materialize, run};

/// Codes declared with `checks!` anywhere in `src/` (a `BKxxx {` line inside the
/// macro), to catch a family whose table is not registered.
fn declared_codes() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let Some(table) = text.split("checks! {\n").nth(1) else {
                continue;
            };
            for line in table.lines().take_while(|l| *l != "}") {
                let t = line.trim();
                if let Some(code) = t.strip_suffix(" {").filter(|c| c.starts_with("BK")) {
                    out.insert(code.to_string());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

/// Everything the registry promises about its own entries, in one place.
#[test]
fn catalog_invariants() {
    let all: Vec<_> = catalog::all().collect();
    // Codes and slugs: unique, well-formed, in code order, found by code and by slug.
    let codes: Vec<&str> = all.iter().map(|m| m.code).collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(codes, sorted, "codes are unique and listed in order");
    let slugs: BTreeSet<&str> = all.iter().map(|m| m.slug).collect();
    assert_eq!(slugs.len(), all.len(), "slugs are unique");
    for m in &all {
        let digits = &m.code[2..];
        assert!(
            m.code.starts_with("BK")
                && digits.len() == 3
                && digits.bytes().all(|b| b.is_ascii_digit()),
            "{}",
            m.code
        );
        assert!(
            m.slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()),
            "{}",
            m.slug
        );
        assert!(catalog::lookup(m.slug).is_some_and(|l| l == *m));
        assert!(catalog::lookup(&m.code.to_lowercase()).is_some_and(|l| l == *m));
        for h in ["## What it checks", "## Why it matters", "## How to fix"] {
            assert!(m.explanation.contains(h), "{} lacks {h}", m.code);
        }
        assert!(!m.title.is_empty(), "{} has no title", m.code);
    }
    // Every declared code is registered (no family table left out of the registry).
    let registered: BTreeSet<String> = codes.iter().map(|c| c.to_string()).collect();
    assert_eq!(declared_codes(), registered);
    // Every explanation file belongs to a check.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/catalog/explain");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let code = name.trim_end_matches(".md");
        assert!(
            registered.contains(code),
            "{name} explains no registered check"
        );
    }
    // Static and live checks are disjoint; a live twin is a live check, named by a
    // static one; live checks are never fixable (nothing to edit on the wire).
    let live = catalog::live_checks();
    let statics = catalog::static_checks();
    assert_eq!(live.len() + statics.len(), all.len());
    for m in &statics {
        if let Some(twin) = m.live_twin {
            assert!(
                live.contains(&twin),
                "{}: twin {} is not live",
                m.code,
                twin.code
            );
        }
    }
    for m in &live {
        assert!(m.live_twin.is_none() && !m.fixable, "{}", m.code);
    }
    // Every static check has its fixtures.
    for m in &statics {
        let dir = fixtures().join("checks").join(m.code);
        assert!(
            dir.join("bad").is_dir() && dir.join("good").is_dir(),
            "{}: missing tests/fixtures/checks/{}/{{bad,good}}",
            m.code,
            m.code
        );
    }
}

#[test]
fn golden_environment_has_no_findings() {
    let tmp = materialize(&fixtures().join("golden"));
    let got = describe(&run(tmp.path()));
    assert!(got.is_empty(), "{got:#?}");
}

/// Each `bad` fixture raises its code and nothing else, each `good` one does not raise
/// it, only checks declared fixable carry fixes (a fixable one does on its `bad`
/// fixture), and what a person sees for the `bad` fixture is pinned: message, place,
/// source line, prevents and help (`tests/snapshots/checks__bad_BKxxx.snap`).
#[test]
fn every_check_behaves_on_its_fixtures() {
    let mut failures = Vec::new();
    let ctx = RenderCtx {
        command: "doctor",
        tool_version: "0.0.0-test",
        color: false,
    };
    for m in catalog::static_checks() {
        let dir = fixtures().join("checks").join(m.code);
        let tmp = materialize(&dir.join("bad"));
        let bad = run(tmp.path());
        let got = describe(&bad);
        let distinct: BTreeSet<&str> = bad.findings.iter().map(|f| f.code()).collect();
        if distinct != BTreeSet::from([m.code]) {
            failures.push(format!(
                "{} bad: expected only {}, got {got:#?}",
                m.code, m.code
            ));
        }
        if m.fixable && !bad.findings.iter().any(|f| f.fixable()) {
            failures.push(format!(
                "{} bad: declared fixable, but no finding has a fix",
                m.code
            ));
        }
        let tmp_good = materialize(&dir.join("good"));
        let good = run(tmp_good.path());
        if good.findings.iter().any(|f| f.check == m) {
            failures.push(format!("{} good: raised {:#?}", m.code, describe(&good)));
        }
        for f in bad.findings.iter().chain(&good.findings) {
            if f.fix.is_some() && !f.check.fixable {
                failures.push(format!(
                    "{} carries a fix but is not declared fixable",
                    f.code()
                ));
            }
        }
        let mut human = Vec::new();
        report::render(Format::Human, &bad.findings, &ctx, &mut human).unwrap();
        let human = String::from_utf8(human)
            .unwrap()
            .replace(&tmp.path().display().to_string(), "[TMP]");
        insta::assert_snapshot!(format!("bad_{}", m.code), human);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn doctor_catalog_table() {
    let table: String = catalog::static_checks()
        .into_iter()
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

/// BK302 also covers the files BuildKit loads lazily: a `keypair` half that is not
/// mounted fails the first build with `failed to load keypair for <cert>`, and a
/// `tlsconfigdir` that does not exist is skipped silently.
#[test]
fn bk302_covers_keypairs_and_tlsconfigdir() {
    let tmp = materialize(&fixtures().join("golden"));
    let toml = tmp.path().join("buildkit/buildkitd.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(
        "tlsconfigdir = [\"/etc/buildkit/certs/missing.d\"]\n\n\
         [[registry.\"registry:5000\".keypair]]\n\
         cert = \"/etc/buildkit/certs/client.crt\"\n\
         key = \"/etc/buildkit/certs/client.key\"\n",
    );
    std::fs::write(&toml, text).unwrap();
    let report = run(tmp.path());
    let got = describe(&report);
    let bk302: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code() == "BK302")
        .collect();
    assert_eq!(bk302.len(), 3, "{got:#?}");
    let prevents: Vec<&str> = bk302.iter().filter_map(|f| f.prevents.as_deref()).collect();
    assert_eq!(
        prevents
            .iter()
            .filter(|p| **p == "failed to load keypair for /etc/buildkit/certs/client.crt")
            .count(),
        2,
        "{prevents:#?}"
    );
    assert!(
        prevents.iter().any(|p| p.contains("skips the directory")),
        "{prevents:#?}"
    );
    let lines: Vec<String> = got
        .iter()
        .filter(|g| g.starts_with("BK302"))
        .cloned()
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("buildkitd.toml:12)")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("buildkitd.toml:15)")),
        "{lines:#?}"
    );

    // Mount the client pair and create the directory: nothing is missing any more.
    for f in ["client.crt", "client.key"] {
        std::fs::copy(
            tmp.path().join("client").join(f),
            tmp.path().join("buildkit/certs").join(f),
        )
        .unwrap();
    }
    std::fs::create_dir(tmp.path().join("buildkit/certs/missing.d")).unwrap();
    let got = describe(&run(tmp.path()));
    assert!(!got.iter().any(|g| g.starts_with("BK302")), "{got:#?}");
}

/// `docker compose` merges `docker-compose.override.yml` into `docker-compose.yml`; so
/// does doctor's container view, and a finding about a line of the override file
/// points there.
#[test]
fn compose_override_file_is_merged() {
    let tmp = materialize(&fixtures().join("golden"));
    let compose = tmp.path().join("docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let certs = "      - ./buildkit/certs:/etc/buildkit/certs:ro\n";
    assert!(text.contains(certs));
    std::fs::write(&compose, text.replace(certs, "")).unwrap();
    let got = describe(&run(tmp.path()));
    assert!(got.iter().any(|g| g.starts_with("BK302")), "{got:#?}");

    let over = tmp.path().join("docker-compose.override.yml");
    std::fs::write(
        &over,
        format!("services:\n  buildkitd:\n    volumes:\n{certs}"),
    )
    .unwrap();
    let got = describe(&run(tmp.path()));
    assert!(got.is_empty(), "{got:#?}");

    // The override mounts the CA directory (and its key) into buildkitd: BK304 points
    // at the override's line.
    std::fs::write(
        &over,
        format!("services:\n  buildkitd:\n    volumes:\n{certs}      - ./ca:/ca:ro\n"),
    )
    .unwrap();
    let got = describe(&run(tmp.path()));
    assert!(
        got.iter()
            .any(|g| g.starts_with("BK304") && g.ends_with("(docker-compose.override.yml:5)")),
        "{got:#?}"
    );
}

/// `--compose FILE` replaces discovery for compose files: doctor reads the project the
/// user named, not a `docker-compose.yml` that happens to sit beside it.
#[test]
fn explicit_compose_file_replaces_discovered_ones() {
    let tmp = materialize(&fixtures().join("golden"));
    let text = std::fs::read_to_string(tmp.path().join("docker-compose.yml")).unwrap();
    let certs = "      - ./buildkit/certs:/etc/buildkit/certs:ro\n";
    std::fs::write(tmp.path().join("ci-compose.yml"), text.replace(certs, "")).unwrap();
    assert!(describe(&run(tmp.path())).is_empty());
    let inputs = bkenv::doctor::DoctorInputs {
        compose: Some("ci-compose.yml".into()),
        path_env: Some(tmp.path().join("bin").into_os_string()),
        ..Default::default()
    };
    let report = bkenv::doctor::run(tmp.path(), &inputs, support_doctor::now()).unwrap();
    let got = describe(&report);
    assert!(got.iter().any(|g| g.starts_with("BK302")), "{got:#?}");
    assert!(
        got.iter().all(|g| !g.contains("(docker-compose.yml")),
        "{got:#?}"
    );
}
