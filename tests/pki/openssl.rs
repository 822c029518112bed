//! Chains, host names and purposes as the openssl CLI verifies them.

use super::*;

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
