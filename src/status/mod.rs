//! `bkenv status`: every certificate of an environment with what matters for its
//! lifecycle (names, issuer, key type, expiry, whether it chains to the current CA,
//! whether its key matches), the trust files and which CAs they hold, the CA rotation in
//! progress, and with `--probe` whether each running daemon serves the certificate on
//! disk. Reads only; the clock is passed in.

mod render;

pub use render::{human, json};

use crate::castore;
use crate::error::Result;
use crate::model::{Environment, LeafRole, layout};
use crate::output::{self, State};
use crate::pki::{self, CertFacts};
use crate::rotation::state::{Phase, Rotation};
use crate::safefs::Links;
use serde::Serialize;
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// What `status` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The environment directory as the user named it.
    pub dir: String,
    /// When the report was made (UTC).
    pub at: String,
    /// The expiry threshold (`--within`), in days.
    pub within_days: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationView>,
    pub certificates: Vec<CertRow>,
    pub trust_files: Vec<TrustRow>,
    /// Whether the host trust `bkenv trust install` put on this machine holds the CAs
    /// the environment trusts now; absent when nothing is installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_trust_current: Option<bool>,
    /// Whether `--probe` ran.
    pub probed: bool,
    /// The restarts that make the daemons serve what is on disk (after `--probe`).
    #[serde(skip_serializing_if = "crate::restart::Plan::is_empty")]
    pub restart: crate::restart::Plan,
    /// Everything that needs attention, one sentence each; the exit status is 1 when
    /// this is not empty.
    pub attention: Vec<String>,
}

impl Report {
    pub fn needs_attention(&self) -> bool {
        !self.attention.is_empty()
    }
}

/// The CA rotation in progress.
#[derive(Debug, Clone, Serialize)]
pub struct RotationView {
    pub phase: Phase,
    pub started: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// Fingerprints (SHA-256) of the CA being retired and the one taking over.
    pub old_ca: String,
    pub new_ca: String,
    /// The command that takes the rotation to its next phase.
    pub next: String,
    pub problems: Vec<String>,
}

/// Which CA of the environment signed a certificate (or is this CA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaRole {
    /// The CA in `ca/`, which signs leaves.
    Current,
    /// A rotation's new CA, not signing yet.
    Incoming,
    /// A rotation's old CA, no longer signing.
    Retiring,
    /// None of the environment's CAs.
    Other,
}

impl CaRole {
    pub fn as_str(self) -> &'static str {
        match self {
            CaRole::Current => "current",
            CaRole::Incoming => "incoming",
            CaRole::Retiring => "retiring",
            CaRole::Other => "other",
        }
    }
}

/// One certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertRow {
    /// `ca`, `buildkitd`, `client`, `registry`.
    pub role: String,
    /// For a CA row, which CA it is; for a leaf, the service that serves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Relative to the environment directory.
    pub file: String,
    pub present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// SANs (`DNS` names and IPs); for a CA, its permitted name constraints.
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Which environment CA signed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<CaRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// Whether the current CA signed it (a CA row: whether it is the current CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chains_to_current_ca: Option<bool>,
    /// `None` when the key is missing or cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_matches: Option<bool>,
    /// SHA-256 of the DER.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served: Option<Served>,
    pub problems: Vec<String>,
}

/// What a running daemon presents (`--probe`).
#[derive(Debug, Clone, Serialize)]
pub struct Served {
    /// `host:port` dialled (SNI).
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Whether it is the certificate on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches_disk: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One trust file and the environment CAs it holds.
#[derive(Debug, Clone, Serialize)]
pub struct TrustRow {
    pub file: String,
    pub present: bool,
    pub cas: Vec<CaRole>,
    pub problems: Vec<String>,
}

/// The environment's CAs, to name who signed what.
struct Cas {
    current: Option<CertFacts>,
    incoming: Option<CertFacts>,
    retiring: Option<CertFacts>,
}

impl Cas {
    fn role_of(&self, cert: &CertFacts) -> CaRole {
        let is = |ca: &Option<CertFacts>| ca.as_ref().is_some_and(|c| c.der == cert.der);
        if is(&self.current) {
            CaRole::Current
        } else if is(&self.incoming) {
            CaRole::Incoming
        } else if is(&self.retiring) {
            CaRole::Retiring
        } else {
            CaRole::Other
        }
    }

