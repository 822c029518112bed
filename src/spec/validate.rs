//! Spec → model: every bad input becomes one error naming the field and the fix.

use super::{HostSpec, MirrorSpec, RegistrySpec, Spec, grammar};
use crate::error::{Error, Result};
use crate::hostport::{Host, HostPort, parse_host};
use crate::model::{
    Auth, Buildkitd, Environment, HostInstall, LocalService, Pki, Publish, Reach, Registry,
    RegistryName, Role, layout, push_unique,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The longest leaf validity clients accept (Apple's limit for private CAs).
pub(super) const MAX_LEAF_DAYS: u32 = 825;
/// A CA valid for a century outlives any development environment; longer validities
/// only approach the end of what X.509 dates and the clock types can express.
pub(super) const MAX_CA_DAYS: u32 = 36_500;
/// Limits on the size of a spec. Every registry name gets a `certs.d/<name>/` copy of
/// the CA and a SAN, and every name is a `config.json` entry: a few dozen names is a
/// large environment, thousands only cost time and disk (10,000 names took 18 s and
/// 2.3 GB before these limits).
pub(super) const MAX_REGISTRIES: usize = 16;
pub(super) const MAX_NAMES: usize = 32;

/// Checks the spec and resolves it into the environment model.
pub fn validate(spec: &Spec) -> Result<Environment> {
    let pki = validate_pki(spec)?;
    if spec.registries.len() > MAX_REGISTRIES {
        return Err(Error::invalid(
            "registry",
            format!(
                "{} registries; bkenv supports at most {MAX_REGISTRIES} per environment",
                spec.registries.len()
            ),
        ));
    }
    let mut services: Vec<String> = vec![spec.buildkitd.service.clone()];
    services.extend(spec.registries.iter().filter_map(|r| r.service.clone()));
    services.extend(spec.mirror.iter().map(|m| m.service.clone()));
    check_service_names(&services)?;

    let mut buildkitd = validate_buildkitd(spec)?;
    let mut registries = Vec::new();
    for (i, r) in spec.registries.iter().enumerate() {
        registries.push(validate_registry(&format!("registry[{i}]"), r, &services)?);
    }
    if let Some(m) = &spec.mirror {
        registries.push(validate_mirror(m, &services)?);
    }
    let kubernetes = match &spec.kubernetes {
        Some(k) => Some(super::kubernetes::apply(
            k,
            &mut buildkitd,
            &mut registries,
        )?),
        None => None,
    };
    check_count("buildkitd.names", buildkitd.sans.len())?;
    for r in &registries {
        check_count("registry.names", r.names.len())?;
    }
    check_unique_names(&registries)?;
    check_ports(&buildkitd, &registries)?;
    let host = spec.host.as_ref().map(validate_host).transpose()?;
    Ok(Environment {
        pki,
        buildkitd,
        registries,
        kubernetes,
        host,
    })
}

fn validate_host(h: &HostSpec) -> Result<HostInstall> {
    let path = |field: &str, v: &str| -> Result<String> {
        check_machine_path(v).map_err(|m| Error::invalid(format!("host.{field}"), m))?;
        Ok(v.to_string())
    };
    let certs_dir = path("certs_dir", &h.certs_dir)?;
    let config = path("config", &h.config)?;
    if config == certs_dir || config.starts_with(&format!("{certs_dir}/")) {
        return Err(Error::invalid(
            "host.config",
            format!(
                "`{config}` is inside certs_dir `{certs_dir}`; keep the config beside the certificates, not among them"
            ),
        ));
    }
    Ok(HostInstall {
        certs_dir,
        config,
        buildkitd: path("buildkitd", &h.buildkitd)?,
        rootless: h.rootless,
    })
}

/// An absolute, normalized machine path whose every character is printable ASCII other
/// than white space, quotes and backslash: systemd splits `ExecStart` on white space
/// and reads quotes and backslashes as escapes, so those would need a second grammar;
/// `%` and `$` (specifiers, variables) are doubled by the renderer (`render::host`).
fn check_machine_path(v: &str) -> std::result::Result<(), String> {
    const MAX: usize = 1024;
    if v == "/" {
        return Err("`/` is not a file".into());
    }
    if !v.starts_with('/') {
        return Err(format!(
            "`{v}` is not an absolute path; systemd and buildkitd on the machine need one"
        ));
    }
    if v.len() > MAX {
        return Err(format!("longer than {MAX} bytes"));
    }
    if let Some(c) = v
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(format!(
            "{c:?} is not allowed in a host path (white space, quotes, backslashes and control characters would need unit-file escaping); choose a path without it"
        ));
    }
    if v.len() > 1 && v.ends_with('/')
        || v.split('/')
            .skip(1)
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "`{v}` is not normalized (no `//`, `.`, `..` or trailing `/`)"
        ));
    }
    Ok(())
}

