//! `bkenv init`: spec → model → key material → files. Reads what exists (CA, leaves,
//! passwords, buildkitd.toml) so a re-run changes nothing, then hands the plan to
//! [`crate::output`], the only writer.

use crate::error::{Error, Result};
use crate::lock::{EnvLock, Holder};
use crate::model::{Environment, LeafRole, Role, layout};
use crate::output::{self, Applied, Owner, PlannedFile, State, Writer};
use crate::pki::{self, Ca, CaParams, IssuedCert, LeafParams, SanName};
use crate::render::{self, Material};
use crate::safefs::Links;
use crate::spec::{self, Overrides};
use ring::rand::SecureRandom;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// Cost for passwords bkenv generates: bcrypt's minimum. ~138 bits of entropy make brute
/// force hopeless at any cost (cost adds at most 12 bits), while the registry re-verifies
/// bcrypt on every request and the hash is most of `init`'s CPU (see bench/README.md).
pub const GENERATED_PASSWORD_COST: u32 = 4;
/// Cost for passwords a person chose (`password_env`): those deserve slow hashing.
pub const CHOSEN_PASSWORD_COST: u32 = 10;

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    pub overrides: Overrides,
    pub new_ca: bool,
    pub force: bool,
    pub dry_run: bool,
    pub now: OffsetDateTime,
    /// The effective uid bkenv runs as (read by `commands`): root can hand a rootless
    /// buildkitd's key to its container user, anyone else is told how.
    pub uid: u32,
    /// How long to wait for another run holding the environment lock.
    pub lock_wait: std::time::Duration,
    /// Which leaves that still fit are reissued anyway (`bkenv renew`).
    pub renewal: Renewal,
}

/// When a leaf that still fits the spec is reissued: `init` renews what expires within
/// [`pki::EXPIRY_MARGIN_DAYS`]; `bkenv renew` chooses the window, or every leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    pub within: Duration,
    pub all: bool,
    /// Reissue for the key on disk instead of a new one (`renew --keep-key`).
    pub keep_keys: bool,
}

impl Default for Renewal {
    fn default() -> Self {
        Renewal {
            within: Duration::days(pki::EXPIRY_MARGIN_DAYS),
            all: false,
            keep_keys: false,
        }
    }
}

impl Renewal {
    /// `reason` as init found it, with this renewal window applied.
    fn decide(
        self,
        reason: Option<pki::ReissueReason>,
        not_after: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Option<pki::ReissueReason> {
        let due = |t: OffsetDateTime| t - now < self.within;
        match (reason, not_after) {
            (Some(pki::ReissueReason::ExpiresSoon { .. }), Some(t)) if !due(t) && !self.all => None,
            (Some(r), _) => Some(r),
            (None, Some(t)) if due(t) => Some(pki::ReissueReason::ExpiresSoon {
                days: (t - now).whole_days(),
            }),
            (None, _) if self.all => Some(pki::ReissueReason::Requested),
            (None, _) => None,
        }
    }
}

/// What happened, for the summary.
#[derive(Debug)]
pub struct InitOutcome {
    pub env: Environment,
    pub applied: Vec<Applied>,
    /// One line per decision worth telling (CA reused, leaf reissued and why).
    pub notes: Vec<String>,
    /// Registry index → password, for `--show-password` only.
    pub passwords: BTreeMap<usize, String>,
    /// The leaves that got a new certificate, and why.
    pub reissued: Vec<Reissued>,
}

/// A leaf certificate issued by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reissued {
    /// The certificate's path, relative to the environment root.
    pub cert: String,
    pub reason: pki::ReissueReason,
}

/// Runs init. `env_var` reads the process environment (injected for tests).
pub fn run(
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    env_var: &dyn Fn(&str) -> Option<String>,
    writer: &mut Writer,
) -> Result<InitOutcome> {
    // A bad spec, or a project directory that is not an environment, is refused before
    // anything (even the lock) is written.
    load_spec(&opts.dir, opts)?;
    refuse_project_dir(&opts.dir, opts.force)?;
    // Held until the run ends: every read below sees no other run's half-written state.
    let (_lock, notes) = if opts.dry_run {
        (None, Vec::new())
    } else {
        let (lock, notes) = lock(opts, "init", writer)?;
        (Some(lock), notes)
    };
    run_locked(opts, rng, env_var, writer, notes)
}

