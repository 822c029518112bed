//! The data of a rotation, which the state manifest, init and the trust files need
//! without the steps that change it (kept apart so those lower modules do not depend
//! on the steps).

use crate::pki::{self, PkiError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How long after `rotate-ca --finish` the old CA may stay in the trust files before
/// doctor (BK513) and `status` ask for `--drop-old`: long enough for clients to move over.
pub const OLD_CA_GRACE_DAYS: i64 = 30;

/// Where a rotation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Trust files hold both CAs; the old one still signs every leaf.
    Started,
    /// The new CA signs every leaf; trust files still hold both.
    Finished,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Started => "started",
            Phase::Finished => "finished",
        })
    }
}

/// The rotation in progress, as `.bkenv/state.json` records it. Both certificates are
/// kept here (they are public), so every trust file can be rendered from the state
/// alone, whichever of them `ca/` holds at the moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub phase: Phase,
    /// The CA being retired (PEM).
    pub old_ca: String,
    /// The CA taking over (PEM).
    pub new_ca: String,
    /// Unix time of `rotate-ca`.
    pub started: i64,
    /// Unix time of the first `--finish`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<i64>,
}

/// Why a rotation step cannot run. Nothing has been written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(
        "a CA rotation is in progress (phase: {phase}); `--new-ca` would replace the CA under it and break the clients \
         it is carrying over. Complete it (`bkenv rotate-ca --finish`, then `bkenv rotate-ca --drop-old`) first"
    )]
    NewCaDuringRotation { phase: Phase },
    #[error("no CA rotation is in progress; start one with `bkenv rotate-ca`")]
    NotStarted,
    #[error(
        "the rotation is finished already: every leaf is signed by the new CA. Next: `bkenv rotate-ca --drop-old` \
         once every client has the new CA"
    )]
    AlreadyFinished,
    #[error(
        "an interrupted `bkenv rotate-ca --finish` switched to the new CA already; run `bkenv rotate-ca --finish` \
         to complete it"
    )]
    FinishInterrupted,
    #[error(
        "the leaves are still signed by the old CA; dropping it now would break every client. \
         Run `bkenv rotate-ca --finish` first"
    )]
    NotFinished,
    #[error("{}: no CA here yet; run `bkenv init` first", .0.display())]
    NoCa(PathBuf),
    #[error(
        "{}: the rotation's new CA is missing or not the one the trust files hold. Restore it, or run \
         `bkenv rotate-ca` to create another (safe: nothing is signed by it yet; clients then need the new trust files)",
        .0.display()
    )]
    IncomingLost(PathBuf),
    #[error(
        "{}: the CA is neither the old nor the new CA of the rotation recorded in .bkenv/state.json (was it \
         replaced by hand?). Restore it from ca/backup-*",
        .0.display()
    )]
    CaChanged(PathBuf),
    #[error(
        "{0} is still signed by the old CA (bkenv kept it because it was edited since bkenv wrote it), so clients \
         still need the old CA. Replace it with a certificate from the new CA (`bkenv init --force` reissues it), then \
         drop the old CA"
    )]
    LeafNotSwitched(String),
}

/// What every trust file holds: `current` (the CA in `ca/`), then the other CA of the
/// rotation in progress, each certificate once.
pub fn trust_bundle(current: &str, rotation: Option<&Rotation>) -> Result<String, PkiError> {
    let mut certs = pki::read_certs(current.as_bytes())?;
    if let Some(r) = rotation {
        for pem in [&r.old_ca, &r.new_ca] {
            for c in pki::read_certs(pem.as_bytes())? {
                if !certs.iter().any(|k| k.der == c.der) {
                    certs.push(c);
                }
            }
        }
    }
    Ok(pki::certificates_to_pem(&certs))
}
