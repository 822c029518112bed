//! BK3xx: the compose file: what each container really sees.

use super::Ctx;
use super::grpc::grpc_tls;
use crate::diag::{Finding, Location};
use crate::doctor::registry_tables::reg_tables;
use crate::doctor::view::{ServiceKind, ServiceView, compose_loc};
use crate::model::layout::REG_CONFIG_IN;
use std::path::Path;

crate::diag::checks! {
    BK301 {
        slug: "buildkitd-config-not-read",
        severity: Error,
        fixable: false,
        title: "buildkitd.toml is not mounted where the buildkit image reads it",
        prevents: "",
    }
    BK302 {
        slug: "referenced-file-not-mounted",
        severity: Error,
        fixable: false,
        title: "A file the config references does not exist inside the container",
        prevents: "failed to read <path>: no such file or directory",
    }
    BK303 {
        slug: "private-key-mounted-unneeded",
        severity: Warning,
        fixable: false,
        title: "A private key is mounted into a service that does not use it",
        prevents: "",
    }
    BK304 {
        slug: "ca-key-mounted",
        severity: Error,
        fixable: false,
        title: "The CA private key is mounted into a container",
        prevents: "",
    }
    BK305 {
        slug: "yaml-invalid",
        severity: Error,
        fixable: false,
        title: "A compose file or registry config is not valid YAML for its schema",
        prevents: "",
    }
    BK306 {
        slug: "buildkitd-flags-env-ignored",
        severity: Warning,
        fixable: false,
        title: "BUILDKITD_FLAGS is set for a buildkit service, but `buildkitd` never reads it",
        prevents: "granting entitlement network.host is not allowed by build daemon configuration",
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    yaml_errors(ctx, out);
    if ctx.view.compose.is_none() {
        return;
    }
    for s in &ctx.view.services {
        if s.kind == ServiceKind::Buildkit {
            config_mounted(ctx, s, out);
            flags_env(ctx, s, out);
        }
        keys_mounted(ctx, s, out);
    }
    for r in reads(ctx) {
        if let Some(prevents) = r.missing {
            missing(ctx, r.svc, &r.path, r.at, prevents, out);
        }
    }
}

/// A file a service reads: its container path, where the environment names it, and what
/// the service says when it is missing (`None`: a file the image brings otherwise, or a
/// config BK301 covers) or when its user may not open it (`None` for a directory).
pub(crate) struct Read<'a> {
    pub svc: &'a ServiceView,
    pub path: String,
    pub at: Location,
    pub missing: Option<String>,
    pub denied: Option<String>,
    /// A secret (a private key, an htpasswd file): made readable by changing its owner,
    /// never its mode.
    pub secret: bool,
}

