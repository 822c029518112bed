//! Builder configs: the config a container builder froze at creation against the
//! environment's (BK808), registries it does not trust (BK810), loopback names (BK809).

use super::{BK808, BK809, BK810, BUILDX_CONFIG_DIR, Ctx, opt_loc};
use crate::diag::Finding;
use crate::doctor::parsed::{BuildxInstanceFile, BuildxNode};
use crate::doctor::registry_tables::{RegTable, reg_tables};
use crate::pki::CertFacts;
use base64::Engine;
use std::collections::{BTreeMap, BTreeSet};

/// What a builder config says about registries, comparable across the stored (container
/// paths, copied files) and current (host paths) forms: per registry, `http`,
/// `insecure`, mirrors, and the CA certificates themselves rather than their paths.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RegProfile {
    http: Option<bool>,
    insecure: Option<bool>,
    mirrors: Vec<String>,
    /// DER of the CA certificates; `None` when a file could not be read (not compared).
    cas: Option<BTreeSet<Vec<u8>>>,
}

pub(super) fn ders(facts: &[CertFacts]) -> BTreeSet<Vec<u8>> {
    facts.iter().map(|c| c.der.clone()).collect()
}

pub(super) fn profile(
    doc: &toml_edit::Document<String>,
    ca: impl Fn(&str) -> Option<BTreeSet<Vec<u8>>>,
) -> BTreeMap<String, RegProfile> {
    reg_tables(doc)
        .into_iter()
        .map(|t| {
            let cas =
                t.ca.iter()
                    .map(|(p, _)| ca(p))
                    .try_fold(BTreeSet::new(), |mut acc, c| {
                        acc.extend(c?);
                        Some(acc)
                    });
            let mut mirrors: Vec<String> = t.mirrors.iter().map(|(m, _)| m.clone()).collect();
            mirrors.sort();
            (
                t.host.clone(),
                RegProfile {
                    http: t.http,
                    insecure: t.insecure,
                    mirrors,
                    cas,
                },
            )
        })
        .collect()
}

/// A container builder's frozen config: its `buildkitd.toml` and the files beside it.
pub(super) struct Stored {
    doc: toml_edit::Document<String>,
    files: BTreeMap<String, Vec<u8>>,
}

impl Stored {
    pub(super) fn doc(&self) -> &toml_edit::Document<String> {
        &self.doc
    }

    /// The certificates of a path inside the builder (`/etc/buildkit/<key of Files>`).
    pub(super) fn certs(&self, path: &str) -> Option<Vec<CertFacts>> {
        let rel = path.strip_prefix(BUILDX_CONFIG_DIR)?;
        let bytes = self.files.get(rel.trim_start_matches('/'))?;
        crate::pki::read_certs(bytes).ok()
    }
}

pub(super) fn stored_config(node: &BuildxNode) -> Option<Stored> {
    let files: BTreeMap<String, Vec<u8>> = node
        .files
        .as_ref()?
        .iter()
        .filter_map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
            Some((k.clone(), bytes))
        })
        .collect();
    let text = String::from_utf8(files.get("buildkitd.toml")?.clone()).ok()?;
    let doc = toml_edit::Document::parse(text).ok()?;
    Some(Stored { doc, files })
}

pub(super) fn frozen(
    inst: &BuildxInstanceFile,
    builder: &str,
    stored: &Stored,
    current: Option<&(
        &crate::doctor::parsed::BuilderConfigFile,
        BTreeMap<String, RegProfile>,
    )>,
    out: &mut Vec<Finding>,
) {
    let src = &inst.src;
    for t in reg_tables(&stored.doc) {
        loopback(
            &t,
            |_| opt_loc(src, "Files"),
            &format!("builder `{builder}`"),
            out,
        );
    }
    let Some((cfg, now)) = current else { return };
    // Paths inside the builder: /etc/buildkit/<key of Files>.
    let then = profile(&stored.doc, |p| stored.certs(p).map(|c| ders(&c)));
    let mut diffs = Vec::new();
    for (host, p) in now {
        match then.get(host) {
            None => diffs.push(format!("`{host}` is not in it")),
            Some(q) => {
                let cas_differ = matches!((&p.cas, &q.cas), (Some(a), Some(b)) if a != b);
                if cas_differ {
                    diffs.push(format!("`{host}` trusts another CA"));
                }
                if (p.http, p.insecure, &p.mirrors) != (q.http, q.insecure, &q.mirrors) {
                    diffs.push(format!("`{host}` has other http/insecure/mirrors settings"));
                }
            }
        }
    }
    for host in then.keys().filter(|h| !now.contains_key(*h)) {
        diffs.push(format!("`{host}` is still in it"));
    }
    if diffs.is_empty() {
        return;
    }
    out.push(
        Finding::new(&BK808, format!("builder `{builder}` runs with the config it was created with, which differs from {}: {}", cfg.toml.src.path.display(), diffs.join("; ")))
            .at(opt_loc(src, "Files"))
            .note("buildx copies the config and its registry files into the builder once, at `docker buildx create`; later edits never reach it (docker/buildx#1015)")
            .help(format!("recreate the builder: `docker buildx rm {builder}`, then `docker buildx create --config {}` again (bkenv: buildx/create-container.sh)", cfg.toml.src.path.display())),
    );
}

