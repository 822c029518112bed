//! `bkenv init`: generated files parsed back by independent parsers, certificates checked
//! by the real openssl, re-runs, user edits, permissions, dry-run and every bad input.

mod support;

use bkenv::pki::{SanName, read_certs};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::{NOW, fresh, options, run_init, snapshot_tree, tool};

const MTLS_SPEC_FLAG: &str = "mtls = false";

fn read(dir: &Path, rel: &str) -> String {
    fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_certificate_verifies_with_openssl_for_every_name_and_fails_for_others() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let (dir, _) = fresh(Some(
        &bkenv::spec::DEFAULT_SPEC.replace(MTLS_SPEC_FLAG, "mtls = true"),
    ));
    let d = dir.path();
    let cases = [
        (
            "registry/certs/registry.crt",
            vec!["registry", "localhost", "127.0.0.1", "::1"],
        ),
        (
            "buildkit/certs/server.crt",
            vec!["localhost", "127.0.0.1", "::1", "buildkitd"],
        ),
    ];
    for (leaf, names) in cases {
        for name in names {
            let (ok, out) = support::openssl_verify(&openssl, d, leaf, name, "sslserver");
            assert!(ok, "{leaf} for {name}: {out}");
        }
        for wrong in ["evil.example", "registry.example", "10.0.0.1"] {
            let (ok, out) = support::openssl_verify(&openssl, d, leaf, wrong, "sslserver");
            assert!(!ok, "{leaf} must not verify for {wrong}: {out}");
        }
    }
    let (ok, out) = support::openssl_verify(&openssl, d, "client/client.crt", "", "sslclient");
    assert!(ok, "client cert: {out}");
    let (ok, _) = support::openssl_verify(&openssl, d, "client/client.crt", "", "sslserver");
    assert!(
        !ok,
        "the client certificate must not be usable as a server certificate"
    );
}

/// Each environment's CA has a name of its own: the configured name and the start of
/// its key identifier, which the CA's leaves name as their authority key.
#[test]
fn ca_common_names_are_unique_per_environment() {
    let cn = |d: &Path| {
        let ca = read_certs(read(d, "ca/ca.crt").as_bytes())
            .unwrap()
            .remove(0);
        let reg = read_certs(read(d, "registry/certs/registry.crt").as_bytes())
            .unwrap()
            .remove(0);
        let ski = ca.subject_key_id.clone().expect("CA key id");
        assert_eq!(reg.authority_key_id.as_ref(), Some(&ski));
        let hex: String = ski[..4].iter().map(|b| format!("{b:02X}")).collect();
        let name = ca.subject_cn.clone().expect("CA CN");
        assert_eq!(name, format!("bkenv development CA {hex}"));
        assert_eq!(reg.issuer_cn.as_ref(), Some(&name));
        name
    };
    let (one, _) = fresh(None);
    let (two, _) = fresh(None);
    assert_ne!(cn(one.path()), cn(two.path()));
    // A re-run keeps the CA, and so its name.
    let before = cn(one.path());
    run_init(&options(one.path())).expect("re-run");
    assert_eq!(cn(one.path()), before);
}

#[test]
fn certificate_facts_parsed_independently() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let ca = &read_certs(read(d, "ca/ca.crt").as_bytes()).unwrap()[0];
    assert!(ca.is_ca);
    assert_eq!(ca.path_len, Some(0));
    let ku = ca.key_usage.expect("CA key usage");
    assert!(ku.key_cert_sign && ku.crl_sign);
    let nc = ca
        .name_constraints
        .as_ref()
        .expect("name constraints by default");
    assert!(ca.name_constraints_critical);
    for name in ["registry", "localhost", "buildkitd"] {
        assert!(
            bkenv::pki::permitted_by(nc, &SanName::Dns(name.into())),
            "{name}"
        );
    }
    assert!(!bkenv::pki::permitted_by(
        nc,
        &SanName::Dns("example.com".into())
    ));
    assert_eq!((ca.not_after - NOW).whole_days(), 3650);

    let reg = &read_certs(read(d, "registry/certs/registry.crt").as_bytes()).unwrap()[0];
    assert!(!reg.is_ca);
    assert_eq!(reg.dns_sans, ["registry", "localhost"]);
    let ips: Vec<String> = reg.ip_sans.iter().map(ToString::to_string).collect();
    assert_eq!(ips, ["127.0.0.1", "::1"]);
    let eku = reg.ekus.expect("EKU");
    assert!(eku.server_auth && !eku.client_auth);
    let days = (reg.not_after - NOW).whole_days();
    assert!(days == 365 && days <= 825, "{days}");
    assert!(bkenv::pki::signed_by(reg, ca));
    assert_ne!(reg.serial_hex, ca.serial_hex);
}

