//! BK1xx: TLS of the gRPC endpoint between clients and buildkitd.

use super::{ActiveConfig, Ctx};
use crate::diag::Finding;
use crate::doctor::view::ServiceView;
use toml_edit::Item;

crate::diag::checks! {
    BK101 {
        slug: "grpc-ca-without-cert-key",
        severity: Error,
        fixable: false,
        title: "`grpc.tls.ca` is set without `cert`/`key`: TLS is silently off",
        prevents: "",
    }
    BK102 {
        slug: "grpc-cert-key-unpaired",
        severity: Error,
        fixable: false,
        title: "Only one of `grpc.tls.cert` and `grpc.tls.key` is set",
        prevents: "you must specify key and cert file if one is specified",
    }
    BK103 {
        slug: "grpc-tcp-without-tls",
        severity: Warning,
        fixable: false,
        title: "buildkitd listens on TCP without TLS",
        prevents: "TLS is not enabled for tcp://... enabling mutual TLS authentication is highly recommended",
    }
    BK104 {
        slug: "mtls-client-cert-missing",
        severity: Error,
        fixable: false,
        title: "buildkitd requires client certificates but the client has none",
        prevents: "transport: authentication handshake failed: remote error: tls: certificate required",
    }
    BK105 {
        slug: "client-ca-missing",
        severity: Error,
        fixable: false,
        title: "The client connects over TLS without a CA to verify buildkitd",
        prevents: "transport: authentication handshake failed: x509: certificate signed by unknown authority",
    }
    BK106 {
        slug: "grpc-cert-name-mismatch",
        severity: Error,
        fixable: false,
        title: "buildkitd's certificate does not cover the host in BUILDKIT_HOST",
        prevents: "transport: authentication handshake failed: x509: certificate is valid for X, not Y",
    }
    BK107 {
        slug: "client-cert-without-clientauth",
        severity: Error,
        fixable: false,
        title: "The client certificate lacks the clientAuth extended key usage",
        prevents: "remote error: tls: bad certificate",
    }
    BK108 {
        slug: "client-cert-not-signed-by-ca",
        severity: Error,
        fixable: false,
        title: "The client certificate is not signed by the CA in `grpc.tls.ca`",
        prevents: "remote error: tls: bad certificate",
    }
    BK109 {
        slug: "client-ca-does-not-sign-server",
        severity: Error,
        fixable: false,
        title: "BUILDKIT_TLS_CA does not verify buildkitd's certificate",
        prevents: "transport: authentication handshake failed: x509: certificate signed by unknown authority",
    }
    BK110 {
        slug: "grpc-tls-without-alpn",
        severity: Warning,
        fixable: false,
        title: "buildkitd older than v0.17 serves TLS without ALPN; current clients refuse it",
        prevents: "credentials: cannot check peer: missing selected ALPN property",
    }
    BK111 {
        slug: "healthcheck-cannot-reach-daemon",
        severity: Error,
        fixable: false,
        title: "A compose healthcheck runs `buildctl` against an address or TLS setting the daemon does not serve",
        prevents: "failed to list workers: Unavailable: connection error",
    }
}

pub(crate) use crate::doctor::daemon_files::{GrpcTls, grpc_tls};

/// The values of a buildkitd flag in a service's arguments (`--addr X`, `--addr=X`).
fn flag_values(args: &[String], name: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut it = args.iter();
    let eq = format!("{name}=");
    while let Some(a) = it.next() {
        if a == name {
            v.extend(it.next().cloned());
        } else if let Some(x) = a.strip_prefix(&eq) {
            v.push(x.to_string());
        }
    }
    v
}

/// The `--addr` flags a buildkit service passes (in `entrypoint` or `command`).
pub(crate) fn addr_flags(svc: &ServiceView) -> Vec<String> {
    flag_values(&svc.args, "--addr")
}

/// The addresses of a config's `grpc.address`, with their spans.
pub(crate) fn config_addresses(
    doc: &toml_edit::Document<String>,
) -> Vec<(String, Option<std::ops::Range<usize>>)> {
    doc.get("grpc")
        .and_then(|g| g.get("address"))
        .and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(|s| (s.to_string(), v.span())))
                .collect()
        })
        .unwrap_or_default()
}

