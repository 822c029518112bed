//! BK307–BK308: what the user a service runs as may do with what it is given: read each
//! mounted key, certificate and config, and create buildkitd's unix sockets. The user
//! and the permission rule are [`crate::doctor::user`]'s; the owner, group and mode of
//! each mounted file were read by `load` ([`crate::doctor::paths::Meta`]). Whatever is
//! unknown (a user doctor cannot resolve, a file it did not list) is never reported.

use super::Ctx;
use super::compose::{Read, reads};
use super::grpc::{addr_flags, config_addresses};
use crate::diag::{Finding, Location};
use crate::doctor::user::{self, Need, User};
use crate::doctor::view::{ServiceView, compose_loc};
use std::path::{Path, PathBuf};

crate::diag::checks! {
    BK307 {
        slug: "socket-not-creatable-by-container-user",
        severity: Error,
        fixable: false,
        title: "buildkitd's unix socket is in a directory its container user cannot write",
        prevents: "mkdir /run/buildkit: permission denied",
    }
    BK308 {
        slug: "file-unreadable-by-container-user",
        severity: Error,
        fixable: false,
        title: "A file a service reads is not readable by the user its container runs as",
        prevents: "could not load server key pair: open /etc/buildkit/certs/server.key: permission denied",
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.view.compose.is_none() {
        return;
    }
    for r in reads(ctx) {
        readable(ctx, &r, out);
    }
    for s in ctx.view.buildkit_services() {
        sockets(ctx, s, out);
    }
}

/// `uid:gid (origin)` of a service's user, for messages.
fn who(svc: &ServiceView, u: &User) -> String {
    format!("service `{}` runs as {} ({})", svc.name, u.ids(), u.origin)
}

/// `owned by 0:0, mode 0600`.
fn owned(m: crate::doctor::paths::Meta) -> String {
    format!("owned by {}:{}, mode {:04o}", m.uid, m.gid, m.mode & 0o7777)
}

/// The container path of host path `host` seen through the mount of host `top` at
/// `container`.
fn inside(container: &str, top: &Path, host: &Path) -> String {
    let rest = host.strip_prefix(top).unwrap_or(Path::new(""));
    if rest.as_os_str().is_empty() {
        container.to_string()
    } else {
        format!("{}/{}", container.trim_end_matches('/'), rest.display())
    }
}

/// The first step a user may not take on the way to `host` from the mount point `top`:
/// entering each directory, then `last` on `host` itself. `None` when every step is
/// allowed or one of them is unknown.
fn first_denied(
    ctx: &Ctx<'_>,
    u: &User,
    top: &Path,
    host: &Path,
    last: Need,
) -> Option<(PathBuf, Need, crate::doctor::paths::Meta)> {
    let mut steps: Vec<(PathBuf, Need)> = host
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(top))
        .map(|a| (a.to_path_buf(), Need::Enter))
        .collect();
    steps.reverse();
    steps.push((host.to_path_buf(), last));
    // A denied step after an unknown one is still denied: either way the open fails.
    steps.into_iter().find_map(|(path, need)| {
        let meta = ctx.snap.paths.meta(&path)?;
        (u.may(meta, need) == Some(false)).then_some((path, need, meta))
    })
}

/// BK308 when the service's user may not open the file.
fn readable(ctx: &Ctx<'_>, r: &Read<'_>, out: &mut Vec<Finding>) {
    let Some(denied) = &r.denied else { return };
    let u = r.svc.user();
    let Some((host, mount)) = r.svc.resolve(&r.path) else {
        return;
    };
    let Some(top) = &mount.host else { return };
    let Some((at_path, need, meta)) = first_denied(ctx, &u, top, &host, Need::Read) else {
        return;
    };
    let what = if need == Need::Enter {
        format!(
            "cannot enter `{}` to read `{}`: `{}` is {}",
            inside(&mount.container, top, &at_path),
            r.path,
            at_path.display(),
            owned(meta)
        )
    } else {
        format!(
            "cannot read `{}`: `{}` is {}",
            r.path,
            at_path.display(),
            owned(meta)
        )
    };
    let target = at_path.display().to_string();
    let chown = match (u.uid, u.gid) {
        (Some(uid), Some(gid)) => format!("sudo chown {uid}:{gid} {target}"),
        (Some(uid), None) => format!("sudo chown {uid} {target}"),
        _ => return,
    };
    let help = if need == Need::Enter {
        format!("let the container user enter the directory: `chmod o+x {target}`, or `{chown}`")
    } else if r.secret {
        format!(
            "give the file to the container user and keep it private: `{chown}` (mode stays {:04o}); never make a key world-readable",
            meta.mode & 0o7777
        )
    } else {
        format!("`{chown}`, or `chmod a+r {target}` (it holds no secret)")
    };
    let mut f = Finding::new(&BK308, format!("{}, which {what}", who(r.svc, &u)))
        .at(r.at.clone())
        .prevents(denied.clone())
        .help(help);
    if u.userns {
        f = f.note("under rootlesskit the daemon is uid 1000 for files owned by ids outside its user namespace (1000 and 100000-165535)");
    }
    out.push(f);
}

