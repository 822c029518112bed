//! Live probes: dial buildkitd and registries the way BuildKit would and explain failures.
//!
//! Each endpoint is probed on its own thread; every network step is bounded by the same
//! timeout, so a set of black-holed endpoints costs about one timeout in total. A probe
//! never fails: anything that goes wrong becomes a BK7xx [`Finding`] in its report.

mod auth;
pub(crate) mod checks;
mod helper;
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
    config_path: &str,
    host: &str,
) -> EndpointKind {
    use crate::creds::Lookup;
    let (mut credential, mut near, mut helper) = (None, vec![], None);
    match config.map(|c| c.lookup(host)) {
        Some(Lookup::Found {
            username, password, ..
        }) => credential = Some(Credential { username, password }),
        Some(Lookup::Missing { near: n }) => near = n,
        Some(Lookup::Helper { name, .. }) => helper = Some(name),
        Some(Lookup::Invalid { .. }) | None => {}
    }
    EndpointKind::Registry {
        credential,
        credential_keys_elsewhere: near,
        client_identity: None,
        helper,
        docker_config: config_path.to_string(),
        client_trust: ClientTrust::System,
    }
}

/// Whether Go's `strconv.ParseBool` reads `v` as true (how BuildKit reads
/// `BUILDKIT_NO_CLIENT_TOKEN`).
pub(crate) fn go_true(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// The config.json help names when no other was given: where the docker CLI, buildctl
/// and buildx read credentials by default.
pub const DEFAULT_DOCKER_CONFIG: &str = "~/.docker/config.json";

/// What the client (buildctl, buildx) trusts when it fetches a registry token itself:
/// its own trust store, never buildkitd's `ca`. Client-side fetching is the default of
/// the session auth provider in every version bkenv targets (buildkit.md 4.2: v0.11's
/// `http.DefaultClient`, v0.23.2 the same plus `--registry-auth-tlscontext` from v0.13,
/// which no generated file uses); `BUILDKIT_NO_CLIENT_TOKEN` set true on the client
/// hands the fetch back to buildkitd.
#[derive(Debug, Clone)]
pub enum ClientTrust {
    /// The client machine's system roots (Go honours `SSL_CERT_FILE`/`SSL_CERT_DIR`, and
    /// so does the probe's loader).
    System,
    /// Exactly these: an `SSL_CERT_FILE` the environment gives the client.
    Cas(Vec<CertificateDer<'static>>),
    /// `BUILDKIT_NO_CLIENT_TOKEN=1`: buildkitd fetches the token, with its own trust.
    Daemon,
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
        /// The credential helper config.json hands this host to (`credHelpers`, else
        /// `credsStore`): `docker-credential-NAME`.
        helper: Option<String>,
        /// The config.json credentials come from, as help names it.
        docker_config: String,
        /// What the client trusts when it fetches a token.
        client_trust: ClientTrust,
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
    /// Ask the credential helpers config.json names (`docker-credential-NAME get`, as the
    /// docker CLI and buildctl do), found on this PATH. `None`, the default: helpers are
    /// never run, since a config file under review must not choose programs to run.
    pub credential_helpers: Option<std::ffi::OsString>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            timeout: Duration::from_secs(5),
            now: None,
            credential_helpers: None,
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
    /// What BuildKit verifies buildkitd (buildctl) or a registry (buildkitd) with.
    pub trusted: tls::Trusted,
    /// What the client verifies a token realm with, when it fetches tokens itself.
    pub client_trusted: Option<tls::Trusted>,
}

impl Session<'_> {
    /// The roots `peer` is verified with.
    pub(crate) fn trust(&self, peer: Peer<'_>) -> &tls::Trusted {
        match (peer, &self.client_trusted) {
            (Peer::TokenRealm { .. }, Some(client)) => client,
            _ => &self.trusted,
        }
    }
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
    let client_trusted = match &ep.kind {
        EndpointKind::Registry { client_trust, .. } => match client_trust {
            ClientTrust::System => Some(tls::Trusted::new(
                &system.get(),
                "the client's system roots (buildctl and buildx fetch the token themselves, without buildkitd's `ca`)".into(),
            )),
            ClientTrust::Cas(cas) => Some(tls::Trusted::new(
                cas,
                format!("{} given to the client as SSL_CERT_FILE (buildctl and buildx fetch the token themselves)", configured(cas)),
            )),
            ClientTrust::Daemon => None,
        },
        EndpointKind::Buildkitd { .. } => None,
    };
    let ctx = Session {
        ep,
        opts,
        signer,
        trusted: tls::Trusted::new(&roots, label),
        client_trusted,
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
