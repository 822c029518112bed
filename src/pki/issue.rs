//! Issuing the CA and leaf certificates with rcgen.

use super::inspect::CertFacts;
use super::names::{Permitted, SanName, permitted_by};
use super::pem::{load_key_pair, read_certs};
use super::{KeyType, PkiError, Usage, keys};
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyUsagePurpose, SanType,
};
use ring::rand::SecureRandom;
use rustls_pki_types::CertificateDer;
use std::fmt;
use time::{Duration, OffsetDateTime};

/// Apple rejects TLS server certificates valid for longer, even from private roots.
pub const MAX_LEAF_VALIDITY_DAYS: i64 = 825;

/// Organisation written into every subject, so bkenv's certificates are recognisable and
/// never share rcgen's default DN (identical DNs make chain building pick the wrong issuer).
const ORGANIZATION: &str = "bkenv";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaParams {
    pub common_name: String,
    pub key_type: KeyType,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Permitted subtrees, written as a critical name constraints extension.
    pub name_constraints: Option<Permitted>,
}

/// A CA able to sign leaves: its certificate, key, and parsed facts.
pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
    pub facts: CertFacts,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("subject", &self.facts.subject)
            .field("serial_hex", &self.facts.serial_hex)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafParams {
    pub common_name: String,
    /// Required for servers; optional for clients.
    pub sans: Vec<SanName>,
    pub usage: Usage,
    pub key_type: KeyType,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A freshly issued leaf; `key_pem` is PKCS#8.
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Creates a self-signed root: CA:TRUE with pathlen 0 (no intermediates), key usage
/// keyCertSign + cRLSign, and the given permitted subtrees.
pub fn generate_ca(params: &CaParams, rng: &dyn SecureRandom) -> Result<Ca, PkiError> {
    check_window(params.not_before, params.not_after)?;
    let key = keys::generate(params.key_type, rng)?;
    self_sign_ca(params, key, rng)
}

/// Self-signs a CA certificate for an existing CA key. Used when an interrupted first run
/// left the key without its certificate: no client trusts that CA yet, and keeping the key
/// means the key file is never replaced.
pub fn generate_ca_with_key(
    params: &CaParams,
    key_pem: &str,
    rng: &dyn SecureRandom,
) -> Result<Ca, PkiError> {
    check_window(params.not_before, params.not_after)?;
    let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| PkiError::UnsupportedKey {
        detail: format!("the CA key cannot be loaded: {e}"),
    })?;
    self_sign_ca(params, key, rng)
}

fn self_sign_ca(
    params: &CaParams,
    key: rcgen::KeyPair,
    rng: &dyn SecureRandom,
) -> Result<Ca, PkiError> {
    let mut cp = CertificateParams::default();
    cp.not_before = params.not_before;
    cp.not_after = params.not_after;
    cp.serial_number = Some(keys::serial(rng)?);
    // The key identifier is written explicitly so the name can carry its start: every
    // environment's CA then has a name of its own (`bkenv development CA 3F2A9C1E`), and
    // a client trusting one environment's CA while talking to another's says two names.
    let key_id = ring::digest::digest(&ring::digest::SHA256, key.public_key_raw()).as_ref()
        [..CA_KEY_ID_LEN]
        .to_vec();
    cp.distinguished_name = subject(&ca_name(&params.common_name, &key_id));
    cp.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(key_id);
    cp.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    cp.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    cp.name_constraints = params
        .name_constraints
        .as_ref()
        .filter(|p| !p.is_empty())
        .map(|p| rcgen::NameConstraints {
            permitted_subtrees: p
                .dns
                .iter()
                .map(|d| GeneralSubtree::DnsName(d.clone()))
                .chain(p.ip.iter().map(|&(ip, prefix)| {
                    GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(ip, prefix))
                }))
                .collect(),
            excluded_subtrees: Vec::new(),
        });
    let cert = cp.self_signed(&key)?;
    let facts = CertFacts::from_der(cert.der())?;
    let key_pem = key.serialize_pem();
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem,
        facts,
        issuer: rcgen::Issuer::new(cp, key),
    })
}

