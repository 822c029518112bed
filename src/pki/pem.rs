//! Reading certificates and private keys from PEM, and telling the user what a file
//! holds when it is not what was expected.

use super::PkiError;
use super::inspect::CertFacts;
use rcgen::PublicKeyData;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::{PemObject, SectionKind};

/// How a private key was encoded on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// "PRIVATE KEY": what bkenv writes.
    Pkcs8,
    /// "EC PRIVATE KEY", e.g. from `openssl ecparam -genkey`.
    Sec1,
    /// "RSA PRIVATE KEY", e.g. from `openssl genrsa -traditional`.
    Pkcs1,
}

/// The PEM label, as a user sees it in the file.
impl std::fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyFormat::Pkcs8 => "PKCS#8 (\"PRIVATE KEY\")",
            KeyFormat::Sec1 => "SEC1 (\"EC PRIVATE KEY\")",
            KeyFormat::Pkcs1 => "PKCS#1 (\"RSA PRIVATE KEY\")",
        })
    }
}

/// The public half of a private key, for matching against certificates. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateKeyInfo {
    pub format: KeyFormat,
    /// DER SubjectPublicKeyInfo derived from the private key.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey contents, comparable with [`CertFacts::public_key_bytes`].
    pub public_key: Vec<u8>,
}

/// Every CERTIFICATE block in `pem`, in file order.
pub fn read_certs(pem: &[u8]) -> Result<Vec<CertFacts>, PkiError> {
    let sections = sections(pem, "CERTIFICATE")?;
    let certs: Vec<CertFacts> = sections
        .iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertFacts::from_der(der))
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(PkiError::NotACertificate {
            found: describe(pem),
        });
    }
    Ok(certs)
}

/// The CERTIFICATE blocks of `pem`, re-encoded from their DER: what bkenv copies into
/// trust files (0644, handed to every client). Anything else in the file (comments,
/// other blocks) is dropped, and a private key in it is refused rather than copied.
pub fn certificates_pem(pem: &[u8]) -> Result<String, PkiError> {
    if labels(pem).iter().any(|l| l.contains("PRIVATE KEY")) {
        return Err(PkiError::KeyInCertificateFile);
    }
    read_certs(pem)?;
    let mut out = String::new();
    for (kind, der) in sections(pem, "CERTIFICATE")? {
        if kind == SectionKind::Certificate {
            out.push_str(&encode_pem("CERTIFICATE", &der));
        }
    }
    Ok(out)
}

/// `certs` as PEM CERTIFICATE blocks, from their DER.
pub fn certificates_to_pem(certs: &[CertFacts]) -> String {
    certs
        .iter()
        .map(|c| encode_pem("CERTIFICATE", &c.der))
        .collect()
}

/// PEM with 64-character base64 lines (RFC 7468).
pub(super) fn encode_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The first private key in `pem`, reduced to its public half.
pub fn read_private_key(pem: &[u8]) -> Result<PrivateKeyInfo, PkiError> {
    let (key, format) = load_key_pair(pem)?;
    Ok(PrivateKeyInfo {
        format,
        spki_der: key.subject_public_key_info(),
        public_key: key.public_key_raw().to_vec(),
    })
}

/// Whether `key` is the private half of `cert`'s public key.
pub fn key_matches_cert(key: &PrivateKeyInfo, cert: &CertFacts) -> bool {
    key.public_key == cert.public_key_bytes
}

/// Loads a key usable for signing. ring only reads PKCS#8, so SEC1 and PKCS#1 keys are
/// rewrapped as PKCS#8 first: openssl-made keys then work without a conversion step.
pub(super) fn load_key_pair(pem: &[u8]) -> Result<(rcgen::KeyPair, KeyFormat), PkiError> {
    if labels(pem).iter().any(|l| l.contains("ENCRYPTED")) {
        return Err(PkiError::EncryptedKey);
    }
    let sections = sections(pem, "PRIVATE KEY")?;
    let found = sections.into_iter().find_map(|(kind, der)| match kind {
        SectionKind::PrivateKey => Some((KeyFormat::Pkcs8, der)),
        SectionKind::EcPrivateKey => Some((KeyFormat::Sec1, der)),
        SectionKind::RsaPrivateKey => Some((KeyFormat::Pkcs1, der)),
        _ => None,
    });
    let Some((format, der)) = found else {
        return Err(PkiError::NotAPrivateKey {
            found: describe(pem),
        });
    };
    let candidates = match format {
        KeyFormat::Pkcs8 => vec![der],
        KeyFormat::Sec1 => [EC_P256_ALG, EC_P384_ALG]
            .iter()
            .map(|alg| pkcs8_wrap(alg, &der))
            .collect(),
        KeyFormat::Pkcs1 => vec![pkcs8_wrap(RSA_ALG, &der)],
    };
    candidates
        .iter()
        .find_map(|der| rcgen::KeyPair::try_from(&PrivatePkcs8KeyDer::from(der.as_slice())).ok())
        .map(|key| (key, format))
        .ok_or_else(|| PkiError::UnsupportedKey {
            detail: format!(
                "a {format} key that is not ECDSA P-256/P-384, Ed25519 or RSA, or is malformed; \
                 generate an ECDSA P-256 key (openssl genpkey -algorithm EC \
                 -pkeyopt ec_paramgen_curve:P-256)"
            ),
        })
}