#[test]
fn generated_configs_parse_back_with_independent_parsers() {
    let (dir, outcome) = fresh(None);
    let d = dir.path();
    let bk: toml_edit::DocumentMut = read(d, "buildkit/buildkitd.toml").parse().unwrap();
    let addrs = bk["grpc"]["address"]
        .as_array()
        .expect("grpc.address is an array");
    assert_eq!(addrs.len(), 2);
    assert!(
        bk["grpc"]["tls"].get("ca").is_none(),
        "server-only TLS by default"
    );
    let reg = bk["registry"]["registry:5000"]
        .as_table()
        .expect("quoted registry table");
    assert!(reg["ca"].as_array().is_some(), "ca must be an array");
    assert!(
        bk["registry"].get("localhost:5005").is_none(),
        "loopback is the buildkitd container itself"
    );
    assert!(read(d, "buildkit/buildkitd.toml").contains("[registry.\"registry:5000\"]"));

    let compose: serde_json::Value =
        serde_saphyr::from_str(&read(d, "docker-compose.yml")).unwrap();
    let bk_vols = compose["services"]["buildkitd"]["volumes"]
        .as_array()
        .unwrap();
    let mounts: Vec<&str> = bk_vols.iter().filter_map(|v| v.as_str()).collect();
    assert!(mounts.contains(&"./buildkit/buildkitd.toml:/etc/buildkit/buildkitd.toml:ro"));
    assert!(
        mounts
            .iter()
            .all(|m| !m.contains("ca.key") && !m.contains("registry/certs")),
        "{mounts:?}"
    );
    assert_eq!(
        compose["services"]["registry"]["ports"][0],
        "127.0.0.1:5005:5000"
    );
    assert_eq!(
        compose["services"]["buildkitd"]["image"],
        "moby/buildkit:v0.23.2"
    );

    let regcfg: serde_json::Value =
        serde_saphyr::from_str(&read(d, "registry/config.yml")).unwrap();
    assert_eq!(regcfg["http"]["tls"]["certificate"], "/certs/registry.crt");
    assert_eq!(regcfg["auth"]["htpasswd"]["path"], "/auth/htpasswd");

    let password = &outcome.passwords[&0];
    let cfg: serde_json::Value = serde_json::from_str(&read(d, "docker/config.json")).unwrap();
    for key in ["registry:5000", "localhost:5005"] {
        let auth = cfg["auths"][key]["auth"].as_str().expect(key);
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            format!("bkenv:{password}")
        );
    }
    let htpasswd = read(d, "registry/auth/htpasswd");
    let (user, hash) = htpasswd.trim_end().split_once(':').unwrap();
    assert_eq!(user, "bkenv");
    assert!(hash.starts_with("$2y$"), "the registry only accepts bcrypt");
    assert!(bcrypt::verify(password, hash).unwrap());

    // Every value is single-quoted (see tests/injection.rs for the readers).
    let env: BTreeMap<&str, &str> = read(d, ".env")
        .leak()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k,
                v.strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(env["BUILDKIT_HOST"], "tcp://localhost:1234");
    assert_eq!(env["DOCKER_REGISTRY"], "registry:5000");
    assert_eq!(env["DOCKER_CONFIG"], "./docker");
    for var in ["BUILDKIT_TLS_CA", "REGISTRY_CERT"] {
        assert!(d.join(env[var]).is_file(), "{var} points at a file");
    }
    assert_eq!(env["REGISTRY_AUTH_PASSWORD"], password);
    for name in ["registry:5000", "localhost:5005"] {
        assert_eq!(
            read(d, &format!("certs.d/{name}/ca.crt")),
            read(d, "ca/ca.crt")
        );
    }
}