/// Takes the environment lock for `command` and finishes or undoes an interrupted CA
/// switch (what it did is returned as notes). Every writing command starts here.
pub fn lock(
    opts: &InitOptions,
    command: &'static str,
    writer: &mut Writer,
) -> Result<(EnvLock, Vec<String>)> {
    let dir = &opts.dir;
    writer.ensure_dir(dir, 0o755)?;
    let holder = Holder {
        command,
        started: opts.now,
    };
    let lock = EnvLock::acquire(dir, &holder, opts.lock_wait, writer.owner)?;
    let notes = crate::castore::recover(dir, writer)?;
    Ok((lock, notes))
}

/// The spec of the environment at `opts.dir`, with `opts.overrides` applied.
pub fn environment(opts: &InitOptions) -> Result<Environment> {
    Ok(load_spec(&opts.dir, opts)?.1)
}

/// [`run`] for a caller that holds the environment lock already (see [`lock`]); `notes`
/// are what it has to tell so far.
pub fn run_locked(
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    env_var: &dyn Fn(&str) -> Option<String>,
    writer: &mut Writer,
    mut notes: Vec<String>,
) -> Result<InitOutcome> {
    let dir = &opts.dir;
    if let Some(open) = crate::safefs::writable_by_others(dir) {
        notes.push(format!(
            "warning: {} is writable by other users, who could plant or replace files of this environment \
             (bkenv refuses a CA they planted, but not every file); use a directory only you can write to",
            open.display()
        ));
    }
    let (spec_text, env) = load_spec(dir, opts)?;

    let state = State::load(dir)?;
    if opts.new_ca
        && let Some(r) = &state.rotation
    {
        return Err(
            crate::rotation::state::RotationError::NewCaDuringRotation { phase: r.phase }.into(),
        );
    }
    let ca = load_or_create_ca(dir, &env, opts, rng, writer, &mut notes)?;
    let mut state_passwords = state.passwords.clone();
    let passwords = passwords(&env, &mut state_passwords, env_var, rng)?;
    let mut leaves = Leaves {
        dir,
        ca: &ca,
        env: &env,
        opts,
        rng,
        state: &state,
        notes: &mut notes,
        keep: BTreeSet::new(),
        reissued: Vec::new(),
    };
    let buildkitd = leaves.issue(&env.buildkitd_leaf())?;
    let client = match env.client_leaf() {
        Some(leaf) => Some(leaves.issue(&leaf)?),
        None => None,
    };
    let mut servers = BTreeMap::new();
    for leaf in env.registry_leaves() {
        let issued = leaves.issue(&leaf)?;
        if let LeafRole::Registry { service } = leaf.role {
            servers.insert(service, issued);
        }
    }
    let keep = std::mem::take(&mut leaves.keep);
    let reissued = std::mem::take(&mut leaves.reissued);
    let material = Material {
        trust: crate::rotation::state::trust_bundle(&ca.cert_pem, state.rotation.as_ref())?,
        ca_cert: ca.cert_pem.clone(),
        ca_key: ca.key_pem.clone(),
        buildkitd,
        client,
        servers,
        external_cas: external_cas(dir, &env)?,
        htpasswd: htpasswd_files(dir, &env, &passwords)?,
        passwords: passwords.clone(),
    };
    let existing_bk = read_optional(&dir.join(layout::BUILDKITD_TOML))?;
    let mut plan = vec![spec_file(&spec_text)];
    let root = absolute_root(dir, &mut notes);
    let project = compose_project_name(dir, env_var)?;
    let site = root
        .as_deref()
        .map(|r| render::buildx::Site::named(r, project.as_deref()));
    plan.extend(render::plan(
        &env,
        &material,
        existing_bk.as_deref(),
        site.as_ref(),
    )?);
    for file in plan.iter_mut().filter(|f| keep.contains(&f.path)) {
        file.policy = output::Policy::Keep;
    }

    let mut state = State {
        passwords: state_passwords,
        ..state
    };
    hand_over_keys(&env, opts, &mut plan, &mut state, &mut notes);
    let classified = output::Classified::new(dir, &plan, state, opts.force)?;
    if !classified.not_ours().is_empty() {
        return Err(not_ours(dir, classified.not_ours()));
    }
    if !opts.dry_run {
        writer.ensure_dir(&dir.join(layout::CA_DIR), output::DIR_PRIVATE)?;
    }
    let applied = classified.commit(writer, opts.dry_run)?;
    Ok(InitOutcome {
        env,
        applied,
        notes,
        passwords,
        reissued,
    })
}

