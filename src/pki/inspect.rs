//! Facts about a certificate, read with x509-parser independently of how it was issued.

use super::PkiError;
use super::names::{NameConstraints, Permitted, SanName};
use std::net::IpAddr;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, GeneralSubtree, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// Everything bkenv checks about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub subject_cn: Option<String>,
    pub issuer_cn: Option<String>,
    /// RFC 4514-style rendering, e.g. "CN=bkenv CA, O=bkenv".
    pub subject: String,
    pub issuer: String,
    /// Lower-case hex of the serial's DER content bytes, without separators.
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub dns_sans: Vec<String>,
    pub ip_sans: Vec<IpAddr>,
    /// The DNS and IP SANs in certificate order, as a client lists them.
    pub sans: Vec<SanName>,
    pub has_san_extension: bool,
    pub is_ca: bool,
    pub path_len: Option<u32>,
    pub key_usage: Option<KeyUsageFacts>,
    /// `None` when the extension is absent (RFC 5280: any purpose; Apple: not a server).
    pub ekus: Option<Ekus>,
    pub name_constraints: Option<NameConstraints>,
    pub name_constraints_critical: bool,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    /// Short name from the OID registry (e.g. "ecdsa-with-SHA256"), or the dotted OID.
    pub signature_algorithm: String,
    pub public_key: PublicKeyKind,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey bit string contents (EC point, Ed25519 key, RSAPublicKey DER).
    pub public_key_bytes: Vec<u8>,
    pub der: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsageFacts {
    pub critical: bool,
    pub digital_signature: bool,
    pub key_encipherment: bool,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ekus {
    pub server_auth: bool,
    pub client_auth: bool,
    pub any: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyKind {
    Rsa {
        bits: usize,
    },
    EcP256,
    EcP384,
    /// A curve bkenv cannot verify with (e.g. P-521); `bits` is the field size.
    EcOther {
        bits: usize,
    },
    Ed25519,
    Other {
        algorithm: String,
    },
}

/// In words, for messages: "ECDSA P-256", "RSA 2048".
impl std::fmt::Display for PublicKeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublicKeyKind::Rsa { bits } => write!(f, "RSA {bits}"),
            PublicKeyKind::EcP256 => f.write_str("ECDSA P-256"),
            PublicKeyKind::EcP384 => f.write_str("ECDSA P-384"),
            PublicKeyKind::EcOther { bits } => write!(f, "ECDSA on a {bits}-bit curve"),
            PublicKeyKind::Ed25519 => f.write_str("Ed25519"),
            PublicKeyKind::Other { algorithm } => write!(f, "{algorithm}"),
        }
    }
}

impl CertFacts {
    pub fn uses_sha1(&self) -> bool {
        self.signature_algorithm
            .to_ascii_lowercase()
            .contains("sha1")
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// How a person tells two certificates with the same name apart: the start of the
    /// subject key identifier as `openssl x509 -noout -ext subjectKeyIdentifier` prints
    /// it, or of the SHA-256 fingerprint when the certificate has no key identifier.
    pub fn key_id(&self) -> String {
        match &self.subject_key_id {
            Some(id) if !id.is_empty() => format!("key id {}", colon_hex(id, 8)),
            _ => {
                let d = ring::digest::digest(&ring::digest::SHA256, &self.der);
                format!("SHA-256 {}", colon_hex(d.as_ref(), 8))
            }
        }
    }

    /// `` `CN` (key id AB:CD:…) ``: a certificate as messages name it.
    pub fn named(&self) -> String {
        let cn = self.subject_cn.as_deref().unwrap_or(&self.subject);
        format!("`{cn}` ({})", self.key_id())
    }

    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertFacts, PkiError> {
        let cert = parse(der)?;
        let malformed = |e: x509_parser::error::X509Error| PkiError::MalformedCertificate {
            detail: e.to_string(),
        };
        let cn = |name: &x509_parser::x509::X509Name<'_>| {
            name.iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_string)
        };
        let mut facts = CertFacts {
            subject_cn: cn(cert.subject()),
            issuer_cn: cn(cert.issuer()),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial_hex: hex(cert.raw_serial()),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            dns_sans: Vec::new(),
            ip_sans: Vec::new(),
            sans: Vec::new(),
            has_san_extension: false,
            is_ca: false,
            path_len: None,
            key_usage: None,
            ekus: None,
            name_constraints: None,
            name_constraints_critical: false,
            subject_key_id: None,
            authority_key_id: None,
            signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
            public_key: public_key_kind(&cert),
            spki_der: cert.public_key().raw.to_vec(),
            public_key_bytes: cert.public_key().subject_public_key.data.to_vec(),
            der: der.to_vec(),
        };
        if let Some(san) = cert.subject_alternative_name().map_err(malformed)? {
            facts.has_san_extension = true;
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => {
                        facts.dns_sans.push(d.to_string());
                        facts.sans.push(SanName::Dns(d.to_string()));
                    }
                    GeneralName::IPAddress(b) => {
                        let ip = ip_from_bytes(b);
                        facts.ip_sans.extend(ip);
                        facts.sans.extend(ip.map(SanName::Ip));
                    }
                    _ => {}
                }
            }
        }
        if let Some(bc) = cert.basic_constraints().map_err(malformed)? {
            facts.is_ca = bc.value.ca;
            facts.path_len = bc.value.path_len_constraint;
        }
        if let Some(ku) = cert.key_usage().map_err(malformed)? {
            facts.key_usage = Some(KeyUsageFacts {
                critical: ku.critical,
                digital_signature: ku.value.digital_signature(),
                key_encipherment: ku.value.key_encipherment(),
                key_cert_sign: ku.value.key_cert_sign(),
                crl_sign: ku.value.crl_sign(),
            });
        }
        if let Some(eku) = cert.extended_key_usage().map_err(malformed)? {
            facts.ekus = Some(Ekus {
                server_auth: eku.value.server_auth,
                client_auth: eku.value.client_auth,
                any: eku.value.any,
            });
        }
        if let Some(nc) = cert.name_constraints().map_err(malformed)? {
            facts.name_constraints_critical = nc.critical;
            let mut out = NameConstraints::default();
            let permitted = nc.value.permitted_subtrees.as_deref().unwrap_or(&[]);
            let excluded = nc.value.excluded_subtrees.as_deref().unwrap_or(&[]);
            out.other_subtrees += collect_subtrees(permitted, &mut out.permitted);
            out.other_subtrees += collect_subtrees(excluded, &mut out.excluded);
            facts.name_constraints = Some(out);
        }
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => {
                    facts.subject_key_id = Some(id.0.to_vec());
                }
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    facts.authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
                }
                _ => {}
            }
        }
        Ok(facts)
    }
}