    fn signer_of(&self, cert: &CertFacts) -> CaRole {
        let by = |ca: &Option<CertFacts>| ca.as_ref().is_some_and(|c| pki::signed_by(cert, c));
        if by(&self.current) {
            CaRole::Current
        } else if by(&self.incoming) {
            CaRole::Incoming
        } else if by(&self.retiring) {
            CaRole::Retiring
        } else {
            CaRole::Other
        }
    }
}

/// Builds the report for the environment at `dir` (spec `env`) at `now`; `within` is
/// the expiry threshold and `shown` how the user named the directory.
pub fn collect(
    dir: &Path,
    shown: &str,
    env: &Environment,
    now: OffsetDateTime,
    within: Duration,
) -> Result<Report> {
    let state = State::load(dir)?;
    let rotation = state.rotation.as_ref();
    let files = castore::read(dir)?;
    let current = files
        .cert
        .as_deref()
        .and_then(|c| pki::read_certs(c.as_bytes()).ok())
        .and_then(|c| c.into_iter().next());
    let first = |pem: &str| {
        pki::read_certs(pem.as_bytes())
            .ok()
            .and_then(|c| c.into_iter().next())
    };
    // During a rotation one of its CAs is in `ca/`; the other is incoming (before
    // `--finish`) or retiring (after it).
    let not_current =
        |c: Option<CertFacts>| c.filter(|c| current.as_ref().is_none_or(|k| k.der != c.der));
    let (incoming, retiring) = match rotation {
        Some(r) => (not_current(first(&r.new_ca)), not_current(first(&r.old_ca))),
        None => (None, None),
    };
    let cas = Cas {
        current,
        incoming,
        retiring,
    };
    let mut report = Report {
        dir: shown.to_string(),
        at: crate::stamp::iso(now),
        within_days: within.whole_days(),
        rotation: rotation.map(|r| rotation_view(r, &cas, now, shown)),
        certificates: Vec::new(),
        trust_files: Vec::new(),
        host_trust_current: crate::hosttrust::installed_is_current(dir)?,
        probed: false,
        restart: crate::restart::Plan::default(),
        attention: Vec::new(),
    };
    let ctx = RowCtx {
        dir,
        cas: &cas,
        now,
        within,
        rotation,
    };
    report.certificates.push(ca_row(
        &ctx,
        layout::CA_CERT.to_string(),
        cas.current.clone(),
        files.key.as_deref(),
    ));
    if let Some(r) = rotation {
        // The rotation's other CA, where its files are now: incoming before `--finish`,
        // archived after it.
        let (file, pem, key) = if cas.incoming.is_some() {
            let file = format!("{}/ca.crt", castore::INCOMING);
            (file, &r.new_ca, castore::read_incoming(dir)?.key)
        } else {
            let file = first(&r.old_ca)
                .and_then(|c| castore::find_backup(dir, &c.der))
                .map_or_else(
                    || "(in .bkenv/state.json)".to_string(),
                    |p| format!("{}/ca.crt", layout::relative(dir, &p)),
                );
            (file, &r.old_ca, None)
        };
        if let Some(facts) = first(pem) {
            report
                .certificates
                .push(ca_row(&ctx, file, Some(facts), key.as_deref()));
        }
    }
    for leaf in env.leaves() {
        report
            .certificates
            .push(leaf_row(&ctx, &leaf, env.buildkitd.service.clone())?);
    }
    report.certificates.extend(external_rows(&ctx, env)?);
    for file in env.trust_files() {
        report.trust_files.push(trust_row(&ctx, &file)?);
    }
    report.attention = attention(&report);
    Ok(report)
}

/// The CAs of external registries, as buildkitd loads them (`buildkit/certs/registryN-ca.crt`,
/// copied by `init` from the spec's `ca_file`). bkenv cannot renew them, but when one
/// expires every push to that registry fails all the same, so they are reported.
fn external_rows(ctx: &RowCtx<'_>, env: &Environment) -> Result<Vec<CertRow>> {
    let mut rows = Vec::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let crate::model::Role::External {
            ca_file: Some(source),
        } = &reg.role
        else {
            continue;
        };
        let registry = reg
            .primary_name()
            .map_or_else(|| "the external registry".to_string(), ToString::to_string);
        let source_shown = source.display();
        let file = format!(
            "{}/{}",
            layout::BUILDKIT_CERTS,
            crate::render::buildkitd::external_ca_name(i)
        );
        let read = |path: &Path| -> Result<Option<Vec<CertFacts>>> {
            Ok(output::read_file(path, Links::Follow)?
                .map(|b| pki::read_certs(&b).unwrap_or_default()))
        };
        let copy = read(&ctx.dir.join(&file))?.unwrap_or_default();
        if copy.is_empty() {
            let mut row = empty_row("registry-ca", file);
            row.problems.push(format!(
                "missing or without a certificate: buildkitd has no CA for {registry}; `bkenv init` copies it from \
                 {source_shown}"
            ));
            rows.push(row);
            continue;
        }
        // The spec's file is the user's: one status cannot read (another user's, a FIFO)
        // leaves the comparison out rather than failing the report.
        let stale = read(&ctx.dir.join(source))
            .ok()
            .flatten()
            .is_some_and(|src| src.iter().map(|c| &c.der).ne(copy.iter().map(|c| &c.der)));
        for facts in &copy {
            let mut row = empty_row("registry-ca", file.clone());
            fill(ctx, &mut row, facts);
            row.names = facts
                .name_constraints
                .as_ref()
                .map(|nc| nc.permitted.shown())
                .unwrap_or_default();
            if row.problems.iter().any(|p| p.starts_with("expire")) {
                row.problems.push(format!(
                    "it is {registry}'s CA, not bkenv's: put its successor in {source_shown}, run `bkenv init` and \
                     restart buildkitd"
                ));
            }
            if stale {
                row.problems.push(format!(
                    "differs from {source_shown}: `bkenv init` copies the new one (then restart buildkitd)"
                ));
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

fn rotation_view(r: &Rotation, cas: &Cas, now: OffsetDateTime, shown: &str) -> RotationView {
    let fp = |pem: &str| {
        pki::read_certs(pem.as_bytes())
            .ok()
            .and_then(|c| c.first().map(CertFacts::fingerprint))
            .unwrap_or_default()
    };
    let at = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t).map_or_else(|_| t.to_string(), crate::stamp::iso)
    };
    let (step, when) = match r.phase {
        Phase::Started if cas.incoming.is_none() => {
            ("bkenv rotate-ca --finish", "interrupted: run it again")
        }
        Phase::Started => (
            "bkenv rotate-ca --finish",
            "once every client has the new trust files",
        ),
        Phase::Finished => (
            "bkenv rotate-ca --drop-old",
            "once every client has the new CA",
        ),
    };
    let next = format!("{} ({when})", crate::restart::for_dir(step, shown));
    // The same grace doctor's BK513 gives: then the old CA should leave the trust files.
    let overdue = r
        .finished
        .filter(|_| r.phase == Phase::Finished)
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| (now - t).whole_days())
        .filter(|d| *d >= crate::rotation::state::OLD_CA_GRACE_DAYS);
    RotationView {
        phase: r.phase,
        started: at(r.started),
        finished: r.finished.map(at),
        old_ca: fp(&r.old_ca),
        new_ca: fp(&r.new_ca),
        next,
        problems: overdue
            .map(|d| {
                format!(
                    "finished {d} days ago, and every trust file still holds the old CA: run `bkenv rotate-ca --drop-old` \
                     once every client has the new one"
                )
            })
            .into_iter()
            .collect(),
    }
}

struct RowCtx<'a> {
    dir: &'a Path,
    cas: &'a Cas,
    now: OffsetDateTime,
    within: Duration,
    rotation: Option<&'a Rotation>,
}

