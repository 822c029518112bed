//! `bkenv trust install|uninstall`: the environment's CA where host-side tools look.
//!
//! * **Docker** reads `/etc/docker/certs.d/<host:port>/*.crt` on every connection, for
//!   `docker push`/`pull` and its built-in builder: `ca.crt` there holds the trust
//!   bundle (the CA, and during a rotation both CAs).
//! * **containerd** (nerdctl, `ctr --hosts-dir`, CRI with `config_path`) reads
//!   `/etc/containerd/certs.d/<host:port>/hosts.toml`, whose `ca` names the bundle beside
//!   it; IPv6 literals keep their brackets (`[::1]:5005`), as in image references.
//!   Installed where containerd is (`/etc/containerd` exists).
//! * **The system store** (every TLS client of the machine): Debian-family systems take
//!   one certificate per file in `/usr/local/share/ca-certificates/` and
//!   `update-ca-certificates`. Other systems are told what they need ([`OTHER_SYSTEMS`]).
//!
//! Docker's and containerd's trust is scoped to the registry's `host:port`; the system
//! store's is not. What makes trusting a development CA machine-wide acceptable is its
//! name constraints: it can sign only for the environment's names and loopback, so a
//! leaked key cannot impersonate any other site. A CA without them is refused for the
//! system store unless the user insists.
//!
//! Everything installed is recorded with its hash ([`record`]); `uninstall` removes
//! exactly that, and keeps (and reports) a file changed since. Another file already in
//! a place bkenv would write is never overwritten: the install is refused.

pub mod error;
mod record;

pub use error::HostTrustError;
pub use record::{Entry, RECORD, Record};

use crate::error::{Error, Result};
use crate::model::{Environment, Reach};
use crate::output::{self, Writer};
use crate::pki::{self, CertFacts};
use crate::safefs::Links;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A place on the host where tools look for CAs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// /etc/docker/certs.d/<host:port>/ca.crt
    Docker,
    /// /etc/containerd/certs.d/<host:port>/{hosts.toml,ca.crt}
    Containerd,
    /// /usr/local/share/ca-certificates + update-ca-certificates
    System,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Docker => "docker",
            Target::Containerd => "containerd",
            Target::System => "system",
        }
    }
}

const DOCKER_CERTS_D: &str = "etc/docker/certs.d";
const CONTAINERD_DIR: &str = "etc/containerd";
const CONTAINERD_CERTS_D: &str = "etc/containerd/certs.d";
const LOCAL_CAS: &str = "usr/local/share/ca-certificates";
const UPDATE_CA_CERTIFICATES: [&str; 3] = [
    "usr/sbin/update-ca-certificates",
    "usr/bin/update-ca-certificates",
    "sbin/update-ca-certificates",
];

/// What systems without `update-ca-certificates` need, for the user to do by hand.
pub const OTHER_SYSTEMS: &str = "Fedora, RHEL and CentOS: copy each CA to /etc/pki/ca-trust/source/anchors/ and run \
`update-ca-trust`; Arch: `trust anchor --store FILE`; macOS: `sudo security add-trusted-cert -d -r trustRoot -k \
/Library/Keychains/System.keychain FILE`; Windows: `certutil -addstore -f ROOT FILE`";

/// Options of `trust install`.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Prefix of every host path (`/` for the machine itself; an image root when
    /// packaging).
    pub root: PathBuf,
    /// Only these targets (default: every target present on the host).
    pub targets: Vec<Target>,
    /// Install a CA without name constraints into the system store anyway.
    pub allow_unconstrained: bool,
}

/// One file `install` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFile {
    pub target: Target,
    pub path: PathBuf,
    pub contents: Vec<u8>,
    /// Already there with these contents (bkenv's): nothing to write.
    pub unchanged: bool,
}