fn validate_pki(spec: &Spec) -> Result<Pki> {
    let p = &spec.pki;
    if p.leaf_validity_days == 0 || p.leaf_validity_days > MAX_LEAF_DAYS {
        return Err(Error::invalid(
            "pki.leaf_validity_days",
            format!(
                "{} days is outside 1..={MAX_LEAF_DAYS}; Go, rustls and Apple clients reject server \
                 certificates valid for more than {MAX_LEAF_DAYS} days. Use 365.",
                p.leaf_validity_days
            ),
        ));
    }
    if p.ca_validity_days > MAX_CA_DAYS {
        return Err(Error::invalid(
            "pki.ca_validity_days",
            format!(
                "{} days is more than {MAX_CA_DAYS} (100 years); use 3650",
                p.ca_validity_days
            ),
        ));
    }
    if p.ca_validity_days < p.leaf_validity_days {
        return Err(Error::invalid(
            "pki.ca_validity_days",
            "the CA must be valid at least as long as its certificates (leaf_validity_days)",
        ));
    }
    if p.ca_common_name.trim().is_empty() {
        return Err(Error::invalid("pki.ca_common_name", "must not be empty"));
    }
    // X.520 bounds a common name at 64 characters, and the CA's carries its key id too.
    let max = 64 - crate::pki::CA_NAME_SUFFIX_LEN;
    if p.ca_common_name.chars().count() > max {
        return Err(Error::invalid(
            "pki.ca_common_name",
            format!("is longer than {max} characters (the CA's name also carries its key id)"),
        ));
    }
    if p.ca_common_name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "pki.ca_common_name",
            "must not contain control characters",
        ));
    }
    Ok(Pki {
        key_type: p.key_type,
        ca_common_name: p.ca_common_name.clone(),
        ca_validity_days: p.ca_validity_days,
        leaf_validity_days: p.leaf_validity_days,
        name_constraints: p.name_constraints,
    })
}

fn check_service_names(services: &[String]) -> Result<()> {
    let mut seen = BTreeMap::new();
    for s in services {
        grammar::service_name(s).map_err(|e| Error::invalid("service", e))?;
        if crate::model::layout::TOP_LEVEL.contains(&s.as_str()) {
            return Err(Error::invalid(
                "service",
                format!(
                    "`{s}` is the name of a directory or file bkenv writes for itself; a registry named `{s}` would \
                     share it (and its keys) with another service. Choose another service name"
                ),
            ));
        }
        if seen.insert(s.as_str(), ()).is_some() {
            return Err(Error::invalid(
                "service",
                format!("two services are named `{s}`; compose service names must be unique"),
            ));
        }
    }
    Ok(())
}