/// The unix sockets a buildkit service creates (`--addr` flags, else the `grpc.address`
/// of the config it reads), each with where it is declared.
fn unix_sockets(ctx: &Ctx<'_>, s: &ServiceView) -> Vec<(String, Location)> {
    let flags = addr_flags(s);
    let declared: Vec<(String, Option<Location>)> = if flags.is_empty() {
        ctx.active_configs()
            .into_iter()
            .filter(|c| c.service.is_some_and(|x| x.name == s.name))
            .flat_map(|c| {
                config_addresses(c.doc)
                    .into_iter()
                    .map(|(a, span)| (a, Some(c.file.src.loc_opt(span))))
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        flags.into_iter().map(|a| (a, None)).collect()
    };
    declared
        .into_iter()
        .filter_map(|(addr, at)| {
            let path = addr.strip_prefix("unix://")?.to_string();
            if !path.starts_with('/') {
                return None;
            }
            let at = at.or_else(|| flag_line(ctx, s, &addr))?;
            Some((path, at))
        })
        .collect()
}

/// The compose line of service `s` that holds `needle` (a flag's value).
fn flag_line(ctx: &Ctx<'_>, s: &ServiceView, needle: &str) -> Option<Location> {
    let file = ctx.snap.compose.get(s.file)?;
    (s.line..=file.src.line_count())
        .find(|l| file.src.line_text(*l).is_some_and(|t| t.contains(needle)))
        .map(|l| file.src.loc_line(l))
        .or_else(|| compose_loc(ctx.snap, s.file, s.line))
}

/// Why the user may not create `socket`, as the daemon would say it; `None` when it may
/// or when that is unknown.
fn socket_denied(
    ctx: &Ctx<'_>,
    s: &ServiceView,
    u: &User,
    socket: &str,
) -> Option<(String, String)> {
    let dir = Path::new(socket).parent()?.to_str()?.to_string();
    let bind = format!(
        "failed to create unix socket on {socket}: listen unix {socket}: bind: permission denied"
    );
    let mount = s
        .mounts
        .iter()
        .filter(|m| Path::new(&dir).starts_with(&m.container))
        .max_by_key(|m| m.container.len());
    if let Some(m) = mount {
        // A bind-mounted directory: the host directory's owner and mode decide.
        let top = m.host.as_ref()?;
        let (host_dir, _) = s.resolve(&dir)?;
        // The deepest directory that exists; buildkitd creates the rest (`mkdir -p`).
        let mut existing = host_dir;
        let mut missing_child = None;
        while !ctx.snap.paths.exists(&existing)? {
            if existing == *top {
                return None;
            }
            missing_child = Some(existing.clone());
            existing = existing.parent()?.to_path_buf();
        }
        let (at, _, meta) = first_denied(ctx, u, top, &existing, Need::Create)?;
        let why = format!("`{}` is {}", at.display(), owned(meta));
        let prevents = match missing_child {
            Some(c) => format!("mkdir {}: permission denied", inside(&m.container, top, &c)),
            None => bind,
        };
        return Some((why, prevents));
    }
    if u.may_create_in_image(&dir)? {
        return None;
    }
    // The image's own directories: buildkitd creates the socket's directory with
    // `mkdir -p`, which fails at the first one missing.
    let image = s.image.as_deref();
    let first_missing = Path::new(&dir)
        .ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|a| user::image_has_dir(image, &a.display().to_string()) == Some(false));
    let parent_of = |d: &Path| {
        d.parent()
            .map_or("/".to_string(), |p| p.display().to_string())
    };
    let (why, prevents) = match first_missing {
        Some(d) => (
            format!(
                "`{}` does not exist and `{}` belongs to root in the image",
                d.display(),
                parent_of(d)
            ),
            format!("mkdir {}: permission denied", d.display()),
        ),
        None => (format!("`{dir}` belongs to root in the image"), bind),
    };
    Some((why, prevents))
}

/// BK307 for each unix socket the service's user may not create.
fn sockets(ctx: &Ctx<'_>, s: &ServiceView, out: &mut Vec<Finding>) {
    let u = s.user();
    if u.uid == Some(0) {
        return;
    }
    for (socket, at) in unix_sockets(ctx, s) {
        let Some((why, prevents)) = socket_denied(ctx, s, &u, &socket) else {
            continue;
        };
        let writable = u
            .writable
            .map(|w| {
                w.iter()
                    .map(|d| format!("`{}`", d.trim_end_matches('/')))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let help = if u.userns {
            format!(
                "listen on `{}` (the rootless image's runtime directory; {writable} are its user's)",
                crate::model::layout::BK_SOCKET_ROOTLESS
            )
        } else {
            format!(
                "put the socket in a directory uid {} may write ({writable}), or mount one it owns there",
                u.ids()
            )
        };
        out.push(
            Finding::new(
                &BK307,
                format!(
                    "{}, which cannot create the socket `{socket}`: {why}",
                    who(s, &u)
                ),
            )
            .at(at)
            .prevents(prevents)
            .help(help),
        );
    }
}
