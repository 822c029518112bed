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

//!
//! `remote` holds the remote-driver checks, `config` the frozen and container-builder
//! config checks, `ci` the driver-opts of builders created from CI files and scripts,
//! `network` the docker-container builder's network.

mod ci;
mod config;
mod network;
mod registries;
mod remote;

use ci::{base_dir, ci_path_opts, inline_configs, runs_buildx};
use config::{ders, frozen, loopback, profile, stored_config, untrusted};
use remote::remote;

use super::Ctx;
use super::grpc::{addresses, grpc_tls};
use super::trust::host_file;
use crate::diag::Finding;
use crate::doctor::parsed::Named;
use crate::doctor::registry_tables::reg_tables;
use crate::doctor::source::SourceFile;
use crate::pki::CertFacts;
use std::collections::BTreeSet;

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
        live_twin: crate::probe::checks::BK706,
        title: "The name a buildx remote builder verifies is not in buildkitd's certificate",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK804 {
        slug: "buildx-client-pair-missing",
        severity: Error,
        fixable: false,
        live_twin: crate::probe::checks::BK713,
        title: "buildkitd requires client certificates but the buildx builder lacks a cert/key pair",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK805 {
        slug: "buildx-client-pair-invalid",
        severity: Error,
        fixable: false,
        live_twin: crate::probe::checks::BK714,
        title: "The buildx builder's client certificate and key are not a pair buildkitd accepts",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK806 {
        slug: "buildx-cacert-does-not-sign-buildkitd",
        severity: Error,
        fixable: false,
        live_twin: crate::probe::checks::BK705,
        title: "The buildx builder's `cacert` did not sign buildkitd's certificate",
        prevents: "ERROR: failed to build: context deadline exceeded",
    }
    BK807 {
        slug: "buildx-plain-endpoint-tls-daemon",
        severity: Error,
        fixable: false,
        live_twin: crate::probe::checks::BK704,
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
    BK811 {
        slug: "buildx-builder-off-compose-network",
        severity: Error,
        fixable: false,
        title: "A docker-container builder is not on the compose network where the registry's service name resolves",
        prevents: "dial tcp: lookup registry on 127.0.0.11:53: no such host",
    }
    BK812 {
        slug: "buildx-config-http-mismatch",
        severity: Error,
        fixable: false,
        title: "A builder config's `http` does not match what the registry serves",
        prevents: "Client sent an HTTP request to an HTTPS server.",
    }
    BK813 {
        slug: "buildx-config-insecure-registry",
        severity: Warning,
        fixable: false,
        title: "A builder config skips verification (`insecure = true`) of a registry whose CA the environment has",
        prevents: "",
    }
    BK814 {
        slug: "buildx-config-registry-untrusted",
        severity: Error,
        fixable: false,
        title: "A builder config does not trust the CA that signed a registry of the environment",
        prevents: "x509: certificate signed by unknown authority",
    }
}

/// Where buildx puts a container builder's config (`confutil.DefaultBuildKitConfigDir`).
pub(super) const BUILDX_CONFIG_DIR: &str = "/etc/buildkit";

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
                let certs = |p: &str| stored.certs(p);
                let at = |_: Option<std::ops::Range<usize>>| opt_loc(&inst.src, "Files");
                let cfg = registries::BuilderConfig {
                    doc: stored.doc(),
                    whose: format!("builder `{}`", group.name),
                    certs: &certs,
                    at: &at,
                    missing_tables: false,
                    signatures: current.is_none(),
                };
                registries::check(ctx, &cfg, out);
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
    // Configs given inline to setup-buildx-action: the builder's config as well.
    for f in ctx.snap.refs.iter().filter(|f| runs_buildx(&f.src.path)) {
        for (body, starts) in inline_configs(&f.src.text) {
            let Ok(doc) = toml_edit::Document::parse(body.clone()) else {
                continue;
            };
            let at = |span: Option<std::ops::Range<usize>>| match span {
                Some(r) => {
                    let line = body[..r.start].matches('\n').count();
                    let col = r.start - body[..r.start].rfind('\n').map_or(0, |p| p + 1);
                    let start = starts.get(line).copied().unwrap_or(0) + col;
                    f.src.loc(start..start + r.len())
                }
                None => f.src.file_loc(),
            };
            for t in reg_tables(&doc) {
                loopback(&t, at, "`buildkitd-config-inline`", out);
            }
        }
    }
    network::run(ctx, out);
    for cfg in &ctx.snap.builder_configs {
        let Ok(doc) = &cfg.toml.doc else { continue };
        let certs = |p: &str| match cfg.named.get(p) {
            Some(Named::Pem(pem)) => Some(pem.facts.clone()),
            _ => None,
        };
        let src = &cfg.toml.src;
        let at = |span: Option<std::ops::Range<usize>>| src.loc_opt(span);
        registries::check(
            ctx,
            &registries::BuilderConfig {
                doc,
                whose: src.path.display().to_string(),
                certs: &certs,
                at: &at,
                missing_tables: true,
                signatures: true,
            },
            out,
        );
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

/// The environment's buildkitd as clients reach it: its certificate, whether it asks for
/// client certificates (and signed by which CA), and the ports clients dial.
pub(super) struct Daemon<'a> {
    pub(super) cert: Option<&'a CertFacts>,
    pub(super) client_cas: Option<Vec<&'a CertFacts>>,
    pub(super) ports: BTreeSet<u16>,
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

pub(super) fn endpoint_port(endpoint: &str) -> Option<u16> {
    crate::hostport::host_and_port(crate::hostport::tcp_dialled(endpoint)?).1
}

pub(super) fn endpoint_host(endpoint: &str) -> Option<&str> {
    Some(crate::hostport::host_and_port(crate::hostport::tcp_dialled(endpoint)?).0)
}

/// Where in the instance file a driver-opt (or the node) is, for the report.
pub(super) fn opt_loc(src: &SourceFile, key: &str) -> crate::diag::Location {
    match src.text.find(&format!("\"{key}\":")) {
        Some(at) => src.loc(at..at + key.len() + 2),
        None => src.file_loc(),
    }
}