fn validate_buildkitd(spec: &Spec) -> Result<Buildkitd> {
    let b = &spec.buildkitd;
    if b.listen.is_empty() {
        return Err(Error::invalid(
            "buildkitd.listen",
            "give at least one address, e.g. \"tcp://0.0.0.0:1234\"",
        ));
    }
    for addr in &b.listen {
        grammar::listen_address(addr).map_err(|e| Error::invalid("buildkitd.listen", e))?;
    }
    if b.rootless {
        check_rootless_sockets(&b.listen)?;
    }
    check_count("buildkitd.names", b.names.len())?;
    let dialled = b.host.strip_prefix("tcp://").ok_or_else(|| {
        Error::invalid(
            "buildkitd.host",
            format!(
                "`{}` must be tcp://HOST:PORT: BUILDKIT_HOST for clients on this machine",
                b.host
            ),
        )
    })?;
    let host_port =
        HostPort::parse(dialled).map_err(|e| Error::invalid("buildkitd.host", e.to_string()))?;
    if host_port.port.is_none() {
        return Err(Error::invalid(
            "buildkitd.host",
            format!("`{}` needs a port, e.g. tcp://localhost:1234", b.host),
        ));
    }
    let mut sans = Vec::new();
    for name in &b.names {
        let host = parse_host(name, name.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|e| Error::invalid("buildkitd.names", e.to_string()))?;
        push_unique(&mut sans, host);
    }
    // buildctl verifies the host of BUILDKIT_HOST and the service name is what other
    // containers dial: both must be SANs whatever the spec lists.
    push_unique(&mut sans, host_port.host.clone());
    push_unique(&mut sans, Host::Dns(b.service.clone()));
    let mut image = b.image.clone();
    if b.rootless && !image.ends_with("-rootless") {
        image.push_str("-rootless");
    }
    check_image("buildkitd.image", &image)?;
    Ok(Buildkitd {
        service: b.service.clone(),
        version: crate::model::image_version(&image),
        image,
        rootless: b.rootless,
        listen: b.listen.clone(),
        host: b.host.clone(),
        publish: parse_publish("buildkitd.publish", &b.publish)?,
        sans,
        mtls: b.mtls,
    })
}

/// The rootless image runs buildkitd as uid 1000, which can create a socket only where
/// that user may write; anywhere else the daemon stops at startup.
fn check_rootless_sockets(listen: &[String]) -> Result<()> {
    for addr in listen {
        let Some(path) = addr.strip_prefix("unix://") else {
            continue;
        };
        if layout::ROOTLESS_WRITABLE
            .iter()
            .any(|d| path.starts_with(d))
        {
            continue;
        }
        let parent = path.rsplit_once('/').map_or("/", |(p, _)| p);
        return Err(Error::invalid(
            "buildkitd.listen",
            format!(
                "`{addr}`: the rootless image runs buildkitd as uid {}, which cannot create files under {} \
                 (buildkitd stops with \"mkdir {parent}: permission denied\" or \"failed to create unix socket on {path}: permission denied\"). \
                 Use `{}`, the socket under its runtime directory",
                layout::ROOTLESS_UID,
                if parent.is_empty() { "/" } else { parent },
                layout::BK_SOCKET_ROOTLESS
            ),
        ));
    }
    Ok(())
}

fn parse_names(field: &str, names: &[String], services: &[String]) -> Result<Vec<RegistryName>> {
    if names.is_empty() {
        return Err(Error::invalid(
            field,
            "give at least one host:port clients use for this registry",
        ));
    }
    check_count(field, names.len())?;
    let mut out: Vec<RegistryName> = Vec::new();
    for n in names {
        let name = HostPort::parse(n).map_err(|e| Error::invalid(field, e.to_string()))?;
        let reach = match &name.host {
            h if h.is_loopback() => Reach::HostOnly,
            Host::Dns(d) if services.contains(d) => Reach::Network,
            _ => Reach::Everywhere,
        };
        if out.iter().any(|o| o.name == name) {
            return Err(Error::invalid(field, format!("`{n}` is listed twice")));
        }
        out.push(RegistryName { name, reach });
    }
    if !out.iter().any(RegistryName::buildkitd_dials) {
        return Err(Error::invalid(
            field,
            format!(
                "every name is a loopback name ({}); inside the buildkitd container loopback is the container itself. \
                 Add the name buildkitd dials, e.g. the compose service `registry:5000`",
                names.join(", ")
            ),
        ));
    }
    Ok(out)
}

