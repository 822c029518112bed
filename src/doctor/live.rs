//! `doctor --probe`: the endpoints an environment names, reached the way BuildKit reaches
//! them. Names that resolve only inside the compose network are dialled through the port
//! the compose file publishes (or a `--resolve` mapping) while TLS is still verified
//! against the name BuildKit dials.

use super::registry_tables::{RegTable, reg_tables};
use super::snapshot::Snapshot;
use super::view::{self, View};
use crate::creds::DockerConfig;
use crate::diag::{Finding, Location};
use crate::pki::{CertFacts, signed_by};
use crate::probe::checks::BK723;
use crate::probe::{ClientTrust, Endpoint, EndpointKind, Resolve, Transport, Trust};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

/// What to probe, where each endpoint is declared, and what cannot be probed.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub endpoints: Vec<Endpoint>,
    /// Where each endpoint is declared, for findings that carry no location.
    pub declared_at: Vec<Option<Location>>,
    /// For each endpoint a service of the environment's compose file serves: how to
    /// start the environment, for when it is simply not up (BK701).
    pub start_with: Vec<Option<String>>,
    pub skipped: Vec<Finding>,
}

impl Plan {
    /// Appends another environment's plan.
    pub(crate) fn extend(&mut self, other: Plan) {
        self.endpoints.extend(other.endpoints);
        self.declared_at.extend(other.declared_at);
        self.start_with.extend(other.start_with);
        self.skipped.extend(other.skipped);
    }
}

/// Builds the probe plan, dialling `--resolve` addresses where given.
pub(crate) fn plan(snap: &Snapshot, resolve: &[Resolve]) -> Plan {
    let view = view::build(snap);
    let mut plan = Plan::default();
    let mapped = |name: &str| crate::probe::connect_to(resolve, name);
    let start = view
        .compose
        .and_then(|i| snap.compose.get(i))
        .filter(|_| !snap.compose_up.is_empty())
        .map(|c| {
            format!(
                "if the environment is simply not up, start it: {} where {} is",
                snap.compose_up,
                c.src.path.display()
            )
        });
    if let Some((env, host, line)) = snap.env_var("BUILDKIT_HOST")
        && let Some(name) = host.strip_prefix("tcp://")
    {
        let base = env.src.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let file = |key: &str| {
            snap.env_var(key)
                .map(|(_, v, _)| view::normalize(&base.join(v)))
        };
        let cas = file("BUILDKIT_TLS_CA")
            .map(|p| certs_at(snap, &p))
            .unwrap_or_default();
        let identity = match (file("BUILDKIT_TLS_CERT"), file("BUILDKIT_TLS_KEY")) {
            (Some(c), Some(k)) => key_at(snap, &k).map(|key| (certs_at(snap, &c), key)),
            _ => None,
        };
        plan.endpoints.push(Endpoint {
            name: name.to_string(),
            connect_to: mapped(name),
            kind: EndpointKind::Buildkitd {
                client_identity: identity,
            },
            trust: Trust::Cas(cas),
            transport: Transport::Https,
        });
        plan.declared_at.push(Some(env.src.loc_line(line)));
        plan.start_with.push(
            start
                .clone()
                .filter(|_| view.buildkit_services().next().is_some()),
        );
    }
    buildx_remotes(snap, &mapped, &mut plan);
    let config = docker_config(snap);
    let client_trust = client_trust(snap);
    for (name, table, at) in registry_names(snap) {
        let connect_to = match mapped(&name) {
            Some(a) => Some(a),
            None => match published(&view, &name) {
                Reach::Direct => None,
                Reach::Via(addr) => Some(addr),
                Reach::Nowhere(service) => {
                    let f = Finding::new(&BK723, format!("`{name}` resolves only inside the compose network, and `{service}` publishes no port for it; not probed"))
                        .help(format!("publish the port in the compose file, or pass --resolve {name}=ADDR:PORT"));
                    plan.skipped.push(match &at {
                        Some(l) => f.at(l.clone()),
                        None => f,
                    });
                    continue;
                }
            },
        };
        let host = crate::hostport::strip_port(&name).to_string();
        let http = table.as_ref().and_then(|t| t.http);
        let plain = http.unwrap_or_else(|| crate::hostport::is_loopback(&host));
        let cas: Vec<CertificateDer<'static>> = table
            .iter()
            .flat_map(|t| t.ca.iter())
            .filter_map(|(c, _)| container_file(&view, c))
            .flat_map(|p| certs_at(snap, &p))
            .collect();
        let mut kind = crate::probe::registry_kind(
            config.as_ref().map(|(c, _)| c),
            &config
                .as_ref()
                .map_or(crate::probe::DEFAULT_DOCKER_CONFIG.to_string(), |(_, p)| {
                    p.display().to_string()
                }),
            &name,
        );
        if let EndpointKind::Registry {
            client_identity,
            client_trust: trust,
            ..
        } = &mut kind
        {
            *trust = client_trust.clone();
            *client_identity =
                table
                    .as_ref()
                    .and_then(|t| t.keypairs.first())
                    .and_then(|(c, k)| {
                        let key = key_at(snap, &container_file(&view, &k.as_ref()?.0)?)?;
                        let certs = certs_at(snap, &container_file(&view, &c.as_ref()?.0)?);
                        (!certs.is_empty()).then_some((certs, key))
                    });
        }
        let served = view.registry_for(&name).is_some();
        plan.endpoints.push(Endpoint {
            kind,
            name,
            connect_to,
            trust: if cas.is_empty() {
                Trust::System
            } else {
                Trust::Cas(cas)
            },
            transport: if plain {
                Transport::PlainHttp
            } else {
                Transport::Https
            },
        });
        plan.declared_at.push(at);
        plan.start_with.push(start.clone().filter(|_| served));
    }
    plan
}

