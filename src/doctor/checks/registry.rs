//! BK2xx: how buildkitd reaches each registry: HTTP or HTTPS, and which CA it trusts.

use super::registry_uses::usages;
use super::trust::{san_covers, san_list, served, table_cas, trusted_by};
use super::{ActiveConfig, Ctx};
use crate::diag::{Edit, Finding, Fix, Location};
use crate::doctor::parsed::PemFile;
use crate::doctor::registry_tables::{RegTable, never_matches, reg_tables, table_for};
use crate::doctor::view::RegistryView;
use crate::hostport::is_loopback;
use std::collections::BTreeSet;
use std::path::Path;

crate::diag::checks! {
    BK201 {
        slug: "registry-ca-not-trusted",
        severity: Error,
        fixable: true,
        live_twin: crate::probe::checks::BK705,
        title: "A registry serving a private-CA certificate has no table that trusts it",
        prevents: "tls: failed to verify certificate: x509: certificate signed by unknown authority",
    }
    BK202 {
        slug: "http-for-tls-registry",
        severity: Error,
        fixable: false,
        live_twin: crate::probe::checks::BK704,
        title: "`http = true` for a registry that serves TLS",
        prevents: "Client sent an HTTP request to an HTTPS server.",
    }
    BK203 {
        slug: "https-for-http-registry",
        severity: Error,
        fixable: false,
        live_twin: crate::probe::checks::BK703,
        title: "A plain-HTTP registry without `http = true`",
        prevents: "http: server gave HTTP response to HTTPS client",
    }
    BK204 {
        slug: "loopback-tls-without-http-false",
        severity: Error,
        fixable: true,
        live_twin: crate::probe::checks::BK704,
        title: "A loopback registry serves TLS but BuildKit defaults loopback hosts to HTTP",
        prevents: "Client sent an HTTP request to an HTTPS server.",
    }
    BK205 {
        slug: "http-with-insecure",
        severity: Note,
        fixable: false,
        title: "`http = true` together with `insecure = true`: works, but says two things",
        prevents: "",
    }
    BK206 {
        slug: "insecure-with-ca",
        severity: Warning,
        fixable: false,
        title: "`insecure = true` makes the configured `ca` unused",
        prevents: "",
    }
    BK207 {
        slug: "insecure-registry",
        severity: Warning,
        fixable: false,
        title: "`insecure = true` turns off certificate verification",
        prevents: "",
    }
    BK208 {
        slug: "ca-not-a-certificate",
        severity: Error,
        fixable: false,
        title: "A `ca` file holds no PEM certificate; BuildKit accepts it silently",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK209 {
        slug: "ca-does-not-sign-served-cert",
        severity: Error,
        fixable: false,
        live_twin: crate::probe::checks::BK705,
        title: "The configured `ca` does not sign the certificate the registry serves",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK210 {
        slug: "served-cert-name-mismatch",
        severity: Error,
        fixable: false,
        live_twin: crate::probe::checks::BK706,
        title: "The registry's certificate does not cover the name buildkitd dials",
        prevents: "x509: certificate is valid for X, not Y",
    }
    BK211 {
        slug: "mirror-without-table",
        severity: Warning,
        fixable: false,
        title: "A mirror has no `[registry.\"mirror\"]` table of its own",
        prevents: "",
    }
    BK212 {
        slug: "tlsconfigdir-is-certs-d-root",
        severity: Error,
        fixable: false,
        title: "`tlsconfigdir` points at the certs.d root instead of a host directory",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK213 {
        slug: "loopback-registry-in-bridge-container",
        severity: Error,
        fixable: false,
        title: "A localhost registry is used by a buildkitd in a bridge-network container",
        prevents: "dial tcp 127.0.0.1:PORT: connect: connection refused",
    }
    BK214 {
        slug: "tlsconfigdir-without-ca",
        severity: Error,
        fixable: false,
        title: "A `tlsconfigdir` holds no `*.crt` file, so BuildKit loads no CA from it",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK215 {
        slug: "mirror-url-before-v0-12",
        severity: Warning,
        fixable: false,
        title: "A mirror with a scheme or path on buildkitd older than v0.12, which uses it verbatim",
        prevents: "",
    }
    BK216 {
        slug: "certs-d-lacks-signing-ca",
        severity: Error,
        fixable: false,
        title: "A host-side `certs.d/<host:port>` lacks the CA that signs the registry's certificate",
        prevents: "x509: certificate signed by unknown authority",
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for cfg in ctx.active_configs() {
        let tables = reg_tables(cfg.doc);
        let bridge = cfg.service.is_some_and(|s| s.bridge_network());
        // A table no reference can select (BK007) changes nothing: its settings are not
        // worth a finding of their own.
        for t in tables.iter().filter(|t| never_matches(&t.host).is_none()) {
            table_checks(ctx, &cfg, &tables, t, bridge, out);
        }
        usage_checks(ctx, &cfg, &tables, bridge, out);
    }
    certs_d_checks(ctx, out);
}

/// Host-side clients (docker, skopeo and podman with `--cert-dir`, containerd without a
/// `hosts.toml`) trust every `*.crt` in `certs.d/<host:port>/` for that registry, and
/// nothing else. When none of them signs what the registry serves, every pull and push
/// through that name fails: after a CA rotation, a bundle kept as it was before
/// `rotate-ca --finish` is exactly that.
fn certs_d_checks(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut dirs: std::collections::BTreeMap<&Path, Vec<&PemFile>> = Default::default();
    for p in &ctx.snap.pem {
        let path = p.src.path.as_path();
        let host_dir = path.parent().filter(|d| {
            d.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "certs.d")
        });
        if let Some(d) = host_dir.filter(|_| path.extension().is_some_and(|e| e == "crt")) {
            dirs.entry(d).or_default().push(p);
        }
    }
    for (dir, files) in dirs {
        let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((r, _)) = ctx.view.registry_for(name) else {
            continue;
        };
        let Some((cert_path, certs)) = served(ctx, r) else {
            continue;
        };
        let Some(leaf) = certs.first() else { continue };
        let cas: Vec<_> = files.iter().flat_map(|f| f.facts.iter()).collect();
        // A file without certificates is BK512's; one that signs the leaf is fine.
        if cas.is_empty() || trusted_by(leaf, &cas) {
            continue;
        }
        let Some(first) = files.first() else { continue };
        out.push(
            Finding::new(
                &BK216,
                format!(
                    "no certificate in {} signs the certificate `{name}` serves ({})",
                    dir.display(),
                    cert_path.display()
                ),
            )
            .at(first.src.file_loc())
            .note(format!("served certificate issuer: {}", leaf.issuer))
            .note(format!(
                "{} holds: {}",
                dir.display(),
                cas.iter()
                    .map(|c| c.subject.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
            .help(format!(
                "put the CA that issued {} in {}/ca.crt (for a bkenv environment, `bkenv init` rewrites it; \
                 during a CA rotation it holds the old and the new CA)",
                cert_path.display(),
                dir.display()
            )),
        );
    }
}

fn table_checks(
    ctx: &Ctx<'_>,
    cfg: &ActiveConfig<'_>,
    tables: &[RegTable],
    t: &RegTable,
    bridge: bool,
    out: &mut Vec<Finding>,
) {
    let src = &cfg.file.src;
    let at = src.loc_opt(t.key_span.clone());
    let h = &t.host;
    if is_loopback(h) && bridge {
        out.extend(bridge_finding(ctx, h, at.clone(), cfg));
    }
    let insecure = t.insecure == Some(true);
    let version = ctx.in_play(cfg.service);
    if t.http == Some(true) && insecure {
        let how = if version.v >= FALLBACK {
            format!(
                "BuildKit {} tries HTTPS without verification first, then falls back to plain HTTP",
                version.version()
            )
        } else {
            format!(
                "BuildKit {} tries plain HTTP first and pushes over plain HTTP only",
                version.version()
            )
        };
        out.push(Finding::new(&BK205, format!("registry `{h}` sets both `http = true` and `insecure = true`; {how}"))
            .at(src.loc_opt(t.insecure_span.clone()))
            .note(version.source_note())
            .help("say one thing: keep only `http = true` for a plain-HTTP registry, or trust an HTTPS registry's CA with `ca = [...]`"));
    } else if insecure && !t.ca.is_empty() {
        out.push(insecure_with_ca(ctx, cfg, t));
    } else if insecure {
        out.push(Finding::new(&BK207, format!("registry `{h}` skips certificate verification (`insecure = true`)"))
            .at(src.loc_opt(t.insecure_span.clone()))
            .help(format!("trust the registry's CA instead: `ca = [\"/etc/buildkit/certs/ca.crt\"]` under `[registry.\"{h}\"]`")));
    }
    for (p, span) in &t.ca {
        if let Some(pem) = super::trust::host_file(ctx, cfg.service, p)
            && pem.certs == 0
        {
            out.push(Finding::new(&BK208, format!("`ca` file `{p}` ({}) holds no PEM certificate{}", pem.src.path.display(), if pem.is_key() { "; it is a private key" } else { "" }))
                .at(src.loc_opt(span.clone()))
                .help("point `ca` at the CA certificate (`-----BEGIN CERTIFICATE-----`), never at a key"));
        }
    }
    let version = Some(version.v);
    for (m, span) in &t.mirrors {
        let host = m
            .split("://")
            .last()
            .unwrap_or(m)
            .split('/')
            .next()
            .unwrap_or(m);
        if let Some(v) = version.filter(|v| *v < (0, 12, 0))
            && host != m
        {
            out.push(Finding::new(&BK215, format!("mirror `{m}` has a scheme or path, but buildkitd v{}.{}.{} uses mirrors verbatim as host names", v.0, v.1, v.2))
                .at(src.loc_opt(span.clone()))
                .prevents(format!("no error: requests go to `https://{m}/v2/...`, fail, and BuildKit silently pulls from `{h}` instead"))
                .help(format!("write the mirror as `\"{host}\"`, or pin moby/buildkit v0.12.0 or later")));
        }
        // What the parent sets that its mirror would miss: `http = false` is the default
        // for a non-loopback host, and a mirror has its own loopback default.
        let special = t.http == Some(true)
            || (t.http == Some(false) && is_loopback(h))
            || t.trusts()
            || !t.keypairs.is_empty()
            || ctx.view.registry_for(host).is_some();
        let own = table_for(tables, host);
        let scheme_http = m.starts_with("http://") && !is_loopback(host);
        if own.is_none() && special && !scheme_http {
            out.push(Finding::new(&BK211, format!("mirror `{m}` of `{h}` has no `[registry.\"{host}\"]` table; it does not inherit `{h}`'s TLS/HTTP settings"))
                .at(src.loc_opt(span.clone()))
                .help(format!("add `[registry.\"{host}\"]` with the `http`/`ca` settings the mirror needs")));
        } else if scheme_http
            && own.and_then(|o| o.http) != Some(true)
            && version.is_none_or(|v| v >= (0, 12, 0))
        {
            out.push(Finding::new(&BK211, format!("mirror `{m}` of `{h}` is reached over HTTPS: BuildKit drops the `http://` of a mirror and takes HTTP or HTTPS from `[registry.\"{host}\"]`"))
                .at(src.loc_opt(span.clone()))
                .prevents(format!("no error: the mirror fails and BuildKit pulls from `{h}` instead"))
                .help(format!("add `[registry.\"{host}\"]` with `http = true`")));
        }
    }
    for (d, span) in &t.tlsconfigdir {
        let trimmed = d.trim_end_matches('/');
        let root = trimmed.ends_with("certs.d")
            || cfg
                .service
                .and_then(|s| s.resolve(trimmed))
                .is_some_and(|(host, _)| {
                    ctx.snap.paths.children(&host).any(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().contains(':'))
                    })
                });
        let listing = cfg
            .service
            .and_then(|s| s.resolve(trimmed))
            .and_then(|(host, _)| {
                let mut names: Vec<String> = ctx
                    .snap
                    .paths
                    .list_dir(&host)?
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect();
                names.sort();
                Some((host, names))
            });
        if let Some((host, names)) =
            // Only a problem when nothing else gives trust: a directory may hold just a
            // client pair (`*.cert`/`*.key`) next to a `ca` entry.
            listing.filter(|(_, n)| {
                !root
                    && t.ca.is_empty()
                    && t.insecure != Some(true)
                    && !n.iter().any(|n| n.ends_with(".crt"))
            })
        {
            let held = if names.is_empty() {
                "is empty".to_string()
            } else {
                let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("holds no `*.crt` file (only {})", list.join(", "))
            };
            out.push(
                Finding::new(
                    &BK214,
                    format!("`tlsconfigdir` `{d}` ({}) {held}", host.display()),
                )
                .at(src.loc_opt(span.clone()))
                .prevents("x509: certificate signed by unknown authority")
                .help(format!(
                    "put the registry's CA in it as `{trimmed}/ca.crt`, or list the CA file in `ca`"
                )),
            );
        }
        if root {
            out.push(Finding::new(&BK212, format!("`tlsconfigdir = [\"{d}\"]` is the certs.d root; BuildKit only reads files directly inside it"))
                .at(src.loc_opt(span.clone()))
                .help(format!("point it at the host directory: `{trimmed}/{h}`")));
        }
    }
}

/// The first release whose `http + insecure` tries HTTPS (skipping verification) before
/// falling back to plain HTTP (BuildKit PR 4300, backported to v0.12.3). Before it the
/// plain-HTTP host came first and pushes used it alone.
const FALLBACK: (u32, u32, u32) = (0, 12, 3);

/// BK213 for a loopback name buildkitd dials inside a bridge network, unless
/// `extra_hosts` sends that name to the host, where the registry's port is published on
/// more than the host's loopback (a port bound to 127.0.0.1 is not reachable through the
/// gateway).
fn bridge_finding(ctx: &Ctx<'_>, h: &str, at: Location, cfg: &ActiveConfig<'_>) -> Option<Finding> {
    let svc = cfg.service.map_or("buildkitd", |s| s.name.as_str());
    let (name, port) = crate::hostport::host_and_port(h);
    let published = ctx.view.registry_for(h).and_then(|(r, _)| {
        let s = ctx.view.service(r)?;
        s.ports
            .iter()
            .find(|p| p.target == r.port && p.published == port)
            .cloned()
    });
    let mut f = Finding::new(
        &BK213,
        format!(
            "`{h}` is loopback, but service `{svc}` runs in a bridge network where localhost is the container itself"
        ),
    );
    if let Some(addr) = cfg.service.and_then(|s| s.extra_host(name)) {
        let local_only = published
            .as_ref()
            .and_then(|p| p.host_ip.as_deref())
            .is_some_and(crate::hostport::is_loopback);
        if !local_only {
            return None;
        }
        f = Finding::new(
            &BK213,
            format!(
                "`extra_hosts` sends `{name}` in service `{svc}` to `{addr}`, but the registry publishes `{h}` on the host's loopback only"
            ),
        );
    }
    Some(f
        .at(at)
        .prevents(format!("dial tcp 127.0.0.1:{}: connect: connection refused", port.map_or(443, |p| p)))
        .help("use the registry's service name inside the network (e.g. `registry:5000`), or run buildkitd with `network_mode: host`"))
}

/// BK206: `insecure = true` beside `ca`. Whether dropping `insecure` is safe depends on
/// the certificate the registry serves: it must be signed by a `ca` and cover the name.
fn insecure_with_ca(ctx: &Ctx<'_>, cfg: &ActiveConfig<'_>, t: &RegTable) -> Finding {
    let h = &t.host;
    let f = Finding::new(
        &BK206,
        format!("registry `{h}` sets `insecure = true`, so its `ca` is never used"),
    )
    .at(cfg.file.src.loc_opt(t.insecure_span.clone()));
    let served = ctx.view.registry_for(h).and_then(|(r, _)| served(ctx, r));
    let Some((path, leaf)) = served.and_then(|(p, c)| c.first().map(|l| (p, l))) else {
        return f.help(format!(
            "remove `insecure = true` once the registry's certificate is signed by a `ca` file and valid for `{}` (`bkenv doctor --probe` checks both); until then removing it fails with `x509: ...`",
            crate::hostport::strip_port(h)
        ));
    };
    let cas = table_cas(ctx, cfg, t);
    let name = crate::hostport::strip_port(h);
    if !cas.is_empty() && !trusted_by(leaf, &cas) {
        return f
            .note(format!("the certificate it serves ({}) is issued by {}, which no `ca` file signs", path.display(), leaf.issuer))
            .help("point `ca` at the CA that issued the registry certificate before removing `insecure = true`; removing it now fails with `x509: certificate signed by unknown authority`");
    }
    if !san_covers(leaf, h) {
        return f
            .note(format!("the certificate it serves ({}) is valid for {}, not {name}", path.display(), san_list(leaf)))
            .help(format!("reissue the registry certificate with `{name}` in its SANs before removing `insecure = true`; removing it now fails with `x509: certificate is valid for {}, not {name}`", san_list(leaf)));
    }
    f.help(format!(
        "remove `insecure = true`: the `ca` signs the certificate `{h}` serves ({}), which is valid for {name}",
        path.display()
    ))
}

fn usage_checks(
    ctx: &Ctx<'_>,
    cfg: &ActiveConfig<'_>,
    tables: &[RegTable],
    bridge: bool,
    out: &mut Vec<Finding>,
) {
    let src = &cfg.file.src;
    let mut seen = BTreeSet::new();
    let mut sites: Vec<(String, Location, bool)> = tables
        .iter()
        .map(|t| (t.host.clone(), src.loc_opt(t.key_span.clone()), true))
        .collect();
    sites.extend(usages(ctx).into_iter().map(|u| (u.host, u.location, false)));
    for (h, at, is_table) in sites {
        if is_loopback(&h) && bridge && !is_table {
            // Every usage site is reported; tables by `table_checks`, then checked below.
            if cfg.service.is_some() {
                out.extend(bridge_finding(ctx, &h, at, cfg));
            }
            continue;
        }
        if !seen.insert(h.clone()) {
            continue;
        }
        let Some((r, _)) = ctx.view.registry_for(&h) else {
            continue;
        };
        let t = table_for(tables, &h);
        if r.tls_cert.is_some() {
            tls_registry(ctx, cfg, r, &h, t, at, out);
        } else if t.and_then(|t| t.http) != Some(true)
            && !(is_loopback(&h) && t.and_then(|t| t.http).is_none())
        {
            out.push(
                Finding::new(
                    &BK203,
                    format!("registry `{h}` serves plain HTTP but BuildKit will use HTTPS"),
                )
                .at(at)
                .help(format!(
                    "add `http = true` under `[registry.\"{h}\"]`, or serve TLS from the registry"
                )),
            );
        }
    }
}

fn tls_registry(
    ctx: &Ctx<'_>,
    cfg: &ActiveConfig<'_>,
    r: &RegistryView,
    h: &str,
    t: Option<&RegTable>,
    at: Location,
    out: &mut Vec<Finding>,
) {
    let src = &cfg.file.src;
    let http = t.and_then(|t| t.http);
    let insecure = t.is_some_and(|t| t.insecure == Some(true));
    // `http + insecure` tries HTTPS first from v0.12.3 on (BK205 notes it).
    if http == Some(true) && insecure && ctx.in_play(cfg.service).v >= FALLBACK {
        return;
    }
    if http == Some(true) {
        let span = t.and_then(|t| t.http_span.clone());
        out.push(
            Finding::new(
                &BK202,
                format!(
                    "registry `{h}` serves TLS but `http = true` makes BuildKit speak plain HTTP"
                ),
            )
            .at(src.loc_opt(span))
            .help("remove `http = true` and trust the registry's CA with `ca = [...]`"),
        );
        return;
    }
    if is_loopback(h) && http.is_none() {
        out.push(Finding::new(&BK204, format!("registry `{h}` is loopback and serves TLS; without `http = false` BuildKit uses plain HTTP"))
            .at(at.clone())
            .help(format!("add `http = false` under `[registry.\"{h}\"]`"))
            .fix(table_fix(cfg, h, "http", toml_edit::value(false))));
    }
    if !t.is_some_and(RegTable::trusts) {
        let mut f = Finding::new(&BK201, format!("registry `{h}` serves a certificate from a private CA, but no `[registry.\"{h}\"]` table trusts it"))
            .at(at)
            .prevents(format!("failed to do request: Head \"https://{h}/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority"));
        let cand = ca_candidate(ctx, cfg, r);
        f = match &cand {
            Some(p) => f.help(format!("add `ca = [\"{p}\"]` under `[registry.\"{h}\"]`")),
            None => f.help(format!("mount the CA into buildkitd and add `ca = [\"/etc/buildkit/certs/ca.crt\"]` under `[registry.\"{h}\"]`")),
        };
        if let Some(p) = cand {
            let mut ca = toml_edit::Array::new();
            ca.push(p);
            f = f.fix(table_fix(cfg, h, "ca", toml_edit::value(ca)));
        }
        out.push(f);
        return;
    }
    let Some(t) = t else { return };
    if t.insecure == Some(true) {
        return;
    }
    let Some((cert_path, certs)) = served(ctx, r) else {
        return;
    };
    let Some(leaf) = certs.first() else { return };
    let cas = table_cas(ctx, cfg, t);
    if !cas.is_empty() && !trusted_by(leaf, &cas) {
        let span = t.ca.first().and_then(|(_, s)| s.clone());
        out.push(
            Finding::new(
                &BK209,
                format!(
                    "no `ca` of `{h}` signs the certificate the registry serves ({})",
                    cert_path.display()
                ),
            )
            .at(src.loc_opt(span))
            .note(format!("served certificate issuer: {}", leaf.issuer))
            .help("point `ca` at the CA that issued the registry certificate"),
        );
    }
    if !san_covers(leaf, h) {
        let name = crate::hostport::strip_port(h);
        out.push(Finding::new(&BK210, format!("the certificate `{h}` serves ({}) is valid for {}, not {name}", cert_path.display(), san_list(leaf)))
            .at(src.loc_opt(t.key_span.clone()))
            .prevents(format!("x509: certificate is valid for {}, not {name}", san_list(leaf)))
            .help(format!("reissue the registry certificate with `{name}` in its SANs, or use a name it covers")));
    }
}

/// Sets `key` in `[registry."host"]` of the config the daemon reads, adding the table
/// when there is none; toml_edit keeps every other byte of the file.
fn table_fix(cfg: &ActiveConfig<'_>, host: &str, key: &str, value: toml_edit::Item) -> Option<Fix> {
    let src = &cfg.file.src;
    let mut doc = src.text.parse::<toml_edit::DocumentMut>().ok()?;
    let registry = doc
        .entry("registry")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()?;
    let table = registry
        .entry(host)
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()?;
    table.insert(key, value);
    Edit::rewrite(&src.path, &src.text, &doc.to_string()).map(|e| Fix::safe([e]))
}

/// A CA file inside the buildkit service that signs what registry `r` serves, as a
/// container path (for the fix that adds a missing `ca`).
fn ca_candidate(ctx: &Ctx<'_>, cfg: &ActiveConfig<'_>, r: &RegistryView) -> Option<String> {
    let (_, certs) = served(ctx, r)?;
    let leaf = certs.first()?;
    let svc = cfg.service?;
    for m in &svc.mounts {
        let Some(host) = &m.host else { continue };
        for pem in &ctx.snap.pem {
            let Ok(rest) = pem.src.path.strip_prefix(host) else {
                continue;
            };
            let cas: Vec<_> = pem.facts.iter().filter(|c| c.is_ca).collect();
            if !cas.is_empty() && trusted_by(leaf, &cas) {
                let rest = rest.to_string_lossy();
                return Some(if rest.is_empty() {
                    m.container.clone()
                } else {
                    format!("{}/{rest}", m.container)
                });
            }
        }
    }
    None
}