/// What `install` would do; nothing has been written when this exists.
#[derive(Debug, Clone, Default)]
pub struct InstallPlan {
    pub files: Vec<HostFile>,
    /// Files of an earlier install that the environment no longer trusts (the old CA
    /// after a rotation): removed.
    pub stale: Vec<Entry>,
    /// Targets left out, with why.
    pub skipped: Vec<(Target, String)>,
    /// Files in the way: not bkenv's, so the install is refused.
    pub conflicts: Vec<(PathBuf, String)>,
    /// Each CA installed and the names it may sign for (what makes installing it safe).
    pub constraints: Vec<CaScope>,
    pub warnings: Vec<String>,
    /// Whether the system store must be refreshed afterwards.
    pub refresh: bool,
    /// The root the plan is for.
    pub root: PathBuf,
}

/// A CA `install` puts on the host, and what its name constraints let it sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaScope {
    /// Its subject common name (the subject when it has none).
    pub name: String,
    /// SHA-256 of its DER: during a rotation two CAs share a name, and the system
    /// store file is named by the first 16 digits.
    pub fingerprint: String,
    /// The names and IP ranges it may sign for; `None` when it has no name constraints.
    pub names: Option<Vec<String>>,
}

/// Plans installing the trust of the environment at `dir` (spec `env`).
pub fn plan_install(dir: &Path, env: &Environment, opts: &InstallOptions) -> Result<InstallPlan> {
    let record = Record::load(dir)?;
    let cas = trust_cas(dir)?;
    let mut plan = InstallPlan {
        root: opts.root.clone(),
        ..InstallPlan::default()
    };
    for ca in &cas {
        let names = ca.name_constraints.as_ref().map(|nc| nc.permitted.shown());
        plan.constraints.push(CaScope {
            name: ca.subject_cn.clone().unwrap_or_else(|| ca.subject.clone()),
            fingerprint: ca.fingerprint(),
            names,
        });
    }
    let unconstrained = cas.iter().any(|c| c.name_constraints.is_none());
    let bundle = pki::certificates_to_pem(&cas);
    let names = host_names(env);
    let root = &opts.root;
    let wanted = |t: Target| opts.targets.is_empty() || opts.targets.contains(&t);
    let mut planned: Vec<(Target, PathBuf, Vec<u8>)> = Vec::new();

    if wanted(Target::Docker) {
        if opts.targets.contains(&Target::Docker) || root.join("etc/docker").is_dir() {
            for n in &names {
                let path = root.join(DOCKER_CERTS_D).join(n).join("ca.crt");
                planned.push((Target::Docker, path, bundle.clone().into_bytes()));
            }
        } else {
            plan.skipped.push((
                Target::Docker,
                "Docker not found (no /etc/docker); `--target docker` installs anyway".into(),
            ));
        }
    }
    if wanted(Target::Containerd) {
        if opts.targets.contains(&Target::Containerd) || root.join(CONTAINERD_DIR).is_dir() {
            for n in &names {
                let dir_in = Path::new("/").join(CONTAINERD_CERTS_D).join(n);
                let on_host = root.join(CONTAINERD_CERTS_D).join(n);
                planned.push((
                    Target::Containerd,
                    on_host.join("ca.crt"),
                    bundle.clone().into_bytes(),
                ));
                planned.push((
                    Target::Containerd,
                    on_host.join("hosts.toml"),
                    hosts_toml(n, &dir_in.join("ca.crt")).into_bytes(),
                ));
            }
        } else {
            plan.skipped.push((
                Target::Containerd,
                "containerd not found (no /etc/containerd); `--target containerd` installs anyway"
                    .into(),
            ));
        }
    }
    if wanted(Target::System) {
        let debian = root.join(LOCAL_CAS).is_dir()
            && UPDATE_CA_CERTIFICATES
                .iter()
                .any(|p| root.join(p).is_file());
        if !debian {
            plan.skipped.push((
                Target::System,
                format!(
                    "no update-ca-certificates here (not a Debian-family system). {OTHER_SYSTEMS}"
                ),
            ));
        } else if unconstrained && !opts.allow_unconstrained {
            plan.skipped.push((
                Target::System,
                "the CA has no name constraints: in the system store it could sign for any site this machine visits. \
                 Refused; set `pki.name_constraints = true` and rotate the CA, or pass --allow-unconstrained"
                    .into(),
            ));
        } else {
            for ca in &cas {
                let fp = ca.fingerprint();
                let name = format!("bkenv-{}.crt", fp.get(..16).unwrap_or(&fp));
                planned.push((
                    Target::System,
                    root.join(LOCAL_CAS).join(name),
                    pki::certificates_to_pem(std::slice::from_ref(ca)).into_bytes(),
                ));
            }
        }
    }
    if unconstrained {
        plan.warnings.push(
            "WARNING: the CA has no name constraints, so whoever holds its key can sign for any name. Docker and \
             containerd trust it only for the registry names above"
                .into(),
        );
    }

    for (target, path, contents) in planned {
        match output::read_file(&path, Links::Refuse) {
            Ok(Some(existing)) if existing == contents && record.owns(&path, &existing) => {
                plan.files.push(HostFile {
                    target,
                    path,
                    contents,
                    unchanged: true,
                });
            }
            Ok(Some(existing)) if record.owns(&path, &existing) => {
                plan.refresh |= target == Target::System;
                plan.files.push(HostFile {
                    target,
                    path,
                    contents,
                    unchanged: false,
                });
            }
            Ok(Some(_)) => plan.conflicts.push((
                path,
                "exists and was not written by `bkenv trust install`; remove or move it first"
                    .into(),
            )),
            Ok(None) => {
                plan.refresh |= target == Target::System;
                plan.files.push(HostFile {
                    target,
                    path,
                    contents,
                    unchanged: false,
                });
            }
            Err(e) => plan.conflicts.push((path, e.to_string())),
        }
    }
    // Files an earlier install wrote that this one does not: the environment stopped
    // trusting what they hold, so they go (if they are still as written).
    for e in &record.files {
        if !plan.files.iter().any(|f| f.path == e.path) {
            plan.refresh |= e.target == Target::System;
            plan.stale.push(e.clone());
        }
    }
    Ok(plan)
}