/// Each remote buildx builder of the store, dialled as its driver dials it
/// (`driver/remote/factory.go`): the endpoint's address, TLS verified against
/// `servername` (default: the endpoint's host) with exactly `cacert`, presenting
/// `cert`/`key`; plain when no TLS option is set.
fn buildx_remotes(snap: &Snapshot, mapped: &dyn Fn(&str) -> Option<String>, plan: &mut Plan) {
    use crate::doctor::parsed::Named;
    for inst in &snap.buildx {
        let Ok(group) = &inst.group else { continue };
        if group.driver != "remote" {
            continue;
        }
        for node in &group.nodes {
            let Some(dialled) = crate::hostport::tcp_dialled(&node.endpoint) else {
                continue;
            };
            let (host, port) = crate::hostport::host_and_port(dialled);
            let opts = node.driver_opts.clone().unwrap_or_default();
            let pem = |k: &str| match opts.get(k).and_then(|p| inst.named.get(p)) {
                Some(Named::Pem(p)) => Some(p.as_ref()),
                _ => None,
            };
            let tls = ["cacert", "cert", "key", "servername"]
                .iter()
                .any(|k| opts.contains_key(*k));
            let verified = opts.get("servername").map_or(host, String::as_str);
            let port = port.unwrap_or(1234);
            let name = if verified.contains(':') {
                format!("[{verified}]:{port}")
            } else {
                format!("{verified}:{port}")
            };
            let connect_to =
                mapped(dialled).or_else(|| (verified != host).then(|| dialled.to_string()));
            let cas: Vec<CertificateDer<'static>> = pem("cacert").map_or(Vec::new(), |p| {
                CertificateDer::pem_slice_iter(&p.bytes)
                    .filter_map(Result::ok)
                    .collect()
            });
            let identity = match (pem("cert"), pem("key")) {
                (Some(c), Some(k)) => PrivateKeyDer::from_pem_slice(&k.bytes).ok().map(|key| {
                    let certs = CertificateDer::pem_slice_iter(&c.bytes)
                        .filter_map(Result::ok)
                        .collect();
                    (certs, key)
                }),
                _ => None,
            };
            plan.endpoints.push(Endpoint {
                name,
                connect_to,
                kind: EndpointKind::Buildkitd {
                    client_identity: identity,
                },
                trust: Trust::Cas(cas),
                transport: if tls {
                    Transport::Https
                } else {
                    Transport::PlainHttp
                },
            });
            plan.declared_at.push(Some(inst.src.file_loc()));
        }
    }
}

