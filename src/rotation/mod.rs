//! CA rotation with overlap: `bkenv rotate-ca`, `--finish`, `--drop-old`.
//!
//! `init --new-ca` replaces the CA at once: every client that has only the old CA stops
//! working until it gets the new one. A rotation spreads the change over three steps,
//! and after each one every client that followed the previous step keeps working:
//!
//! | after       | `ca/` (signs leaves) | leaves signed by | every trust file holds |
//! |-------------|----------------------|------------------|------------------------|
//! | `rotate-ca` | old                  | old              | old + new              |
//! | `--finish`  | new                  | new              | old + new              |
//! | `--drop-old`| new                  | new              | new                    |
//!
//! * **start** creates the new CA (the key type, lifetime and name constraints `init`
//!   would give it, from [`crate::init::ca_params`]) in `.bkenv/ca-incoming/`, records
//!   the phase with both certificates in `.bkenv/state.json`, and renders every trust
//!   file ([`crate::model::Environment::trust_files`]) as a bundle of both. Clients with
//!   only the old CA still work: nothing is signed by the new one yet.
//! * **finish** switches `ca/` to the new CA with the same transaction as `--new-ca`
//!   ([`castore::switch`]; the old pair goes to `ca/backup-<time>/`), then reissues
//!   every leaf from it. Clients with the bundle work; clients with only the old CA stop.
//! * **drop-old** takes the old CA out of the trust files once every leaf is signed by
//!   the new one; the old pair stays archived in its backup directory.
//!
//! Each step records the phase before it writes the files the phase implies, and every
//! trust file is rendered from the recorded state, so a step that is interrupted is
//! completed by running it (or `init`) again. Daemons load certificates and CA bundles
//! once: each step ends with the restarts its files need ([`crate::restart`]).

pub mod state;

pub use state::{Phase, Rotation, RotationError, trust_bundle};

use crate::castore;
use crate::error::Result;
use crate::init::{self, InitOptions, InitOutcome};
use crate::model::{Environment, layout};
use crate::output::{self, State, Writer};
use crate::pki::{self, Ca};
use ring::rand::SecureRandom;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// One step of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Start,
    Finish,
    DropOld,
}

impl Step {
    /// The command line the lock names as its holder.
    pub fn command(self) -> &'static str {
        match self {
            Step::Start => "rotate-ca",
            Step::Finish => "rotate-ca --finish",
            Step::DropOld => "rotate-ca --drop-old",
        }
    }
}

/// What a step did.
#[derive(Debug)]
pub struct RotateOutcome {
    pub step: Step,
    /// The files written (and every note), as `init` reports them.
    pub init: InitOutcome,
    /// The phase after this step; `None` once the old CA is dropped.
    pub phase: Option<Phase>,
    /// The environment directory as the user named it (for the commands printed next).
    pub shown: String,
    /// Where the old CA pair is kept (after `--finish`), relative to the environment.
    pub archived: Option<PathBuf>,
    /// The services whose files changed, and how to restart them.
    pub restart: crate::restart::Plan,
}

/// Runs one step under the environment lock; see the module documentation. `shown` is
/// the directory as the user named it, for the restart command.
pub fn run(
    step: Step,
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    env_var: &dyn Fn(&str) -> Option<String>,
    writer: &mut Writer,
    shown: &str,
) -> Result<RotateOutcome> {
    // A bad spec is refused before the lock is taken.
    let env = init::environment(opts)?;
    let (_lock, mut notes) = init::lock(opts, step.command(), writer)?;
    let dir = opts.dir.as_path();
    let mut state = State::load(dir)?;
    let current = current_ca(dir, &mut notes)?;
    let mut archived = None;
    match step {
        Step::Start => start(
            dir, &env, opts, &current, &mut state, rng, writer, &mut notes,
        )?,
        Step::Finish => archived = finish(dir, opts, &current, &mut state, writer, &mut notes)?,
        Step::DropOld => archived = drop_old(dir, &env, &current, &mut state, &mut notes)?,
    }
    // The phase is committed before the files it implies; `run_locked` renders every
    // trust file from it, so a run interrupted from here on is completed by the next.
    output::save_state(dir, &state, writer)?;
    let phase = state.rotation.as_ref().map(|r| r.phase);
    let archived = archived.map(|p| PathBuf::from(layout::relative(dir, &p)));
    let init = init::run_locked(opts, rng, env_var, writer, notes)?;
    let restart = crate::restart::after(&init.env, dir, shown, &init.applied);
    Ok(RotateOutcome {
        step,
        shown: shown.to_string(),
        init,
        phase,
        archived,
        restart,
    })
}