/// gRPC addresses: `--addr` flags replace the config's list.
pub(crate) fn addresses(cfg: &ActiveConfig<'_>) -> Vec<(String, Option<std::ops::Range<usize>>)> {
    let flags = cfg.service.map_or(Vec::new(), addr_flags);
    if !flags.is_empty() {
        return flags.into_iter().map(|a| (a, None)).collect();
    }
    config_addresses(cfg.doc)
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let configs = ctx.active_configs();
    for s in ctx.view.buildkit_services() {
        let cfg = configs
            .iter()
            .find(|c| c.service.is_some_and(|x| x.name == s.name));
        if cfg.is_none() {
            flags_only(ctx, s, out);
        }
        healthcheck(ctx, s, &Daemon::of(cfg, Some(s)), out);
    }
    for cfg in configs {
        let src = &cfg.file.src;
        let tls = grpc_tls(cfg.doc);
        let daemon = Daemon::of(Some(&cfg), cfg.service);
        let on = daemon.tls();
        alpn(ctx, &cfg, &tls, on, out);
        match (tls.cert.clone(), tls.key.clone(), tls.ca.clone()) {
            (None, None, Some((ca, span))) if !daemon.cert && !daemon.key => out.push(
                Finding::new(&BK101, format!("`grpc.tls.ca = \"{ca}\"` without `cert` and `key`: buildkitd serves gRPC without TLS"))
                    .at(src.loc_opt(span))
                    .prevents("no error: TLS is off and clients that expect TLS fail with `authentication handshake failed: tls: first record does not look like a TLS handshake`")
                    .help("add `cert` and `key` under `[grpc.tls]` (the server certificate and its key)"),
            ),
            (Some((p, span)), None, _) | (None, Some((p, span)), _) if daemon.cert != daemon.key => out.push(
                Finding::new(&BK102, format!("`[grpc.tls]` sets only `{}` (\"{p}\")", if tls.cert.is_some() { "cert" } else { "key" }))
                    .at(src.loc_opt(span))
                    .help("set both `cert` and `key`, or neither"),
            ),
            _ => {}
        }
        for (addr, span) in addresses(&cfg) {
            if addr.starts_with("tcp://") && !on {
                let at = match (span, cfg.service) {
                    (Some(s), _) => src.loc(s),
                    (None, Some(svc)) => args_loc(ctx, svc).unwrap_or_else(|| src.file_loc()),
                    (None, None) => src.file_loc(),
                };
                out.push(tcp_without_tls(&addr, at));
            }
        }
        let Some((env, host, line)) = ctx.snap.env_var("BUILDKIT_HOST") else {
            continue;
        };
        if !on || !host.starts_with("tcp://") {
            continue;
        }
        let has = |k: &str| ctx.snap.env_var(k).is_some_and(|(_, v, _)| !v.is_empty());
        if tls.ca.is_some() && !(has("BUILDKIT_TLS_CERT") && has("BUILDKIT_TLS_KEY")) {
            let ca_line = tls.ca.as_ref().and_then(|(_, s)| s.clone());
            out.push(
                Finding::new(&BK104, format!("`grpc.tls.ca` turns on mutual TLS, but the client environment ({}) has no BUILDKIT_TLS_CERT/BUILDKIT_TLS_KEY", env.src.path.display()))
                    .at(src.loc_opt(ca_line))
                    .note(format!("{}:{line}: BUILDKIT_HOST={host}", env.src.path.display()))
                    .help("issue a client certificate (clientAuth) from the CA in `grpc.tls.ca` and set BUILDKIT_TLS_CERT/BUILDKIT_TLS_KEY, or remove `ca` for server-only TLS"),
            );
        }
        pki_checks(ctx, &cfg, &tls, env, host, line, out);
        if !has("BUILDKIT_TLS_CA") {
            out.push(
                Finding::new(&BK105, format!("BUILDKIT_HOST={host} reaches a TLS listener but BUILDKIT_TLS_CA is not set"))
                    .at(env.src.loc_line(line))
                    .help("set BUILDKIT_TLS_CA to the CA that issued the buildkitd server certificate (buildctl uses an empty trust pool without it)"),
            );
        }
    }
}

fn tcp_without_tls(addr: &str, at: crate::diag::Location) -> Finding {
    Finding::new(&BK103, format!("buildkitd listens on `{addr}` without TLS"))
        .at(at)
        .prevents(format!("TLS is not enabled for {addr}. enabling mutual TLS authentication is highly recommended"))
        .help("add `[grpc.tls]` with `cert` and `key` (and `ca` for mutual TLS), or `--tlscert`/`--tlskey` flags, or listen on a unix socket only")
}

