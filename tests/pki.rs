//! Certificates from `bkenv::pki`, checked by parsers and verifiers that are not rcgen:
//! x509-parser for structure and the `openssl` CLI for chain and hostname verification.

use ::time::{Duration, OffsetDateTime};
use bkenv::pki::{
    Ca, CaParams, KeyType, LeafParams, Permitted, PkiError, ReissueReason, SanName, Usage,
    default_permitted, generate_ca, issue_leaf, key_matches_cert, leaf_status, load_ca, read_certs,
    read_private_key, signed_by,
};
use ring::rand::SystemRandom;
use std::path::Path;
use std::process::Command;
use x509_parser::prelude::{
    FromDer, GeneralName, ParsedExtension, X509Certificate, parse_x509_pem,
};

const KEY_TYPES: [KeyType; 3] = [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519];

fn now() -> OffsetDateTime {
    // 2026-01-01T00:00:00Z: fixed so validity assertions are exact.
    OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
}

fn names(list: &[&str]) -> Vec<SanName> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn ca(key_type: KeyType, constraints: Option<Permitted>) -> Ca {
    let params = CaParams {
        common_name: "bkenv test CA".into(),
        key_type,
        not_before: now(),
        not_after: now() + Duration::days(3650),
        name_constraints: constraints,
    };
    generate_ca(&params, &SystemRandom::new()).unwrap()
}

fn leaf_params(sans: &[&str], usage: Usage, key_type: KeyType) -> LeafParams {
    LeafParams {
        common_name: "registry".into(),
        sans: names(sans),
        usage,
        key_type,
        not_before: now(),
        not_after: now() + Duration::days(397),
    }
}

fn der(pem: &str) -> Vec<u8> {
    let (_, pem) = parse_x509_pem(pem.as_bytes()).unwrap();
    pem.contents
}

/// `false` (after a loud message) when openssl is absent; CI must have it.
fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is required in CI"
        );
        eprintln!("\n*** SKIPPING openssl verification: `openssl` not found on PATH ***\n");
    }
    ok
}