/// The CA in `ca/`; a rotation needs one.
fn current_ca(dir: &Path, notes: &mut Vec<String>) -> Result<Ca> {
    let files = castore::read(dir)?;
    notes.extend(files.warnings);
    let cert_path = dir.join(layout::CA_CERT);
    match (files.cert, files.key) {
        (Some(cert), Some(key)) => {
            pki::load_ca(&cert, &key).map_err(|e| crate::error::Error::Refused {
                path: dir.join(layout::CA_KEY),
                message: format!("{e}; a rotation needs the current CA whole"),
            })
        }
        _ => Err(RotationError::NoCa(cert_path).into()),
    }
}

/// Whether `ca` is what a new CA for `env` must be: the spec's key type, and the name
/// constraints the spec's names need (the same `init` gives a CA).
fn fits(ca: &Ca, env: &Environment, now: OffsetDateTime) -> bool {
    let wanted = init::ca_params(env, now).name_constraints;
    let has = ca.facts.name_constraints.as_ref().map(|n| &n.permitted);
    let same_constraints = match (wanted.as_ref(), has) {
        (None, None) => true,
        (Some(w), Some(h)) => {
            let set = |p: &pki::Permitted| {
                let mut v: Vec<String> = p.dns.iter().map(|d| d.to_ascii_lowercase()).collect();
                v.extend(p.ip.iter().map(|(ip, n)| format!("{ip}/{n}")));
                v.sort();
                v
            };
            set(w) == set(h)
        }
        _ => false,
    };
    let key_type = ca.facts.public_key.name() == env.pki.key_type.as_str();
    same_constraints && key_type && ca.facts.not_after > now
}

#[allow(clippy::too_many_arguments)]
fn start(
    dir: &Path,
    env: &Environment,
    opts: &InitOptions,
    current: &Ca,
    state: &mut State,
    rng: &dyn SecureRandom,
    writer: &mut Writer,
    notes: &mut Vec<String>,
) -> Result<()> {
    match &state.rotation {
        Some(r) if r.phase == Phase::Finished => return Err(RotationError::AlreadyFinished.into()),
        Some(r) if same_cert(&current.cert_pem, &r.new_ca) => {
            return Err(RotationError::FinishInterrupted.into());
        }
        _ => {}
    }
    let now = opts.now;
    let files = castore::read_incoming(dir)?;
    notes.extend(files.warnings);
    let params = init::ca_params(env, now);
    // An incoming CA is reused when it is whole and still what the spec asks for. Until
    // `--finish` no leaf is signed by it, so replacing one that is not costs clients a
    // new trust file, never a failure.
    let (incoming, staged) = match (files.cert, files.key) {
        (Some(cert), Some(key)) => match pki::load_ca(&cert, &key) {
            Ok(ca) if fits(&ca, env, now) => (Some(ca), true),
            _ => (None, false),
        },
        // Staging stopped after the key: its certificate is derived again.
        (None, Some(key)) => (
            pki::generate_ca_with_key(&params, &key, rng)
                .ok()
                .filter(|ca| fits(ca, env, now)),
            false,
        ),
        _ => (None, false),
    };
    let incoming = match incoming {
        Some(ca) => ca,
        None => pki::generate_ca(&params, rng)?,
    };
    init::check_constraints(&incoming, env)?;
    if !staged {
        castore::stage_incoming(dir, &incoming, writer)?;
    }
    match &mut state.rotation {
        Some(r) if same_cert(&r.new_ca, &incoming.cert_pem) => {
            notes
                .push("the rotation was started already; the trust files are checked again".into());
        }
        Some(r) => {
            notes.push(
                "the rotation's new CA was missing or no longer fit the spec, so another was created: clients that \
                 copied the previous trust files need the new ones (nothing was signed by the replaced CA)"
                    .into(),
            );
            r.new_ca = incoming.cert_pem.clone();
        }
        None => {
            state.rotation = Some(Rotation {
                phase: Phase::Started,
                old_ca: current.cert_pem.clone(),
                new_ca: incoming.cert_pem.clone(),
                started: now.unix_timestamp(),
                finished: None,
            });
            notes.push(format!(
                "new CA created in {}; every trust file now holds the old and the new CA",
                castore::INCOMING
            ));
        }
    }
    Ok(())
}

