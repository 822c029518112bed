//! BK8xx: buildx builders. doctor reads buildx's store as buildx writes it
//! (`$DOCKER_CONFIG/buildx/instances/NAME`, one JSON `NodeGroup` per builder; with
//! bkenv's `.env`, `DOCKER_CONFIG=./docker`, so `docker/buildx/instances/`) and the
//! `--config` files under `buildx/`:
//!
//! - remote nodes are matched against the environment's buildkitd the way buildx's remote
//!   driver dials it (`driver/remote/factory.go`): TLS is on as soon as any of `cacert`,
//!   `cert`, `key`, `servername` is set, the server name defaults to the endpoint's host,
//!   the files are re-read at every connection. Every failure there surfaces as
//!   `ERROR: failed to build: context deadline exceeded` after about 20 seconds;
//! - container builders (docker-container, kubernetes) carry the config frozen at
//!   creation (`Files`, registry files copied and paths rewritten by
//!   `util/confutil/container.go`), which later edits never reach.

use super::Ctx;
use super::grpc::{addresses, grpc_tls};
use super::trust::{host_file, san_covers, san_list, trusted_by};
use crate::diag::Finding;
use crate::doctor::parsed::{BuildxInstanceFile, BuildxNode, Named, PemFile};
use crate::doctor::registry_tables::{RegTable, reg_tables};
use crate::doctor::source::SourceFile;
use crate::pki::{CertFacts, key_matches_cert};
use base64::Engine;
use std::collections::{BTreeMap, BTreeSet};