fn validate_registry(field: &str, r: &RegistrySpec, services: &[String]) -> Result<Registry> {
    let names = parse_names(&format!("{field}.names"), &r.names, services)?;
    let auth = r.auth.as_ref().map(|a| Auth {
        username: a.username.clone(),
        password_env: a.password_env.clone(),
    });
    if let Some(a) = &auth {
        crate::htpasswd::check_username(&format!("{field}.auth.username"), &a.username)?;
    }
    let role = match &r.service {
        Some(service) => {
            if r.ca_file.is_some() {
                return Err(Error::invalid(
                    format!("{field}.ca_file"),
                    "only external registries (no `service`) take a ca_file; bkenv issues the certificate of a local one",
                ));
            }
            let image = r.image.clone().unwrap_or_else(|| "registry:2.8.3".into());
            check_image(&format!("{field}.image"), &image)?;
            let local = LocalService {
                service: service.clone(),
                image,
                port: r.port.unwrap_or(5000),
                publish: parse_publish(&format!("{field}.publish"), &r.publish)?,
            };
            check_host_names_published(&format!("{field}.publish"), &names, &local)?;
            Role::Local(local)
        }
        None => {
            if r.image.is_some() || r.port.is_some() || !r.publish.is_empty() {
                return Err(Error::invalid(
                    field,
                    "`image`, `port` and `publish` need `service`: without it the registry is external",
                ));
            }
            Role::External {
                ca_file: r.ca_file.as_ref().map(PathBuf::from),
            }
        }
    };
    Ok(Registry { role, names, auth })
}

fn validate_mirror(m: &MirrorSpec, services: &[String]) -> Result<Registry> {
    check_image("mirror.image", &m.image)?;
    grammar::upstream_url(&m.upstream).map_err(|e| Error::invalid("mirror.upstream", e))?;
    let service = LocalService {
        service: m.service.clone(),
        image: m.image.clone(),
        port: m.port,
        publish: parse_publish("mirror.publish", &m.publish)?,
    };
    let names = parse_names("mirror.names", &m.names, services)?;
    check_host_names_published("mirror.publish", &names, &service)?;
    Ok(Registry {
        role: Role::Mirror {
            service,
            upstream: m.upstream.clone(),
        },
        names,
        auth: None,
    })
}

/// A loopback name reaches a container only through a published port bound to a
/// matching address: `127.0.0.1:5005:5000` does not answer `[::1]:5005`.
fn check_host_names_published(
    field: &str,
    names: &[RegistryName],
    local: &LocalService,
) -> Result<()> {
    for n in names.iter().filter(|n| n.reach == Reach::HostOnly) {
        let port = n.name.port_or_default();
        let binds = |p: &Publish| {
            let ip = p
                .host_ip
                .as_deref()
                .map(|i| i.trim_start_matches('[').trim_end_matches(']'));
            let any = matches!(ip, None | Some("" | "0.0.0.0" | "::"));
            p.host_port == port
                && p.container_port == local.port
                && match &n.name.host {
                    Host::Dns(_) => true, // localhost: clients try both families
                    Host::Ip(addr) => {
                        any || ip.and_then(|i| i.parse::<std::net::IpAddr>().ok()) == Some(*addr)
                    }
                }
        };
        if !local.publish.iter().any(binds) {
            let bind = match &n.name.host {
                Host::Ip(std::net::IpAddr::V6(a)) => format!("[{a}]"),
                Host::Ip(a) => a.to_string(),
                Host::Dns(_) => "127.0.0.1".into(),
            };
            return Err(Error::invalid(
                field,
                format!(
                    "`{}` is a host-side name, but no publish entry binds {bind}:{port} to the container's port {}; add \"{bind}:{port}:{}\"",
                    n.name, local.port, local.port
                ),
            ));
        }
    }
    Ok(())
}