/// Files an environment always has, and a project directory often has too.
const PROJECT_FILES: &[&str] = &[
    layout::COMPOSE,
    layout::DOTENV,
    layout::GITIGNORE,
    layout::DOCKER_CONFIG,
];

/// A directory where bkenv never wrote (no `.bkenv/`, no `ca/`) holding a compose file,
/// `.env` or `.gitignore` of its own is someone's project: refused before the lock
/// creates `.bkenv/` in it. [`output::Classified::not_ours`] checks every planned file
/// under the lock; this only spares the project that directory.
fn refuse_project_dir(dir: &Path, force: bool) -> Result<()> {
    let never_written = [layout::STATE_DIR, layout::CA_DIR]
        .iter()
        .all(|d| std::fs::symlink_metadata(dir.join(d)).is_err());
    if force || !never_written {
        return Ok(());
    }
    let found: Vec<String> = PROJECT_FILES
        .iter()
        .filter(|f| std::fs::symlink_metadata(dir.join(f)).is_ok())
        .map(|f| f.to_string())
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(not_ours(dir, &found))
    }
}

/// bkenv would replace files it never wrote: refused, nothing written, with the ways
/// out. Not "kept": an environment without its own compose file or `.env` cannot work,
/// and a run that leaves one half made should not look like success.
fn not_ours(dir: &Path, files: &[String]) -> Error {
    let (list, them) = match files {
        [one] => (format!("{one} exists and was"), "it"),
        [many @ .., last] => (
            format!("{} and {last} exist and were", many.join(", ")),
            "them",
        ),
        [] => (String::new(), "them"),
    };
    Error::Refused {
        // `.` would read poorly in "error: .: ..."
        path: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        message: format!(
            "{list} not written by bkenv; init would replace {them}, so it stopped and wrote nothing. \
             An environment directory holds the CA key ({}), passwords (.env) and its own compose file, so it \
             should not be your project's directory (nor inside a build context). Either:\n  \
             - run `bkenv init` on a new directory outside your project (e.g. `bkenv init ~/bkenv/demo`), and build \
             your project from its own directory;\n  \
             - or merge: generate the environment in another directory and copy what you need into yours;\n  \
             - or run `bkenv init --force` to replace {them} with bkenv's (your versions are lost)",
            layout::CA_KEY
        ),
    }
}