/// What an install or uninstall did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub written: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    /// Files bkenv wrote that were changed since: kept, no longer tracked.
    pub kept: Vec<PathBuf>,
    /// Whether the system store must be refreshed (`update-ca-certificates`).
    pub refresh: bool,
}

/// Applies `plan`. The caller holds the environment lock and has the user's consent.
/// The record is written first (the intent, with the hashes of what it replaces), then
/// the files, then the record again without the replaced hashes.
pub fn install(dir: &Path, plan: &InstallPlan, writer: &mut Writer) -> Result<Applied> {
    if let Some((path, why)) = plan.conflicts.first() {
        return Err(Error::Refused {
            path: path.clone(),
            message: why.clone(),
        });
    }
    let mut record = Record::load(dir)?;
    for f in plan.files.iter().filter(|f| !f.unchanged) {
        let hash = output::sha256_hex(&f.contents);
        match record.files.iter_mut().find(|e| e.path == f.path) {
            Some(e) => e.sha256.push(hash),
            None => record.files.push(Entry {
                target: f.target,
                path: f.path.clone(),
                sha256: vec![hash],
            }),
        }
        for d in missing_dirs(f.path.parent()) {
            if !record.dirs.contains(&d) {
                record.dirs.push(d);
            }
        }
    }
    record
        .dirs
        .sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    record.save(dir, writer)?;
    let mut applied = Applied {
        refresh: plan.refresh,
        ..Applied::default()
    };
    // Host files belong to whoever runs the install (root), never to the environment's
    // owner; the same writer counts every write for failure injection.
    let owner = writer.owner.take();
    let result = (|| {
        for f in plan.files.iter().filter(|f| !f.unchanged) {
            writer.write(&f.path, &f.contents, output::MODE_PUBLIC)?;
            applied.written.push(f.path.clone());
        }
        remove_owned(&plan.stale, &record, writer, &mut applied)
    })();
    writer.owner = owner;
    let stale = result?;
    record.files.retain(|e| !stale.contains(&e.path));
    for e in &mut record.files {
        if let Some(f) = plan.files.iter().find(|f| f.path == e.path) {
            e.sha256 = vec![output::sha256_hex(&f.contents)];
        }
    }
    remove_empty_dirs(&mut record);
    record.save(dir, writer)?;
    Ok(applied)
}

