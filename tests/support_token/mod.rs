//! Registry bearer tokens as distribution's token servers issue them, for tests that run
//! the real registry in token mode.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{CertificateParams, KeyPair};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use std::time::{SystemTime, UNIX_EPOCH};

/// A key that signs tokens, and its self-signed certificate (the registry's
/// `rootcertbundle` holds it when the registry trusts the signer).
pub struct Signer {
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    pub pkcs8: Vec<u8>,
}

pub fn signer() -> Signer {
    let key = KeyPair::generate().expect("P-256 key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "token signer");
    let cert = p.self_signed(&key).expect("signer certificate");
    Signer {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        pkcs8: key.serialize_der(),
    }
}

/// A JWT as distribution's token servers issue it: ES256, the signing certificate in
/// `x5c`, the registry's service as audience; pull and push on `repos` (GET /v2/ needs
/// none), valid for an hour.
pub fn jwt(s: &Signer, issuer: &str, service: &str, subject: &str, repos: &[&str]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [STANDARD.encode(&s.cert_der)],
    });
    let claims = serde_json::json!({
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "exp": now + 3600,
        "nbf": now - 60,
        "iat": now,
        "jti": format!("bkenv-test-{now}"),
        "access": repos
            .iter()
            .map(|r| serde_json::json!({"type": "repository", "name": r, "actions": ["pull", "push"]}))
            .collect::<Vec<_>>(),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let rng = ring::rand::SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &s.pkcs8, &rng)
        .expect("signing key");
    let sig = key.sign(&rng, input.as_bytes()).expect("signature");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}
