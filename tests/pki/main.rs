//! Certificates from `bkenv::pki`, checked by parsers and verifiers that are not rcgen:
//! x509-parser for structure and the `openssl` CLI for chain and hostname verification.

mod lifecycle;
mod openssl;
mod structure;
#[path = "../support/mod.rs"]
mod support;

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

pub const KEY_TYPES: [KeyType; 3] = [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519];

pub fn now() -> OffsetDateTime {
    // 2026-01-01T00:00:00Z: fixed so validity assertions are exact.
    OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
}

pub fn names(list: &[&str]) -> Vec<SanName> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

pub fn ca(key_type: KeyType, constraints: Option<Permitted>) -> Ca {
    let params = CaParams {
        common_name: "bkenv test CA".into(),
        key_type,
        not_before: now(),
        not_after: now() + Duration::days(3650),
        name_constraints: constraints,
    };
    generate_ca(&params, &SystemRandom::new()).unwrap()
}

pub fn leaf_params(sans: &[&str], usage: Usage, key_type: KeyType) -> LeafParams {
    LeafParams {
        common_name: "registry".into(),
        sans: names(sans),
        usage,
        key_type,
        not_before: now(),
        not_after: now() + Duration::days(397),
    }
}

pub fn der(pem: &str) -> Vec<u8> {
    let (_, pem) = parse_x509_pem(pem.as_bytes()).unwrap();
    pem.contents
}

/// `false` (after a loud message) when openssl is absent; CI must have it.
pub fn have_openssl() -> bool {
    support::tool("openssl").is_some()
}

/// Runs `openssl verify` at a fixed time inside the validity window.
pub fn openssl_verify(dir: &Path, ca: &str, leaf: &str, args: &[&str]) -> (bool, String) {
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

pub fn host_args(name: &SanName) -> [String; 2] {
    match name {
        SanName::Dns(d) => ["-verify_hostname".into(), d.clone()],
        SanName::Ip(ip) => ["-verify_ip".into(), ip.to_string()],
    }
}
