//! What a builder config says about the environment's registries, against what they
//! serve (BK812-BK814): the config a container builder was created with (stored) and
//! the `--config` files under `buildx/`. A container builder trusts nothing but its own
//! config (docker/buildx#80), so every registry of the environment it reaches by name
//! needs the right `http` and a `ca` that signed the registry's certificate there.
//! Loopback names are BK809's: inside a builder they are the builder itself.

use super::super::trust::{served, trusted_by};
use super::{BK812, BK813, BK814, Ctx};
use crate::diag::{Finding, Location};
use crate::doctor::registry_tables::{RegTable, reg_tables};
use crate::hostport::{is_loopback, strip_port};
use crate::pki::CertFacts;
use std::ops::Range;

/// One builder config, as the checks see it.
pub(super) struct BuilderConfig<'a> {
    pub(super) doc: &'a toml_edit::Document<String>,
    /// "builder `NAME`" or the config file's path.
    pub(super) whose: String,
    /// The CA certificates a `ca` path names (host paths for a file, the copied files
    /// for a stored config); `None` when they cannot be read.
    pub(super) certs: &'a dyn Fn(&str) -> Option<Vec<CertFacts>>,
    pub(super) at: &'a dyn Fn(Option<Range<usize>>) -> Location,
    /// Whether registries missing from the config are this check's (a config file); for
    /// a stored config BK810 reports them.
    pub(super) missing_tables: bool,
    /// Whether a `ca` that did not sign the registry is this check's; for a stored config
    /// compared with the environment's builder config, BK808 reports it (recreate).
    pub(super) signatures: bool,
}

pub(super) fn check(ctx: &Ctx<'_>, cfg: &BuilderConfig<'_>, out: &mut Vec<Finding>) {
    let tables = reg_tables(cfg.doc);
    for t in &tables {
        if is_loopback(strip_port(&t.host)) {
            continue;
        }
        let Some((r, _)) = ctx.view.registry_for(&t.host) else {
            continue;
        };
        let h = &t.host;
        if r.tls_cert.is_none() {
            if t.http != Some(true) {
                out.push(
                    Finding::new(&BK812, format!("{} reaches `{h}` over HTTPS, but the registry serves plain HTTP", cfg.whose))
                        .at((cfg.at)(t.key_span.clone()))
                        .prevents(format!("failed to do request: Head \"https://{h}/v2/...\": http: server gave HTTP response to HTTPS client"))
                        .help(format!("set `http = true` under `[registry.\"{h}\"]` of the builder's config and recreate the builder, or serve TLS from the registry")),
                );
            }
            continue;
        }
        if t.http == Some(true) && t.insecure != Some(true) {
            out.push(
                Finding::new(&BK812, format!("{} sets `http = true` for `{h}`, but the registry serves TLS", cfg.whose))
                    .at((cfg.at)(t.http_span.clone().or_else(|| t.key_span.clone())))
                    .prevents("Client sent an HTTP request to an HTTPS server.")
                    .help(format!("remove `http = true` and trust the registry's CA with `ca = [...]` under `[registry.\"{h}\"]` (bkenv's buildx/builder.toml does), then recreate the builder")),
            );
            continue;
        }
        let served = served(ctx, r).and_then(|(_, c)| c.first());
        if t.insecure == Some(true) {
            out.push(
                Finding::new(&BK813, format!("{} skips certificate verification for `{h}` (`insecure = true`), a registry whose CA the environment has", cfg.whose))
                    .at((cfg.at)(t.insecure_span.clone().or_else(|| t.key_span.clone())))
                    .note("`insecure = true` is the usual workaround for docker/buildx#80: pushes then go to whoever answers as the registry, and the credentials with them")
                    .help(format!("trust the CA instead: `ca = [\"HOST PATH of the CA\"]` under `[registry.\"{h}\"]`, without `insecure`; bkenv's buildx/builder.toml does, and buildx copies the file into the builder")),
            );
            continue;
        }
        if let Some(leaf) = served.filter(|_| cfg.signatures) {
            unsigned(cfg, t, leaf, out);
        }
    }
    if !cfg.missing_tables {
        return;
    }
    let Some(active) = ctx.active_configs().into_iter().next() else {
        return;
    };
    for t in reg_tables(active.doc) {
        if t.ca.is_empty()
            || is_loopback(strip_port(&t.host))
            || tables.iter().any(|c| c.host == t.host)
        {
            continue;
        }
        out.push(
            Finding::new(&BK814, format!("{} has no `[registry.\"{}\"]` table: a builder created with it does not trust the registry's CA, which {} trusts", cfg.whose, t.host, active.file.src.path.display()))
                .at((cfg.at)(None))
                .prevents(format!("failed to do request: Head \"https://{}/v2/...\": tls: failed to verify certificate: x509: certificate signed by unknown authority", t.host))
                .help(format!("add the table with `ca = [\"HOST PATH of the CA\"]` (bkenv init writes buildx/builder.toml from {}), then recreate the builder", active.file.src.path.display())),
        );
    }
}

/// BK814 for a table whose trust does not cover the certificate the registry serves.
fn unsigned(cfg: &BuilderConfig<'_>, t: &RegTable, leaf: &CertFacts, out: &mut Vec<Finding>) {
    let h = &t.host;
    if !t.tlsconfigdir.is_empty() {
        return; // read in the builder, not here
    }
    if t.ca.is_empty() {
        out.push(
            Finding::new(&BK814, format!("{} has a table for `{h}` without `ca`: the builder does not trust the registry's CA ({})", cfg.whose, leaf.issuer))
                .at((cfg.at)(t.key_span.clone()))
                .prevents(format!("failed to do request: Head \"https://{h}/v2/...\": tls: failed to verify certificate: x509: certificate signed by unknown authority"))
                .help(format!("add `ca = [\"HOST PATH of the CA\"]` under `[registry.\"{h}\"]` and recreate the builder; a container builder reads neither the host's trust store nor /etc/docker/certs.d")),
        );
        return;
    }
    let mut cas = Vec::new();
    for (p, _) in &t.ca {
        match (cfg.certs)(p) {
            Some(c) => cas.extend(c),
            None => return, // unreadable: BK802-like problems are reported elsewhere
        }
    }
    let refs: Vec<&CertFacts> = cas.iter().collect();
    if !trusted_by(leaf, &refs) {
        let (p, span) = &t.ca[0];
        out.push(
            Finding::new(&BK814, format!("{}: the `ca` of `{h}` ({p}) did not sign the certificate the registry serves (issued by {})", cfg.whose, leaf.issuer))
                .at((cfg.at)(span.clone()))
                .prevents(format!("failed to do request: Head \"https://{h}/v2/...\": tls: failed to verify certificate: x509: certificate signed by unknown authority"))
                .help("point `ca` at the environment's CA (buildkit/certs/ca.crt, by its host path) and recreate the builder"),
        );
    }
}