fn parse_publish(field: &str, specs: &[String]) -> Result<Vec<Publish>> {
    specs
        .iter()
        .map(|s| {
            let bad =
                || Error::invalid(field, format!("`{s}` is not [IP:]HOST_PORT:CONTAINER_PORT"));
            let (rest, container) = s.rsplit_once(':').ok_or_else(bad)?;
            let (host_ip, host_port) = match rest.rsplit_once(':') {
                Some((ip, port)) => (Some(ip.to_string()), port),
                None => (None, rest),
            };
            let port = |p: &str| {
                p.parse::<u16>()
                    .ok()
                    .filter(|n| *n > 0 && !p.starts_with('0'))
            };
            if let Some(ip) = host_ip.as_deref().filter(|ip| !ip.is_empty()) {
                grammar::publish_ip(ip).map_err(|e| Error::invalid(field, e))?;
            }
            Ok(Publish {
                host_ip,
                host_port: port(host_port).ok_or_else(bad)?,
                container_port: port(container).ok_or_else(bad)?,
            })
        })
        .collect()
}

fn check_image(field: &str, image: &str) -> Result<()> {
    grammar::image_reference(image)
        .map_err(|why| Error::invalid(field, format!("`{}` {why}", image.escape_debug())))
}

fn check_count(field: &str, n: usize) -> Result<()> {
    if n > MAX_NAMES {
        return Err(Error::invalid(
            field,
            format!("{n} names; bkenv supports at most {MAX_NAMES} per service"),
        ));
    }
    Ok(())
}

