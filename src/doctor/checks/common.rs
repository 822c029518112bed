//! Facts several families share: registry tables, the registries the environment uses,
//! and what each registry serves.

use super::{ActiveConfig, Ctx};
use crate::diag::Location;
use crate::doctor::model::PemFile;
use crate::doctor::refs::{registry_host, strip_port};
use crate::doctor::view::{RegistryView, ServiceView};
use crate::pki::CertFacts;
use std::ops::Range;
use std::path::PathBuf;
use toml_edit::Item;

pub type Spanned = (String, Option<Range<usize>>);

/// One `[registry."host"]` table.
#[derive(Debug, Clone)]
pub struct RegTable {
    pub host: String,
    pub key_span: Option<Range<usize>>,
    pub http: Option<bool>,
    pub insecure: Option<bool>,
    pub http_span: Option<Range<usize>>,
    pub insecure_span: Option<Range<usize>>,
    pub ca: Vec<Spanned>,
    pub tlsconfigdir: Vec<Spanned>,
    pub mirrors: Vec<Spanned>,
    /// `[[registry."h".keypair]]` entries: `(cert, key)`, each when set.
    pub keypairs: Vec<(Option<Spanned>, Option<Spanned>)>,
}

impl RegTable {
    pub fn trusts(&self) -> bool {
        !self.ca.is_empty() || !self.tlsconfigdir.is_empty() || self.insecure == Some(true)
    }
}

/// The strings of an array. A lone string is read as a one-element array: its type
/// error is BK002's finding, and reading it here keeps the checks that depend on the
/// value (trust, files, mounts) from cascading into findings of their own.
fn strings(item: Option<&Item>) -> Vec<Spanned> {
    if let Some(v) = item.and_then(Item::as_value)
        && let Some(s) = v.as_str()
    {
        return vec![(s.to_string(), v.span())];
    }
    item.and_then(Item::as_array).map_or(Vec::new(), |a| {
        a.iter()
            .filter_map(|v| v.as_str().map(|s| (s.to_string(), v.span())))
            .collect()
    })
}

pub fn reg_tables(doc: &toml_edit::Document<String>) -> Vec<RegTable> {
    let Some(reg) = doc.get("registry").and_then(Item::as_table) else {
        return Vec::new();
    };
    reg.iter()
        .filter_map(|(host, item)| {
            let t = item.as_table()?;
            let kps: Vec<&toml_edit::Table> = t
                .get("keypair")
                .and_then(Item::as_array_of_tables)
                .map_or(Vec::new(), |a| a.iter().collect());
            let field = |t: &toml_edit::Table, k: &str| -> Option<Spanned> {
                let v = t.get(k).and_then(Item::as_value)?;
                Some((v.as_str()?.to_string(), v.span()))
            };
            Some(RegTable {
                host: host.to_string(),
                key_span: reg.key(host).and_then(|k| k.span()),
                http: t.get("http").and_then(Item::as_bool),
                insecure: t.get("insecure").and_then(Item::as_bool),
                http_span: t.get("http").and_then(Item::span),
                insecure_span: t.get("insecure").and_then(Item::span),
                ca: strings(t.get("ca")),
                tlsconfigdir: strings(t.get("tlsconfigdir")),
                mirrors: strings(t.get("mirrors")),
                keypairs: kps
                    .iter()
                    .map(|t| (field(t, "cert"), field(t, "key")))
                    .collect(),
            })
        })
        .collect()
}

/// Where the environment uses a registry host.
#[derive(Debug, Clone)]
pub struct Usage {
    pub host: String,
    pub location: Location,
    /// `env`, `from`, `output`, `export-cache`, `import-cache`.
    pub role: &'static str,
}

/// Registries used by the environment: `DOCKER_REGISTRY` and image references.
pub fn usages(ctx: &Ctx<'_>) -> Vec<Usage> {
    let mut out = Vec::new();
    if let Some((env, v, line)) = ctx.snap.env_var("DOCKER_REGISTRY")
        && !v.is_empty()
    {
        out.push(Usage {
            host: v.split('/').next().unwrap_or(v).to_string(),
            location: env.src.loc_line(line),
            role: "env",
        });
    }
    for f in &ctx.snap.refs {
        for r in f.refs.iter().filter(|r| !r.reference.is_empty()) {
            out.push(Usage {
                host: registry_host(&r.reference),
                location: f.src.loc_line(r.line),
                role: r.role,
            });
        }
    }
    out
}

/// The certificates a registry serves, with the host file they come from.
pub fn served<'a>(ctx: &'a Ctx<'_>, r: &RegistryView) -> Option<(PathBuf, &'a [CertFacts])> {
    let svc = ctx.view.service(r)?;
    let (host, _) = svc.resolve(r.tls_cert.as_deref()?)?;
    let pem = ctx.snap.pem_at(&host)?;
    Some((host, pem.facts.as_slice()))
}

/// The host file a daemon-side path resolves to, through the service's mounts.
pub fn host_file<'a>(
    ctx: &'a Ctx<'_>,
    svc: Option<&ServiceView>,
    path: &str,
) -> Option<&'a PemFile> {
    let (host, _) = svc?.resolve(path)?;
    ctx.snap.pem_at(&host)
}

/// Whether `name` is covered by a certificate's SANs (one-label wildcards allowed).
pub fn san_covers(cert: &CertFacts, name: &str) -> bool {
    let name = strip_port(name)
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return cert.ip_sans.contains(&ip);
    }
    cert.dns_sans.iter().any(|san| {
        let san = san.to_ascii_lowercase();
        match san.strip_prefix("*.") {
            Some(rest) => name.split_once('.').is_some_and(|(_, r)| r == rest),
            None => san == name,
        }
    })
}

/// The names a certificate is valid for, for messages.
pub fn san_list(cert: &CertFacts) -> String {
    let mut v: Vec<String> = cert.dns_sans.clone();
    v.extend(cert.ip_sans.iter().map(ToString::to_string));
    if v.is_empty() {
        "no SANs".to_string()
    } else {
        v.join(", ")
    }
}

/// Whether any certificate in `cas` signs `leaf` (or is `leaf`, for self-signed).
pub fn trusted_by(leaf: &CertFacts, cas: &[&CertFacts]) -> bool {
    cas.iter()
        .any(|ca| ca.der == leaf.der || crate::pki::signed_by(leaf, ca))
}

/// The registry table matching `host` exactly, in a config.
pub fn table_for<'t>(tables: &'t [RegTable], host: &str) -> Option<&'t RegTable> {
    tables.iter().find(|t| t.host == host)
}

/// The CA certificates a table trusts, from its `ca` files inside the service.
pub fn table_cas<'a>(ctx: &'a Ctx<'_>, cfg: &ActiveConfig<'_>, t: &RegTable) -> Vec<&'a CertFacts> {
    t.ca.iter()
        .filter_map(|(p, _)| host_file(ctx, cfg.service, p))
        .flat_map(|pem| pem.facts.iter())
        .collect()
}