/// Describes the environment CA (a CA certificate anywhere in the tree) that signed the
/// first certificate of `chain`.
pub(crate) fn signer(
    snap: &Snapshot,
) -> impl Fn(&[CertificateDer<'_>]) -> Option<String> + Sync + '_ {
    move |chain: &[CertificateDer<'_>]| {
        let leaf = CertFacts::from_der(chain.first()?.as_ref()).ok()?;
        snap.pem.iter().find_map(|p| {
            let ca = p.facts.iter().find(|c| c.is_ca && signed_by(&leaf, c))?;
            Some(format!("`{}`, the CA {}", p.src.path.display(), ca.named()))
        })
    }
}

/// Registry names buildkitd dials: its registry tables, `DOCKER_REGISTRY`, and the
/// registries of image references; Docker Hub is left out (never probed implicitly).
fn registry_names(snap: &Snapshot) -> Vec<(String, Option<RegTable>, Option<Location>)> {
    let mut out: Vec<(String, Option<RegTable>, Option<Location>)> = Vec::new();
    let mut add = |name: String, table: Option<RegTable>, at: Option<Location>| {
        let hub = matches!(
            name.as_str(),
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
        if hub || name.is_empty() {
            return;
        }
        match out.iter_mut().find(|(n, _, _)| *n == name) {
            Some(entry) if entry.1.is_none() => entry.1 = table,
            Some(_) => {}
            None => out.push((name, table, at)),
        }
    };
    for t in &snap.buildkitd {
        let Ok(doc) = &t.doc else { continue };
        for table in reg_tables(doc) {
            let at = table.key_span.clone().map(|s| t.src.loc(s));
            add(table.host.clone(), Some(table), at);
        }
    }
    if let Some((env, v, line)) = snap.env_var("DOCKER_REGISTRY") {
        add(v.to_string(), None, Some(env.src.loc_line(line)));
    }
    for f in &snap.refs {
        for r in f
            .refs
            .iter()
            .filter(|r| crate::doctor::refs::unbracketed_ipv6(&r.reference).is_none())
        {
            add(
                crate::doctor::refs::registry_host(&r.reference),
                None,
                Some(f.src.loc_line(r.line)),
            );
        }
    }
    out
}

enum Reach {
    Direct,
    Via(String),
    Nowhere(String),
}

/// How this machine reaches `name`: directly, or through a published compose port.
fn published(view: &View, name: &str) -> Reach {
    match view.registry_for(name) {
        Some((reg, false)) => {
            let Some(service) = view.service(reg) else {
                return Reach::Direct;
            };
            let port = service
                .ports
                .iter()
                .find(|p| p.target == reg.port && p.published.is_some());
            match port.and_then(|p| p.published.map(|n| (p.host_ip.clone(), n))) {
                Some((ip, n)) => {
                    let ip = ip
                        .filter(|i| i != "0.0.0.0" && !i.is_empty())
                        .unwrap_or_else(|| "127.0.0.1".into());
                    Reach::Via(format!("{ip}:{n}"))
                }
                None => Reach::Nowhere(service.name.clone()),
            }
        }
        _ => Reach::Direct,
    }
}

/// A path buildkitd sees, as the host file the compose mounts put there.
fn container_file(view: &View, container_path: &str) -> Option<PathBuf> {
    let mut services = view.buildkit_services();
    match services.next() {
        Some(s) => s.resolve(container_path).map(|(p, _)| p),
        // No compose file: the path is taken as it is, relative to the environment.
        None => Some(view::normalize(Path::new(
            container_path.trim_start_matches('/'),
        ))),
    }
}

fn certs_at(snap: &Snapshot, rel: &Path) -> Vec<CertificateDer<'static>> {
    snap.pem_at(rel)
        .map(|p| {
            CertificateDer::pem_slice_iter(&p.bytes)
                .filter_map(Result::ok)
                .collect()
        })
        .unwrap_or_default()
}

fn key_at(snap: &Snapshot, rel: &Path) -> Option<PrivateKeyDer<'static>> {
    snap.pem_at(rel)
        .and_then(|p| PrivateKeyDer::from_pem_slice(&p.bytes).ok())
}

/// What the environment's clients trust when they fetch a registry token themselves:
/// `.env`'s `SSL_CERT_FILE` (Go then trusts exactly that file), else the client
/// machine's system roots; with `BUILDKIT_NO_CLIENT_TOKEN=1` buildkitd fetches tokens
/// with its own trust.
fn client_trust(snap: &Snapshot) -> ClientTrust {
    let set = |key: &str| snap.env_var(key).map(|(env, v, _)| (env, v));
    if set("BUILDKIT_NO_CLIENT_TOKEN").is_some_and(|(_, v)| crate::probe::go_true(v)) {
        return ClientTrust::Daemon;
    }
    // A file outside the environment (a system bundle) is not read: the probe's own
    // loader already honours the process's SSL_CERT_FILE for the system roots.
    let file = set("SSL_CERT_FILE").map(|(env, v)| {
        let base = env.src.path.parent().unwrap_or(Path::new(""));
        certs_at(snap, &view::normalize(&base.join(v)))
    });
    match file {
        Some(certs) if !certs.is_empty() => ClientTrust::Cas(certs),
        _ => ClientTrust::System,
    }
}

/// The config.json clients use, and its path: `DOCKER_CONFIG` from `.env`, else the
/// first one found.
fn docker_config(snap: &Snapshot) -> Option<(DockerConfig, PathBuf)> {
    let wanted = snap.env_var("DOCKER_CONFIG").map(|(env, v, _)| {
        let base = env.src.path.parent().unwrap_or(Path::new(""));
        view::normalize(&base.join(v).join("config.json"))
    });
    let file = snap
        .docker_configs
        .iter()
        .find(|c| wanted.as_deref() == Some(c.src.path.as_path()))
        .or(snap.docker_configs.first())?;
    DockerConfig::parse(&file.src.text)
        .ok()
        .map(|c| (c, file.src.path.clone()))
}

/// Merges live findings into static ones. A static check names the live check that sees
/// the same failure on the wire (its `live_twin`); reporting both would say one thing
/// twice, and the live one carries what the server really presented. So at the same
/// location a live finding replaces its static twin, except when the static one can be
/// fixed by `--fix`, which then stays and the live one is dropped.
pub(crate) fn merge(mut findings: Vec<Finding>, live: Vec<Finding>) -> Vec<Finding> {
    for l in live {
        let is_twin = |f: &Finding| f.check.live_twin == Some(l.check) && f.location == l.location;
        if findings.iter().any(|f| is_twin(f) && f.fixable()) {
            continue;
        }
        findings.retain(|f| !is_twin(f));
        findings.push(l);
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(code: &'static str, line: usize) -> Finding {
        let check = crate::catalog::lookup(code).unwrap_or_else(|| panic!("{code}"));
        Finding::new(check, code).at(Location {
            path: "buildkit/buildkitd.toml".into(),
            span: Some(crate::diag::Span {
                line,
                column: 1,
                end_line: line,
                end_column: 2,
            }),
            line_text: None,
        })
    }

    /// The golden fixture's compose file and certificates, with `keypair` under the
    /// registry table of a buildkitd.toml whose last lines are `extra`.
    fn golden_with(extra: &str) -> Snapshot {
        use crate::doctor::discover::FileKind;
        let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden");
        let read = |p: &str| std::fs::read(golden.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        let mut snap = Snapshot::default();
        let mut toml = read("buildkit/buildkitd.toml");
        toml.extend_from_slice(extra.as_bytes());
        let files = [
            (
                "docker-compose.yml",
                FileKind::Compose,
                read("docker-compose.yml"),
            ),
            ("buildkit/buildkitd.toml", FileKind::BuildkitdToml, toml),
            (
                "buildkit/certs/ca.crt",
                FileKind::Pem,
                read("buildkit/certs/ca.crt"),
            ),
            (
                "buildkit/certs/client.crt",
                FileKind::Pem,
                read("client/client.crt"),
            ),
            (
                "buildkit/certs/client.key",
                FileKind::Pem,
                read("client/client.key"),
            ),
        ];
        for (path, kind, bytes) in files {
            crate::doctor::load::add_file(&mut snap, path.into(), kind, bytes, Some(0o600));
        }
        snap
    }

    fn registry_identity(snap: &Snapshot) -> Option<usize> {
        let plan = plan(snap, &[]);
        plan.endpoints
            .iter()
            .find(|e| e.name == "registry:5000")
            .and_then(|e| match &e.kind {
                EndpointKind::Registry {
                    client_identity, ..
                } => client_identity.as_ref().map(|(certs, _)| certs.len()),
                EndpointKind::Buildkitd { .. } => None,
            })
    }

    #[test]
    fn registry_endpoints_carry_buildkitds_keypair_through_the_mounts() {
        let pair = "[[registry.\"registry:5000\".keypair]]\ncert = \"/etc/buildkit/certs/client.crt\"\nkey = \"/etc/buildkit/certs/client.key\"\n";
        assert_eq!(registry_identity(&golden_with(pair)), Some(1));
        assert_eq!(registry_identity(&golden_with("")), None);
        // A key that is not mounted: nothing to present.
        let unmounted = pair.replace("/etc/buildkit/certs/client.key", "/nowhere/client.key");
        assert_eq!(registry_identity(&golden_with(&unmounted)), None);
    }

    #[test]
    fn live_replaces_its_static_twin_unless_that_is_fixable() {
        let merged = merge(vec![at("BK210", 11), at("BK504", 1)], vec![at("BK706", 11)]);
        let codes: Vec<_> = merged.iter().map(Finding::code).collect();
        assert_eq!(codes, ["BK504", "BK706"]);
        let fixable = at("BK201", 11).fix(crate::diag::Fix::safe([crate::diag::Edit::replace(
            "buildkit/buildkitd.toml",
            0..0,
            "x",
        )]));
        let merged = merge(vec![fixable], vec![at("BK705", 11)]);
        assert_eq!(
            merged.iter().map(Finding::code).collect::<Vec<_>>(),
            ["BK201"]
        );
        let merged = merge(vec![at("BK210", 3)], vec![at("BK706", 11)]);
        assert_eq!(merged.len(), 2, "different places are different problems");
    }
}