/// BK810: the registries the environment's buildkitd trusts through a `ca` of its own,
/// which a container builder does not: it ignores the host's trust store and
/// `/etc/docker/certs.d` (docker/buildx#80) and trusts only its own config.
pub(super) fn untrusted(
    ctx: &Ctx<'_>,
    inst: &BuildxInstanceFile,
    builder: &str,
    stored: Option<&Stored>,
    out: &mut Vec<Finding>,
) {
    let Some(cfg) = ctx.active_configs().into_iter().next() else {
        return;
    };
    let trusted: BTreeSet<String> = stored.map_or(BTreeSet::new(), |s| {
        reg_tables(&s.doc)
            .into_iter()
            // `http = true` is BK812's story (the registry serves TLS), not a missing CA.
            .filter(|t| t.trusts() || t.http == Some(true))
            .map(|t| t.host)
            .collect()
    });
    for t in reg_tables(cfg.doc) {
        if t.ca.is_empty()
            || trusted.contains(&t.host)
            || crate::hostport::is_loopback(crate::hostport::strip_port(&t.host))
        {
            continue;
        }
        let how = if stored.is_some() {
            "its config has no `ca` for it"
        } else {
            "it was created without `--config`"
        };
        out.push(
            Finding::new(&BK810, format!("builder `{builder}` ({}) does not trust the CA of `{}`: {how}", if stored.is_some() { "container" } else { "docker-container, no config" }, t.host))
                .at(opt_loc(&inst.src, "Files"))
                .note(format!("{} trusts it with `ca`; a container builder reads neither that file, the host's trust store nor /etc/docker/certs.d (docker/buildx#80)", cfg.file.src.path.display()))
                .prevents(format!("failed to do request: Head \"https://{}/v2/...\": tls: failed to verify certificate: x509: certificate signed by unknown authority", t.host))
                .help(format!("recreate the builder with the environment's builder config: `docker buildx rm {builder}`, then buildx/create-container.sh (`--config buildx/builder.toml`)")),
        );
    }
}

/// BK809: a registry (or a mirror) a builder config names by a loopback name. Inside a
/// builder container, `localhost` is the builder itself (docker/buildx#94).
pub(super) fn loopback(
    t: &RegTable,
    at: impl Fn(Option<std::ops::Range<usize>>) -> crate::diag::Location,
    whose: &str,
    out: &mut Vec<Finding>,
) {
    let names = std::iter::once((t.host.as_str(), t.key_span.clone()))
        .chain(t.mirrors.iter().map(|(m, s)| (m.as_str(), s.clone())));
    for (name, span) in names {
        let host = crate::hostport::strip_port(name);
        if !crate::hostport::is_loopback(host) {
            continue;
        }
        out.push(
            Finding::new(&BK809, format!("{whose} names the registry `{name}`: inside a builder container, {host} is the builder itself"))
                .at(at(span))
                .prevents(format!("dial tcp {}: connect: connection refused", if name.contains(':') { name.replace("localhost", "127.0.0.1") } else { format!("{name}:443") }))
                .help("name the registry as the builder reaches it: its compose service name with the builder on the compose network (`--driver-opt network=PROJECT_default`), or a host name; bkenv's buildx/builder.toml does"),
        );
    }
}