fn empty_row(role: &str, file: String) -> CertRow {
    CertRow {
        role: role.to_string(),
        ca: None,
        service: None,
        file,
        present: false,
        subject: None,
        names: Vec::new(),
        issuer: None,
        signed_by: None,
        key_type: None,
        not_after: None,
        days_left: None,
        chains_to_current_ca: None,
        key_matches: None,
        fingerprint: None,
        served: None,
        problems: Vec::new(),
    }
}

/// The facts every row shows, and the expiry problems.
fn fill(ctx: &RowCtx<'_>, row: &mut CertRow, facts: &CertFacts) {
    row.present = true;
    row.subject = facts.subject_cn.clone();
    row.key_type = Some(facts.public_key.name());
    row.not_after = Some(crate::stamp::iso(facts.not_after));
    let left = facts.not_after - ctx.now;
    row.days_left = Some(left.whole_days());
    row.fingerprint = Some(facts.fingerprint());
    row.issuer = Some(cn_of(&facts.issuer));
    if left <= Duration::ZERO {
        row.problems.push(format!(
            "expired {} days ago (x509: certificate has expired or is not yet valid)",
            -left.whole_days()
        ));
    } else if left < ctx.within {
        row.problems.push(format!(
            "expires in {} days (threshold {} days)",
            left.whole_days(),
            ctx.within.whole_days()
        ));
    }
    if facts.not_before > ctx.now {
        row.problems
            .push("not valid yet (its not-before is in the future)".into());
    }
}