#[test]
fn rerun_is_byte_identical_and_keeps_the_ca() {
    let (dir, _) = fresh(None);
    let before = snapshot_tree(dir.path());
    let second = run_init(&options(dir.path())).unwrap();
    assert!(
        second
            .applied
            .iter()
            .all(|a| a.status == bkenv::output::Status::Unchanged),
        "{:?}",
        second.applied
    );
    assert_eq!(snapshot_tree(dir.path()), before);
}

#[test]
fn user_edits_to_buildkitd_toml_survive_a_rerun_that_changes_managed_keys() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let path = d.join("buildkit/buildkitd.toml");
    let edited = format!(
        "{}\n# my GC policy\n[worker.oci]\ngc = true # keep it\n\n[registry.\"registry:5000\"]\n",
        read(d, "buildkit/buildkitd.toml")
    )
    .replace(
        "[registry.\"registry:5000\"]\nca =",
        "[registry.\"registry:5000\"]\n# trust our CA\nca =",
    );
    let edited = edited
        .trim_end_matches("\n[registry.\"registry:5000\"]\n")
        .to_string()
        + "\n";
    fs::write(&path, &edited).unwrap();
    let mut opts = options(d);
    opts.overrides.mtls = Some(true);
    run_init(&opts).unwrap();
    let after = read(d, "buildkit/buildkitd.toml");
    assert!(
        after.contains("# my GC policy\n[worker.oci]\ngc = true # keep it"),
        "{after}"
    );
    assert!(after.contains("# trust our CA"), "{after}");
    assert!(
        after.contains("ca = \"/etc/buildkit/certs/ca.crt\""),
        "mTLS key added: {after}"
    );
}

#[test]
fn edited_generated_files_are_kept_unless_forced() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let mine = read(d, "docker-compose.yml") + "# my change\n";
    fs::write(d.join("docker-compose.yml"), &mine).unwrap();
    let mut opts = options(d);
    opts.overrides.rootless = Some(true);
    let out = run_init(&opts).unwrap();
    let status = out
        .applied
        .iter()
        .find(|a| a.path == Path::new("docker-compose.yml"))
        .unwrap()
        .status;
    assert_eq!(status, bkenv::output::Status::KeptEdited);
    assert_eq!(read(d, "docker-compose.yml"), mine);
    opts.force = true;
    run_init(&opts).unwrap();
    assert!(read(d, "docker-compose.yml").contains("moby/buildkit:v0.23.2-rootless"));
}