fn check_unique_names(registries: &[Registry]) -> Result<()> {
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in registries.iter().enumerate() {
        for n in &r.names {
            if let Some(j) = owner.insert(n.name.to_string(), i)
                && j != i
            {
                return Err(Error::invalid(
                    "registry.names",
                    format!(
                        "`{}` is a name of two registries; BuildKit keys configuration by exact host:port, so each name belongs to one registry",
                        n.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_ports(b: &Buildkitd, registries: &[Registry]) -> Result<()> {
    let all: Vec<(&Publish, &str)> = b
        .publish
        .iter()
        .map(|p| (p, b.service.as_str()))
        .chain(
            registries
                .iter()
                .filter_map(Registry::local)
                .flat_map(|s| s.publish.iter().map(|p| (p, s.service.as_str()))),
        )
        .collect();
    let ip = |p: &Publish| {
        p.host_ip
            .as_deref()
            .map(|i| i.trim_start_matches('[').trim_end_matches(']').to_string())
    };
    let wildcard = |i: &Option<String>| matches!(i.as_deref(), None | Some("" | "0.0.0.0" | "::"));
    for (i, (p, svc)) in all.iter().enumerate() {
        for (q, other) in &all[..i] {
            let (a, b) = (ip(p), ip(q));
            if p.host_port == q.host_port && (a == b || wildcard(&a) || wildcard(&b)) {
                return Err(Error::invalid(
                    "publish",
                    format!(
                        "host port {} is published twice (by `{other}` and `{svc}`) on the same address",
                        p.host_port
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{DEFAULT_SPEC, parse};
    use std::path::Path;

    fn env(text: &str) -> Result<Environment> {
        validate(&parse(text, Path::new("bkenv.toml"))?)
    }

    #[test]
    fn default_spec_resolves_to_the_cheat_sheet_topology() {
        let e = env(DEFAULT_SPEC).unwrap();
        let reg = &e.registries[0];
        assert_eq!(reg.names[0].reach, Reach::Network);
        assert_eq!(reg.names[1].reach, Reach::HostOnly);
        assert_eq!(reg.primary_name().unwrap().to_string(), "registry:5000");
        assert_eq!(e.buildkitd.version, Some((0, 23, 2)));
        let sans: Vec<String> = e.buildkitd.sans.iter().map(Host::san).collect();
        assert_eq!(sans, ["localhost", "127.0.0.1", "::1", "buildkitd"]);
    }

    #[test]
    fn each_bad_input_names_its_field() {
        let cases = [
            (
                "\"registry:5000\", \"localhost:5005\"",
                "\"my_reg:5000\"",
                "registry[0].names",
                "`_`",
            ),
            (
                "\"registry:5000\", \"localhost:5005\"",
                "\"registry:99999\"",
                "registry[0].names",
                "port",
            ),
            (
                "\"registry:5000\", \"localhost:5005\"",
                "\"::1:5005\", \"registry:5000\"",
                "registry[0].names",
                "brackets",
            ),
            (
                "\"registry:5000\", \"localhost:5005\"",
                "\"localhost:5005\"",
                "registry[0].names",
                "loopback",
            ),
            (
                "leaf_validity_days = 365",
                "leaf_validity_days = 900",
                "pki.leaf_validity_days",
                "825",
            ),
            (
                "tcp://localhost:1234\"",
                "localhost:1234\"",
                "buildkitd.host",
                "tcp://",
            ),
        ];
        for (from, to, field, why) in cases {
            let text = DEFAULT_SPEC.replacen(from, to, 1);
            assert_ne!(text, DEFAULT_SPEC, "{from}");
            let err = env(&text).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains(why), "{to}: {err}");
        }
    }

    #[test]
    fn a_name_in_two_registries_is_rejected() {
        let text = format!("{DEFAULT_SPEC}\n[[registry]]\nnames = [\"registry:5000\"]\n");
        let err = env(&text).unwrap_err().to_string();
        assert!(err.contains("two registries"), "{err}");
    }

    #[test]
    fn rootless_uses_the_rootless_image_and_its_config_path() {
        let text = DEFAULT_SPEC
            .replace("rootless = false", "rootless = true")
            .replace(layout::BK_SOCKET_ROOTFUL, layout::BK_SOCKET_ROOTLESS);
        let e = env(&text).unwrap();
        assert_eq!(e.buildkitd.container_user(), Some((1000, 1000)));
        assert_eq!(e.buildkitd.image, "moby/buildkit:v0.23.2-rootless");
        assert_eq!(
            e.buildkitd.config_path_in_container(),
            crate::model::layout::BK_CONFIG_ROOTLESS
        );
    }

    /// uid 1000 cannot create `/run/buildkit`; the real rootless daemon stops with
    /// "mkdir /run/buildkit: permission denied" (seen in tests/e2e's fault table).
    #[test]
    fn rootless_socket_outside_the_users_directories_is_refused_with_the_fix() {
        let rootless = DEFAULT_SPEC.replace("rootless = false", "rootless = true");
        let err = env(&rootless).unwrap_err().to_string();
        assert!(
            err.contains("buildkitd.listen")
                && err.contains("mkdir /run/buildkit: permission denied")
                && err.contains(layout::BK_SOCKET_ROOTLESS),
            "{err}"
        );
        for ok in [
            layout::BK_SOCKET_ROOTLESS,
            "unix:///home/user/buildkitd.sock",
            "unix:///tmp/bk.sock",
        ] {
            let text = rootless.replace(layout::BK_SOCKET_ROOTFUL, ok);
            assert!(env(&text).is_ok(), "{ok}");
        }
        // `/run/user/10000/` is not the runtime directory of uid 1000.
        let text = rootless.replace(layout::BK_SOCKET_ROOTFUL, "unix:///run/user/10000/b.sock");
        assert!(env(&text).is_err());
        // A rootful daemon may create its socket anywhere.
        assert!(env(DEFAULT_SPEC).is_ok());
    }
}