fn finish(
    dir: &Path,
    opts: &InitOptions,
    current: &Ca,
    state: &mut State,
    writer: &mut Writer,
    notes: &mut Vec<String>,
) -> Result<Option<PathBuf>> {
    let Some(r) = state.rotation.as_mut() else {
        return Err(RotationError::NotStarted.into());
    };
    if same_cert(&current.cert_pem, &r.new_ca) {
        notes.push("the CA is the new one already".into());
    } else if same_cert(&current.cert_pem, &r.old_ca) {
        let incoming_dir = dir.join(castore::INCOMING);
        let files = castore::read_incoming(dir)?;
        notes.extend(files.warnings);
        let incoming = match (files.cert, files.key) {
            (Some(cert), Some(key)) => pki::load_ca(&cert, &key).ok(),
            _ => None,
        }
        .filter(|ca| same_cert(&ca.cert_pem, &r.new_ca))
        .ok_or(RotationError::IncomingLost(incoming_dir))?;
        // The transaction `--new-ca` uses: after it, `ca/` is the new pair and the old
        // one is filed under `ca/backup-<time>/`.
        castore::switch(dir, &incoming, opts.now, writer)?;
    } else {
        return Err(RotationError::CaChanged(dir.join(layout::CA_CERT)).into());
    }
    // `ca/` holds the new pair now; the staged copy is no longer needed.
    castore::remove_incoming(dir, writer)?;
    r.phase = Phase::Finished;
    r.finished.get_or_insert(opts.now.unix_timestamp());
    let old = pki::read_certs(r.old_ca.as_bytes())?;
    let archived = old.first().and_then(|c| castore::find_backup(dir, &c.der));
    notes.push(format!(
        "the new CA signs from now on; every leaf is reissued from it. The old CA is kept in {}",
        archived
            .as_deref()
            .map_or_else(|| "ca/backup-*".into(), |p| layout::relative(dir, p))
    ));
    Ok(archived)
}

fn drop_old(
    dir: &Path,
    env: &Environment,
    current: &Ca,
    state: &mut State,
    notes: &mut Vec<String>,
) -> Result<Option<PathBuf>> {
    let Some(r) = state.rotation.as_ref() else {
        notes
            .push("no CA rotation is in progress; the trust files hold the current CA only".into());
        return Ok(None);
    };
    if r.phase == Phase::Started {
        return Err(RotationError::NotFinished.into());
    }
    // Every leaf must be the new CA's before clients stop trusting the old one.
    for leaf in env.leaves() {
        let bytes = output::read_file(&dir.join(&leaf.cert), crate::safefs::Links::Follow)?;
        let signed = bytes
            .as_deref()
            .and_then(|b| pki::read_certs(b).ok())
            .and_then(|c| c.into_iter().next())
            .is_some_and(|c| pki::signed_by(&c, &current.facts));
        if bytes.is_some() && !signed {
            return Err(RotationError::LeafNotSwitched(leaf.cert).into());
        }
    }
    let old = pki::read_certs(r.old_ca.as_bytes())?;
    let archived = old.first().and_then(|c| castore::find_backup(dir, &c.der));
    notes.push(format!(
        "the old CA left every trust file; it stays archived in {} (its key signs nothing any more: keep it \
         offline or delete it)",
        archived
            .as_deref()
            .map_or_else(|| "ca/backup-*".into(), |p| layout::relative(dir, p))
    ));
    state.rotation = None;
    Ok(archived)
}

/// Whether two PEM texts start with the same certificate.
fn same_cert(a: &str, b: &str) -> bool {
    match (pki::read_certs(a.as_bytes()), pki::read_certs(b.as_bytes())) {
        (Ok(a), Ok(b)) => a.first().map(|c| &c.der) == b.first().map(|c| &c.der),
        _ => false,
    }
}