/// The rootless daemon reads its key as uid 1000. Run as root, init creates the key
/// owned by that user (still 0600), records the decision, leaves it alone on a re-run,
/// and takes it back when the environment is rootful again; as uid 1000 the key is
/// theirs already; as anyone else init names the command that fixes it.
#[test]
fn rootless_key_is_handed_to_the_container_user_and_back() {
    use std::os::unix::fs::MetadataExt;
    let me = bkenv::safefs::euid();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = d.join("buildkit/certs/server.key");
    let mut opts = options(d);
    opts.overrides.rootless = Some(true);
    let out = run_init(&opts).unwrap();
    let meta = fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), if me == 0 { 1000 } else { me });
    if me == 0 || me == 1000 {
        assert!(
            out.notes.iter().all(|n| !n.contains("chown")),
            "{:?}",
            out.notes
        );
    }
    let state = read(d, ".bkenv/state.json");
    assert!(state.contains("\"container_owned\""), "{state}");
    let again = run_init(&opts).unwrap();
    let status = |o: &bkenv::init::InitOutcome| {
        o.applied
            .iter()
            .find(|a| a.path == Path::new("buildkit/certs/server.key"))
            .unwrap()
            .status
    };
    assert_eq!(status(&again), bkenv::output::Status::Unchanged);
    if me == 0 {
        opts.overrides.rootless = Some(false);
        let back = run_init(&opts).unwrap();
        assert_eq!(status(&back), bkenv::output::Status::Updated);
        assert_eq!(fs::metadata(&key).unwrap().uid(), 0);
        assert!(!read(d, ".bkenv/state.json").contains("container_owned"));
    }

    // A user who is neither root nor uid 1000 (the uid is what init is told it runs as).
    let other = tempfile::tempdir().unwrap();
    let mut opts = options(other.path());
    opts.overrides.rootless = Some(true);
    opts.uid = 4242;
    let out = run_init(&opts).unwrap();
    let fix = format!(
        "Run `sudo chown 1000:1000 {}`",
        other.path().join("buildkit/certs/server.key").display()
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains(&fix) && n.contains("uid 4242")),
        "{:?}",
        out.notes
    );
}

#[test]
fn leaves_are_reissued_when_names_change_and_the_ca_is_kept() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let ca = read(d, "ca/ca.crt");
    let old = read(d, "registry/certs/registry.crt");
    let mut opts = options(d);
    opts.overrides.registry_names = vec![
        "registry:5000".into(),
        "localhost:5005".into(),
        "registry.test:5000".into(),
    ];
    opts.overrides.key_type = None;
    let err = run_init(&opts).unwrap_err().to_string();
    assert!(
        err.contains("outside the CA's name constraints") && err.contains("--new-ca"),
        "{err}"
    );
    assert_eq!(
        read(d, "registry/certs/registry.crt"),
        old,
        "a refused run changes nothing"
    );
    opts.new_ca = true;
    let out = run_init(&opts).unwrap();
    assert_ne!(read(d, "ca/ca.crt"), ca);
    assert!(out.notes.iter().any(|n| n.contains("backup")));
    let backups: Vec<_> = fs::read_dir(d.join("ca"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("backup-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        fs::read_to_string(backups[0].path().join("ca.crt")).unwrap(),
        ca
    );
    let reg = &read_certs(read(d, "registry/certs/registry.crt").as_bytes()).unwrap()[0];
    assert!(reg.dns_sans.contains(&"registry.test".to_string()));
}

#[test]
fn private_files_are_0600_and_the_ca_dir_0700() {
    let (dir, _) = fresh(Some(
        &bkenv::spec::DEFAULT_SPEC.replace(MTLS_SPEC_FLAG, "mtls = true"),
    ));
    let d = dir.path();
    let mode = |rel: &str| fs::metadata(d.join(rel)).unwrap().permissions().mode() & 0o777;
    for private in [
        "ca/ca.key",
        "buildkit/certs/server.key",
        "registry/certs/registry.key",
        "client/client.key",
        ".env",
        "docker/config.json",
        "registry/auth/htpasswd",
        ".bkenv/state.json",
    ] {
        assert_eq!(mode(private), 0o600, "{private}");
    }
    assert_eq!(mode("ca"), 0o700);
    assert_eq!(mode("ca/ca.crt"), 0o644);
    let gitignore = read(d, ".gitignore");
    for pattern in ["*.key", ".env", "*/auth/htpasswd", ".bkenv/"] {
        assert!(gitignore.lines().any(|l| l == pattern), "{pattern}");
    }
}

#[test]
fn dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("env");
    let mut opts = options(&target);
    opts.dry_run = true;
    let out = run_init(&opts).unwrap();
    assert!(!out.applied.is_empty());
    assert!(!target.exists());
}

