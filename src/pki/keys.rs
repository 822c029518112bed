//! Key generation and serial numbers from the caller's random source.

use super::{KeyType, PkiError};
use ring::rand::SecureRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
};
use rustls_pki_types::PrivatePkcs8KeyDer;

/// Generates a PKCS#8 key with ring directly rather than `rcgen::KeyPair::generate_for`,
/// which always draws from the system RNG; this way the injected `rng` is the only source.
pub(super) fn generate(
    key_type: KeyType,
    rng: &dyn SecureRandom,
) -> Result<rcgen::KeyPair, PkiError> {
    let (doc, alg) = match key_type {
        KeyType::EcdsaP256 => (
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, rng),
            &rcgen::PKCS_ECDSA_P256_SHA256,
        ),
        KeyType::EcdsaP384 => (
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, rng),
            &rcgen::PKCS_ECDSA_P384_SHA384,
        ),
        KeyType::Ed25519 => (Ed25519KeyPair::generate_pkcs8(rng), &rcgen::PKCS_ED25519),
    };
    let doc = doc.map_err(|_| PkiError::Random)?;
    let der = PrivatePkcs8KeyDer::from(doc.as_ref());
    Ok(rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, alg)?)
}

/// A random 16-byte serial with the top bit clear, so the DER INTEGER stays positive and
/// never gets a padding byte that strict parsers count against the 20-octet limit.
/// Random rather than rcgen's key-derived default, because NSS rejects a reused
/// issuer+serial pair when a leaf is reissued with the same key.
pub(super) fn serial(rng: &dyn SecureRandom) -> Result<rcgen::SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes).map_err(|_| PkiError::Random)?;
    bytes[0] &= 0x7f;
    // A leading zero byte would be dropped by DER minimal encoding, shortening the serial.
    bytes[0] |= 0x01;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}
