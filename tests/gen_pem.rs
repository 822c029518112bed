//! Regenerates the committed PEM fixtures under `tests/fixtures/pem/`.
//! Run with `cargo test --test gen_pem -- --ignored`; certificates have fixed dates.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer,
    KeyPair, KeyUsagePurpose as Ku, NameConstraints, SanType, date_time_ymd,
};
use std::path::Path;

struct Made {
    params: CertificateParams,
    key: KeyPair,
}

fn write(dir: &Path, name: &str, cert: &str, key: &KeyPair) {
    std::fs::write(dir.join(format!("{name}.crt")), cert).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

fn ca(dir: &Path, name: &str, constraints: Option<&str>, is_ca: bool) -> Made {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    p.not_before = date_time_ymd(2025, 1, 1);
    p.not_after = date_time_ymd(2035, 1, 1);
    if is_ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![Ku::KeyCertSign, Ku::CrlSign];
    }
    if let Some(c) = constraints {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![rcgen::GeneralSubtree::DnsName(c.to_string())],
            excluded_subtrees: vec![],
        });
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    write(dir, name, &cert.pem(), &key);
    Made { params: p, key }
}

#[allow(clippy::too_many_arguments)]
fn leaf(
    dir: &Path,
    name: &str,
    issuer: &Made,
    sans: &[&str],
    ekus: &[Eku],
    dates: ((i32, u8, u8), (i32, u8, u8)),
    cn: &str,
) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    for s in sans {
        p.subject_alt_names
            .push(match s.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*s).try_into().unwrap()),
            });
    }
    p.extended_key_usages = ekus.to_vec();
    p.key_usages = vec![Ku::DigitalSignature];
    p.not_before = date_time_ymd(dates.0.0, dates.0.1, dates.0.2);
    p.not_after = date_time_ymd(dates.1.0, dates.1.1, dates.1.2);
    let key = KeyPair::generate().unwrap();
    let iss = Issuer::from_params(&issuer.params, &issuer.key);
    let cert = p.signed_by(&key, &iss).unwrap();
    write(dir, name, &cert.pem(), &key);
}

#[test]
#[ignore]
fn generate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pem");
    std::fs::create_dir_all(&dir).unwrap();
    let ok = ((2025, 1, 1), (2035, 1, 1));
    let c = ca(&dir, "ca", None, true);
    let other = ca(&dir, "other-ca", None, true);
    let notca = ca(&dir, "not-ca", None, false);
    let nc = ca(&dir, "nc-ca", Some("example.com"), true);
    let srv = [Eku::ServerAuth];
    leaf(
        &dir,
        "registry",
        &c,
        &["registry", "localhost", "127.0.0.1"],
        &srv,
        ok,
        "registry",
    );
    leaf(
        &dir,
        "registry-only",
        &c,
        &["registry"],
        &srv,
        ok,
        "registry",
    );
    leaf(
        &dir,
        "registry-other",
        &other,
        &["registry", "localhost", "127.0.0.1"],
        &srv,
        ok,
        "registry",
    );
    leaf(
        &dir,
        "server",
        &c,
        &["buildkitd", "localhost", "127.0.0.1"],
        &srv,
        ok,
        "buildkitd",
    );
    leaf(
        &dir,
        "server-dns-only",
        &c,
        &["buildkitd", "localhost"],
        &srv,
        ok,
        "buildkitd",
    );
    leaf(&dir, "client", &c, &[], &[Eku::ClientAuth], ok, "client");
    leaf(&dir, "client-no-clientauth", &c, &[], &srv, ok, "client");
    leaf(
        &dir,
        "client-other",
        &other,
        &[],
        &[Eku::ClientAuth],
        ok,
        "client",
    );
    leaf(
        &dir,
        "expired",
        &c,
        &["registry"],
        &srv,
        ((2024, 1, 1), (2026, 6, 1)),
        "registry",
    );
    leaf(
        &dir,
        "expiring",
        &c,
        &["registry"],
        &srv,
        ((2025, 1, 1), (2026, 12, 15)),
        "registry",
    );
    leaf(
        &dir,
        "not-yet-valid",
        &c,
        &["registry"],
        &srv,
        ((2027, 1, 1), (2035, 1, 1)),
        "registry",
    );
    leaf(&dir, "cn-only", &c, &[], &srv, ok, "registry");
    leaf(
        &dir,
        "no-serverauth",
        &c,
        &["registry"],
        &[Eku::ClientAuth],
        ok,
        "registry",
    );
    leaf(
        &dir,
        "under-not-ca",
        &notca,
        &["registry"],
        &srv,
        ok,
        "registry",
    );
    leaf(
        &dir,
        "outside-constraints",
        &nc,
        &["registry"],
        &srv,
        ok,
        "registry",
    );
    leaf(
        &dir,
        "inside-constraints",
        &nc,
        &["registry.example.com"],
        &srv,
        ok,
        "registry",
    );
}

#[test]
#[ignore]
fn generate_old_ca_leaf() {
    // A leaf whose issuer name is `ca test CA` but signed by another key (a regenerated CA).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pem");
    let tmp = tempfile::tempdir().unwrap();
    let regen = ca(tmp.path(), "ca", None, true);
    leaf(
        &dir,
        "registry-old-ca",
        &regen,
        &["registry"],
        &[Eku::ServerAuth],
        ((2025, 1, 1), (2035, 1, 1)),
        "registry",
    );
}