/// Loads an existing CA, refusing certificates that cannot sign and keys that are not theirs.
/// rcgen itself checks neither. With several certificates in `cert_pem`, the first is used.
pub fn load_ca(cert_pem: &str, key_pem: &str) -> Result<Ca, PkiError> {
    let facts = read_certs(cert_pem.as_bytes())?
        .into_iter()
        .next()
        .ok_or(PkiError::NotPem {
            expected: "CERTIFICATE",
        })?;
    let not_ca = |reason| PkiError::NotACa {
        subject: facts.subject.clone(),
        reason,
    };
    if !facts.is_ca {
        return Err(not_ca("basicConstraints CA:TRUE is missing"));
    }
    if facts.key_usage.is_some_and(|ku| !ku.key_cert_sign) {
        return Err(not_ca("key usage lacks keyCertSign"));
    }
    let (key, _) = load_key_pair(key_pem.as_bytes())?;
    if key.public_key_raw() != facts.public_key_bytes.as_slice() {
        return Err(PkiError::KeyMismatch {
            subject: facts.subject.clone(),
        });
    }
    let issuer = rcgen::Issuer::from_ca_cert_der(&CertificateDer::from(facts.der.as_slice()), key)?;
    Ok(Ca {
        // Re-encoded: the copies bkenv hands to clients never carry anything else.
        cert_pem: super::pem::certificates_pem(cert_pem.as_bytes())?,
        key_pem: key_pem.to_string(),
        facts,
        issuer,
    })
}

/// Issues a server or client certificate. Names outside the CA's name constraints are
/// refused here rather than producing a certificate every client would reject.
pub fn issue_leaf(ca: &Ca, p: &LeafParams, rng: &dyn SecureRandom) -> Result<IssuedCert, PkiError> {
    check_leaf(ca, p)?;
    sign_leaf(ca, p, rng)
}

/// [`issue_leaf`] for a key the user supplied (kept as it is, so key and certificate
/// always match). The returned `key_pem` is `key_pem` unchanged.
pub fn issue_leaf_for_key(
    ca: &Ca,
    p: &LeafParams,
    key_pem: &str,
    rng: &dyn SecureRandom,
) -> Result<IssuedCert, PkiError> {
    check_leaf(ca, p)?;
    let (key, _) = load_key_pair(key_pem.as_bytes())?;
    let cert_pem = sign_leaf_with(ca, p, &key, rng)?;
    Ok(IssuedCert {
        cert_pem,
        key_pem: key_pem.to_string(),
    })
}

fn check_leaf(ca: &Ca, p: &LeafParams) -> Result<(), PkiError> {
    check_window(p.not_before, p.not_after)?;
    let days = (p.not_after - p.not_before).whole_days();
    if p.not_after - p.not_before > Duration::days(MAX_LEAF_VALIDITY_DAYS) {
        return Err(PkiError::ValidityTooLong {
            days,
            max: MAX_LEAF_VALIDITY_DAYS,
        });
    }
    if p.usage == Usage::Server && p.sans.is_empty() {
        return Err(PkiError::NoServerNames);
    }
    // OpenSSL also applies DNS constraints to a dotted CN when a leaf has no DNS SAN, so
    // such a CN must be permitted too or the leaf fails there.
    let cn_as_dns = p
        .common_name
        .contains('.')
        .then(|| p.common_name.parse::<SanName>().ok())
        .flatten()
        .filter(|n| matches!(n, SanName::Dns(_)));
    if let Some(nc) = &ca.facts.name_constraints
        && let Some(bad) = p
            .sans
            .iter()
            .chain(cn_as_dns.iter())
            .find(|n| !permitted_by(nc, n))
    {
        return Err(PkiError::NameNotPermitted {
            name: bad.to_string(),
            constraints: nc.permitted.to_string(),
        });
    }
    Ok(())
}

/// Issuance without policy checks, so tests can build certificates clients must reject.
pub(super) fn sign_leaf(
    ca: &Ca,
    p: &LeafParams,
    rng: &dyn SecureRandom,
) -> Result<IssuedCert, PkiError> {
    let key = keys::generate(p.key_type, rng)?;
    let cert_pem = sign_leaf_with(ca, p, &key, rng)?;
    Ok(IssuedCert {
        cert_pem,
        key_pem: key.serialize_pem(),
    })
}