/// What `uninstall` would do.
#[derive(Debug, Clone, Default)]
pub struct UninstallPlan {
    pub remove: Vec<Entry>,
    /// Recorded files that are gone already.
    pub gone: Vec<PathBuf>,
    /// Recorded files changed since: kept.
    pub changed: Vec<PathBuf>,
}

pub fn plan_uninstall(dir: &Path) -> Result<UninstallPlan> {
    let record = Record::load(dir)?;
    let mut plan = UninstallPlan::default();
    for e in &record.files {
        match output::read_file(&e.path, Links::Refuse) {
            Ok(Some(bytes)) if record.owns(&e.path, &bytes) => plan.remove.push(e.clone()),
            Ok(None) => plan.gone.push(e.path.clone()),
            _ => plan.changed.push(e.path.clone()),
        }
    }
    Ok(plan)
}

/// Removes what `install` added and is still as it wrote it. The caller holds the
/// environment lock and has the user's consent.
pub fn uninstall(dir: &Path, writer: &mut Writer) -> Result<Applied> {
    let mut record = Record::load(dir)?;
    let mut applied = Applied::default();
    let all = record.files.clone();
    let owner = writer.owner.take();
    let result = remove_owned(&all, &record, writer, &mut applied);
    writer.owner = owner;
    result?;
    record.files.clear();
    remove_empty_dirs(&mut record);
    record.save(dir, writer)?;
    Ok(applied)
}

/// Removes each of `entries` that is still as bkenv wrote it; returns the paths no
/// longer tracked (removed, gone or changed since).
fn remove_owned(
    entries: &[Entry],
    record: &Record,
    host: &mut Writer,
    applied: &mut Applied,
) -> Result<Vec<PathBuf>> {
    let mut done = Vec::new();
    for e in entries {
        match output::read_file(&e.path, Links::Refuse) {
            Ok(Some(bytes)) if record.owns(&e.path, &bytes) => {
                host.remove_file(&e.path)?;
                applied.refresh |= e.target == Target::System;
                applied.removed.push(e.path.clone());
            }
            Ok(None) => {}
            _ => applied.kept.push(e.path.clone()),
        }
        done.push(e.path.clone());
    }
    Ok(done)
}

/// Removes the directories `install` created that are empty now (deepest first).
fn remove_empty_dirs(record: &mut Record) {
    record.dirs.retain(|d| match std::fs::remove_dir(d) {
        Ok(()) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // Not empty (another file is there): it stays, and so does the record of it.
        Err(_) => true,
    });
}

/// The directories above `dir` (and `dir`) that do not exist yet, deepest first.
fn missing_dirs(dir: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = dir;
    while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        out.push(d.to_path_buf());
        cur = d.parent();
    }
    out
}

/// The registry names host-side tools use: every name of the environment's registries
/// (and mirror) but the ones that resolve only inside the compose network.
pub fn host_names(env: &Environment) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for reg in env.registries.iter().filter(|r| r.local().is_some()) {
        for n in reg.names.iter().filter(|n| n.reach != Reach::Network) {
            crate::model::push_unique(&mut out, n.name.to_string());
        }
    }
    out
}