/// A rootless buildkitd reads its TLS key as its container user (uid 1000), and a 0600
/// key owned by anyone else stops it ("open /etc/buildkit/certs/server.key: permission
/// denied"). As root bkenv creates the key owned by that user (still 0600: never
/// readable by others); run as that uid it is theirs already; any other user is told
/// the one command that fixes it. The decision is recorded in the state, so a later
/// run knows the key is the container user's on purpose, and hands it back to root
/// when the environment stops being rootless.
fn hand_over_keys(
    env: &Environment,
    opts: &InitOptions,
    plan: &mut [PlannedFile],
    state: &mut State,
    notes: &mut Vec<String>,
) {
    let key = format!("{}/server.key", layout::BUILDKIT_CERTS);
    let Some(file) = plan.iter_mut().find(|f| f.path == key) else {
        return;
    };
    match env.buildkitd.container_user() {
        Some((uid, gid)) => {
            let owner = Owner { uid, gid };
            state.container_owned.insert(key.clone(), owner);
            if opts.uid == 0 {
                file.owner = Some(owner);
            } else if opts.uid != uid {
                notes.push(format!(
                    "the rootless buildkitd reads {key} as uid {uid} inside its container, and bkenv runs as \
                     uid {} so it cannot give the key to that user: buildkitd would stop with \"open {}/server.key: \
                     permission denied\". Run `sudo chown {uid}:{gid} {}` (the key stays 0600, readable by uid {uid} only), \
                     or run `bkenv init` as root or as uid {uid}",
                    opts.uid,
                    layout::BK_CERTS_IN,
                    crate::shell::quote(&opts.dir.join(&key).display().to_string()),
                ));
            }
        }
        None => {
            if state.container_owned.remove(&key).is_some() && opts.uid == 0 {
                file.owner = Some(Owner { uid: 0, gid: 0 });
            }
        }
    }
}