/// Every file the services read: the buildkitd.toml each buildkit service loads and the
/// files it references (`grpc.tls`, registry `ca`, `keypair`, `tlsconfigdir`), and each
/// registry's config, TLS pair and htpasswd.
pub(crate) fn reads<'a>(ctx: &'a Ctx<'_>) -> Vec<Read<'a>> {
    let mut out = Vec::new();
    let denied = |path: &str| format!("open {path}: permission denied");
    for cfg in ctx.active_configs() {
        let Some(svc) = cfg.service else { continue };
        let at = |span: Option<std::ops::Range<usize>>| cfg.file.src.loc_opt(span);
        let read = |path: &str, at: Location, missing: String, denied: String, secret: bool| Read {
            svc,
            path: path.to_string(),
            at,
            missing: Some(missing),
            denied: Some(denied),
            secret,
        };
        let config = svc.config_path();
        if let Some((_, m)) = svc.resolve(&config)
            && let Some(mount_at) = compose_loc(ctx.snap, m.file, m.line)
        {
            out.push(Read {
                missing: None,
                denied: Some(format!(
                    "failed to load config from {config}: {}",
                    denied(&config)
                )),
                ..read(&config, mount_at, String::new(), String::new(), false)
            });
        }
        let tls = grpc_tls(cfg.doc);
        let not_found =
            |p: &str| format!("failed to read {p}: open {p}: no such file or directory");
        for (role, item) in [("cert", &tls.cert), ("key", &tls.key), ("ca", &tls.ca)] {
            let Some((p, span)) = item else { continue };
            let why = if role == "ca" {
                format!("could not read ca certificate: {}", denied(p))
            } else {
                format!("could not load server key pair: {}", denied(p))
            };
            out.push(read(p, at(span.clone()), not_found(p), why, role == "key"));
        }
        let tables = reg_tables(cfg.doc);
        for t in &tables {
            for (p, span) in &t.ca {
                if !out
                    .iter()
                    .any(|r: &Read<'_>| r.svc.name == svc.name && r.path == *p)
                {
                    let why = format!("failed to read {p}: {}", denied(p));
                    out.push(read(p, at(span.clone()), not_found(p), why, false));
                }
            }
        }
        for t in &tables {
            // BuildKit loads each pair when it first resolves the registry (during a
            // build, not at start), naming the certificate whichever half is missing.
            for (cert, key) in &t.keypairs {
                let named = cert.as_ref().map_or("", |c| c.0.as_str());
                for (i, (path, span)) in cert.iter().chain(key).enumerate() {
                    let load = format!("failed to load keypair for {named}");
                    let why = format!("{load}: {}", denied(path));
                    let is_key = i == 1 || cert.is_none();
                    out.push(read(path, at(span.clone()), load, why, is_key));
                }
            }
            // A missing tlsconfigdir is skipped without a word, so no CA is loaded.
            for (dir, span) in &t.tlsconfigdir {
                let silent = "no error at start: BuildKit skips the directory, then pulls fail with `x509: certificate signed by unknown authority`".to_string();
                out.push(Read {
                    denied: None,
                    ..read(
                        dir.trim_end_matches('/'),
                        at(span.clone()),
                        silent,
                        String::new(),
                        false,
                    )
                });
            }
        }
    }
    for r in &ctx.view.registries {
        let Some(svc) = ctx.view.service(r) else {
            continue;
        };
        let cfg = r.config.and_then(|i| ctx.snap.registry_configs.get(i));
        if cfg.is_some()
            && let Some((_, m)) = svc.resolve(REG_CONFIG_IN)
            && let Some(mount_at) = compose_loc(ctx.snap, m.file, m.line)
        {
            out.push(Read {
                svc,
                path: REG_CONFIG_IN.to_string(),
                at: mount_at,
                missing: None,
                denied: Some(format!("configuration error: {}", denied(REG_CONFIG_IN))),
                secret: false,
            });
        }
        for (p, kind) in [(&r.tls_cert, 0), (&r.tls_key, 1), (&r.htpasswd, 2)] {
            let Some(p) = p else { continue };
            let line = cfg.and_then(|c| {
                (1..=c.src.line_count())
                    .find(|l| c.src.line_text(*l).is_some_and(|t| t.contains(p.as_str())))
                    .map(|l| c.src.loc_line(l))
            });
            let Some(at) = line.or_else(|| compose_loc(ctx.snap, svc.file, svc.line)) else {
                continue;
            };
            let why = if kind == 2 {
                format!(
                    "unable to configure authorization (htpasswd): {}",
                    denied(p)
                )
            } else {
                denied(p)
            };
            out.push(Read {
                svc,
                path: p.clone(),
                at,
                missing: Some(format!(
                    "failed to read {p}: open {p}: no such file or directory"
                )),
                denied: Some(why),
                secret: kind >= 1,
            });
        }
    }
    out
}

/// BK302 when `path` (in `svc`'s container) is not mounted, or is mounted from a host
/// path that does not exist. `prevents` is the error BuildKit or the registry gives.
fn missing(
    ctx: &Ctx<'_>,
    svc: &ServiceView,
    path: &str,
    at: Location,
    prevents: String,
    out: &mut Vec<Finding>,
) {
    let why = match svc.resolve(path) {
        None => format!("no volume of service `{}` provides `{path}`", svc.name),
        Some((host, _)) if ctx.snap.paths.exists(&host) == Some(false) => {
            format!(
                "`{path}` in service `{}` maps to `{}`, which does not exist",
                svc.name,
                host.display()
            )
        }
        Some(_) => return,
    };
    out.push(
        Finding::new(&BK302, why)
            .at(at)
            .prevents(prevents)
            .help("mount the file (or its directory) into the service, or fix the path"),
    );
}

fn config_mounted(ctx: &Ctx<'_>, s: &ServiceView, out: &mut Vec<Finding>) {
    let want = s.config_path();
    if s.resolve(&want)
        .is_some_and(|(h, _)| ctx.snap.buildkitd.iter().any(|t| t.src.path == h))
    {
        return;
    }
    let wrong = s.mounts.iter().find(|m| {
        m.host
            .as_ref()
            .is_some_and(|h| ctx.snap.buildkitd.iter().any(|t| t.src.path == *h))
    });
    let Some(m) = wrong else {
        if !ctx.snap.buildkitd.is_empty()
            && let Some(at) = compose_loc(ctx.snap, s.file, s.line)
        {
            out.push(
                Finding::new(
                    &BK301,
                    format!(
                        "service `{}` reads `{want}`, but no buildkitd.toml is mounted there",
                        s.name
                    ),
                )
                .at(at)
                .prevents("no error: buildkitd starts with defaults")
                .help(format!("mount it: `./buildkit/buildkitd.toml:{want}:ro`")),
            );
        }
        return;
    };
    if let Some(at) = compose_loc(ctx.snap, m.file, m.line) {
        let rootless = s.image.as_deref().is_some_and(|i| i.contains("rootless"));
        out.push(
            Finding::new(
                &BK301,
                format!(
                    "buildkitd.toml is mounted at `{}`, but service `{}` reads `{want}`",
                    m.container, s.name
                ),
            )
            .at(at)
            .prevents("no error: buildkitd starts with defaults and ignores this file")
            .help(if rootless {
                format!(
                    "pass `--config={}` in `command`, or mount the file at `{want}`",
                    m.container
                )
            } else {
                format!(
                    "mount the file at `{want}` or pass `--config={}`",
                    m.container
                )
            }),
        );
    }
}

fn keys_mounted(ctx: &Ctx<'_>, s: &ServiceView, out: &mut Vec<Finding>) {
    let needed: Vec<String> = match s.kind {
        ServiceKind::Buildkit => ctx
            .active_configs()
            .iter()
            .filter(|c| c.service.is_some_and(|x| x.name == s.name))
            .flat_map(|c| {
                let mut v: Vec<String> = grpc_tls(c.doc)
                    .key
                    .map(|(k, _)| k.to_string())
                    .into_iter()
                    .collect();
                v.extend(
                    reg_tables(c.doc)
                        .into_iter()
                        .flat_map(|t| t.keypairs.into_iter().filter_map(|(_, k)| k.map(|k| k.0))),
                );
                v
            })
            .collect(),
        ServiceKind::Registry => ctx
            .view
            .registries
            .iter()
            .filter(|r| ctx.view.service(r).is_some_and(|x| x.name == s.name))
            .filter_map(|r| r.tls_key.clone())
            .collect(),
        ServiceKind::Other => Vec::new(),
    };
    // Without a config (BK301) the keys it would use cannot be known.
    let unknown = s.kind == ServiceKind::Buildkit
        && !ctx
            .active_configs()
            .iter()
            .any(|c| c.service.is_some_and(|x| x.name == s.name));
    let ca_certs: Vec<_> = ctx
        .snap
        .pem
        .iter()
        .flat_map(|p| p.facts.iter())
        .filter(|c| c.is_ca)
        .collect();
    for m in &s.mounts {
        let Some(host) = &m.host else { continue };
        for pem in ctx
            .snap
            .pem
            .iter()
            .filter(|p| p.is_key() && p.src.path.starts_with(host))
        {
            let rest = pem.src.path.strip_prefix(host).unwrap_or(Path::new(""));
            let inside = if rest.as_os_str().is_empty() {
                m.container.clone()
            } else {
                format!("{}/{}", m.container, rest.display())
            };
            let is_ca_key = pem
                .key_info
                .as_ref()
                .is_some_and(|k| ca_certs.iter().any(|c| crate::pki::key_matches_cert(k, c)));
            let Some(at) = compose_loc(ctx.snap, m.file, m.line) else {
                continue;
            };
            if is_ca_key {
                out.push(Finding::new(&BK304, format!("the CA key `{}` is visible in service `{}` at `{inside}`", pem.src.path.display(), s.name))
                    .at(at)
                    .help("never mount the CA key: services need only certificates and their own keys"));
            } else if !unknown && !needed.contains(&inside) {
                out.push(Finding::new(&BK303, format!("private key `{}` is visible in service `{}` at `{inside}`, which does not use it", pem.src.path.display(), s.name))
                    .at(at)
                    .help("mount only the files the service needs (e.g. the CA certificate alone), not a whole directory of keys"));
            }
        }
    }
}

fn yaml_errors(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let yaml = ctx
        .snap
        .compose
        .iter()
        .map(|c| (&c.src, c.doc.as_ref().err()))
        .chain(
            ctx.snap
                .registry_configs
                .iter()
                .map(|r| (&r.src, r.doc.as_ref().err())),
        );
    for (src, err) in yaml {
        let Some(e) = err else { continue };
        let loc = match e.line_col {
            Some((l, c)) => src.loc_line_col(l, c),
            None => src.file_loc(),
        };
        out.push(
            Finding::new(
                &BK305,
                format!("{} does not parse: {}", src.path.display(), e.message),
            )
            .at(loc)
            .help("fix the YAML; doctor skips the checks that need this file"),
        );
    }
}

/// BK306: `BUILDKITD_FLAGS` is read only by `buildctl-daemonless.sh`; the images run
/// `buildkitd` (or `rootlesskit buildkitd`), which takes flags from its arguments. A
/// command that expands the variable itself (`sh -c 'buildkitd $BUILDKITD_FLAGS'`) or
/// runs `buildctl-daemonless.sh` uses it.
fn flags_env(ctx: &Ctx<'_>, s: &ServiceView, out: &mut Vec<Finding>) {
    const VAR: &str = "BUILDKITD_FLAGS";
    let Some((_, flags)) = s.env.iter().find(|(k, v)| k == VAR && !v.trim().is_empty()) else {
        return;
    };
    if s.args
        .iter()
        .any(|a| a.contains(VAR) || a.contains("buildctl-daemonless"))
    {
        return;
    }
    let words: Vec<&str> = flags.split_whitespace().collect();
    let entitlement = words
        .iter()
        .zip(words.iter().skip(1))
        .find_map(
            |(w, next)| match w.strip_prefix("--allow-insecure-entitlement") {
                Some("") => Some(next.to_string()),
                Some(v) => v.strip_prefix('=').map(str::to_string),
                None => None,
            },
        );
    let prevents = match &entitlement {
        Some(e) => format!("granting entitlement {e} is not allowed by build daemon configuration"),
        None => "no error: buildkitd starts without these flags".to_string(),
    };
    let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    let at = ctx.snap.compose.get(s.file).map(|f| {
        let from = s.env_line.unwrap_or(s.line).max(1);
        let line = f
            .src
            .text
            .lines()
            .enumerate()
            .skip(from - 1)
            .find(|(_, l)| l.contains(VAR))
            .map_or(from, |(i, _)| i + 1);
        f.src.loc_line(line)
    });
    let mut finding = Finding::new(
        &BK306,
        format!(
            "`{VAR}` in the environment of `{}` is never read: the image runs buildkitd, which takes its flags from `command`, so `{flags}` is not applied",
            s.name
        ),
    )
    .prevents(prevents)
    .help(format!(
        "pass the flags as arguments: `command: [{}]` (after any flags `command` already has)",
        quoted.join(", ")
    ));
    if let Some(e) = &entitlement {
        finding = finding.note(format!(
            "or allow it in buildkitd.toml: `insecure-entitlements = [\"{e}\"]`"
        ));
    }
    if let Some(at) = at {
        finding = finding.at(at);
    }
    out.push(finding);
}
