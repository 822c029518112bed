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
    for m in catalog::static_checks() {
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