/// The environment's absolute directory for the buildx files (buildx refuses relative
/// driver-opt paths), or `None` with a note when it cannot be written into them.
/// `COMPOSE_PROJECT_NAME` as Compose reads it: the process environment first, then the
/// environment's `.env` (a line the user added; bkenv keeps an edited `.env`).
fn compose_project_name(
    dir: &Path,
    env_var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>> {
    const KEY: &str = "COMPOSE_PROJECT_NAME";
    if let Some(v) = env_var(KEY).filter(|v| !v.is_empty()) {
        return Ok(Some(v));
    }
    let text = read_optional(&dir.join(layout::DOTENV))?.unwrap_or_default();
    Ok(text.lines().rev().find_map(|l| {
        let v = l.trim().strip_prefix(KEY)?.trim_start().strip_prefix('=')?;
        let v = v.trim().trim_matches(['"', '\'']);
        (!v.is_empty()).then(|| v.to_string())
    }))
}

fn absolute_root(dir: &Path, notes: &mut Vec<String>) -> Option<String> {
    let abs = std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .ok()?;
    match abs.to_str() {
        Some(s) if !s.contains(['\n', '\r']) => Some(s.to_string()),
        _ => {
            notes.push(format!(
                "{} is not a path buildx options can carry (not UTF-8, or a line break); {} not written",
                abs.display(),
                layout::BUILDX_DIR
            ));
            None
        }
    }
}

/// The spec as it will be written (flags applied), and the environment it describes.
fn load_spec(dir: &Path, opts: &InitOptions) -> Result<(String, Environment)> {
    let spec_path = dir.join(spec::SPEC_FILE);
    let original = read_optional(&spec_path)?;
    let base = original.as_deref().unwrap_or(spec::DEFAULT_SPEC);
    let spec_text = spec::apply_overrides(base, &spec_path, &opts.overrides)?;
    let env = spec::validate(&spec::parse(&spec_text, &spec_path)?)?;
    Ok((spec_text, env))
}

/// The spec is the user's file: bkenv only creates it or applies flags to it.
fn spec_file(text: &str) -> PlannedFile {
    let mut f = PlannedFile::public(spec::SPEC_FILE, text);
    f.policy = output::Policy::Merged;
    f
}

/// Every file init reads goes through the limits doctor uses: a FIFO or a device in
/// place of a file is refused, never read.
fn read_optional(path: &Path) -> Result<Option<String>> {
    Ok(read_optional_bytes(path)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// A leaf key; one bkenv may not read (a rootless buildkitd's key after `chown 1000`)
/// is refused with who owns it, since reissuing would break the pair behind its back.
fn read_key(path: &Path, uid: u32) -> Result<Option<Vec<u8>>> {
    match read_optional_bytes(path) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::PermissionDenied => {
            use std::os::unix::fs::MetadataExt;
            let owner = std::fs::symlink_metadata(path).map(|m| m.uid()).ok();
            Err(Error::Refused {
                path: path.to_path_buf(),
                message: format!(
                    "bkenv runs as uid {uid} and cannot read this key{}. Run `bkenv init` as its owner or as root \
                     (a rootless buildkitd's key belongs to uid {})",
                    owner.map_or(String::new(), |o| format!(" (owned by uid {o})")),
                    layout::ROOTLESS_UID
                ),
            })
        }
        other => other,
    }
}

fn read_optional_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    output::read_file(path, Links::Follow)
}

/// Every name any certificate of this environment will carry.
fn all_sans(env: &Environment) -> Vec<SanName> {
    let mut names: Vec<SanName> = env.buildkitd.sans.iter().map(san).collect();
    for reg in env.registries.iter().filter(|r| r.local().is_some()) {
        names.extend(reg.sans().iter().map(san));
    }
    names.sort();
    names.dedup();
    names
}

fn san(h: &crate::hostport::Host) -> SanName {
    match h {
        crate::hostport::Host::Dns(d) => SanName::Dns(d.clone()),
        crate::hostport::Host::Ip(ip) => SanName::Ip(*ip),
    }
}

fn load_or_create_ca(
    dir: &Path,
    env: &Environment,
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    writer: &mut Writer,
    notes: &mut Vec<String>,
) -> Result<Ca> {
    let cert_path = dir.join(layout::CA_CERT);
    let key_path = dir.join(layout::CA_KEY);
    let files = crate::castore::read(dir)?;
    notes.extend(files.warnings);
    let (cert, key) = (files.cert, files.key);
    let params = ca_params(env, opts.now);
    let ca = match (cert, key) {
        (cert, key) if opts.new_ca && (cert.is_some() || key.is_some()) => {
            let ca = pki::generate_ca(&params, rng)?;
            if opts.dry_run {
                notes
                    .push("new CA generated; the old one would be kept in ca/backup-<time>".into());
            } else {
                // The old pair moves to a backup and the new one takes its place in one
                // transaction (see castore): never a key without its certificate.
                let backup = crate::castore::switch(dir, &ca, opts.now, writer)?;
                let kept = backup.map_or_else(|| "nowhere".into(), |b| layout::relative(dir, &b));
                notes.push(format!("new CA generated; the old one is kept in {kept}"));
            }
            ca
        }
        (Some(cert), Some(key)) => {
            let ca = pki::load_ca(&cert, &key).map_err(|e| Error::Refused {
                path: key_path.clone(),
                message: format!(
                    "{e}. bkenv never replaces a CA behind your back: restore the matching {} (a backup may be in ca/backup-*), \
                     or run `bkenv init --new-ca` to start a new CA that every client must trust again",
                    layout::CA_KEY
                ),
            })?;
            notes.push(format!("CA reused ({})", layout::CA_CERT));
            ca
        }
        (Some(_), None) => {
            return Err(Error::Refused {
                path: cert_path,
                message: format!(
                    "the CA certificate exists but its key {} is missing, so nothing can be signed. \
                     Restore the key, or run `bkenv init --new-ca`",
                    layout::CA_KEY
                ),
            });
        }
        (None, Some(key)) => {
            // An interrupted first run wrote the key but not the certificate: nothing can
            // trust this CA yet, so re-deriving its certificate from the same key is safe.
            notes.push("CA certificate re-created from the existing CA key".into());
            pki::generate_ca_with_key(&params, &key, rng)?
        }
        (None, None) => {
            notes.push("new CA generated".into());
            pki::generate_ca(&params, rng)?
        }
    };
    check_constraints(&ca, env)?;
    if let Some(note) = ca_key_type_note(&ca, env.pki.key_type, opts.new_ca) {
        notes.push(note);
    }
    Ok(ca)
}

/// A kept CA whose key is not of the spec's type is never replaced behind the user's
/// back: say so, and what replaces it (`--new-ca`), so a changed `pki.key_type` is never
/// silently half applied.
fn ca_key_type_note(ca: &Ca, wanted: pki::KeyType, new_ca: bool) -> Option<String> {
    let found = &ca.facts.public_key;
    (!new_ca && !wanted.matches(found)).then(|| {
        format!(
            "warning: the CA key ({}) is {found}, but pki.key_type is {wanted}. The CA is kept (bkenv never replaces \
             a CA behind your back), and certificates bkenv issues get {wanted} keys signed by it. For an {wanted} CA \
             run `bkenv init --new-ca` (the old CA is kept in ca/backup-<time>/; every client must then trust the \
             new {})",
            layout::CA_KEY,
            layout::CA_CERT
        )
    })
}

/// What a CA for `env` is made with at `now`: the spec's key type and lifetime, and the
/// name constraints its names need. A rotation's new CA gets the same.
pub fn ca_params(env: &Environment, now: OffsetDateTime) -> CaParams {
    CaParams {
        common_name: env.pki.ca_common_name.clone(),
        key_type: env.pki.key_type,
        not_before: now - Duration::minutes(5),
        not_after: now + Duration::days(i64::from(env.pki.ca_validity_days)),
        name_constraints: env
            .pki
            .name_constraints
            .then(|| pki::default_permitted(&all_sans(env))),
    }
}

/// Refuses a CA whose name constraints leave out a name of the spec.
pub fn check_constraints(ca: &Ca, env: &Environment) -> Result<()> {
    let Some(nc) = &ca.facts.name_constraints else {
        return Ok(());
    };
    for name in all_sans(env) {
        if !pki::permitted_by(nc, &name) {
            return Err(Error::Refused {
                path: layout::CA_CERT.into(),
                message: format!(
                    "`{name}` is outside the CA's name constraints (permitted: {}). Clients would reject its certificate. \
                     Rotate to a CA that covers the new names with `bkenv init --new-ca` (the old CA is backed up; \
                     clients must trust the new ca/ca.crt), or remove the name from bkenv.toml",
                    nc.permitted
                ),
            });
        }
    }
    Ok(())
}

/// Issues (or keeps) each leaf, treating a key and its certificate as one pair.
struct Leaves<'a> {
    dir: &'a Path,
    ca: &'a Ca,
    env: &'a Environment,
    opts: &'a InitOptions,
    rng: &'a dyn SecureRandom,
    state: &'a State,
    notes: &'a mut Vec<String>,
    /// Files kept as the user made them (planned with [`output::Policy::Keep`]).
    keep: BTreeSet<String>,
    reissued: Vec<Reissued>,
}

