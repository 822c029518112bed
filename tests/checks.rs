//! Catalog invariants, the golden environment, and one bad/good fixture pair per code,
//! all derived from the registry: a new check is covered by declaring it, writing its
//! explanation and its fixtures.

mod support_doctor;

use bkenv::catalog;
use bkenv::report::{self, Format, RenderCtx};
use std::collections::BTreeSet;
use std::path::Path;
use support_doctor::{can_chown, describe, fixtures, materialize, needs_owners, run};

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
        base_uri: None,
    };
    for m in catalog::static_checks() {
        let dir = fixtures().join("checks").join(m.code);
        if (needs_owners(&dir.join("bad")) || needs_owners(&dir.join("good"))) && !can_chown() {
            // Only root can give a file to another user (a rootless daemon's uid 1000).
            assert!(
                std::env::var("CI").is_err(),
                "{}: its fixtures set owners, which needs root (CI runs as root)",
                m.code
            );
            eprintln!(
                "SKIPPED {}: its fixtures set file owners, which needs root",
                m.code
            );
            continue;
        }
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

/// BK304 sees the CA key through any mount that holds the environment, not only `.` or
/// `..`: `/`, an ancestor such as the temporary directory, the environment's absolute
/// path (as given or with links resolved), each reported at the container path where
/// the key appears.
#[test]
fn ca_key_exposed_through_absolute_and_ancestor_mounts() {
    let tmp = materialize(&fixtures().join("golden"));
    let root = tmp.path().canonicalize().unwrap();
    let compose = tmp.path().join("docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let certs = "      - ./buildkit/certs:/etc/buildkit/certs:ro\n";
    let parent = root.parent().unwrap();
    let name = root.file_name().unwrap().to_string_lossy().into_owned();
    let rel_to_fs = root.strip_prefix("/").unwrap().display().to_string();
    for (source, inside) in [
        ("/".to_string(), format!("/host/{rel_to_fs}/ca/ca.key")),
        (
            parent.display().to_string(),
            format!("/host/{name}/ca/ca.key"),
        ),
        (root.display().to_string(), "/host/ca/ca.key".to_string()),
        (
            tmp.path().display().to_string(),
            "/host/ca/ca.key".to_string(),
        ),
        ("..".to_string(), format!("/host/{name}/ca/ca.key")),
        (".".to_string(), "/host/ca/ca.key".to_string()),
    ] {
        std::fs::write(
            &compose,
            text.replace(certs, &format!("{certs}      - {source}:/host:ro\n")),
        )
        .unwrap();
        let got = describe(&run(tmp.path()));
        let want =
            format!("the CA key `ca/ca.key` is visible in service `buildkitd` at `{inside}`");
        assert!(
            got.iter()
                .any(|g| g.starts_with("BK304") && g.contains(&want)),
            "{source}: {got:#?}"
        );
    }
    // A mount beside the environment (not holding it) shows nothing of it.
    let beside = tempfile::tempdir().unwrap();
    std::fs::write(
        &compose,
        text.replace(
            certs,
            &format!("{certs}      - {}:/host:ro\n", beside.path().display()),
        ),
    )
    .unwrap();
    assert!(describe(&run(tmp.path())).is_empty());
}

/// BK308 follows the kernel's rule: a directory on the way is checked too, compose
/// `user:` replaces the image's user (by number, or by a name the image is known to
/// have), and a name doctor cannot resolve is never reported.
#[test]
fn bk306_directories_and_compose_users() {
    if !can_chown() {
        eprintln!("SKIPPED bk306_directories_and_compose_users: needs root to give files away");
        assert!(std::env::var("CI").is_err(), "CI runs as root");
        return;
    }
    use std::os::unix::fs::{PermissionsExt, chown};
    let tmp = materialize(&fixtures().join("checks/BK308/good"));
    let d = tmp.path();
    let key = d.join("buildkit/certs/server.key");
    let certs = d.join("buildkit/certs");
    let bk306 = |d: &Path| -> Vec<String> {
        describe(&run(d))
            .into_iter()
            .filter(|g| g.starts_with("BK308"))
            .collect()
    };
    assert!(bk306(d).is_empty());
    // The directory on the way: root's, 0700.
    std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(0o700)).unwrap();
    let got = bk306(d);
    assert!(
        got.iter()
            .any(|g| g.contains("cannot enter `/etc/buildkit/certs`")
                && g.contains("`buildkit/certs` is owned by 0:0, mode 0700")),
        "{got:#?}"
    );
    std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Owned by an id inside rootlesskit's namespace: readable whatever the mode.
    chown(&key, Some(100_000), Some(100_000)).unwrap();
    assert!(bk306(d).is_empty());
    // compose `user:` by number: uid 1001 is not the key's owner.
    chown(&key, Some(1000), Some(1000)).unwrap();
    let compose = d.join("docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let with_user = |user: &str| {
        text.replace(
            "    image: moby/buildkit:v0.23.2-rootless\n",
            &format!("    image: moby/buildkit:v0.23.2-rootless\n    user: \"{user}\"\n"),
        )
    };
    std::fs::write(&compose, with_user("1001:1001")).unwrap();
    let got = bk306(d);
    assert!(
        got.iter()
            .any(|g| g.contains("runs as 1001:1001 (`user: \"1001:1001\"`)")),
        "{got:#?}"
    );
    // By a name the image has, and root.
    std::fs::write(&compose, with_user("user")).unwrap();
    assert!(bk306(d).is_empty());
    std::fs::write(&compose, with_user("root")).unwrap();
    chown(&key, Some(0), Some(0)).unwrap();
    assert!(bk306(d).is_empty());
    // A name doctor cannot resolve: unknown, never reported.
    std::fs::write(&compose, with_user("builder")).unwrap();
    assert!(bk306(d).is_empty());
    // The registry's htpasswd for a registry run as another user: a secret, so the
    // help gives it away rather than opening it to everyone.
    std::fs::write(
        &compose,
        text.replace(
            "    image: registry:2.8.3\n",
            "    image: registry:2.8.3\n    user: \"4242:4242\"\n",
        ),
    )
    .unwrap();
    let htpasswd = d.join("registry/auth/htpasswd");
    std::fs::set_permissions(&htpasswd, std::fs::Permissions::from_mode(0o600)).unwrap();
    let got = bk306(d);
    assert!(
        got.iter()
            .any(|g| g.contains("cannot read `/auth/htpasswd`")),
        "{got:#?}"
    );
}

/// BK403 says what the registry answers a request without credentials, by its auth
/// scheme: a Basic-auth (htpasswd) registry answers 401 itself and buildctl fails on its
/// HEAD request; a token registry's realm refuses the anonymous token with 401.
#[test]
fn bk403_matches_the_registrys_auth_scheme() {
    let tmp = materialize(&fixtures().join("golden"));
    let d = tmp.path();
    let config = d.join("docker/config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("\"registry:5000\"", "\"registry\"")).unwrap();
    let bk403 = |d: &Path| -> bkenv::diag::Finding {
        let report = run(d);
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.code() == "BK403")
            .cloned()
            .collect();
        assert_eq!(found.len(), 1, "{:#?}", describe(&report));
        found[0].clone()
    };
    let f = bk403(d);
    assert!(
        f.message
            .ends_with("the registry (Basic auth, htpasswd) answers `401 Unauthorized`"),
        "{}",
        f.message
    );
    assert_eq!(
        f.prevents.as_deref(),
        Some(
            "unexpected status from HEAD request to https://registry:5000/v2/...: 401 Unauthorized"
        )
    );
    // The key's line is shown; the secret on the next line is not.
    let loc = f.location.expect("location");
    assert_eq!(loc.line_text.as_deref(), Some("    \"registry\": {"));

    let registry = d.join("registry/config.yml");
    let text = std::fs::read_to_string(&registry).unwrap();
    let token = text.replace(
        "  htpasswd:\n    realm: basic-realm\n    path: /auth/htpasswd\n",
        "  token:\n    realm: https://auth.example.com/token\n    service: registry\n    issuer: auth\n    rootcertbundle: /certs/token.crt\n",
    );
    assert_ne!(token, text);
    std::fs::write(&registry, token).unwrap();
    let f = bk403(d);
    assert!(
        f.message.ends_with(
            "the token server https://auth.example.com/token refuses an anonymous token with `401 Unauthorized`"
        ),
        "{}",
        f.message
    );
    assert!(
        f.prevents.as_deref().is_some_and(|p| p.starts_with(
            "failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://auth.example.com/token"
        )),
        "{:?}",
        f.prevents
    );
}

/// A `credHelpers` key is looked up by exact host:port like an `auths` key: one without
/// the port is reported (and rekeyed by --fix), whatever else answers instead.
#[test]
fn bk403_checks_cred_helpers_keys_too() {
    let tmp = materialize(&fixtures().join("golden"));
    let d = tmp.path();
    let config = d.join("docker/config.json");
    std::fs::write(
        &config,
        "{\n  \"credHelpers\": {\n    \"registry\": \"pass\"\n  },\n  \"credsStore\": \"secretservice\"\n}\n",
    )
    .unwrap();
    let report = run(d);
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code() == "BK403")
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", describe(&report));
    let f = found[0];
    assert!(
        f.message.contains("`credHelpers` `registry`")
            && f.message.contains("`registry:5000`")
            && f.message
                .ends_with("`credsStore` (`docker-credential-secretservice`) is asked instead"),
        "{}",
        f.message
    );
    assert_eq!(
        f.location.as_ref().and_then(|l| l.line_text.as_deref()),
        Some("    \"registry\": \"pass\"")
    );
    assert!(f.fixable());
}
