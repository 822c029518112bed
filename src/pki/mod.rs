//! Certificates for the registry and BuildKit: issuing them (rcgen) and reading them back
//! (x509-parser).
//!
//! This is the only module that touches rcgen or x509-parser; everything public here is
//! our own type so the rest of bkenv never depends on either crate's API. Nothing in this
//! module reads the clock or the filesystem: callers pass `now`, bytes and a random source,
//! which keeps issuance reproducible in tests and diagnosis pure.

mod error;
mod inspect;
mod issue;
mod keys;
mod names;
mod pem;
mod status;

pub use error::PkiError;
pub use inspect::{
    CertFacts, Ekus, KeyUsageFacts, PublicKeyKind, SignatureCheck, check_signed_by, colon_hex,
    signed_by,
};
pub use issue::{
    CA_NAME_SUFFIX_LEN, Ca, CaParams, IssuedCert, LeafParams, MAX_LEAF_VALIDITY_DAYS, generate_ca,
    generate_ca_with_key, issue_leaf, issue_leaf_for_key, load_ca,
};
pub use names::{NameConstraints, Permitted, SanName, default_permitted, permitted_by};
pub use pem::{
    KeyFormat, PrivateKeyInfo, certificates_pem, certificates_to_pem, key_matches_cert, read_certs,
    read_private_key,
};
pub use status::{EXPIRY_MARGIN_DAYS, ReissueReason, key_type_status, leaf_status};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Key algorithm for a generated CA or leaf: only what bkenv can generate.
///
/// RSA is not one of them: the ring backend cannot generate RSA keys (it can sign with an
/// existing one, so an RSA CA loaded from disk still works). Parsing `rsa` gives
/// [`PkiError::RsaUnsupported`], so a spec or flag asking for it is refused with that
/// reason instead of an "unknown variant" that lists it. ECDSA P-256 is understood by
/// every client BuildKit talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum KeyType {
    #[default]
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// Whether a certificate's public key is of this type.
    pub fn matches(self, key: &PublicKeyKind) -> bool {
        matches!(
            (self, key),
            (KeyType::EcdsaP256, PublicKeyKind::EcP256)
                | (KeyType::EcdsaP384, PublicKeyKind::EcP384)
                | (KeyType::Ed25519, PublicKeyKind::Ed25519)
        )
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ecdsa-p256" => Ok(KeyType::EcdsaP256),
            "ecdsa-p384" => Ok(KeyType::EcdsaP384),
            "ed25519" => Ok(KeyType::Ed25519),
            rsa if rsa.to_ascii_lowercase().starts_with("rsa") => Err(PkiError::RsaUnsupported),
            other => Err(PkiError::UnknownKeyType(other.to_string())),
        }
    }
}

impl TryFrom<String> for KeyType {
    type Error = PkiError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// What a leaf certificate is for; decides its extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// TLS server (registry, buildkitd): EKU serverAuth.
    Server,
    /// TLS client (buildctl, mTLS to buildkitd): EKU clientAuth.
    Client,
}
