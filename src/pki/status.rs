//! Deciding whether an existing leaf can be kept or must be reissued.

use super::inspect::{CertFacts, PublicKeyKind, signed_by};
use super::names::SanName;
use super::pem::{key_matches_cert, read_certs, read_private_key};
use super::{KeyType, Usage};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// Leaves are renewed this long before they expire, so a CI run never meets an expired one.
pub const EXPIRY_MARGIN_DAYS: i64 = 30;

/// Why a leaf must be reissued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReissueReason {
    /// The certificate or key file does not exist.
    Missing,
    /// The certificate or key file cannot be read as PEM of the right kind.
    Unparseable,
    /// Issued by another CA (or the CA was regenerated).
    NotSignedByCa,
    /// The key file is not the certificate's key.
    KeyMismatch,
    /// The extended key usage does not allow the wanted use, or the leaf is a CA.
    WrongUsage,
    /// The SAN set differs from the spec.
    NamesChanged,
    /// Expires within [`EXPIRY_MARGIN_DAYS`] (or the window `bkenv renew` was given);
    /// negative once expired.
    ExpiresSoon { days: i64 },
    /// The key is not of the spec's key type (`pki.key_type` changed).
    KeyType {
        found: PublicKeyKind,
        wanted: KeyType,
    },
    /// Still fine, reissued because the user asked (`bkenv renew --force`, a CA rotation).
    Requested,
}

/// Why, in words that follow "reissued: " or "needs reissuing: ".
impl std::fmt::Display for ReissueReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReissueReason::Missing => f.write_str("the certificate or its key is missing"),
            ReissueReason::Unparseable => {
                f.write_str("the certificate or its key cannot be read as PEM")
            }
            ReissueReason::NotSignedByCa => f.write_str("it is not signed by the current CA"),
            ReissueReason::KeyMismatch => f.write_str("its key file holds another key"),
            ReissueReason::WrongUsage => {
                f.write_str("its key usage does not allow this use (or it is a CA certificate)")
            }
            ReissueReason::NamesChanged => f.write_str("its names differ from bkenv.toml's"),
            ReissueReason::ExpiresSoon { days } if *days < 0 => {
                write!(f, "it expired {} ago", day_count(-days))
            }
            ReissueReason::ExpiresSoon { days } => write!(f, "it expires in {}", day_count(*days)),
            ReissueReason::KeyType { found, wanted } => {
                write!(f, "its key is {found}, and pki.key_type is {wanted}")
            }
            ReissueReason::Requested => f.write_str("requested (`renew --force` or a CA rotation)"),
        }
    }
}

/// "1 day", "10 days".
fn day_count(days: i64) -> String {
    if days == 1 {
        "1 day".to_string()
    } else {
        format!("{days} days")
    }
}

/// `None` when the leaf in `cert_pem`/`key_pem` still fits the spec at `now`.
pub fn leaf_status(
    cert_pem: Option<&[u8]>,
    key_pem: Option<&[u8]>,
    ca: &CertFacts,
    wanted_sans: &[SanName],
    usage: Usage,
    now: OffsetDateTime,
) -> Option<ReissueReason> {
    let (Some(cert_pem), Some(key_pem)) = (cert_pem, key_pem) else {
        return Some(ReissueReason::Missing);
    };
    let Some(cert) = read_certs(cert_pem).ok().and_then(|c| c.into_iter().next()) else {
        return Some(ReissueReason::Unparseable);
    };
    let Ok(key) = read_private_key(key_pem) else {
        return Some(ReissueReason::Unparseable);
    };
    if !signed_by(&cert, ca) {
        return Some(ReissueReason::NotSignedByCa);
    }
    if !key_matches_cert(&key, &cert) {
        return Some(ReissueReason::KeyMismatch);
    }
    let usage_ok = cert.ekus.is_some_and(|e| match usage {
        Usage::Server => e.server_auth,
        Usage::Client => e.client_auth,
    });
    if !usage_ok || cert.is_ca {
        return Some(ReissueReason::WrongUsage);
    }
    if san_set(&cert) != wanted_sans.iter().cloned().collect() {
        return Some(ReissueReason::NamesChanged);
    }
    let days = (cert.not_after - now).whole_days();
    if cert.not_after - now < time::Duration::days(EXPIRY_MARGIN_DAYS) {
        return Some(ReissueReason::ExpiresSoon { days });
    }
    None
}

/// `Some(KeyType)` when the certificate in `cert_pem` holds a key of another type than
/// `wanted` (a spec whose `pki.key_type` changed); `None` when it matches or cannot be
/// read ([`leaf_status`] reports that).
pub fn key_type_status(cert_pem: &[u8], wanted: KeyType) -> Option<ReissueReason> {
    let cert = read_certs(cert_pem).ok()?.into_iter().next()?;
    (!wanted.matches(&cert.public_key)).then_some(ReissueReason::KeyType {
        found: cert.public_key,
        wanted,
    })
}

fn san_set(cert: &CertFacts) -> BTreeSet<SanName> {
    let dns = cert.dns_sans.iter().map(|d| {
        d.parse::<SanName>()
            .unwrap_or_else(|_| SanName::Dns(d.clone()))
    });
    let ip = cert.ip_sans.iter().map(|ip| SanName::Ip(*ip));
    dns.chain(ip).collect()
}
