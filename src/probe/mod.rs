//! Live probes: dial buildkitd and registries the way BuildKit would and explain failures.
//!
//! Each endpoint is probed on its own thread; every network step is bounded by the same
//! timeout, so a set of black-holed endpoints costs about one timeout in total. A probe
//! never fails: anything that goes wrong becomes a BK7xx [`Finding`] in its report.

mod auth;
pub(crate) mod checks;
mod http;
mod net;
mod registry;
mod tls;
mod tls_explain;

use self::checks::BK722;
use crate::diag::Finding;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// More threads than this buy nothing: probes are I/O bound and bounded by the timeout.
const MAX_THREADS: usize = 32;

/// Registry credentials as BuildKit would pick them for the exact `host:port`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    // Reports and logs may print endpoints; the password must never reach them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A registry endpoint with the credential BuildKit would send for the exact `host`
/// (and, when there is none, the keys that hold credentials for it under another form).
pub(crate) fn registry_kind(
    config: Option<&crate::creds::DockerConfig>,
    host: &str,
) -> EndpointKind {
    use crate::creds::Lookup;
    let (credential, near) = match config.map(|c| c.lookup(host)) {
        Some(Lookup::Found {
            username, password, ..
        }) => (Some(Credential { username, password }), vec![]),
        Some(Lookup::Missing { near }) => (None, near),
        _ => (None, vec![]),
    };
    EndpointKind::Registry {
        credential,
        credential_keys_elsewhere: near,
        client_identity: None,
    }
}

#[derive(Debug)]
pub enum EndpointKind {
    Buildkitd {
        /// What buildctl `--tlscert/--tlskey` would present.
        client_identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    },
    Registry {
        credential: Option<Credential>,
        /// `config.json` keys holding credentials for the same host under another key,
        /// e.g. `gitlab.example.com` when BuildKit looks up `gitlab.example.com:443`.
        credential_keys_elsewhere: Vec<String>,
        /// What buildkitd presents from `[[registry."host".keypair]]`. Only the
        /// registry requests carry it: the client-side token fetch never does.
        client_identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    },
}

/// The roots BuildKit verifies the server with.
#[derive(Debug, Clone)]
pub enum Trust {
    /// For registries BuildKit adds these to the system pool (`ca = [...]`); for buildkitd
    /// buildctl trusts exactly these (`--tlscacert`).
    Cas(Vec<CertificateDer<'static>>),
    System,
}

/// What BuildKit would speak to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    PlainHttp,
}

#[derive(Debug)]
pub struct Endpoint {
    /// `host:port` exactly as BuildKit dials it: SNI, hostname verification, `Host` header.
    pub name: String,
    /// `addr:port` to connect to instead of resolving `name`, like curl `--resolve`.
    pub connect_to: Option<String>,
    pub kind: EndpointKind,
    pub trust: Trust,
    pub transport: Transport,
}

/// A `--resolve NAME:PORT=ADDR:PORT` mapping: dial `addr` when BuildKit dials `name`
/// (TLS is still verified against `name`), like curl's `--resolve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub name: String,
    pub addr: String,
}

/// A `--resolve` value that is not `NAME:PORT=ADDR:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not NAME:PORT=ADDR:PORT")]
pub struct ResolveError(String);

impl std::str::FromStr for Resolve {
    type Err = ResolveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split_once('=')
            .filter(|(n, a)| n.contains(':') && a.contains(':'))
            .map(|(n, a)| Resolve {
                name: n.to_string(),
                addr: a.to_string(),
            })
            .ok_or_else(|| ResolveError(s.to_string()))
    }
}

/// Where to connect for `name`: its `--resolve` address, if one is given.
pub(crate) fn connect_to(resolve: &[Resolve], name: &str) -> Option<String> {
    resolve
        .iter()
        .find(|r| r.name == name)
        .map(|r| r.addr.clone())
}

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Bound of each step: connect, each read and each write.
    pub timeout: Duration,
    /// Verification time; `None` means now.
    pub now: Option<UnixTime>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            timeout: Duration::from_secs(5),
            now: None,
        }
    }
}