// AlgorithmIdentifier DER: id-ecPublicKey with the named curve, and rsaEncryption with NULL.
const EC_P256_ALG: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07,
];
const EC_P384_ALG: &[u8] = &[
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];
const RSA_ALG: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// OneAsymmetricKey v1: SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING key }.
fn pkcs8_wrap(alg: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(alg);
    body.extend(der_tlv(0x04, key));
    der_tlv(0x30, &body)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// All sections pki-types understands; labels it does not know are skipped, which
/// [`describe`] makes up for in error messages.
fn sections(pem: &[u8], expected: &'static str) -> Result<Vec<(SectionKind, Vec<u8>)>, PkiError> {
    if labels(pem).is_empty() {
        return Err(PkiError::NotPem { expected });
    }
    <(SectionKind, Vec<u8>)>::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::CorruptPem {
            detail: pem_error(&e),
        })
}

/// Describes pki-types errors without echoing file content: the variants that carry a
/// line are reduced to their kind, since a corrupt line could be key material.
fn pem_error(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a BEGIN line has no matching END line".into(),
        Error::IllegalSectionStart { .. } => "malformed BEGIN line".into(),
        Error::Base64Decode(_) => "the body is not valid base64".into(),
        Error::SectionTooLarge => "a section is larger than 256 MB".into(),
        _ => "unreadable PEM".into(),
    }
}

/// The labels of all "-----BEGIN LABEL-----" lines.
fn labels(pem: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(pem)
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("-----BEGIN ")
                .and_then(|rest| rest.strip_suffix("-----"))
                .map(str::to_string)
        })
        .collect()
}

fn describe(pem: &[u8]) -> String {
    let labels = labels(pem);
    if labels.is_empty() {
        "no PEM blocks".into()
    } else {
        let quoted: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
        format!("only {} block(s)", quoted.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_long_form_past_127() {
        assert_eq!(der_tlv(0x04, &[0; 3])[..2], [0x04, 3]);
        assert_eq!(der_tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(der_tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn trust_files_get_certificates_only() {
        let ca = super::super::generate_ca(
            &super::super::CaParams {
                common_name: "t".into(),
                key_type: super::super::KeyType::EcdsaP256,
                not_before: time::macros::datetime!(2026-01-01 0:00 UTC),
                not_after: time::macros::datetime!(2027-01-01 0:00 UTC),
                name_constraints: None,
            },
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        let noisy = format!("comment\n{}trailer\n{}", ca.cert_pem, ca.cert_pem);
        let clean = certificates_pem(noisy.as_bytes()).unwrap();
        assert_eq!(
            clean,
            format!("{}{}", ca.cert_pem, ca.cert_pem).replace("\r", "")
        );
        let with_key = format!("{}{}", ca.cert_pem, ca.key_pem);
        assert!(matches!(
            certificates_pem(with_key.as_bytes()),
            Err(PkiError::KeyInCertificateFile)
        ));
    }

    #[test]
    fn classifies_wrong_files() {
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let err = read_certs(key.as_bytes()).unwrap_err();
        assert!(matches!(err, PkiError::NotACertificate { .. }), "{err}");
        assert!(err.to_string().contains("\"PRIVATE KEY\""), "{err}");

        assert!(matches!(read_certs(b"hello"), Err(PkiError::NotPem { .. })));
        let truncated = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(matches!(
            read_certs(truncated.as_bytes()),
            Err(PkiError::CorruptPem { .. })
        ));

        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(
            read_private_key(enc.as_bytes()),
            Err(PkiError::EncryptedKey)
        ));
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            read_private_key(cert.as_bytes()),
            Err(PkiError::NotAPrivateKey { .. })
        ));
    }
}