/// Whether the host trust `install` recorded still holds exactly the CAs the
/// environment's clients trust now (`None`: nothing is installed). Each Docker and
/// containerd bundle must hold all of them and nothing else, and the system store files
/// together the same set; a file gone or unreadable is out of date too. A rotation step
/// makes it stale; `install` run again brings it along.
pub fn installed_is_current(dir: &Path) -> Result<Option<bool>> {
    let record = Record::load(dir)?;
    if record.files.is_empty() {
        return Ok(None);
    }
    let wanted: std::collections::BTreeSet<Vec<u8>> =
        trust_cas(dir)?.into_iter().map(|c| c.der).collect();
    let certs_of = |path: &Path| -> Option<std::collections::BTreeSet<Vec<u8>>> {
        let bytes = output::read_file(path, Links::Refuse).ok()??;
        let certs = pki::read_certs(&bytes).ok()?;
        Some(certs.into_iter().map(|c| c.der).collect())
    };
    let mut system = std::collections::BTreeSet::new();
    let mut has_system = false;
    for e in record
        .files
        .iter()
        .filter(|e| e.path.extension().is_some_and(|x| x == "crt"))
    {
        let Some(held) = certs_of(&e.path) else {
            return Ok(Some(false));
        };
        match e.target {
            Target::System => {
                has_system = true;
                system.extend(held);
            }
            Target::Docker | Target::Containerd if held != wanted => return Ok(Some(false)),
            Target::Docker | Target::Containerd => {}
        }
    }
    Ok(Some(!has_system || system == wanted))
}

/// The CAs the environment's clients trust now: the trust bundle `init` writes.
pub fn trust_cas(dir: &Path) -> Result<Vec<CertFacts>> {
    let files = crate::castore::read(dir)?;
    let cert = files.cert.ok_or_else(|| Error::Refused {
        path: dir.join(crate::model::layout::CA_CERT),
        message: "no CA here yet; run `bkenv init` first".into(),
    })?;
    let state = output::State::load(dir)?;
    let bundle = crate::rotation::state::trust_bundle(&cert, state.rotation.as_ref())?;
    Ok(pki::read_certs(bundle.as_bytes())?)
}

/// containerd's `hosts.toml` for `name`, trusting the bundle at `ca` (a path on the
/// target system). Values go through toml_edit, so they are escaped for TOML.
fn hosts_toml(name: &str, ca: &Path) -> String {
    let server = format!("https://{name}");
    let mut doc = toml_edit::DocumentMut::new();
    doc["server"] = toml_edit::value(server.clone());
    let mut host = toml_edit::Table::new();
    let mut caps = toml_edit::Array::new();
    for c in ["pull", "resolve", "push"] {
        caps.push(c);
    }
    host["capabilities"] = toml_edit::value(caps);
    host["ca"] = toml_edit::value(ca.display().to_string());
    let mut hosts = toml_edit::Table::new();
    hosts.set_implicit(true);
    hosts.insert(&server, toml_edit::Item::Table(host));
    doc["host"] = toml_edit::Item::Table(hosts);
    format!("# Written by `bkenv trust install`; `bkenv trust uninstall` removes it.\n{doc}")
}

/// Runs `update-ca-certificates` (bounded by `timeout`); returns its output.
pub fn refresh_system_store(timeout: Duration) -> Result<String> {
    use std::io::Read;
    let program = UPDATE_CA_CERTIFICATES
        .iter()
        .map(|p| Path::new("/").join(p))
        .find(|p| p.is_file())
        .ok_or(HostTrustError::NoRefresher)?;
    let mut child = std::process::Command::new(&program)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("run", &program, e))?;
    // Read on threads, so a chatty run never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HostTrustError::RefreshTimedOut {
                    program,
                    seconds: timeout.as_secs(),
                }
                .into());
            }
            Err(e) => return Err(Error::io("wait for", &program, e)),
        }
    };
    let mut text = String::new();
    for out in [stdout.join(), stderr.join()] {
        text.push_str(&out.unwrap_or_default());
    }
    if !status.success() {
        return Err(HostTrustError::RefreshFailed {
            program,
            status,
            output: text.trim().to_string(),
        }
        .into());
    }
    Ok(text)
}
