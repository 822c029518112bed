//! `bkenv probe ENDPOINT...`: ad-hoc live checks with the trust and credentials given.

use crate::ExitStatus;
use crate::cli::ProbeArgs;
use crate::creds::DockerConfig;
use crate::error::{Error, Result};
use crate::probe::{self, Endpoint, EndpointKind, ProbeReport, Transport, Trust};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) fn run(args: ProbeArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let mut cas = Vec::new();
    for path in &args.cacert {
        cas.extend(read_certs(path)?);
    }
    let identity = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => Some((read_certs(c)?, read_key(k)?)),
        _ => None,
    };
    let config = docker_config(args.docker_config.as_deref())?;
    let mut endpoints = Vec::new();
    for raw in &args.endpoints {
        let (name, kind, trust) = match raw.strip_prefix("tcp://") {
            Some(name) => {
                // buildctl trusts exactly --tlscacert: no system roots (buildkit.md 3.1).
                let identity = identity.as_ref().map(|(c, k)| (c.clone(), k.clone_key()));
                (
                    name,
                    EndpointKind::Buildkitd {
                        client_identity: identity,
                    },
                    Trust::Cas(cas.clone()),
                )
            }
            None => {
                let mut kind = probe::registry_kind(
                    config.as_ref().map(|(c, _)| c),
                    &config
                        .as_ref()
                        .map_or(probe::DEFAULT_DOCKER_CONFIG.to_string(), |(_, p)| {
                            p.display().to_string()
                        }),
                    raw,
                );
                // This process is the client: its environment decides who fetches tokens.
                let no_client_token =
                    std::env::var("BUILDKIT_NO_CLIENT_TOKEN").is_ok_and(|v| probe::go_true(&v));
                if let EndpointKind::Registry { client_trust, .. } = &mut kind
                    && no_client_token
                {
                    *client_trust = probe::ClientTrust::Daemon;
                }
                let trust = if cas.is_empty() {
                    Trust::System
                } else {
                    Trust::Cas(cas.clone())
                };
                (raw.as_str(), kind, trust)
            }
        };
        endpoints.push(Endpoint {
            name: name.to_string(),
            connect_to: probe::connect_to(&args.net.resolve, name),
            kind,
            trust,
            transport: if args.plain_http {
                Transport::PlainHttp
            } else {
                Transport::Https
            },
        });
    }
    let reports = probe::probe_all(&endpoints, &args.net.probing().options, &|_| None);
    if args
        .report
        .format
        .is_none_or(|f| f == crate::report::Format::Human)
        && args.report.output.is_none()
    {
        super::emit(out, &facts_lines(&reports))?;
    }
    let findings = reports.into_iter().flat_map(|r| r.findings).collect();
    // Probe names files from the working directory already.
    let base = super::path_base(std::path::Path::new("."));
    super::emit_findings("probe", &args.report, findings, &base, &[], out)
}

/// One line per endpoint: what was learnt, healthy or not.
pub(crate) fn facts_lines(reports: &[ProbeReport]) -> String {
    let mut s = String::new();
    for r in reports {
        let f = &r.facts;
        let mut parts: Vec<String> = Vec::new();
        parts.extend(f.tls_version.iter().cloned());
        parts.extend(f.alpn.iter().map(|a| format!("ALPN {a}")));
        if !f.presented_sans.is_empty() {
            parts.push(format!("SANs {}", f.presented_sans.join(", ")));
        }
        parts.extend(f.http_status.map(|c| format!("GET /v2/ {c}")));
        parts.extend(f.auth.iter().map(|a| format!("auth {a}")));
        let verdict = if r.findings.is_empty() {
            "ok"
        } else {
            "problems"
        };
        let _ = writeln!(
            s,
            "probe {}: {verdict}{}{}",
            r.endpoint,
            if parts.is_empty() { "" } else { "; " },
            parts.join("; ")
        );
    }
    s
}

/// The config.json credentials come from, and its path.
fn docker_config(dir: Option<&Path>) -> Result<Option<(DockerConfig, PathBuf)>> {
    let dir: Option<PathBuf> = dir
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("DOCKER_CONFIG").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    let Some(path) = dir.map(|d| d.join("config.json")) else {
        return Ok(None);
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => match DockerConfig::parse(&text) {
            Ok(c) => Ok(Some((c, path))),
            Err(source) => Err(Error::DockerConfig { path, source }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = |source| Error::Pem {
        path: path.to_path_buf(),
        source,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(Error::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| Error::Pem {
        path: path.to_path_buf(),
        source,
    })
}
