//! Loading CAs, policy refusals and the keep-or-reissue decision.

use super::*;

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
    // RSA cannot be generated, so it is not a key type: asking for it says why.
    for rsa in ["rsa", "rsa2048", "rsa-2048", "RSA"] {
        let err = rsa.parse::<KeyType>().unwrap_err();
        assert!(matches!(err, PkiError::RsaUnsupported), "{rsa}: {err}");
        assert!(err.to_string().contains("ecdsa-p256"), "{err}");
        let err = serde_json::from_str::<KeyType>(&format!("\"{rsa}\"")).unwrap_err();
        assert!(
            err.to_string()
                .contains("RSA key generation is unsupported"),
            "{err}"
        );
    }
    let err = serde_json::from_str::<KeyType>("\"dsa\"").unwrap_err();
    assert!(
        err.to_string().contains("unknown key type \"dsa\""),
        "{err}"
    );
    assert!(!err.to_string().contains("rsa"), "{err}");
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