#[test]
fn a_mismatched_ca_key_is_refused_and_nothing_changes() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let (other, _) = fresh(None);
    fs::copy(other.path().join("ca/ca.key"), d.join("ca/ca.key")).unwrap();
    let before = snapshot_tree(d);
    let err = run_init(&options(d)).unwrap_err().to_string();
    assert!(
        err.contains("ca/ca.key") && err.contains("--new-ca"),
        "{err}"
    );
    assert_eq!(snapshot_tree(d), before);
}

#[test]
fn corrupt_or_missing_ca_material_is_refused() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    fs::write(
        d.join("ca/ca.crt"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let before = snapshot_tree(d);
    assert!(run_init(&options(d)).is_err());
    assert_eq!(snapshot_tree(d), before);
    fs::remove_file(d.join("ca/ca.key")).unwrap();
    let err = run_init(&options(d)).unwrap_err().to_string();
    assert!(err.contains("key") && err.contains("missing"), "{err}");
}

#[test]
fn an_interrupted_first_run_recovers_from_the_ca_key_alone() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let key = read(d, "ca/ca.key");
    fs::remove_file(d.join("ca/ca.crt")).unwrap();
    let out = run_init(&options(d)).unwrap();
    assert!(out.notes.iter().any(|n| n.contains("re-created")));
    assert_eq!(read(d, "ca/ca.key"), key, "the key is never replaced");
    let ca = &read_certs(read(d, "ca/ca.crt").as_bytes()).unwrap()[0];
    let k = bkenv::pki::read_private_key(key.as_bytes()).unwrap();
    assert!(bkenv::pki::key_matches_cert(&k, ca));
}

#[test]
fn unwritable_target_is_a_clear_error() {
    // A directory cannot be created under a regular file, not even by root (CI runs as
    // root, where permission bits would not stop it).
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file"), "x").unwrap();
    let err = run_init(&options(&dir.path().join("file/env")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("could not create directory") && err.contains("file/env"),
        "{err}"
    );
}

/// A leaf key the user supplied is theirs: when its certificate must be reissued, the
/// new certificate is for that key, and the key file is left as it is.
#[test]
fn a_user_supplied_leaf_key_gets_a_certificate_for_itself() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let theirs = bkenv::pki::generate_ca(
        &bkenv::pki::CaParams {
            common_name: "just for a key".into(),
            key_type: bkenv::pki::KeyType::EcdsaP256,
            not_before: NOW,
            not_after: NOW + time::Duration::days(1),
            name_constraints: None,
        },
        &ring::rand::SystemRandom::new(),
    )
    .unwrap()
    .key_pem;
    fs::write(d.join("buildkit/certs/server.key"), &theirs).unwrap();
    let mut opts = options(d);
    opts.now = NOW + time::Duration::days(340);
    run_init(&opts).unwrap();
    assert_eq!(
        read(d, "buildkit/certs/server.key"),
        theirs,
        "the key is kept"
    );
    let cert = &read_certs(read(d, "buildkit/certs/server.crt").as_bytes()).unwrap()[0];
    let key = bkenv::pki::read_private_key(theirs.as_bytes()).unwrap();
    assert!(bkenv::pki::key_matches_cert(&key, cert), "a pair, always");
    assert!(cert.not_after > NOW + time::Duration::days(600), "reissued");
}

/// The key type of every certificate of the environment at `d`, by file.
fn key_types(d: &Path) -> Vec<(&'static str, String)> {
    [
        "ca/ca.crt",
        "buildkit/certs/server.crt",
        "registry/certs/registry.crt",
        "client/client.crt",
    ]
    .into_iter()
    .filter(|f| d.join(f).exists())
    .map(|f| {
        let cert = &read_certs(read(d, f).as_bytes()).unwrap()[0];
        (f, cert.public_key.to_string())
    })
    .collect()
}