impl Leaves<'_> {
    /// A leaf that still fits is kept. Otherwise it is reissued, and the pair stays a
    /// pair whatever the user edited: a key the user supplied gets a certificate for
    /// that key; a certificate the user supplied keeps its key; only a pair that is
    /// bkenv's (written by it, or set out to be by an interrupted run) is replaced by a
    /// new key and certificate.
    fn issue(&mut self, leaf: &crate::model::Leaf) -> Result<IssuedCert> {
        let env = self.env;
        let (cert_rel, key_rel) = (leaf.cert.clone(), leaf.key.clone());
        let (cn, usage) = (leaf.common_name.clone(), leaf.usage);
        let sans: Vec<SanName> = leaf.sans.iter().map(san).collect();
        let cert = read_optional_bytes(&self.dir.join(&cert_rel))?;
        let key = read_key(&self.dir.join(&key_rel), self.opts.uid)?;
        let now = self.opts.now;
        let force = self.opts.force;
        let state = self.state;
        let theirs = |rel: &str, bytes: &Option<Vec<u8>>| {
            !force && bytes.as_ref().is_some_and(|b| !state.owns(rel, b))
        };
        let (cert_theirs, key_theirs) = (theirs(&cert_rel, &cert), theirs(&key_rel, &key));
        let wrong_type = cert
            .as_deref()
            .and_then(|c| pki::key_type_status(c, env.pki.key_type));
        let status = pki::leaf_status(
            cert.as_deref(),
            key.as_deref(),
            &self.ca.facts,
            &sans,
            usage,
            now,
        );
        // A key the user supplied is theirs whatever its type: it gets a certificate when
        // one is needed, never a replacement (`--force` replaces it).
        let wrong_type = match wrong_type {
            Some(pki::ReissueReason::KeyType { found, wanted }) if key_theirs && !cert_theirs => {
                self.notes.push(format!(
                    "warning: {key_rel} kept: it is your key (not written by bkenv), a {found} key while pki.key_type is \
                     {wanted}. Replace it with an {wanted} key, or run `bkenv init --force` to have bkenv generate one"
                ));
                None
            }
            other => other,
        };
        let status = status.or(wrong_type);
        let not_after = cert
            .as_deref()
            .and_then(|c| pki::read_certs(c).ok())
            .and_then(|c| c.first().map(|c| c.not_after));
        let status = self.opts.renewal.decide(status, not_after, now);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let Some(reason) = status else {
            let (Some(cert), Some(key)) = (cert, key) else {
                // leaf_status only keeps a pair that is whole.
                return Err(Error::Refused {
                    path: self.dir.join(&cert_rel),
                    message: "was kept without its key; restore the key or remove both".into(),
                });
            };
            return Ok(IssuedCert {
                // Certificates only: a key pasted into the 0644 file is dropped.
                cert_pem: pki::read_certs(&cert)
                    .map(|c| pki::certificates_to_pem(&c))
                    .unwrap_or_else(|_| text(&cert)),
                key_pem: text(&key),
            });
        };
        let params = LeafParams {
            common_name: cn,
            sans,
            usage,
            key_type: env.pki.key_type,
            not_before: now - Duration::minutes(5),
            not_after: now + Duration::days(i64::from(env.pki.leaf_validity_days)),
        };
        if cert_theirs {
            // The user's certificate: keep it, and its key, as they are.
            let Some(key) = key else {
                return Err(Error::Refused {
                    path: self.dir.join(&key_rel),
                    message: format!(
                        "is missing, and {cert_rel} was edited since bkenv wrote it, so bkenv will not pair it with a new key. \
                         Restore the key, or run `bkenv init --force` to issue a new pair"
                    ),
                });
            };
            self.notes.push(format!(
                "warning: {cert_rel} kept (edited by you; --force to reissue) although it needs reissuing: {reason}"
            ));
            self.keep.insert(cert_rel);
            self.keep.insert(key_rel);
            return Ok(IssuedCert {
                cert_pem: cert.as_deref().map(text).unwrap_or_default(),
                key_pem: text(&key),
            });
        }
        if reason != pki::ReissueReason::Missing {
            self.notes.push(format!("{cert_rel} reissued: {reason}"));
        }
        self.reissued.push(Reissued {
            cert: cert_rel.clone(),
            reason: reason.clone(),
        });
        // `renew --keep-key`: a certificate for the key on disk when only time is the reason.
        let keep_key = self.opts.renewal.keep_keys
            && matches!(
                reason,
                pki::ReissueReason::ExpiresSoon { .. } | pki::ReissueReason::Requested
            );
        if keep_key
            && !key_theirs
            && let Some(k) = &key
            && let Ok(issued) = pki::issue_leaf_for_key(self.ca, &params, &text(k), self.rng)
        {
            return Ok(issued);
        }
        match key.filter(|_| key_theirs) {
            Some(user_key) => {
                // The user's key: a certificate for it, the key untouched.
                let issued =
                    pki::issue_leaf_for_key(self.ca, &params, &text(&user_key), self.rng)
                        .map_err(|e| Error::Refused {
                            path: self.dir.join(&key_rel),
                            message: format!(
                                "was edited since bkenv wrote it and cannot be used: {e}. Restore it, or run \
                                 `bkenv init --force` to replace it with a new key"
                            ),
                        })?;
                self.keep.insert(key_rel);
                Ok(issued)
            }
            None => Ok(pki::issue_leaf(self.ca, &params, self.rng)?),
        }
    }
}