/// Describes the environment CA that signed the first certificate of a presented chain.
pub type SignerLookup<'a> = &'a (dyn Fn(&[CertificateDer<'_>]) -> Option<String> + Sync);

/// What the probe learnt, healthy or not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// `DNS:name` / `IP:addr` of the presented leaf.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub presented_sans: Vec<String>,
    /// Status of the last `/v2/` request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// `basic`, `bearer` or `none` when `/v2/` needed no authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Each step that completed, in order, e.g. `GET /v2/ -> 401`.
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    pub endpoint: String,
    pub facts: Facts,
    pub findings: Vec<Finding>,
}

/// Probes every endpoint concurrently; reports come back in input order.
pub fn probe_all(
    endpoints: &[Endpoint],
    opts: &ProbeOptions,
    signer: SignerLookup<'_>,
) -> Vec<ProbeReport> {
    let system = SystemRoots::default();
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<ProbeReport>>> =
        endpoints.iter().map(|_| Mutex::new(None)).collect();
    let workers = endpoints.len().clamp(1, MAX_THREADS);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(ep) = endpoints.get(i) else { break };
                    let report = probe_one(ep, opts, signer, &system);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(report);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .zip(endpoints)
        .map(|(slot, ep)| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| ProbeReport {
                    endpoint: ep.name.clone(),
                    facts: Facts::default(),
                    findings: vec![Finding::new(
                        &BK722,
                        format!("the probe of {} stopped unexpectedly", ep.name),
                    )],
                })
        })
        .collect()
}

/// System roots, loaded once per run and only if some endpoint needs them.
#[derive(Default)]
struct SystemRoots(OnceLock<Arc<Vec<CertificateDer<'static>>>>);

impl SystemRoots {
    fn get(&self) -> Arc<Vec<CertificateDer<'static>>> {
        self.0
            .get_or_init(|| Arc::new(rustls_native_certs::load_native_certs().certs))
            .clone()
    }
}

/// Who is being dialled; decides which configuration key a finding's help names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Peer<'a> {
    Buildkitd,
    Registry,
    /// The realm from a registry's Bearer challenge; fetched client-side by buildctl/buildx.
    TokenRealm {
        registry: &'a str,
    },
}

/// Everything a step needs to dial and to explain.
pub(crate) struct Session<'a> {
    pub ep: &'a Endpoint,
    pub opts: &'a ProbeOptions,
    pub signer: SignerLookup<'a>,
    pub trusted: tls::Trusted,
}

/// The configured CAs by name and key id, so two CAs that share a name (everyone's
/// default once) read as two: "the configured CA `X` (key id AB:…)".
fn configured(cas: &[CertificateDer<'static>]) -> String {
    let names: Vec<String> = cas
        .iter()
        .map(|c| {
            crate::pki::CertFacts::from_der(c.as_ref())
                .map_or_else(|_| "an unparsable certificate".into(), |f| f.named())
        })
        .collect();
    match names.as_slice() {
        [] => "no configured CA".into(),
        [one] => format!("the configured CA {one}"),
        many => format!("the configured CAs {}", many.join(", ")),
    }
}

fn probe_one(
    ep: &Endpoint,
    opts: &ProbeOptions,
    signer: SignerLookup<'_>,
    system: &SystemRoots,
) -> ProbeReport {
    let mut roots = Vec::new();
    let label = match (&ep.trust, &ep.kind) {
        (Trust::System, _) => {
            roots.extend(system.get().iter().cloned());
            "the system roots".to_string()
        }
        (Trust::Cas(cas), EndpointKind::Registry { .. }) => {
            roots.extend(system.get().iter().cloned());
            roots.extend(cas.iter().cloned());
            format!("the system roots and {}", configured(cas))
        }
        (Trust::Cas(cas), EndpointKind::Buildkitd { .. }) => {
            roots.extend(cas.iter().cloned());
            format!("{} (buildctl --tlscacert)", configured(cas))
        }
    };
    let ctx = Session {
        ep,
        opts,
        signer,
        trusted: tls::Trusted::new(&roots, label),
    };
    let mut report = ProbeReport {
        endpoint: ep.name.clone(),
        facts: Facts::default(),
        findings: Vec::new(),
    };
    match &ep.kind {
        EndpointKind::Buildkitd { client_identity } => {
            tls::probe_buildkitd(&ctx, client_identity.as_ref(), &mut report)
        }
        EndpointKind::Registry { .. } => registry::probe_registry(&ctx, &mut report),
    }
    report
}
