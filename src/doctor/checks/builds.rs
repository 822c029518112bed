//! BK6xx: builds: image references in Dockerfile `FROM` lines and build commands (cache
//! exports are `cache`'s). References to registries
//! without trust or credentials are reported by BK201/BK403/BK404 at the reference.

use super::Ctx;
use crate::diag::Finding;
use crate::doctor::refs::unbracketed_ipv6;

crate::diag::checks! {
    BK602 {
        slug: "from-blank-after-arg",
        severity: Error,
        fixable: false,
        title: "A `FROM` image is empty after ARG substitution",
        prevents: "base name (${X}) should not be blank",
    }
    BK611 {
        slug: "image-ref-ipv6-unbracketed",
        severity: Error,
        fixable: false,
        title: "An image reference names an IPv6 registry without brackets",
        prevents: "invalid reference format",
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for f in &ctx.snap.refs {
        for r in &f.refs {
            if let Some(host) = unbracketed_ipv6(&r.reference) {
                let (first, path) = r.reference.split_once('/').unwrap_or((&r.reference, ""));
                let what = if r.role == "from" {
                    "`FROM`"
                } else {
                    "the reference"
                };
                out.push(Finding::new(&BK611, format!("registry `{first}` of `{}` is an IPv6 address without brackets", r.reference))
                    .at(f.src.loc_line(r.line))
                    .prevents(format!("invalid reference format ({what} is refused before any registry is dialled)"))
                    .help(format!("write `{host}/{path}`: image references (and `[registry.\"{host}\"]` tables) bracket IPv6 addresses")));
                continue;
            }
            if r.role == "from-blank" {
                let raw = r.options.clone().unwrap_or_default();
                out.push(Finding::new(&BK602, format!("`FROM {raw}` is empty: the ARG has no value before the first FROM"))
                    .at(f.src.loc_line(r.line))
                    .prevents(format!("base name ({raw}) should not be blank"))
                    .help("give the ARG a default (`ARG BASE=alpine:3.20`) before the first FROM, or pass `--build-arg`"));
            }
        }
    }
}