/// How `cert` relates to a would-be issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    Valid,
    /// The issuer's subject is not the certificate's issuer name.
    NameMismatch,
    /// Signed by some other key.
    BadSignature,
    /// Algorithm or key size outside what the verifier supports (e.g. P-521, RSA < 2048);
    /// reported apart from a bad signature because the chain may well be fine.
    Unsupported,
}

/// Checks that `issuer`'s key signed `cert` and that the names chain.
pub fn check_signed_by(cert: &CertFacts, issuer: &CertFacts) -> SignatureCheck {
    let (Ok(c), Ok(i)) = (parse(&cert.der), parse(&issuer.der)) else {
        return SignatureCheck::BadSignature;
    };
    if c.issuer().as_raw() != i.subject().as_raw() && cert.issuer != issuer.subject {
        return SignatureCheck::NameMismatch;
    }
    use x509_parser::error::X509Error;
    match c.verify_signature(Some(i.public_key())) {
        Ok(()) => SignatureCheck::Valid,
        Err(X509Error::SignatureUnsupportedAlgorithm) => SignatureCheck::Unsupported,
        Err(_) => SignatureCheck::BadSignature,
    }
}

/// Whether `issuer` signed `cert`: names chain and the signature verifies.
pub fn signed_by(cert: &CertFacts, issuer: &CertFacts) -> bool {
    check_signed_by(cert, issuer) == SignatureCheck::Valid
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(PkiError::MalformedCertificate {
            detail: "trailing bytes after the certificate".into(),
        }),
        Err(e) => Err(PkiError::MalformedCertificate {
            detail: e.to_string(),
        }),
    }
}

fn collect_subtrees(subtrees: &[GeneralSubtree<'_>], into: &mut Permitted) -> usize {
    let mut other = 0;
    for subtree in subtrees {
        match &subtree.base {
            GeneralName::DNSName(d) => into.dns.push(d.to_string()),
            GeneralName::IPAddress(b) if b.len() == 8 || b.len() == 32 => {
                let (addr, mask) = b.split_at(b.len() / 2);
                let prefix = mask.iter().map(|m| m.count_ones()).sum::<u32>();
                if let Some(ip) = ip_from_bytes(addr) {
                    into.ip.push((ip, u8::try_from(prefix).unwrap_or(u8::MAX)));
                }
            }
            _ => other += 1,
        }
    }
    other
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::from(v4))
    } else {
        <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
    }
}

fn public_key_kind(cert: &X509Certificate<'_>) -> PublicKeyKind {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => PublicKeyKind::Rsa {
            bits: rsa.key_size(),
        },
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => PublicKeyKind::EcP256,
                Some("1.3.132.0.34") => PublicKeyKind::EcP384,
                _ => PublicKeyKind::EcOther {
                    bits: point.key_size(),
                },
            }
        }
        _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => PublicKeyKind::Ed25519,
        _ => PublicKeyKind::Other {
            algorithm: oid_name(&spki.algorithm.algorithm),
        },
    }
}

fn oid_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first `n` bytes of `bytes` as upper-case colon-separated hex, `…` when cut.
pub fn colon_hex(bytes: &[u8], n: usize) -> String {
    let mut out: Vec<String> = bytes.iter().take(n).map(|b| format!("{b:02X}")).collect();
    if bytes.len() > n {
        out.push("…".into());
    }
    out.join(":")
}
