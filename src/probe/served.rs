//! Which certificate a running server presents, whoever signed it: `bkenv status
//! --probe` compares it with the one on disk, so a daemon that still serves the
//! certificate it loaded before a renewal ("renewed but not restarted") is visible.

use super::Peer;
use super::net::{self, Target};
use super::tls::{self, Dial, Trusted};
use super::tls_explain::HandshakeFailure;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::time::Duration;

/// A TLS server to ask.
#[derive(Debug)]
pub struct ServedQuery<'a> {
    /// `host:port` as clients dial it (SNI).
    pub name: &'a str,
    /// `addr:port` to connect to instead of resolving `name` (a published port).
    pub connect_to: Option<String>,
    /// buildkitd speaks gRPC (`h2`); a registry HTTP/1.1.
    pub buildkitd: bool,
    /// The client certificate to present (a buildkitd with mutual TLS).
    pub identity: Option<&'a (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// Bound on each network step.
    pub timeout: Duration,
}

/// The DER of the leaf `query` presents, or what stopped the handshake. The chain is
/// recorded before anything is verified, so a server whose certificate clients would
/// reject still tells which certificate it serves.
pub fn served_certificate(query: &ServedQuery<'_>) -> Result<Vec<u8>, String> {
    let default_port = if query.buildkitd { 1234 } else { 443 };
    let target = Target::new(query.name, default_port, query.connect_to.clone());
    let peer = if query.buildkitd {
        Peer::Buildkitd
    } else {
        Peer::Registry
    };
    let (sock, _) = net::connect(&target, peer, query.timeout).map_err(|f| f.message.clone())?;
    let alpn: &[&[u8]] = if query.buildkitd {
        &[b"h2"]
    } else {
        &[b"http/1.1"]
    };
    let dial = Dial {
        alpn,
        identity: query.identity,
    };
    // No roots: the verdict does not matter here, only the presented chain.
    let trusted = Trusted::new(&[], String::new());
    match tls::handshake(sock, &target, &trusted, None, &dial) {
        Ok(hs) => hs
            .chain
            .first()
            .map(|c| c.as_ref().to_vec())
            .ok_or_else(|| "the server presented no certificate".to_string()),
        Err(HandshakeFailure::PlainHttp(line)) => {
            Err(format!("it answered in plain HTTP ({line})"))
        }
        Err(HandshakeFailure::Tls(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(HandshakeFailure::Io(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(HandshakeFailure::Config(e)) => Err(format!("client configuration: {e}")),
    }
}