fn ca_row(ctx: &RowCtx<'_>, file: String, facts: Option<CertFacts>, key: Option<&str>) -> CertRow {
    let mut row = empty_row("ca", file);
    let Some(facts) = facts else {
        row.problems
            .push("missing: run `bkenv init` to create the CA".into());
        return row;
    };
    fill(ctx, &mut row, &facts);
    let role = ctx.cas.role_of(&facts);
    row.ca = Some(role);
    row.issuer = Some("self-signed".into());
    row.names = match &facts.name_constraints {
        Some(nc) => nc.permitted.shown(),
        None => vec!["(no name constraints: may sign for any name)".into()],
    };
    row.chains_to_current_ca = Some(role == CaRole::Current);
    row.key_matches = key.map(|k| {
        pki::read_private_key(k.as_bytes()).is_ok_and(|k| pki::key_matches_cert(&k, &facts))
    });
    if row.key_matches == Some(false) {
        row.problems
            .push("its key does not match: nothing it signs would verify".into());
    }
    // Expiry of the retiring CA is no problem: it is on its way out.
    if role == CaRole::Retiring {
        row.problems.retain(|p| !p.starts_with("expires in"));
    } else if row.problems.iter().any(|p| p.starts_with("expire")) {
        row.problems.push(
            "a new CA is needed: `bkenv rotate-ca` (with overlap) or `bkenv init --new-ca` (immediate)".into(),
        );
    }
    row
}