fn external_cas(dir: &Path, env: &Environment) -> Result<BTreeMap<usize, String>> {
    let mut out = BTreeMap::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let Role::External {
            ca_file: Some(file),
        } = &reg.role
        else {
            continue;
        };
        let path = dir.join(file);
        let bytes = read_optional_bytes(&path)?.ok_or_else(|| {
            Error::io(
                "read the registry CA file",
                &path,
                std::io::ErrorKind::NotFound.into(),
            )
        })?;
        // Only the certificates reach the trust files bkenv writes (0644).
        let text = pki::certificates_pem(&bytes).map_err(|e| Error::Refused {
            path: path.clone(),
            message: format!("not a usable CA certificate file: {e}"),
        })?;
        out.insert(i, text);
    }
    Ok(out)
}

const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A 24-character password from an unambiguous alphabet (~138 bits).
pub fn generate_password(rng: &dyn SecureRandom) -> Result<String> {
    let mut bytes = [0u8; 24];
    rng.fill(&mut bytes).map_err(|_| Error::Random)?;
    // 256 % 57 != 0 leaves a negligible bias; entropy stays far above what bcrypt needs.
    Ok(bytes
        .iter()
        .map(|b| char::from(PASSWORD_ALPHABET[usize::from(*b) % PASSWORD_ALPHABET.len()]))
        .collect())
}