/// Runs `openssl verify` at a fixed time inside the validity window.
fn openssl_verify(dir: &Path, ca: &str, leaf: &str, args: &[&str]) -> (bool, String) {
    std::fs::write(dir.join("ca.crt"), ca).unwrap();
    std::fs::write(dir.join("leaf.crt"), leaf).unwrap();
    let at = (now() + Duration::days(1)).unix_timestamp().to_string();
    let out = Command::new("openssl")
        .arg("verify")
        .args(["-x509_strict", "-attime", &at, "-CAfile"])
        .arg(dir.join("ca.crt"))
        .args(args)
        .arg(dir.join("leaf.crt"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn host_args(name: &SanName) -> [String; 2] {
    match name {
        SanName::Dns(d) => ["-verify_hostname".into(), d.clone()],
        SanName::Ip(ip) => ["-verify_ip".into(), ip.to_string()],
    }
}

#[test]
fn ca_structure_as_x509_parser_sees_it() {
    let permitted = default_permitted(&names(&["registry.local", "10.0.0.5"]));
    let ca = ca(KeyType::EcdsaP256, Some(permitted));
    let der = der(&ca.cert_pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();

    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
    assert!(!ku.value.digital_signature());
    let nc = cert.name_constraints().unwrap().unwrap();
    assert!(nc.critical);
    let permitted = nc.value.permitted_subtrees.as_ref().unwrap();
    assert!(
        permitted
            .iter()
            .any(|s| s.base == GeneralName::DNSName("registry.local"))
    );
    assert!(
        permitted
            .iter()
            .any(|s| s.base == GeneralName::IPAddress(&[127, 0, 0, 0, 255, 0, 0, 0]))
    );
    assert!(
        permitted
            .iter()
            .any(|s| s.base == GeneralName::IPAddress(&[10, 0, 0, 5, 255, 255, 255, 255]))
    );
    assert!(cert.iter_extensions().any(|e| matches!(
        e.parsed_extension(),
        ParsedExtension::SubjectKeyIdentifier(_)
    )));
    assert_eq!(cert.validity().not_before.to_datetime(), now());
    assert_eq!(
        cert.validity().not_after.to_datetime(),
        now() + Duration::days(3650)
    );
    assert_eq!(cert.raw_serial().len(), 16);
    assert!(cert.raw_serial()[0] < 0x80);
    assert_eq!(cert.subject().to_string(), "CN=bkenv test CA, O=bkenv");
    assert_eq!(cert.subject(), cert.issuer());

    // Our own facts agree.
    assert!(ca.facts.is_ca && ca.facts.path_len == Some(0) && ca.facts.name_constraints_critical);
    assert_eq!(ca.facts.serial_hex.len(), 32);
}

#[test]
fn server_leaf_structure_as_x509_parser_sees_it() {
    let ca = ca(KeyType::EcdsaP256, None);
    let p = leaf_params(
        &["registry.local", "localhost", "127.0.0.1", "::1"],
        Usage::Server,
        KeyType::EcdsaP256,
    );
    let leaf = issue_leaf(&ca, &p, &SystemRandom::new()).unwrap();
    let der = der(&leaf.cert_pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();

    let san = cert.subject_alternative_name().unwrap().unwrap();
    let got: Vec<&GeneralName> = san.value.general_names.iter().collect();
    assert_eq!(got.len(), 4);
    assert!(got.contains(&&GeneralName::DNSName("registry.local")));
    assert!(got.contains(&&GeneralName::DNSName("localhost")));
    assert!(got.contains(&&GeneralName::IPAddress(&[127, 0, 0, 1])));
    let v6: [u8; 16] = std::net::Ipv6Addr::LOCALHOST.octets();
    assert!(got.contains(&&GeneralName::IPAddress(&v6)));

    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
    assert!(cert.iter_extensions().any(|e| matches!(
        e.parsed_extension(),
        ParsedExtension::AuthorityKeyIdentifier(_)
    )));
    assert_eq!(cert.validity().not_before.to_datetime(), now());
    assert_eq!(
        cert.validity().not_after.to_datetime(),
        now() + Duration::days(397)
    );
    assert_eq!(cert.raw_serial().len(), 16);
    assert_eq!(cert.issuer().to_string(), "CN=bkenv test CA, O=bkenv");

    let facts = &read_certs(leaf.cert_pem.as_bytes()).unwrap()[0];
    assert!(signed_by(facts, &ca.facts));
    let key = read_private_key(leaf.key_pem.as_bytes()).unwrap();
    assert!(key_matches_cert(&key, facts));
    assert!(!key_matches_cert(&key, &ca.facts));
}

#[test]
fn openssl_verifies_every_san_for_every_key_type() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sans = ["registry.local", "localhost", "127.0.0.1", "::1"];
    for ca_type in KEY_TYPES {
        let ca = ca(ca_type, Some(default_permitted(&names(&sans))));
        for leaf_type in KEY_TYPES {
            let p = leaf_params(&sans, Usage::Server, leaf_type);
            let leaf = issue_leaf(&ca, &p, &SystemRandom::new()).unwrap();
            for name in &p.sans {
                let mut args = host_args(name).to_vec();
                args.extend(["-purpose".into(), "sslserver".into()]);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (ok, out) = openssl_verify(dir.path(), &ca.cert_pem, &leaf.cert_pem, &args);
                assert!(ok, "{ca_type}/{leaf_type} {name}: {out}");
            }
            for wrong in ["other.local", "127.0.0.2"] {
                let args = host_args(&wrong.parse().unwrap());
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (ok, out) = openssl_verify(dir.path(), &ca.cert_pem, &leaf.cert_pem, &args);
                assert!(!ok, "{ca_type}/{leaf_type} accepted {wrong}: {out}");
            }
        }
    }
}

#[test]
fn openssl_accepts_client_cert_only_as_client() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(KeyType::EcdsaP256, None);
    let p = leaf_params(&[], Usage::Client, KeyType::EcdsaP256);
    let leaf = issue_leaf(&ca, &p, &SystemRandom::new()).unwrap();
    let facts = &read_certs(leaf.cert_pem.as_bytes()).unwrap()[0];
    assert_eq!(facts.subject_cn.as_deref(), Some("registry"));
    assert!(!facts.has_san_extension);
    let (ok, out) = openssl_verify(
        dir.path(),
        &ca.cert_pem,
        &leaf.cert_pem,
        &["-purpose", "sslclient"],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl_verify(
        dir.path(),
        &ca.cert_pem,
        &leaf.cert_pem,
        &["-purpose", "sslserver"],
    );
    assert!(!ok, "client cert accepted as server: {out}");
}

#[test]
fn loaded_ca_signs_leaves_that_chain_to_the_original() {
    let original = ca(KeyType::EcdsaP384, None);
    let loaded = load_ca(&original.cert_pem, &original.key_pem).unwrap();
    assert_eq!(loaded.facts, original.facts);
    let p = leaf_params(&["registry.local"], Usage::Server, KeyType::EcdsaP256);
    let leaf = issue_leaf(&loaded, &p, &SystemRandom::new()).unwrap();
    let facts = &read_certs(leaf.cert_pem.as_bytes()).unwrap()[0];
    assert!(signed_by(facts, &original.facts));
    assert_eq!(facts.authority_key_id, original.facts.subject_key_id);
    if have_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let (ok, out) = openssl_verify(
            dir.path(),
            &original.cert_pem,
            &leaf.cert_pem,
            &["-verify_hostname", "registry.local"],
        );
        assert!(ok, "{out}");
    }
}

#[test]
fn load_ca_names_what_is_wrong() {
    let a = ca(KeyType::EcdsaP256, None);
    let b = ca(KeyType::EcdsaP256, None);
    let err = load_ca(&a.cert_pem, &b.key_pem).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");

    let err = load_ca("not pem at all", &a.key_pem).unwrap_err();
    assert!(matches!(err, PkiError::NotPem { .. }), "{err}");
    let corrupt = a.cert_pem.replace("-----END CERTIFICATE-----", "");
    let err = load_ca(&corrupt, &a.key_pem).unwrap_err();
    assert!(matches!(err, PkiError::CorruptPem { .. }), "{err}");
    let err = load_ca(&a.key_pem, &a.key_pem).unwrap_err();
    assert!(matches!(err, PkiError::NotACertificate { .. }), "{err}");
    let err = load_ca(&a.cert_pem, &a.cert_pem).unwrap_err();
    assert!(matches!(err, PkiError::NotAPrivateKey { .. }), "{err}");

    let leaf = issue_leaf(
        &a,
        &leaf_params(&["x.local"], Usage::Server, KeyType::EcdsaP256),
        &SystemRandom::new(),
    )
    .unwrap();
    let err = load_ca(&leaf.cert_pem, &leaf.key_pem).unwrap_err();
    assert!(matches!(err, PkiError::NotACa { .. }), "{err}");

    for e in [
        &err,
        &PkiError::KeyMismatch {
            subject: "x".into(),
        },
    ] {
        assert!(!e.to_string().contains("PRIVATE KEY-----"));
    }
}

#[test]
fn policy_errors() {
    let rng = SystemRandom::new();
    let params = CaParams {
        common_name: "x".into(),
        key_type: KeyType::Rsa2048,
        not_before: now(),
        not_after: now() + Duration::days(1),
        name_constraints: None,
    };
    let err = generate_ca(&params, &rng).unwrap_err();
    assert!(matches!(err, PkiError::RsaUnsupported));
    assert!(err.to_string().contains("ecdsa-p256"), "{err}");
    let parsed: KeyType = serde_json::from_str("\"rsa\"").unwrap();
    assert_eq!(parsed, KeyType::Rsa2048);
    let parsed: KeyType = serde_json::from_str("\"ecdsa-p384\"").unwrap();
    assert_eq!(parsed, KeyType::EcdsaP384);
    assert_eq!(KeyType::default(), KeyType::EcdsaP256);

    let ca = ca(
        KeyType::EcdsaP256,
        Some(default_permitted(&names(&["registry.local"]))),
    );
    let mut p = leaf_params(&["registry.local"], Usage::Server, KeyType::EcdsaP256);
    p.not_after = now() + Duration::days(826);
    assert!(matches!(
        issue_leaf(&ca, &p, &rng),
        Err(PkiError::ValidityTooLong { days: 826, .. })
    ));
    p.not_after = now() + Duration::days(825);
    assert!(issue_leaf(&ca, &p, &rng).is_ok());
    p.not_after = now();
    assert!(matches!(
        issue_leaf(&ca, &p, &rng),
        Err(PkiError::EmptyValidity)
    ));

    let p = leaf_params(&[], Usage::Server, KeyType::EcdsaP256);
    assert!(matches!(
        issue_leaf(&ca, &p, &rng),
        Err(PkiError::NoServerNames)
    ));
    let p = leaf_params(&["evil.example"], Usage::Server, KeyType::EcdsaP256);
    let err = issue_leaf(&ca, &p, &rng).unwrap_err();
    assert!(matches!(err, PkiError::NameNotPermitted { .. }));
    assert!(err.to_string().contains("evil.example"), "{err}");
}

#[test]
fn leaf_status_decides_reissue() {
    let rng = SystemRandom::new();
    let ca = ca(KeyType::EcdsaP256, None);
    let sans = names(&["registry.local", "127.0.0.1"]);
    let p = leaf_params(
        &["registry.local", "127.0.0.1"],
        Usage::Server,
        KeyType::EcdsaP256,
    );
    let leaf = issue_leaf(&ca, &p, &rng).unwrap();
    let (c, k) = (leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes());
    let status = |c, k, ca, sans: &[SanName], usage, at| leaf_status(c, k, ca, sans, usage, at);

    assert_eq!(
        status(Some(c), Some(k), &ca.facts, &sans, Usage::Server, now()),
        None
    );
    // Order of names does not matter.
    let reversed: Vec<SanName> = sans.iter().rev().cloned().collect();
    assert_eq!(
        status(Some(c), Some(k), &ca.facts, &reversed, Usage::Server, now()),
        None
    );
    assert_eq!(
        status(None, Some(k), &ca.facts, &sans, Usage::Server, now()),
        Some(ReissueReason::Missing)
    );
    assert_eq!(
        status(
            Some(b"junk"),
            Some(k),
            &ca.facts,
            &sans,
            Usage::Server,
            now()
        ),
        Some(ReissueReason::Unparseable)
    );
    let more = names(&["registry.local", "127.0.0.1", "::1"]);
    assert_eq!(
        status(Some(c), Some(k), &ca.facts, &more, Usage::Server, now()),
        Some(ReissueReason::NamesChanged)
    );
    let other = self::ca(KeyType::EcdsaP256, None);
    assert_eq!(
        status(Some(c), Some(k), &other.facts, &sans, Usage::Server, now()),
        Some(ReissueReason::NotSignedByCa)
    );
    let other_key = issue_leaf(&ca, &p, &rng).unwrap().key_pem;
    assert_eq!(
        status(
            Some(c),
            Some(other_key.as_bytes()),
            &ca.facts,
            &sans,
            Usage::Server,
            now()
        ),
        Some(ReissueReason::KeyMismatch)
    );
    assert_eq!(
        status(Some(c), Some(k), &ca.facts, &sans, Usage::Client, now()),
        Some(ReissueReason::WrongUsage)
    );
    let late = now() + Duration::days(397 - 10);
    assert_eq!(
        status(Some(c), Some(k), &ca.facts, &sans, Usage::Server, late),
        Some(ReissueReason::ExpiresSoon { days: 10 })
    );
    let ok_late = now() + Duration::days(397 - 31);
    assert_eq!(
        status(Some(c), Some(k), &ca.facts, &sans, Usage::Server, ok_late),
        None
    );
}

#[test]
fn openssl_made_keys_and_ca_load() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(d)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // SEC1 "EC PRIVATE KEY", as `openssl ecparam -genkey` writes it.
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ca.key",
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=openssl CA",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        "ca.crt",
    ]);
    let cert_pem = std::fs::read_to_string(d.join("ca.crt")).unwrap();
    let key_pem = std::fs::read_to_string(d.join("ca.key")).unwrap();
    assert!(key_pem.contains("EC PRIVATE KEY"));
    let key = read_private_key(key_pem.as_bytes()).unwrap();
    let facts = &read_certs(cert_pem.as_bytes()).unwrap()[0];
    assert!(key_matches_cert(&key, facts));
    let ca = load_ca(&cert_pem, &key_pem).unwrap();
    let mut p = leaf_params(&["registry.local"], Usage::Server, KeyType::Ed25519);
    // openssl's CA starts now, not at the fixed test time.
    p.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    p.not_after = p.not_before + Duration::days(30);
    let leaf = issue_leaf(&ca, &p, &SystemRandom::new()).unwrap();
    std::fs::write(d.join("leaf.crt"), &leaf.cert_pem).unwrap();
    run(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        "ca.crt",
        "-verify_hostname",
        "registry.local",
        "leaf.crt",
    ]);

    // PKCS#1 "RSA PRIVATE KEY" is read (not generated) through the same rewrapping.
    run(&["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    run(&[
        "req", "-x509", "-new", "-key", "rsa.key", "-subj", "/CN=rsa", "-days", "30", "-out",
        "rsa.crt",
    ]);
    let key = read_private_key(&std::fs::read(d.join("rsa.key")).unwrap()).unwrap();
    let facts = &read_certs(&std::fs::read(d.join("rsa.crt")).unwrap()).unwrap()[0];
    assert!(key_matches_cert(&key, facts));
    assert!(matches!(
        facts.public_key,
        bkenv::pki::PublicKeyKind::Rsa { bits: 2048 }
    ));
}