fn sign_leaf_with(
    ca: &Ca,
    p: &LeafParams,
    key: &rcgen::KeyPair,
    rng: &dyn SecureRandom,
) -> Result<String, PkiError> {
    let mut cp = CertificateParams::default();
    cp.not_before = p.not_before;
    cp.not_after = p.not_after;
    cp.serial_number = Some(keys::serial(rng)?);
    cp.distinguished_name = subject(&p.common_name);
    cp.subject_alt_names = p
        .sans
        .iter()
        .map(|n| match n {
            SanName::Dns(d) => d
                .as_str()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|_| PkiError::InvalidName(d.clone())),
            SanName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_, _>>()?;
    cp.is_ca = IsCa::ExplicitNoCa;
    // Only EC and Ed25519 keys are generated; they sign, never encipher.
    cp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    cp.extended_key_usages = vec![match p.usage {
        Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    cp.use_authority_key_identifier_extension = true;
    let cert = cp.signed_by(key, &ca.issuer)?;
    Ok(cert.pem())
}

fn check_window(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<(), PkiError> {
    if not_after <= not_before {
        return Err(PkiError::EmptyValidity);
    }
    Ok(())
}

/// Bytes of a CA's subject key identifier: SHA-256 of the public key cut to 20 bytes,
/// the length RFC 5280's method 1 gives.
const CA_KEY_ID_LEN: usize = 20;

/// Characters the key id adds to a CA's common name (a space and 8 hex digits); the
/// name a user gives leaves room for them within X.520's 64.
pub const CA_NAME_SUFFIX_LEN: usize = 9;

/// The CA's common name: the configured name and the start of its key identifier.
fn ca_name(common_name: &str, key_id: &[u8]) -> String {
    let hex: String = key_id.iter().take(4).map(|b| format!("{b:02X}")).collect();
    format!("{common_name} {hex}")
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::default_permitted;
    use ring::rand::SystemRandom;
    use std::process::Command;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
    }

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

    /// The guard in `issue_leaf` is bkenv's; this checks the extension itself is enforced
    /// by a real verifier when a leaf slips past it.
    #[test]
    fn openssl_enforces_written_name_constraints() {
        let rng = SystemRandom::new();
        let spec: Vec<SanName> = vec!["registry.local".parse().unwrap()];
        let ca = generate_ca(
            &CaParams {
                common_name: "constrained".into(),
                key_type: KeyType::EcdsaP256,
                not_before: now(),
                not_after: now() + Duration::days(365),
                name_constraints: Some(default_permitted(&spec)),
            },
            &rng,
        )
        .unwrap();
        let leaf_for = |name: &str| LeafParams {
            common_name: name.into(),
            sans: vec![name.parse().unwrap()],
            usage: Usage::Server,
            key_type: KeyType::EcdsaP256,
            not_before: now(),
            not_after: now() + Duration::days(30),
        };
        let inside = issue_leaf(&ca, &leaf_for("a.registry.local"), &rng).unwrap();
        assert!(issue_leaf(&ca, &leaf_for("evil.example"), &rng).is_err());
        let outside = sign_leaf(&ca, &leaf_for("evil.example"), &rng).unwrap();
        let outside_ip = sign_leaf(&ca, &leaf_for("192.0.2.7"), &rng).unwrap();
        if !have_openssl() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), &ca.cert_pem).unwrap();
        let at = (now() + Duration::days(1)).unix_timestamp().to_string();
        let verify = |leaf: &IssuedCert| {
            std::fs::write(dir.path().join("leaf.crt"), &leaf.cert_pem).unwrap();
            let out = Command::new("openssl")
                .current_dir(dir.path())
                .args(["verify", "-attime", &at, "-CAfile", "ca.crt", "leaf.crt"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text)
        };
        let (ok, text) = verify(&inside);
        assert!(ok, "{text}");
        for leaf in [&outside, &outside_ip] {
            let (ok, text) = verify(leaf);
            assert!(!ok && text.contains("subtree violation"), "{text}");
        }
        // OpenSSL also holds a SAN-less leaf's CN to DNS constraints when it looks like a
        // host name, so client CNs under a constrained CA must stay dot-free.
        let mut client = leaf_for("buildctl");
        client.usage = Usage::Client;
        client.sans.clear();
        let (ok, text) = verify(&issue_leaf(&ca, &client, &rng).unwrap());
        assert!(ok, "{text}");
        client.common_name = "client.example".into();
        assert!(issue_leaf(&ca, &client, &rng).is_err());
        let (ok, _) = verify(&sign_leaf(&ca, &client, &rng).unwrap());
        assert!(
            !ok,
            "expected OpenSSL to apply DNS constraints to a dotted CN"
        );
    }

    #[test]
    fn debug_output_hides_keys() {
        let rng = SystemRandom::new();
        let ca = generate_ca(
            &CaParams {
                common_name: "debug".into(),
                key_type: KeyType::Ed25519,
                not_before: now(),
                not_after: now() + Duration::days(1),
                name_constraints: None,
            },
            &rng,
        )
        .unwrap();
        let leaf = sign_leaf(
            &ca,
            &LeafParams {
                common_name: "c".into(),
                sans: vec![],
                usage: Usage::Client,
                key_type: KeyType::Ed25519,
                not_before: now(),
                not_after: now() + Duration::days(1),
            },
            &rng,
        )
        .unwrap();
        for shown in [format!("{ca:?}"), format!("{leaf:?}")] {
            assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        }
    }
}
