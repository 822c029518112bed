//! BK880–BK899: the buildkitd installed on this machine under systemd (`doctor --host`).
//! The unit, its drop-ins, the account of `User=` and every file the daemon opens were
//! read by [`crate::doctor::host::load`]; these checks only look at what it found. The
//! config itself goes through every other family like any buildkitd.toml.

use super::Ctx;
use super::grpc::grpc_tls;
use crate::diag::{Finding, Location};
use crate::doctor::daemon_files::{self, Role};
use crate::doctor::host::{Entry, HostDaemon};
use std::path::Path;

crate::diag::checks! {
    BK880 {
        slug: "host-install-not-found",
        severity: Error,
        fixable: false,
        title: "`--host` found no buildkit.service and no buildkitd.toml on this machine",
        prevents: "",
    }
    BK881 {
        slug: "host-config-missing",
        severity: Error,
        fixable: false,
        title: "The config the unit names with `--config` does not exist: buildkitd starts with defaults",
        prevents: "no error: buildkitd starts with its defaults (no TLS, no registry CAs)",
    }
    BK882 {
        slug: "host-file-missing",
        severity: Error,
        fixable: false,
        title: "A file the host daemon opens does not exist on this machine",
        prevents: "buildkitd: open /etc/buildkit/certs/server.crt: no such file or directory",
    }
    BK883 {
        slug: "host-file-unreadable-by-service-user",
        severity: Error,
        fixable: false,
        title: "A file the host daemon opens is not readable by the user the unit runs it as",
        prevents: "buildkitd: open /etc/buildkit/certs/server.key: permission denied",
    }
    BK884 {
        slug: "host-tls-flags-override-config",
        severity: Warning,
        fixable: false,
        title: "`ExecStart`'s `--tlscert`/`--tlskey`/`--tlscacert` silently replace the config's `[grpc.tls]`",
        prevents: "tls: failed to verify certificate: x509: certificate signed by unknown authority",
    }
    BK885 {
        slug: "host-exec-start-repeated",
        severity: Error,
        fixable: false,
        title: "buildkit.service has more than one `ExecStart=` (a drop-in without `ExecStart=` first)",
        prevents: "Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.",
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(host) = &ctx.snap.host else { return };
    if host.unit.is_none() && !matches!(config_entry(host), Some(Entry::Present(_))) {
        out.push(
            Finding::new(
                &BK880,
                "no buildkit.service in /etc/systemd/system, /run/systemd/system, /lib/systemd/system, /usr/lib/systemd/system or the user's ~/.config/systemd/user, and no /etc/buildkit/buildkitd.toml",
            )
            .help("run `bkenv doctor --host` on the machine where buildkitd is installed, or `bkenv init` with a host install to generate one"),
        );
        return;
    }
    if host.exec.len() > 1
        && let Some(at) = host.exec.last().and_then(|(_, a)| host.loc(*a))
    {
        out.push(
            Finding::new(&BK885, format!("{} `ExecStart=` lines remain after the drop-ins: a drop-in adds to the list unless it empties it first", host.exec.len()))
                .at(at)
                .prevents(BK885.prevents)
                .help("start the drop-in's [Service] with an empty `ExecStart=` line, then the new `ExecStart=...`"),
        );
    }
    config_missing(host, out);
    files(ctx, host, out);
    tls_flags(ctx, host, out);
}

fn config_entry(host: &HostDaemon) -> Option<&Entry> {
    host.config.as_ref().and_then(|(c, _)| host.entry(c))
}

/// The unit line naming the config, else the unit's main file.
fn unit_loc(host: &HostDaemon, at: Option<crate::doctor::host::At>) -> Option<Location> {
    at.and_then(|a| host.loc(a))
        .or_else(|| host.sources.first().map(|s| s.file_loc()))
}

fn config_missing(host: &HostDaemon, out: &mut Vec<Finding>) {
    let Some((c, Some(at))) = &host.config else {
        return;
    };
    if config_entry(host) != Some(&Entry::Missing) {
        return;
    }
    let Some(loc) = host.loc(*at) else { return };
    out.push(
        Finding::new(
            &BK881,
            format!("`ExecStart` passes `--config {c}`, which does not exist: buildkitd starts without a word, with its defaults"),
        )
        .at(loc)
        .prevents(BK881.prevents)
        .help(format!("put the config at `{c}`, or point `--config` at where it is")),
    );
}

/// Where a path is named: its key in the config, or the unit's ExecStart for a flag.
struct Named {
    path: String,
    what: String,
    at: Option<Location>,
    secret: bool,
}

fn named(ctx: &Ctx<'_>, host: &HostDaemon) -> Vec<Named> {
    let mut out = Vec::new();
    let exec_at = host.exec.last().and_then(|(_, a)| host.loc(*a));
    for (flag, v) in &host.tls_flags {
        out.push(Named {
            path: v.clone(),
            what: format!("`{flag}` in ExecStart"),
            at: exec_at.clone(),
            secret: *flag == "--tlskey",
        });
    }
    for cfg in host_configs(ctx, host) {
        for f in daemon_files::files(cfg.doc) {
            // A TLS flag replaces the key: the file it names is never opened.
            let replaced = match f.role {
                Role::GrpcCert => host.tls_flags.iter().any(|(f, _)| *f == "--tlscert"),
                Role::GrpcKey => host.tls_flags.iter().any(|(f, _)| *f == "--tlskey"),
                Role::GrpcCa => host.tls_flags.iter().any(|(f, _)| *f == "--tlscacert"),
                _ => false,
            };
            if replaced {
                continue;
            }
            out.push(Named {
                secret: f.role.secret(),
                what: format!("`{}`", f.role.key()),
                at: Some(cfg.file.src.loc_opt(f.span.clone())),
                path: f.path,
            });
        }
    }
    out
}

fn host_configs<'a>(ctx: &'a Ctx<'_>, host: &HostDaemon) -> Vec<super::ActiveConfig<'a>> {
    let Some((c, _)) = &host.config else {
        return Vec::new();
    };
    let p = host.machine_path(c);
    ctx.active_configs()
        .into_iter()
        .filter(|a| a.file.src.path == p)
        .collect()
}

fn files(ctx: &Ctx<'_>, host: &HostDaemon, out: &mut Vec<Finding>) {
    let account = host.account.as_ref();
    for n in named(ctx, host) {
        let p = host.machine_path(&n.path);
        let Some(at) = n.at.clone().or_else(|| unit_loc(host, None)) else {
            continue;
        };
        match host.entries.get(&p) {
            Some(Entry::Missing) => {
                let first_missing = p
                    .ancestors()
                    .filter(|a| host.entries.get(*a) == Some(&Entry::Missing))
                    .last()
                    .unwrap_or(&p);
                let why = if first_missing == p {
                    String::new()
                } else {
                    format!(" (`{}` does not exist)", first_missing.display())
                };
                out.push(
                    Finding::new(&BK882, format!("{} names `{}`, which does not exist on this machine{why}", n.what, p.display()))
                        .at(at)
                        .prevents(format!("buildkitd: open {}: no such file or directory", p.display()))
                        .help("create the file (`bkenv init` with a host install writes the certificates), or fix the path"),
                );
            }
            Some(Entry::Present(_)) => {
                let Some(a) = account else { continue };
                let denied = p
                    .ancestors()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .find_map(|step: &Path| match host.entries.get(step) {
                        Some(Entry::Present(m)) if !a.may_read(*m) => Some((step, *m)),
                        _ => None,
                    });
                let Some((step, m)) = denied else { continue };
                let who = match &host.user {
                    Some((u, _)) => format!("`User={u}` (uid {}, gid {})", a.uid, a.gid),
                    None if host.rootless => {
                        format!("the user unit's owner `{}` (uid {})", a.name, a.uid)
                    }
                    None => format!("uid {}", a.uid),
                };
                let owned = format!("owned by {}:{}, mode {:04o}", m.uid, m.gid, m.mode);
                let what = if step == p {
                    format!("cannot read `{}`", p.display())
                } else {
                    format!(
                        "cannot enter `{}` to read `{}`",
                        step.display(),
                        p.display()
                    )
                };
                let fix = if n.secret {
                    format!("sudo chown {}:{} {}", a.uid, a.gid, step.display())
                } else if m.dir {
                    format!("sudo chmod o+x {}", step.display())
                } else {
                    format!("sudo chmod o+r {}", step.display())
                };
                out.push(
                    Finding::new(&BK883, format!("{who} {what} ({} names it): `{}` is {owned}", n.what, step.display()))
                        .at(at)
                        .prevents(format!("buildkitd: open {}: permission denied", p.display()))
                        .help(format!("`{fix}` (keys: change the owner, never make them readable by others), or run the service as a user that can read it")),
                );
            }
            _ => {}
        }
    }
}

/// BK884: a TLS flag and the config's `[grpc.tls]` key both set, to different files.
fn tls_flags(ctx: &Ctx<'_>, host: &HostDaemon, out: &mut Vec<Finding>) {
    for cfg in host_configs(ctx, host) {
        let tls = grpc_tls(cfg.doc);
        for (flag, key, item) in [
            ("--tlscert", "cert", &tls.cert),
            ("--tlskey", "key", &tls.key),
            ("--tlscacert", "ca", &tls.ca),
        ] {
            let Some((value, span)) = item else { continue };
            let Some((_, v)) = host.tls_flags.iter().find(|(f, _)| *f == flag) else {
                continue;
            };
            if host.machine_path(v) == host.machine_path(value) {
                continue;
            }
            let exec = host
                .exec
                .last()
                .and_then(|(_, a)| host.loc(*a))
                .map_or_else(String::new, |l| {
                    format!(" ({}:{})", l.path.display(), l.span.map_or(0, |s| s.line))
                });
            out.push(
                Finding::new(&BK884, format!("`grpc.tls.{key} = \"{value}\"` is never used: ExecStart's `{flag} {v}`{exec} replaces it without a word"))
                    .at(cfg.file.src.loc_opt(span.clone()))
                    .prevents(BK884.prevents)
                    .help(format!("keep one source of truth: drop `{flag}` from ExecStart, or make `grpc.tls.{key}` name `{v}`")),
            );
        }
    }
}