/// Where a service's flags are written: its `command` (or `entrypoint`) line.
fn args_loc(ctx: &Ctx<'_>, s: &ServiceView) -> Option<crate::diag::Location> {
    crate::doctor::view::compose_loc(ctx.snap, s.file, s.args_line.unwrap_or(s.line))
}

/// What buildkitd listens on and whether it serves TLS: `--addr`, `--tlscert`,
/// `--tlskey` and `--tlscacert` replace the config's values (a config-less daemon
/// listens on the image's default socket).
struct Daemon {
    addrs: Vec<String>,
    cert: bool,
    key: bool,
    ca: bool,
}

impl Daemon {
    fn of(cfg: Option<&ActiveConfig<'_>>, svc: Option<&ServiceView>) -> Daemon {
        let args: &[String] = svc.map_or(&[], |s| s.args.as_slice());
        let flag = |name: &str| {
            flag_values(args, name)
                .last()
                .is_some_and(|v| !v.is_empty())
        };
        let tls = cfg.map(|c| grpc_tls(c.doc));
        let mut addrs: Vec<String> = match cfg {
            Some(c) => addresses(c).into_iter().map(|(a, _)| a).collect(),
            None => flag_values(args, "--addr"),
        };
        if addrs.is_empty() {
            addrs.push(default_socket(svc).to_string());
        }
        Daemon {
            addrs,
            cert: flag("--tlscert") || tls.as_ref().is_some_and(|t| t.cert.is_some()),
            key: flag("--tlskey") || tls.as_ref().is_some_and(|t| t.key.is_some()),
            ca: flag("--tlscacert") || tls.as_ref().is_some_and(|t| t.ca.is_some()),
        }
    }

    fn tls(&self) -> bool {
        self.cert && self.key
    }
}

/// The socket buildkitd listens on without `--addr` or `grpc.address`, and the one
/// buildctl dials without `--addr`, in the `moby/buildkit` images (the rootless image
/// sets `BUILDKIT_HOST` and `XDG_RUNTIME_DIR` for uid 1000).
fn default_socket(svc: Option<&ServiceView>) -> &'static str {
    let rootless = svc
        .and_then(|s| s.image.as_deref())
        .is_some_and(|i| i.contains("rootless"));
    if rootless {
        "unix:///run/user/1000/buildkit/buildkitd.sock"
    } else {
        "unix:///run/buildkit/buildkitd.sock"
    }
}

/// BK103 for a buildkit service that reads no buildkitd.toml: its `--addr` flags alone
/// decide what it listens on.
fn flags_only(ctx: &Ctx<'_>, s: &ServiceView, out: &mut Vec<Finding>) {
    let daemon = Daemon::of(None, Some(s));
    if daemon.tls() {
        return;
    }
    for addr in addr_flags(s) {
        if addr.starts_with("tcp://")
            && let Some(at) = args_loc(ctx, s)
        {
            out.push(tcp_without_tls(&addr, at));
        }
    }
}