fn leaf_row(ctx: &RowCtx<'_>, leaf: &crate::model::Leaf, env_service: String) -> Result<CertRow> {
    let mut row = empty_row(leaf.role.as_str(), leaf.cert.clone());
    row.service = match &leaf.role {
        LeafRole::Buildkitd => Some(env_service),
        LeafRole::Client => None,
        LeafRole::Registry { service } => Some(service.clone()),
    };
    let cert = output::read_file(&ctx.dir.join(&leaf.cert), Links::Follow)?;
    let Some(facts) = cert
        .as_deref()
        .and_then(|c| pki::read_certs(c).ok())
        .and_then(|c| c.into_iter().next())
    else {
        row.present = cert.is_some();
        row.problems.push(match cert {
            Some(_) => "not a readable certificate: `bkenv renew` reissues it".into(),
            None => "missing: `bkenv renew` issues it".into(),
        });
        return Ok(row);
    };
    fill(ctx, &mut row, &facts);
    row.names = facts
        .dns_sans
        .iter()
        .cloned()
        .chain(facts.ip_sans.iter().map(ToString::to_string))
        .collect();
    let signer = ctx.cas.signer_of(&facts);
    row.signed_by = Some(signer);
    row.chains_to_current_ca = Some(signer == CaRole::Current);
    match signer {
        CaRole::Current => {}
        CaRole::Retiring => row.problems.push(
            "signed by the old CA of the rotation: `bkenv rotate-ca --finish` reissues it from the new one".into(),
        ),
        CaRole::Incoming => row.problems.push(
            "signed by the rotation's new CA before `--finish`: clients with only the old CA reject it; run \
             `bkenv rotate-ca --finish`"
                .into(),
        ),
        CaRole::Other => row.problems.push(
            "not signed by the environment's CA (x509: certificate signed by unknown authority): `bkenv renew --force` reissues it"
                .into(),
        ),
    }
    match read_leaf_key(&ctx.dir.join(&leaf.key)) {
        KeyRead::Missing => row
            .problems
            .push(format!("its key {} is missing", leaf.key)),
        // Not a problem of the environment: whoever runs `status` may not be allowed to
        // read a key (a rootless daemon's belongs to uid 1000); the match stays unknown.
        KeyRead::Unreadable => {}
        KeyRead::Key(k) => {
            let matches =
                pki::read_private_key(&k).is_ok_and(|k| pki::key_matches_cert(&k, &facts));
            row.key_matches = Some(matches);
            if !matches {
                row.problems.push(format!(
                    "{} does not match it (tls: private key does not match public key): `bkenv renew --force` issues a new pair",
                    leaf.key
                ));
            }
        }
    }
    Ok(row)
}

enum KeyRead {
    Missing,
    /// Exists but cannot be read (a rootless daemon's key, owned by uid 1000).
    Unreadable,
    Key(Vec<u8>),
}

fn read_leaf_key(path: &Path) -> KeyRead {
    match output::read_file(path, Links::Follow) {
        Ok(Some(k)) => KeyRead::Key(k),
        Ok(None) => KeyRead::Missing,
        Err(_) => KeyRead::Unreadable,
    }
}

fn trust_row(ctx: &RowCtx<'_>, file: &str) -> Result<TrustRow> {
    let mut row = TrustRow {
        file: file.to_string(),
        present: false,
        cas: Vec::new(),
        problems: Vec::new(),
    };
    let Some(bytes) = output::read_file(&ctx.dir.join(file), Links::Follow)? else {
        row.problems.push("missing: `bkenv init` writes it".into());
        return Ok(row);
    };
    row.present = true;
    let certs = pki::read_certs(&bytes).unwrap_or_default();
    row.cas = certs.iter().map(|c| ctx.cas.role_of(c)).collect();
    if !row.cas.contains(&CaRole::Current) {
        row.problems.push(
            "lacks the current CA: clients using it reject every certificate it signs (x509: certificate signed by \
             unknown authority); `bkenv init` rewrites it"
                .into(),
        );
    }
    let wanted = match ctx.rotation {
        Some(_) if ctx.cas.incoming.is_some() => Some((CaRole::Incoming, "new")),
        Some(_) if ctx.cas.retiring.is_some() => Some((CaRole::Retiring, "old")),
        _ => None,
    };
    if let Some((role, which)) = wanted
        && !row.cas.contains(&role)
    {
        row.problems.push(format!(
            "lacks the rotation's {which} CA: run the rotation step again (`bkenv rotate-ca`...) to rewrite it"
        ));
    }
    if ctx.rotation.is_none() && row.cas.iter().any(|c| *c != CaRole::Current) {
        row.problems.push(
            "holds a CA besides the current one while no rotation is in progress: `bkenv init` rewrites it".into(),
        );
    }
    Ok(row)
}

fn attention(report: &Report) -> Vec<String> {
    let mut out: Vec<String> = report
        .rotation
        .iter()
        .flat_map(|r| r.problems.iter().map(|p| format!("CA rotation: {p}")))
        .collect();
    for c in &report.certificates {
        out.extend(c.problems.iter().map(|p| format!("{}: {p}", c.file)));
    }
    for t in &report.trust_files {
        out.extend(t.problems.iter().map(|p| format!("{}: {p}", t.file)));
    }
    if report.host_trust_current == Some(false) {
        out.push(format!(
            "this machine's host trust (`bkenv trust install`) holds other CAs than the environment trusts now: run \
             `{}` (with the same --root if it went into an image), or `{}` if it is no longer wanted",
            crate::restart::for_dir("sudo bkenv trust install", &report.dir),
            crate::restart::for_dir("sudo bkenv trust uninstall", &report.dir)
        ));
    }
    out
}

