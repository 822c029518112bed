//! BK2xx (proxies): which registry requests buildkitd sends through an HTTP(S) proxy.
//! buildkitd's resolver picks a proxy with Go's `http.ProxyFromEnvironment`
//! ([`crate::httpproxy`]) from the environment of its container; a registry that only
//! the compose network (or the container's own resolver) knows must be bypassed.

use super::Ctx;
use super::registry_uses::usages;
use crate::diag::Finding;
use crate::doctor::registry_tables::{reg_tables, table_for};
use crate::doctor::view::{ServiceView, env_loc};
use crate::hostport;
use crate::httpproxy::{ProxyEnv, quoted_entries, use_proxy};
use std::collections::BTreeMap;

crate::diag::checks! {
    BK221 {
        slug: "registry-sent-to-proxy",
        severity: Error,
        fixable: false,
        title: "buildkitd's proxy settings send a registry only its own network knows through the proxy",
        prevents: "proxyconnect tcp: dial tcp PROXY: connect: connection refused",
    }
}

/// The variables Go reads, in both cases.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
];

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let hosts = dialled_hosts(ctx);
    for svc in ctx.view.buildkit_services() {
        let Some(env) = service_proxy_env(svc) else {
            continue;
        };
        for (host, https) in &hosts {
            if let Some(f) = finding(ctx, svc, &env, host, *https) {
                out.push(f);
            }
        }
    }
}

/// The proxy settings a service's process sees, or `None` when doctor cannot know them:
/// a variable copied from the shell compose runs in (`- NO_PROXY`), or interpolated
/// (`${NO_PROXY}`), which the shell may set.
fn service_proxy_env(svc: &ServiceView) -> Option<ProxyEnv> {
    let unknown = PROXY_VARS.iter().any(|k| {
        svc.env_from_host.iter().any(|h| h == k) || svc.env_var(k).is_some_and(|v| v.contains('$'))
    });
    if unknown {
        return None;
    }
    let env = ProxyEnv::from_lookup(|k| svc.env_var(k).map(str::to_string));
    (env.http.is_some() || env.https.is_some()).then_some(env)
}

/// Every registry host buildkitd dials (`host[:port]` as written), with whether it speaks
/// HTTPS (`http = true` in its table makes it plain HTTP).
fn dialled_hosts(ctx: &Ctx<'_>) -> BTreeMap<String, bool> {
    let mut names: Vec<String> = usages(ctx).into_iter().map(|u| u.host).collect();
    let configs = ctx.active_configs();
    let tables: Vec<_> = configs.iter().flat_map(|c| reg_tables(c.doc)).collect();
    for t in &tables {
        names.push(t.host.clone());
        for (m, _) in &t.mirrors {
            let m = m.split_once("://").map_or(m.as_str(), |(_, rest)| rest);
            names.push(m.split('/').next().unwrap_or(m).to_string());
        }
    }
    names
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(|n| {
            let https = table_for(&tables, &n).is_none_or(|t| t.http != Some(true));
            (n, https)
        })
        .collect()
}

/// Whether only the container's own network can resolve `host`: a service (or alias) of
/// this compose project, or a single-label name, which a proxy elsewhere cannot resolve.
fn network_only(ctx: &Ctx<'_>, name: &str) -> bool {
    let bare = hostport::unbracket(hostport::strip_port(name));
    if bare.parse::<std::net::IpAddr>().is_ok() || bare.eq_ignore_ascii_case("localhost") {
        return false;
    }
    ctx.view
        .registry_for(name)
        .is_some_and(|(_, outside)| !outside)
        || !bare.contains('.')
}

fn finding(
    ctx: &Ctx<'_>,
    svc: &ServiceView,
    env: &ProxyEnv,
    name: &str,
    https: bool,
) -> Option<Finding> {
    if !network_only(ctx, name) {
        return None;
    }
    let (host, port) = hostport::host_and_port(name);
    let port = port.unwrap_or(if https { 443 } else { 80 });
    let (proxy_var, proxy) = env.proxy_for(https, host, port)?;
    let why = match &env.no_proxy {
        None => "no `NO_PROXY` is set".to_string(),
        Some((var, value)) => {
            let quoted = quoted_entries(value);
            let lower = svc
                .env_var("no_proxy")
                .filter(|v| var == "NO_PROXY" && !use_proxy(v, host, port));
            if !quoted.is_empty() {
                format!(
                    "`{var}` holds quote characters (`{}`), which compose keeps in a list item and Go matches literally",
                    quoted.join("`, `")
                )
            } else if lower.is_some() {
                "`no_proxy` names it, but Go reads `NO_PROXY` whenever it is set".to_string()
            } else {
                format!("`{var}={value}` does not cover it")
            }
        }
    };
    let bypass_var = env.no_proxy.as_ref().map(|(v, _)| v.as_str());
    let at = env_loc(ctx.snap, svc, bypass_var.unwrap_or(proxy_var))?;
    let keep: Vec<&str> = env
        .no_proxy
        .as_ref()
        .map(|(_, v)| {
            v.split(',')
                .map(|e| e.trim().trim_matches(['"', '\'']))
                .collect()
        })
        .unwrap_or_default();
    let mut list: Vec<&str> = keep.into_iter().filter(|e| !e.is_empty()).collect();
    let bare = hostport::strip_port(name);
    if !list.contains(&bare) {
        list.insert(0, bare);
    }
    let list = list.join(",");
    Some(
        Finding::new(
            &BK221,
            format!(
                "service `{}` sends its requests for registry `{name}` to the proxy `{proxy}` (`{proxy_var}`), which cannot resolve a name only this network knows: {why}",
                svc.name
            ),
        )
        .at(at)
        .prevents(format!(
            "proxyconnect tcp: dial tcp ...: connect: connection refused (or the proxy's own `503 Service Unavailable` / `403 Forbidden` for `{name}`)"
        ))
        .help(format!(
            "bypass the proxy for it in the service's environment, unquoted, in both cases: `NO_PROXY={list}` and `no_proxy={list}`"
        )),
    )
}