/// BK111: a healthcheck that runs `buildctl` inside the buildkit container against an
/// address buildkitd does not listen on, or without the TLS material its listener
/// needs, fails every time, so the service is never healthy.
fn healthcheck(ctx: &Ctx<'_>, s: &ServiceView, daemon: &Daemon, out: &mut Vec<Finding>) {
    use crate::doctor::parsed::StrOrList;
    let Some((test, line)) = &s.healthcheck else {
        return;
    };
    let argv: Vec<String> = match test {
        StrOrList::List(l) => match l.first().map(String::as_str) {
            Some("CMD") => l[1..].to_vec(),
            Some("CMD-SHELL") => l[1..]
                .join(" ")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            _ => return,
        },
        StrOrList::Str(t) => t.split_whitespace().map(str::to_string).collect(),
    };
    let Some(start) = argv
        .iter()
        .position(|a| a == "buildctl" || a.ends_with("/buildctl"))
    else {
        return;
    };
    let cmd: Vec<String> = argv[start + 1..]
        .iter()
        .take_while(|a| !matches!(a.as_str(), ";" | "&&" | "||" | "|"))
        .cloned()
        .collect();
    let flag = |name: &str| {
        flag_values(&cmd, name)
            .last()
            .cloned()
            .filter(|v| !v.is_empty())
    };
    let addr = flag("--addr")
        .or_else(|| s.env_var("BUILDKIT_HOST").map(str::to_string))
        .unwrap_or_else(|| default_socket(Some(s)).to_string());
    let has_ca = flag("--tlscacert").is_some() || flag("--tlsdir").is_some();
    let has_cert = flag("--tlscert").is_some() || flag("--tlsdir").is_some();
    let Some(at) = crate::doctor::view::compose_loc(ctx.snap, s.file, *line) else {
        return;
    };
    let listening = daemon.addrs.join(", ");
    let problem: Option<(String, String, String)> = if let Some(path) = addr.strip_prefix("unix://")
    {
        (!daemon.addrs.iter().any(|a| a.strip_prefix("unix://") == Some(path))).then(|| (
            format!("the healthcheck's `buildctl` dials `{addr}`, but buildkitd listens on {listening}"),
            format!("failed to list workers: Unavailable: connection error: desc = \"transport: Error while dialing: dial unix {path}: connect: no such file or directory\""),
            "point the healthcheck at an address buildkitd listens on (`--addr`), or add `unix:///run/buildkit/buildkitd.sock` to its listeners".to_string(),
        ))
    } else if let Some(rest) = addr.strip_prefix("tcp://") {
        let (host, port) = crate::hostport::host_and_port(rest.split('/').next().unwrap_or(rest));
        let own = crate::hostport::is_loopback(host)
            || host == "0.0.0.0"
            || s.network_names().iter().any(|n| n == host);
        let listens = daemon.addrs.iter().any(|a| {
            a.strip_prefix("tcp://")
                .map(|l| crate::hostport::host_and_port(l).1 == port)
                .unwrap_or(false)
        });
        if !own {
            None
        } else if !listens {
            Some((
                format!(
                    "the healthcheck's `buildctl` dials `{addr}`, but buildkitd listens on {listening}"
                ),
                format!(
                    "failed to list workers: Unavailable: connection error: desc = \"transport: Error while dialing: dial tcp {rest}: connect: connection refused\""
                ),
                "point the healthcheck at an address buildkitd listens on".to_string(),
            ))
        } else if daemon.tls() && !has_ca {
            Some((
                format!("the healthcheck's `buildctl` dials `{addr}` without TLS flags, but buildkitd serves TLS there"),
                "failed to list workers: Unavailable: connection error: desc = \"error reading server preface: EOF\"".to_string(),
                "pass `--tlscacert` (and `--tlscert`/`--tlskey` for mutual TLS) to the healthcheck's buildctl, or check the daemon over its unix socket".to_string(),
            ))
        } else if daemon.tls() && daemon.ca && !has_cert {
            Some((
                format!("the healthcheck's `buildctl` dials `{addr}` without a client certificate, but buildkitd requires one (`grpc.tls.ca`)"),
                "failed to list workers: Unavailable: write: broken pipe (the server answered `tls: certificate required`)".to_string(),
                "pass `--tlscert` and `--tlskey` (a client certificate from the CA buildkitd trusts) to the healthcheck's buildctl, or check the daemon over its unix socket".to_string(),
            ))
        } else if !daemon.tls() && has_ca {
            Some((
                format!("the healthcheck's `buildctl` speaks TLS to `{addr}`, but buildkitd serves it without TLS"),
                "transport: authentication handshake failed: tls: first record does not look like a TLS handshake".to_string(),
                "drop the TLS flags from the healthcheck, or turn TLS on for the listener".to_string(),
            ))
        } else {
            None
        }
    } else {
        None
    };
    if let Some((message, prevents, help)) = problem {
        out.push(
            Finding::new(&BK111, message)
                .at(at)
                .prevents(prevents)
                .help(help),
        );
    }
}

/// A client-side path from `.env` (relative to the file), as a PEM file of the snapshot.
fn env_pem<'a>(ctx: &'a Ctx<'_>, key: &str) -> Option<&'a crate::doctor::parsed::PemFile> {
    let (env, v, _) = ctx.snap.env_var(key)?;
    let base = env.src.path.parent().unwrap_or(std::path::Path::new(""));
    ctx.snap
        .pem_at(&crate::doctor::view::normalize(&base.join(v)))
}

