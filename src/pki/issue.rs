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
    cp.distinguished_name = subject(&params.common_name);
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
        cert_pem: cert_pem.to_string(),
        key_pem: key_pem.to_string(),
        facts,
        issuer,
    })
}

/// Issues a server or client certificate. Names outside the CA's name constraints are
/// refused here rather than producing a certificate every client would reject.
pub fn issue_leaf(ca: &Ca, p: &LeafParams, rng: &dyn SecureRandom) -> Result<IssuedCert, PkiError> {
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
    if let Some(nc) = &ca.facts.name_constraints
        && let Some(bad) = p.sans.iter().find(|n| !permitted_by(nc, n))
    {
        return Err(PkiError::NameNotPermitted {
            name: bad.to_string(),
            constraints: nc.permitted.to_string(),
        });
    }
    sign_leaf(ca, p, rng)
}

/// Issuance without policy checks, so tests can build certificates clients must reject.
pub(super) fn sign_leaf(
    ca: &Ca,
    p: &LeafParams,
    rng: &dyn SecureRandom,
) -> Result<IssuedCert, PkiError> {
    let key = keys::generate(p.key_type, rng)?;
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
    let cert = cp.signed_by(&key, &ca.issuer)?;
    Ok(IssuedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn check_window(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<(), PkiError> {
    if not_after <= not_before {
        return Err(PkiError::EmptyValidity);
    }
    Ok(())
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn
}