crate::diag::checks! {
    BK801 {
        slug: "buildx-driver-opt-relative-path",
        severity: Error,
        fixable: false,
        title: "A buildx remote driver-opt names a file by a relative path",
        prevents: "non-absolute path 'client/ca.crt' provided for cacert",
    }
    BK802 {
        slug: "buildx-driver-opt-file-missing",
        severity: Error,
        fixable: false,
        title: "A file a buildx remote builder names no longer exists (stale path)",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK803 {
        slug: "buildx-servername-not-in-cert",
        severity: Error,
        fixable: false,
        title: "The name a buildx remote builder verifies is not in buildkitd's certificate",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK804 {
        slug: "buildx-client-pair-missing",
        severity: Error,
        fixable: false,
        title: "buildkitd requires client certificates but the buildx builder lacks a cert/key pair",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK805 {
        slug: "buildx-client-pair-invalid",
        severity: Error,
        fixable: false,
        title: "The buildx builder's client certificate and key are not a pair buildkitd accepts",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK806 {
        slug: "buildx-cacert-does-not-sign-buildkitd",
        severity: Error,
        fixable: false,
        title: "The buildx builder's `cacert` did not sign buildkitd's certificate",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK807 {
        slug: "buildx-plain-endpoint-tls-daemon",
        severity: Error,
        fixable: false,
        title: "A buildx remote builder dials a TLS buildkitd without TLS",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK808 {
        slug: "buildx-config-frozen",
        severity: Warning,
        fixable: false,
        title: "A buildx builder runs with a config frozen at creation that differs from the environment's",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK809 {
        slug: "buildx-config-loopback-registry",
        severity: Warning,
        fixable: false,
        title: "A buildx builder config names a registry by a loopback name, which is the builder itself",
        prevents: "dial tcp 127.0.0.1:5000: connect: connection refused",
    }
    BK810 {
        slug: "buildx-builder-without-registry-ca",
        severity: Warning,
        fixable: false,
        title: "A container builder does not trust the CA of a registry the environment serves",
        prevents: "x509: certificate signed by unknown authority",
    }
}

/// Where buildx puts a container builder's config (`confutil.DefaultBuildKitConfigDir`).
const BUILDX_CONFIG_DIR: &str = "/etc/buildkit";

/// The remote driver-opts that name files (buildx wants them absolute).
pub(crate) const PATH_OPTS: &[&str] = &["cacert", "cert", "key"];

/// The absolute registry file paths (`ca`, keypair `cert`/`key`) a `--config` names,
/// which buildx reads on the host at creation.
pub(crate) fn config_paths(doc: &toml_edit::Document<String>) -> Vec<String> {
    reg_tables(doc)
        .into_iter()
        .flat_map(|t| {
            let kps = t
                .keypairs
                .into_iter()
                .flat_map(|(c, k)| c.into_iter().chain(k))
                .map(|(p, _)| p);
            t.ca.into_iter().map(|(p, _)| p).chain(kps)
        })
        .filter(|p| p.starts_with('/'))
        .collect()
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let daemon = Daemon::of(ctx);
    let current = ctx.snap.builder_configs.first().and_then(|c| {
        let doc = c.toml.doc.as_ref().ok()?;
        Some((
            c,
            profile(doc, |p| match c.named.get(p) {
                Some(Named::Pem(pem)) => Some(ders(&pem.facts)),
                _ => None,
            }),
        ))
    });
    for inst in &ctx.snap.buildx {
        let Ok(group) = &inst.group else { continue };
        for node in &group.nodes {
            if group.driver == "remote" {
                remote(inst, &group.name, node, daemon.as_ref(), out);
            }
            let stored = stored_config(node);
            if let Some(stored) = &stored {
                frozen(inst, &group.name, stored, current.as_ref(), out);
            }
            if matches!(group.driver.as_str(), "docker-container" | "kubernetes") {
                untrusted(ctx, inst, &group.name, stored.as_ref(), out);
            }
        }
    }
    for f in ctx.snap.refs.iter().filter(|f| runs_buildx(&f.src.path)) {
        for (line, col, key, value) in ci_path_opts(&f.src.text) {
            if value.starts_with(['/', '$']) {
                continue;
            }
            out.push(
                Finding::new(
                    &BK801,
                    format!("buildx remote driver-opt `{key}={value}` is a relative path"),
                )
                .at(f.src.loc(
                    f.src.line_start(line).unwrap_or(0) + col
                        ..f.src.line_start(line).unwrap_or(0) + col + key.len() + 1 + value.len(),
                ))
                .prevents(format!("non-absolute path '{value}' provided for {key}"))
                .help(format!(
                    "make it absolute where it runs: `{key}={}/{value}`",
                    base_dir(&f.src.path)
                )),
            );
        }
    }
    for cfg in &ctx.snap.builder_configs {
        let Ok(doc) = &cfg.toml.doc else { continue };
        for t in reg_tables(doc) {
            let src = &cfg.toml.src;
            loopback(
                &t,
                |span| src.loc_opt(span),
                &src.path.display().to_string(),
                out,
            );
        }
    }
}

/// A file that creates buildx builders: a GitHub Actions workflow, `.gitlab-ci.yml`, or a
/// script or Makefile discovered for its buildx lines (Dockerfiles are the other refs).
fn runs_buildx(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    !(name.starts_with("dockerfile")
        || name.starts_with("containerfile")
        || name.ends_with(".dockerfile"))
}

/// The variable that names the directory a relative path was meant from.
fn base_dir(path: &std::path::Path) -> &'static str {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name == ".gitlab-ci.yml" {
        "$CI_PROJECT_DIR"
    } else if path
        .parent()
        .is_some_and(|p| p.ends_with(".github/workflows"))
    {
        "${{ github.workspace }}"
    } else if name.contains("makefile") || name.ends_with(".mk") {
        "$(CURDIR)"
    } else {
        "$PWD"
    }
}

/// `cacert=`/`cert=`/`key=` values given to buildx in a CI file: on lines that run
/// `buildx create` or pass `--driver-opt`, and in the lines of a setup-buildx-action
/// `driver-opts:` block. Yields (1-based line, byte column of the key, key, value).
fn ci_path_opts(text: &str) -> Vec<(usize, usize, &str, &str)> {
    let mut out = Vec::new();
    let mut block: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if block.is_some_and(|b| indent <= b && !line.trim().is_empty()) {
            block = None;
        }
        let in_block = block.is_some();
        if let Some(rest) = line.trim_start().strip_prefix("driver-opts:") {
            block = Some(indent);
            if rest.trim().is_empty() || rest.trim().starts_with(['|', '>']) {
                continue;
            }
        }
        let buildx_line = line.contains("--driver-opt") || line.contains("buildx create");
        if !(in_block || buildx_line || line.trim_start().starts_with("driver-opts:")) {
            continue;
        }
        for (at, _) in line.match_indices('=') {
            let key_start = line[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(0, |p| p + 1);
            let key = &line[key_start..at];
            if !PATH_OPTS.contains(&key) {
                continue;
            }
            let rest = &line[at + 1..];
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '\\'))
                .unwrap_or(rest.len());
            if end > 0 {
                out.push((i + 1, key_start, key, &rest[..end]));
            }
        }
    }
    out
}

/// The environment's buildkitd as clients reach it: its certificate, whether it asks for
/// client certificates (and signed by which CA), and the ports clients dial.
struct Daemon<'a> {
    cert: Option<&'a CertFacts>,
    client_cas: Option<Vec<&'a CertFacts>>,
    ports: BTreeSet<u16>,
}

impl<'a> Daemon<'a> {
    fn of(ctx: &'a Ctx<'_>) -> Option<Self> {
        let cfg = ctx.active_configs().into_iter().next()?;
        let tls = grpc_tls(cfg.doc);
        let (cert, _) = tls.cert.as_ref()?;
        tls.key.as_ref()?;
        let cert = host_file(ctx, cfg.service, cert).and_then(|p| p.facts.first());
        let client_cas = tls.ca.as_ref().map(|(ca, _)| {
            host_file(ctx, cfg.service, ca).map_or(Vec::new(), |p| p.facts.iter().collect())
        });
        let mut ports: BTreeSet<u16> = addresses(&cfg)
            .iter()
            .filter_map(|(a, _)| endpoint_port(a))
            .collect();
        if let Some((_, host, _)) = ctx.snap.env_var("BUILDKIT_HOST") {
            ports.extend(endpoint_port(host));
        }
        Some(Daemon {
            cert,
            client_cas,
            ports,
        })
    }
}

fn endpoint_port(endpoint: &str) -> Option<u16> {
    crate::hostport::host_and_port(crate::hostport::tcp_dialled(endpoint)?).1
}

fn endpoint_host(endpoint: &str) -> Option<&str> {
    Some(crate::hostport::host_and_port(crate::hostport::tcp_dialled(endpoint)?).0)
}

/// Where in the instance file a driver-opt (or the node) is, for the report.
fn opt_loc(src: &SourceFile, key: &str) -> crate::diag::Location {
    match src.text.find(&format!("\"{key}\":")) {
        Some(at) => src.loc(at..at + key.len() + 2),
        None => src.file_loc(),
    }
}

fn remote(
    inst: &BuildxInstanceFile,
    builder: &str,
    node: &BuildxNode,
    daemon: Option<&Daemon<'_>>,
    out: &mut Vec<Finding>,
) {
    let empty = BTreeMap::new();
    let opts = node.driver_opts.as_ref().unwrap_or(&empty);
    let src = &inst.src;
    let ep = &node.endpoint;
    let mut usable = true;
    for k in PATH_OPTS {
        let Some(v) = opts.get(*k) else { continue };
        if !v.starts_with('/') {
            usable = false;
            out.push(
                Finding::new(&BK801, format!("builder `{builder}`: `{k}={v}` is a relative path"))
                    .at(opt_loc(src, k))
                    .prevents(format!("non-absolute path '{v}' provided for {k}"))
                    .help(format!("recreate the builder with an absolute path: `docker buildx rm {builder}`, then `--driver-opt {k}=$PWD/{v}` (bkenv's buildx/create-remote.sh writes them)")),
            );
            continue;
        }
        match inst.named.get(v) {
            Some(Named::Missing) => {
                usable = false;
                out.push(
                    Finding::new(&BK802, format!("builder `{builder}`: `{k}` names {v}, which does not exist"))
                        .at(opt_loc(src, k))
                        .prevents(format!("ERROR: failed to build: context deadline exceeded (buildx re-reads `{k}` at every connection; the environment was moved or its files removed)"))
                        .help(format!("recreate the builder with the paths where the files are now: `docker buildx rm {builder}`, then the environment's buildx/create-remote.sh")),
                );
            }
            Some(Named::Unreadable(why)) => {
                usable = false;
                out.push(
                    Finding::new(&BK802, format!("builder `{builder}`: `{k}` names {v}, which cannot be read: {why}"))
                        .at(opt_loc(src, k))
                        .help("make the file readable by the user who runs buildx, or recreate the builder with one that is"),
                );
            }
            _ => {}
        }
    }
    // Only TCP listeners carry TLS (buildkitd serves unix sockets in the clear), and a
    // builder is this environment's when it dials one of the daemon's ports.
    let Some(daemon) = daemon.filter(|d| endpoint_port(ep).is_some_and(|p| d.ports.contains(&p)))
    else {
        return;
    };
    let tls_on = ["cacert", "cert", "key", "servername"]
        .iter()
        .any(|k| opts.contains_key(*k));
    if !tls_on {
        out.push(
            Finding::new(&BK807, format!("builder `{builder}` dials {ep} without TLS, but buildkitd serves TLS there"))
                .at(opt_loc(src, "Endpoint"))
                .note("buildx's gRPC client waits for a plain HTTP/2 answer that a TLS server never gives")
                .help(format!("recreate it with `--driver-opt cacert=ABSOLUTE_PATH` (and `cert=`/`key=` under mutual TLS): `docker buildx rm {builder}`, then the environment's buildx/create-remote.sh")),
        );
        return;
    }
    let pem = |k: &str| match opts.get(k).and_then(|v| inst.named.get(v)) {
        Some(Named::Pem(p)) => Some(p.as_ref()),
        _ => None,
    };
    if let Some(cert) = daemon.cert {
        let name = opts
            .get("servername")
            .map(String::as_str)
            .or_else(|| endpoint_host(ep));
        if let Some(name) = name.filter(|n| !san_covers(cert, n)) {
            let from = if opts.contains_key("servername") {
                "`servername`"
            } else {
                "the endpoint's host (buildx's default server name)"
            };
            out.push(
                Finding::new(&BK803, format!("builder `{builder}` verifies buildkitd as `{name}` ({from}), but its certificate is valid for {}", san_list(cert)))
                    .at(opt_loc(src, if opts.contains_key("servername") { "servername" } else { "Endpoint" }))
                    .prevents(format!("ERROR: failed to build: context deadline exceeded (underneath: x509: certificate is valid for {}, not {name})", san_list(cert)))
                    .help("recreate the builder with `servername=` one of the certificate's names, or add the name to buildkitd's certificate (`buildkitd.names` in bkenv.toml)"),
            );
        }
        if let Some(ca) = pem("cacert") {
            let cas: Vec<&CertFacts> = ca.facts.iter().collect();
            if !cas.is_empty() && !trusted_by(cert, &cas) {
                out.push(
                    Finding::new(&BK806, format!("builder `{builder}`: `cacert` ({}) did not sign buildkitd's certificate ({})", ca.src.path.display(), cert.issuer))
                        .at(opt_loc(src, "cacert"))
                        .prevents("ERROR: failed to build: context deadline exceeded (underneath: x509: certificate signed by unknown authority)")
                        .help("recreate the builder with `cacert=` the CA of this environment (its client/ca.crt)"),
                );
            }
        }
    }
    if !usable {
        return;
    }
    pair(builder, src, opts, daemon, &pem, out);
}

/// BK804/BK805: the client pair, against what buildkitd's `[grpc.tls] ca` asks for.
fn pair<'a>(
    builder: &str,
    src: &SourceFile,
    opts: &BTreeMap<String, String>,
    daemon: &Daemon<'_>,
    pem: &dyn Fn(&str) -> Option<&'a PemFile>,
    out: &mut Vec<Finding>,
) {
    let (has_cert, has_key) = (opts.contains_key("cert"), opts.contains_key("key"));
    if has_cert != has_key {
        let (set, unset) = if has_cert {
            ("cert", "key")
        } else {
            ("key", "cert")
        };
        out.push(
            Finding::new(
                &BK804,
                format!("builder `{builder}` sets `{set}` without `{unset}`"),
            )
            .at(opt_loc(src, set))
            .prevents(format!("tls enabled, but missing keys {unset}"))
            .help("recreate the builder with both `cert=` and `key=` (absolute paths)"),
        );
        return;
    }
    let Some(client_cas) = &daemon.client_cas else {
        return;
    };
    if !has_cert {
        out.push(
            Finding::new(&BK804, format!("buildkitd requires a client certificate (`[grpc.tls] ca`), but builder `{builder}` has no `cert`/`key`"))
                .at(opt_loc(src, "cacert"))
                .prevents("ERROR: failed to build: context deadline exceeded (underneath: remote error: tls: certificate required)")
                .help("recreate the builder with `--driver-opt cert=ABS/client/client.crt,key=ABS/client/client.key` (bkenv's buildx/create-remote.sh does)"),
        );
        return;
    }
    let (Some(cert_file), Some(key_file)) = (pem("cert"), pem("key")) else {
        return;
    };
    let Some(cert) = cert_file.facts.first() else {
        return;
    };
    if let Some(info) = &key_file.key_info
        && !key_matches_cert(info, cert)
    {
        out.push(
            Finding::new(&BK805, format!("builder `{builder}`: `key` ({}) is not the key of `cert` ({})", key_file.src.path.display(), cert_file.src.path.display()))
                .at(opt_loc(src, "key"))
                .prevents("ERROR: failed to build: context deadline exceeded (underneath: tls: private key does not match public key)")
                .help("point `cert=` and `key=` at one pair (buildx accepts any two files at create time)"),
        );
        return;
    }
    if !client_cas.is_empty() && !trusted_by(cert, client_cas) {
        out.push(
            Finding::new(&BK805, format!("builder `{builder}`: `cert` ({}) is not signed by the CA buildkitd trusts for clients (`[grpc.tls] ca`)", cert_file.src.path.display()))
                .at(opt_loc(src, "cert"))
                .prevents("ERROR: failed to build: context deadline exceeded (underneath: remote error: tls: bad certificate)")
                .help("use a client certificate issued by the environment's CA (its client/client.crt)"),
        );
    }
}

/// What a builder config says about registries, comparable across the stored (container
/// paths, copied files) and current (host paths) forms: per registry, `http`,
/// `insecure`, mirrors, and the CA certificates themselves rather than their paths.
#[derive(Debug, PartialEq, Eq)]
struct RegProfile {
    http: Option<bool>,
    insecure: Option<bool>,
    mirrors: Vec<String>,
    /// DER of the CA certificates; `None` when a file could not be read (not compared).
    cas: Option<BTreeSet<Vec<u8>>>,
}

fn ders(facts: &[CertFacts]) -> BTreeSet<Vec<u8>> {
    facts.iter().map(|c| c.der.clone()).collect()
}

fn profile(
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
struct Stored {
    doc: toml_edit::Document<String>,
    files: BTreeMap<String, Vec<u8>>,
}

fn stored_config(node: &BuildxNode) -> Option<Stored> {
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

fn frozen(
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
    let then = profile(&stored.doc, |p| {
        let rel = p.strip_prefix(BUILDX_CONFIG_DIR)?;
        let bytes = stored.files.get(rel.trim_start_matches('/'))?;
        crate::pki::read_certs(bytes).ok().map(|c| ders(&c))
    });
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
fn untrusted(
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
            .filter(RegTable::trusts)
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
fn loopback(
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

#[cfg(test)]
mod tests {
    use super::ci_path_opts;

    #[test]
    fn ci_driver_opts_are_found_in_shell_lines_and_action_blocks() {
        let ci = "steps:\n  - uses: docker/setup-buildx-action@v4\n    with:\n      driver: remote\n      driver-opts: |\n        cacert=ci/ca.crt\n        key=${{ runner.temp }}/k\n      endpoint: tcp://b:1234\n  - run: echo cert=not-buildx\n  - run: docker buildx create --driver remote --driver-opt cacert=/abs/ca.crt,cert=rel/c.crt tcp://b:1234\n";
        let got: Vec<_> = ci_path_opts(ci)
            .into_iter()
            .map(|(l, _, k, v)| (l, k, v))
            .collect();
        assert_eq!(
            got,
            vec![
                (6, "cacert", "ci/ca.crt"),
                (7, "key", "${{"),
                (10, "cacert", "/abs/ca.crt"),
                (10, "cert", "rel/c.crt"),
            ]
        );
    }
}