fn pki_checks(
    ctx: &Ctx<'_>,
    cfg: &ActiveConfig<'_>,
    tls: &GrpcTls<'_>,
    env: &crate::doctor::parsed::EnvFile,
    host: &str,
    line: usize,
    out: &mut Vec<Finding>,
) {
    use super::trust::{host_file, san_covers, san_list, trusted_by};
    let at = env.src.loc_line(line);
    let name = host
        .trim_start_matches("tcp://")
        .split('/')
        .next()
        .unwrap_or_default();
    let name = crate::hostport::unbracket(crate::hostport::strip_port(name));
    let server = tls
        .cert
        .as_ref()
        .and_then(|(p, _)| host_file(ctx, cfg.service, p))
        .and_then(|p| p.facts.first());
    if let Some(cert) = server {
        if !san_covers(cert, name) {
            let ip = name.parse::<std::net::IpAddr>().is_ok();
            out.push(Finding::new(&BK106, format!("buildkitd's certificate is valid for {}, not {name} (from BUILDKIT_HOST)", san_list(cert)))
                .at(at.clone())
                .prevents(format!("transport: authentication handshake failed: x509: certificate is valid for {}, not {name}", san_list(cert)))
                .help(if ip { format!("an IP address needs an IP SAN: reissue the server certificate with IP {name}, or connect by a DNS name it covers") } else { format!("reissue the server certificate with {name} in its SANs, or connect by a name it covers") }));
        }
        if let Some(ca) = env_pem(ctx, "BUILDKIT_TLS_CA") {
            let cas: Vec<_> = ca.facts.iter().collect();
            if !cas.is_empty() && !trusted_by(cert, &cas) {
                out.push(
                    Finding::new(
                        &BK109,
                        format!(
                            "BUILDKIT_TLS_CA ({}) does not sign buildkitd's certificate",
                            ca.src.path.display()
                        ),
                    )
                    .at(at.clone())
                    .help("set BUILDKIT_TLS_CA to the CA that issued the server certificate"),
                );
            }
        }
    }
    let Some((ca_path, _)) = &tls.ca else { return };
    let Some(client) =
        env_pem(ctx, "BUILDKIT_TLS_CERT").and_then(|p| p.facts.first().map(|c| (p, c)))
    else {
        return;
    };
    let (file, cert) = client;
    if cert.ekus.as_ref().is_some_and(|e| !e.client_auth && !e.any) {
        out.push(
            Finding::new(
                &BK107,
                format!(
                    "client certificate {} lacks clientAuth",
                    file.src.path.display()
                ),
            )
            .at(at.clone())
            .help("reissue the client certificate with extendedKeyUsage clientAuth"),
        );
    }
    let cas: Vec<_> =
        host_file(ctx, cfg.service, ca_path).map_or(Vec::new(), |p| p.facts.iter().collect());
    if !cas.is_empty() && !trusted_by(cert, &cas) {
        out.push(
            Finding::new(
                &BK108,
                format!(
                    "client certificate {} is not signed by `grpc.tls.ca` ({ca_path})",
                    file.src.path.display()
                ),
            )
            .at(at)
            .help("issue the client certificate from the CA buildkitd trusts in `grpc.tls.ca`"),
        );
    }
}

/// BK110: daemons before v0.17 do not negotiate ALPN (BuildKit PR 5413), and clients
/// built with grpc-go 1.67 or later refuse a TLS server that selects no protocol,
/// unless GRPC_ENFORCE_ALPN_ENABLED=false is set where they run.
fn alpn(
    ctx: &Ctx<'_>,
    cfg: &ActiveConfig<'_>,
    tls: &GrpcTls<'_>,
    on: bool,
    out: &mut Vec<Finding>,
) {
    let Some(v) = cfg.service.and_then(ServiceView::buildkit_version) else {
        return;
    };
    let opted_out = ctx
        .snap
        .env_var("GRPC_ENFORCE_ALPN_ENABLED")
        .is_some_and(|(_, v, _)| v.eq_ignore_ascii_case("false"));
    if !on || v >= (0, 17, 0) || opted_out {
        return;
    }
    let image = cfg
        .service
        .and_then(|s| s.image.as_deref())
        .unwrap_or("moby/buildkit");
    let span = tls
        .cert
        .as_ref()
        .and_then(|(_, s)| s.clone())
        .or_else(|| tls.table_span.clone());
    out.push(
        Finding::new(
            &BK110,
            format!("`{image}` (v{}.{}.{}) serves gRPC over TLS without ALPN", v.0, v.1, v.2),
        )
        .at(cfg.file.src.loc_opt(span))
        .help("pin moby/buildkit v0.17.0 or later, or set GRPC_ENFORCE_ALPN_ENABLED=false where buildctl/buildx run"),
    );
}
