//! Errors of certificate issuance and parsing.
//!
//! Messages name the problem and the fix. They never quote file contents: a PEM body may be
//! a private key, so only labels and structural facts appear.

/// A certificate or key could not be generated, loaded or parsed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(
        "RSA key generation is unsupported (bkenv uses the ring backend, which cannot generate \
         RSA keys); use key type \"ecdsa-p256\" (the default), \"ecdsa-p384\" or \"ed25519\""
    )]
    RsaUnsupported,

    #[error("unknown key type \"{0}\"; expected \"ecdsa-p256\", \"ecdsa-p384\" or \"ed25519\"")]
    UnknownKeyType(String),

    #[error("no PEM data found: expected a \"-----BEGIN {expected}-----\" block")]
    NotPem { expected: &'static str },

    #[error("corrupt PEM data ({detail}); regenerate the file or re-export it as PEM")]
    CorruptPem { detail: String },

    #[error("expected a certificate but found {found}; check which file is the certificate")]
    NotACertificate { found: String },

    #[error("expected a private key but found {found}; check which file is the private key")]
    NotAPrivateKey { found: String },

    #[error(
        "the file holds a private key next to the certificate(s). bkenv copies certificates into \
         files every client reads (mode 0644), so it refuses to touch this one: move the key into \
         its own 0600 file, and treat it as exposed if this file was ever shared"
    )]
    KeyInCertificateFile,

    #[error(
        "the private key is encrypted; bkenv needs an unencrypted PKCS#8 key \
         (openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.unencrypted)"
    )]
    EncryptedKey,

    #[error("certificate is not valid X.509 DER: {detail}")]
    MalformedCertificate { detail: String },

    #[error("certificate \"{subject}\" cannot act as a CA: {reason}")]
    NotACa {
        subject: String,
        reason: &'static str,
    },

    #[error(
        "the private key does not belong to certificate \"{subject}\" (public keys differ); \
         pair the certificate with its own key or regenerate both"
    )]
    KeyMismatch { subject: String },

    #[error("unsupported private key: {detail}")]
    UnsupportedKey { detail: String },

    #[error("validity window is empty: not_after must be later than not_before")]
    EmptyValidity,

    #[error(
        "leaf validity of {days} days exceeds {max} days, which Apple clients reject; \
         shorten the validity"
    )]
    ValidityTooLong { days: i64, max: i64 },

    #[error("a server certificate needs at least one DNS name or IP address")]
    NoServerNames,

    #[error("\"{0}\" is neither an IP address nor a valid DNS name")]
    InvalidName(String),

    #[error("invalid CIDR \"{0}\"; expected ADDRESS/PREFIX such as 10.0.0.0/8")]
    InvalidCidr(String),

    #[error(
        "name {name} is outside the CA's name constraints ({constraints}); add it to the CA's \
         permitted names by regenerating the CA, or drop it from the spec"
    )]
    NameNotPermitted { name: String, constraints: String },

    #[error("the random number generator failed")]
    Random,

    #[error("certificate generation failed: {0}")]
    Generation(String),
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Generation(e.to_string())
    }
}