/// Notes say things in words: no enum variant name (`NamesChanged`, `NotSignedByCa`)
/// reaches the user.
fn assert_in_words(notes: &[String]) {
    for n in notes {
        let camel = n.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
            w.len() > 3
                && w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.chars().skip(1).any(|c| c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_lowercase())
        });
        assert!(!camel, "an internal name in: {n}");
    }
}

/// Changing `pki.key_type` on an existing environment reissues bkenv's leaves with the
/// new type (each pair written together), keeps the CA and says what replaces it
/// (`--new-ca`), which then gives every certificate the new type.
#[test]
fn a_changed_key_type_reissues_the_leaves_and_names_what_the_ca_needs() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let ca = read(d, "ca/ca.crt");
    let mut opts = options(d);
    opts.overrides.mtls = Some(true);
    run_init(&opts).unwrap();
    assert!(
        key_types(d).iter().all(|(_, t)| t == "ECDSA P-256"),
        "{:?}",
        key_types(d)
    );
    opts.overrides.key_type = Some(bkenv::pki::KeyType::EcdsaP384);
    let out = run_init(&opts).unwrap();
    assert_eq!(
        read(d, "ca/ca.crt"),
        ca,
        "the CA is never replaced behind your back"
    );
    for (f, t) in key_types(d) {
        let want = if f == "ca/ca.crt" {
            "ECDSA P-256"
        } else {
            "ECDSA P-384"
        };
        assert_eq!(t, want, "{f}");
    }
    for (crt, key) in [
        ("buildkit/certs/server.crt", "buildkit/certs/server.key"),
        ("registry/certs/registry.crt", "registry/certs/registry.key"),
        ("client/client.crt", "client/client.key"),
    ] {
        let cert = &read_certs(read(d, crt).as_bytes()).unwrap()[0];
        let key = bkenv::pki::read_private_key(read(d, key).as_bytes()).unwrap();
        assert!(
            bkenv::pki::key_matches_cert(&key, cert),
            "{crt} and its key are a pair"
        );
        let status = |p: &str| {
            out.applied
                .iter()
                .find(|a| a.path == Path::new(p))
                .unwrap()
                .status
        };
        assert_eq!(status(crt), bkenv::output::Status::Updated, "{crt}");
    }
    assert!(
        out.notes.iter().any(|n| n.contains("registry/certs/registry.crt reissued: its key is ECDSA P-256, and pki.key_type is ecdsa-p384")),
        "{:?}",
        out.notes
    );
    let ca_note = out
        .notes
        .iter()
        .find(|n| n.contains("CA key"))
        .expect("a note on the CA");
    assert!(
        ca_note.contains("ECDSA P-256") && ca_note.contains("--new-ca"),
        "{ca_note}"
    );
    assert_in_words(&out.notes);
    // A re-run changes nothing more, and keeps saying what the CA needs.
    let again = run_init(&opts).unwrap();
    assert!(
        again
            .applied
            .iter()
            .all(|a| a.status == bkenv::output::Status::Unchanged),
        "{:?}",
        again.applied
    );
    assert!(again.notes.iter().any(|n| n.contains("--new-ca")));
    // `--new-ca` gives the CA the new type too.
    opts.new_ca = true;
    let out = run_init(&opts).unwrap();
    assert!(
        key_types(d).iter().all(|(_, t)| t == "ECDSA P-384"),
        "{:?}",
        key_types(d)
    );
    assert!(
        out.notes.iter().all(|n| !n.contains("pki.key_type")),
        "{:?}",
        out.notes
    );
}