fn passwords(
    env: &Environment,
    stored: &mut BTreeMap<String, String>,
    env_var: &dyn Fn(&str) -> Option<String>,
    rng: &dyn SecureRandom,
) -> Result<BTreeMap<usize, String>> {
    let mut out = BTreeMap::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let Some(auth) = &reg.auth else { continue };
        let key = reg
            .primary_name()
            .map(ToString::to_string)
            .unwrap_or_default();
        let password = match &auth.password_env {
            Some(var) => env_var(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                Error::invalid(
                    format!("registry `{key}` auth.password_env"),
                    format!("the environment variable `{var}` is not set; export it, or remove password_env to let bkenv generate a password"),
                )
            })?,
            None if reg.local().is_none() => {
                return Err(Error::invalid(
                    format!("registry `{key}` auth"),
                    "an external registry's password cannot be generated; set password_env to the variable holding it",
                ))
            }
            None => match stored.get(&key) {
                Some(p) => p.clone(),
                None => generate_password(rng)?,
            },
        };
        // The password reaches `.env`, htpasswd and config.json: refuse what `.env` could
        // not carry safely (a generated password always can).
        crate::dotenv::check_value(&password).map_err(|why| {
            Error::invalid(
                format!("registry `{key}` auth.password_env"),
                format!("the password {why}"),
            )
        })?;
        if auth.password_env.is_none() {
            stored.insert(key, password.clone());
        }
        out.insert(i, password);
    }
    Ok(out)
}

/// Keeps an existing htpasswd whose entry still verifies, so re-runs are byte-identical.
fn htpasswd_files(
    dir: &Path,
    env: &Environment,
    passwords: &BTreeMap<usize, String>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let (Some(local), Some(auth), Some(password)) = (reg.local(), &reg.auth, passwords.get(&i))
        else {
            continue;
        };
        let path = dir.join(format!("{}/auth/htpasswd", local.service));
        let existing = read_optional(&path)?;
        let keep = existing.as_deref().filter(|text| {
            text.lines().any(|l| {
                l.split_once(':').is_some_and(|(u, h)| {
                    // A cost above the cap is not verified (it could take days): the entry
                    // is then rewritten like any other that does not verify.
                    u == auth.username
                        && h.starts_with("$2y$")
                        && crate::htpasswd::verify(password, h) == crate::htpasswd::Verify::Match
                })
            })
        });
        let text = match keep {
            Some(t) => t.to_string(),
            None => {
                let cost = if auth.password_env.is_some() {
                    CHOSEN_PASSWORD_COST
                } else {
                    GENERATED_PASSWORD_COST
                };
                render::htpasswd_line(&auth.username, password, cost)?
            }
        };
        out.insert(local.service.clone(), text);
    }
    Ok(out)
}