/// The common name of an RFC 4514 name (`CN=bkenv CA, O=bkenv` → `bkenv CA`), or the
/// whole name when it has none.
fn cn_of(name: &str) -> String {
    name.split(", ")
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or(name)
        .to_string()
}

/// Where `--probe` dials each daemon from the host: the name clients use, and the
/// address to connect to when that name resolves only inside the compose network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlan {
    pub file: String,
    pub name: String,
    pub connect_to: Option<String>,
    pub buildkitd: bool,
}

/// The daemons to ask: buildkitd at `BUILDKIT_HOST` (when it is `tcp://`), each local
/// registry at a name host-side clients use, or its service name through its first
/// published port. `resolve` (`NAME:PORT` → `ADDR:PORT`, like curl) wins.
pub fn dial_plan(env: &Environment, resolve: &[crate::probe::Resolve]) -> Vec<DialPlan> {
    let mapped = |name: &str| {
        resolve
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.addr.clone())
    };
    let mut out = Vec::new();
    if let Some(host) = env.buildkitd.host.strip_prefix("tcp://") {
        out.push(DialPlan {
            file: env.buildkitd_leaf().cert,
            name: host.to_string(),
            connect_to: mapped(host),
            buildkitd: true,
        });
    }
    for (reg, leaf) in env
        .registries
        .iter()
        .filter(|r| r.local().is_some())
        .zip(env.registry_leaves())
    {
        let host_side = reg
            .names
            .iter()
            .find(|n| n.reach != crate::model::Reach::Network);
        let (name, connect_to) = match (host_side, reg.primary_name(), reg.local()) {
            (Some(n), _, _) => (n.name.to_string(), None),
            (None, Some(primary), Some(local)) => {
                let published = local.publish.first().map(|p| {
                    let ip = p.host_ip.as_deref().unwrap_or("127.0.0.1");
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{}", p.host_port)
                });
                (primary.to_string(), published)
            }
            _ => continue,
        };
        let connect_to = mapped(&name).or(connect_to);
        out.push(DialPlan {
            file: leaf.cert,
            name,
            connect_to,
            buildkitd: false,
        });
    }
    out
}

/// Adds what each daemon serves (`served`, one result per entry of `plans`, from
/// [`crate::probe::served_certificate`]) to `report`, with the restarts that bring
/// stale daemons up to date.
pub fn add_served(
    report: &mut Report,
    env: &Environment,
    dir: &Path,
    plans: &[DialPlan],
    served: Vec<std::result::Result<Vec<u8>, String>>,
) {
    report.probed = true;
    let mut stale = Vec::new();
    for (plan, result) in plans.iter().zip(served) {
        let Some(row) = report.certificates.iter_mut().find(|r| r.file == plan.file) else {
            continue;
        };
        let mut s = Served {
            endpoint: plan.name.clone(),
            fingerprint: None,
            matches_disk: None,
            error: None,
        };
        match result {
            Ok(der) => {
                let fp = pki::fingerprint(&der);
                let same = row.fingerprint.as_deref() == Some(fp.as_str());
                s.matches_disk = Some(same);
                s.fingerprint = Some(fp);
                if !same {
                    row.problems.push(format!(
                        "{} serves another certificate than the one on disk (renewed but not restarted?): restart it",
                        plan.name
                    ));
                    stale.push(plan.file.clone());
                }
            }
            Err(e) => {
                s.error = Some(e.clone());
                row.problems.push(format!(
                    "{} could not be asked which certificate it serves: {e}",
                    plan.name
                ));
            }
        }
        row.served = Some(s);
    }
    report.restart = crate::restart::plan(env, dir, &report.dir, stale.iter().map(String::as_str));
    report.attention = attention(report);
}