/// A key the user supplied stays theirs when the key type changes: kept, with a note
/// saying how to get one of the new type.
#[test]
fn a_changed_key_type_keeps_a_user_supplied_key() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let theirs = bkenv::pki::generate_ca(
        &bkenv::pki::CaParams {
            common_name: "just for a key".into(),
            key_type: bkenv::pki::KeyType::EcdsaP256,
            not_before: NOW,
            not_after: NOW + time::Duration::days(1),
            name_constraints: None,
        },
        &ring::rand::SystemRandom::new(),
    )
    .unwrap()
    .key_pem;
    fs::write(d.join("buildkit/certs/server.key"), &theirs).unwrap();
    let mut opts = options(d);
    run_init(&opts).unwrap();
    opts.overrides.key_type = Some(bkenv::pki::KeyType::Ed25519);
    let out = run_init(&opts).unwrap();
    assert_eq!(
        read(d, "buildkit/certs/server.key"),
        theirs,
        "the user's key is kept"
    );
    let note = out
        .notes
        .iter()
        .find(|n| n.starts_with("warning: buildkit/certs/server.key kept"))
        .unwrap_or_else(|| panic!("{:?}", out.notes));
    assert!(
        note.contains("ECDSA P-256") && note.contains("ed25519") && note.contains("--force"),
        "{note}"
    );
    let types = key_types(d);
    assert!(
        types.contains(&("registry/certs/registry.crt", "Ed25519".into())),
        "{types:?}"
    );
    assert!(
        types.contains(&("buildkit/certs/server.crt", "ECDSA P-256".into())),
        "{types:?}"
    );
    let cert = &read_certs(read(d, "buildkit/certs/server.crt").as_bytes()).unwrap()[0];
    let key = bkenv::pki::read_private_key(theirs.as_bytes()).unwrap();
    assert!(bkenv::pki::key_matches_cert(&key, cert));
    // `--force` replaces it with a key of the new type.
    opts.force = true;
    run_init(&opts).unwrap();
    assert!(key_types(d).contains(&("buildkit/certs/server.crt", "Ed25519".into())));
}

/// Reissue reasons are said in words.
#[test]
fn reissue_notes_are_in_words() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let mut opts = options(d);
    opts.overrides.registry_names = vec!["registry:5000".into()];
    let out = run_init(&opts).unwrap();
    assert!(
        out.notes.iter().any(
            |n| n == "registry/certs/registry.crt reissued: its names differ from bkenv.toml's"
        ),
        "{:?}",
        out.notes
    );
    assert_in_words(&out.notes);
}

/// A directory with a hand-written compose file and `.env` is someone's project:
/// refused with the ways out, nothing written (not even `.bkenv/`); `--force` replaces.
#[test]
fn files_bkenv_never_wrote_are_refused_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(
        d.join("docker-compose.yml"),
        "services:\n  app:\n    image: nginx\n",
    )
    .unwrap();
    fs::write(d.join(".env"), "FOO=bar\n").unwrap();
    let err = run_init(&options(d)).unwrap_err().to_string();
    assert!(
        err.contains("docker-compose.yml and .env exist and were not written by bkenv"),
        "{err}"
    );
    for way in ["another directory", "--force", "outside your project"] {
        assert!(err.contains(way), "{way}: {err}");
    }
    let mut left: Vec<_> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [".env", "docker-compose.yml"], "nothing written");
    let mut dry = options(d);
    dry.dry_run = true;
    assert!(run_init(&dry).is_err(), "a dry run says the same");
    let mut forced = options(d);
    forced.force = true;
    run_init(&forced).unwrap();
    assert!(read(d, "docker-compose.yml").contains("moby/buildkit"));

    // In an environment, a file bkenv has no record of is not an edit of bkenv's either.
    let (env, _) = fresh(None);
    let e = env.path();
    let mut state: serde_json::Value = serde_json::from_str(&read(e, ".bkenv/state.json")).unwrap();
    state["files"]
        .as_object_mut()
        .unwrap()
        .remove("docker-compose.yml");
    fs::write(e.join(".bkenv/state.json"), state.to_string()).unwrap();
    fs::write(e.join("docker-compose.yml"), "services: {}\n").unwrap();
    let err = run_init(&options(e)).unwrap_err().to_string();
    assert!(
        err.contains(
            "docker-compose.yml exists and was not written by bkenv; init would replace it,"
        ),
        "{err}"
    );
    assert_eq!(read(e, "docker-compose.yml"), "services: {}\n");
}
