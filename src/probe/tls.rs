//! TLS dialling with a verifier that records what webpki thinks instead of aborting, so
//! one handshake yields both the verdict and the facts (version, ALPN, presented chain).

use super::checks::{BK704, BK715};
use super::net::Conn;
use super::net::{self, Target};
use super::tls_explain::{
    HandshakeFailure, Presented, classify_failure, classify_io, classify_verify, tls_error,
};
use super::{Peer, ProbeReport, Session};
use crate::diag::Finding;
use crate::pki::CertFacts;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The verification roots, plus their subjects for spotting a missing intermediate.
pub(crate) struct Trusted {
    roots: Arc<RootCertStore>,
    certs: Vec<CertificateDer<'static>>,
    /// Subjects of `certs` as `pki` names them, read on first use (rarely needed).
    subjects: OnceLock<Vec<String>>,
    pub label: String,
}

impl Trusted {
    pub(crate) fn new(certs: &[CertificateDer<'static>], label: String) -> Self {
        let mut roots = RootCertStore::empty();
        // Unparsable roots are the doctor's business; here they simply do not count.
        let _ = roots.add_parsable_certificates(certs.iter().cloned());
        Trusted {
            roots: Arc::new(roots),
            certs: certs.to_vec(),
            subjects: OnceLock::new(),
            label,
        }
    }

    /// Whether a trusted root has this subject (an RFC 4514 name from `pki`).
    pub(crate) fn has_subject(&self, subject: &str) -> bool {
        self.subjects
            .get_or_init(|| {
                self.certs
                    .iter()
                    .filter_map(|c| CertFacts::from_der(c.as_ref()).ok())
                    .map(|f| f.subject)
                    .collect()
            })
            .iter()
            .any(|s| s == subject)
    }
}

/// Records the bytes first received, to recognise an HTTP answer to a ClientHello.
pub(crate) struct Recorder {
    pub sock: Conn,
    pub head: Vec<u8>,
}

impl Read for Recorder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        let room = 64usize.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&buf[..room]);
        Ok(n)
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    verdict: Option<Result<(), rustls::Error>>,
}

#[derive(Debug)]
struct Capturing {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    now: Option<UnixTime>,
    seen: Mutex<Seen>,
}

impl ServerCertVerifier for Capturing {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.inner {
            Some(v) => v
                .verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp,
                    self.now.unwrap_or(now),
                )
                .map(|_| ()),
            None => Err(rustls::CertificateError::UnknownIssuer.into()),
        };
        if let Ok(mut seen) = self.seen.lock() {
            seen.chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
            seen.verdict = Some(verdict);
        }
        // Finishing the handshake tells us the version and ALPN; nothing secret is sent
        // afterwards unless the verdict was Ok.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

pub(crate) type TlsStream = StreamOwned<ClientConnection, Recorder>;

/// A completed handshake; `verdict` says whether BuildKit would have accepted it.
pub(crate) struct Handshake {
    pub stream: TlsStream,
    pub chain: Vec<CertificateDer<'static>>,
    pub verdict: Result<(), rustls::Error>,
    pub version: Option<String>,
    pub alpn: Option<String>,
}

pub(crate) struct Dial<'a> {
    pub alpn: &'a [&'a [u8]],
    pub identity: Option<&'a (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

pub(crate) fn handshake(
    sock: Conn,
    target: &Target,
    trusted: &Trusted,
    now: Option<UnixTime>,
    dial: &Dial<'_>,
) -> Result<Handshake, HandshakeFailure> {
    let provider = provider();
    let inner =
        WebPkiServerVerifier::builder_with_provider(trusted.roots.clone(), provider.clone())
            .build()
            .ok();
    let verifier = Arc::new(Capturing {
        inner,
        provider: provider.clone(),
        now,
        seen: Mutex::new(Seen::default()),
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(HandshakeFailure::Config)?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let mut config = match dial.identity {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs.clone(), key.clone_key())
            .map_err(HandshakeFailure::Config)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = dial.alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| HandshakeFailure::Config(rustls::Error::General(e.to_string())))?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(HandshakeFailure::Config)?;
    let mut stream = StreamOwned::new(
        conn,
        Recorder {
            sock,
            head: Vec::new(),
        },
    );
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            if stream.sock.head.starts_with(b"HTTP/") {
                let head = String::from_utf8_lossy(&stream.sock.head);
                let line = head.lines().next().unwrap_or_default().to_string();
                return Err(HandshakeFailure::PlainHttp(line));
            }
            if is_h2_settings(&stream.sock.head) {
                return Err(HandshakeFailure::PlainHttp(
                    "an HTTP/2 SETTINGS frame: gRPC without TLS".to_string(),
                ));
            }
            return Err(match tls_error(&e) {
                Some(t) => HandshakeFailure::Tls(t),
                None => HandshakeFailure::Io(e),
            });
        }
    }
    let (chain, verdict) = match verifier.seen.lock() {
        Ok(mut seen) => (
            std::mem::take(&mut seen.chain),
            seen.verdict.take().unwrap_or(Ok(())),
        ),
        Err(_) => (
            Vec::new(),
            Err(rustls::Error::General("verifier poisoned".into())),
        ),
    };
    let version = stream.conn.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
        other => format!("{other:?}"),
    });
    let alpn = stream
        .conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    Ok(Handshake {
        stream,
        chain,
        verdict,
        version,
        alpn,
    })
}

/// Connects and handshakes, recording facts; `Err` is the finding that ends the probe.
pub(crate) fn open(
    ctx: &Session<'_>,
    target: &Target,
    peer: Peer<'_>,
    dial: &Dial<'_>,
    report: &mut ProbeReport,
) -> Result<Handshake, Box<Finding>> {
    let (sock, addr) = net::connect(target, peer, ctx.opts.timeout)?;
    report.facts.connected_to.get_or_insert(addr.to_string());
    let hs = handshake(sock, target, ctx.trust(peer), ctx.opts.now, dial).map_err(|f| {
        Box::new(classify_failure(
            f,
            ctx,
            target,
            peer,
            dial.identity.is_some(),
        ))
    })?;
    if matches!(peer, Peer::TokenRealm { .. }) {
        report
            .facts
            .steps
            .push(format!("TLS to {} ok", target.name));
    } else {
        report.facts.tls_version = hs.version.clone();
        report.facts.alpn = hs.alpn.clone();
        if let Some(sans) = hs
            .chain
            .first()
            .and_then(Presented::of)
            .and_then(|s| s.sans)
        {
            report.facts.presented_sans = sans;
        }
        report.facts.steps.push(format!(
            "TLS handshake ({})",
            hs.version.as_deref().unwrap_or("unknown version")
        ));
    }
    if let Err(e) = &hs.verdict {
        return Err(Box::new(classify_verify(e, ctx, target, peer, &hs.chain)));
    }
    Ok(hs)
}

/// Whether `head` starts with an HTTP/2 SETTINGS frame on stream 0: what a plaintext
/// gRPC server (buildkitd without `[grpc.tls]`) sends first, before it reads the
/// client's preface and finds a ClientHello instead. A TLS record never looks like it:
/// its first byte is a content type (20-23), a frame's is the top byte of a length
/// below 2^16, zero.
pub(crate) fn is_h2_settings(head: &[u8]) -> bool {
    head.len() >= 9 && head[0] == 0 && head[3] == 0x04 && head[5..9] == [0, 0, 0, 0]
}

/// The HTTP/2 client preface and an empty SETTINGS frame, as a gRPC client starts.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

pub(crate) fn probe_buildkitd(
    ctx: &Session<'_>,
    identity: Option<&(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    report: &mut ProbeReport,
) {
    let target = Target::new(&ctx.ep.name, 1234, ctx.ep.connect_to.clone());
    if ctx.ep.transport == super::Transport::PlainHttp {
        match net::connect(&target, Peer::Buildkitd, ctx.opts.timeout) {
            Ok((_, addr)) => report.facts.connected_to = Some(addr.to_string()),
            Err(f) => return report.findings.push(*f),
        }
        // A client without TLS options (a buildx remote builder with none of `cacert`,
        // `cert`, `key`, `servername`) speaks plain HTTP/2; a TLS listener never answers
        // it. A second connection tells whether the daemon speaks TLS there.
        let speaks_tls = net::connect(&target, Peer::Buildkitd, ctx.opts.timeout)
            .ok()
            .is_some_and(|(sock, _)| {
                let dial = Dial {
                    alpn: &[b"h2"],
                    identity: None,
                };
                matches!(
                    handshake(sock, &target, &ctx.trusted, ctx.opts.now, &dial),
                    Ok(_) | Err(HandshakeFailure::Tls(_))
                )
            });
        if speaks_tls {
            report.findings.push(
                Finding::new(&BK704, format!("buildkitd at {} speaks TLS, but this client dials it without TLS", target.name))
                    .prevents("ERROR: failed to build: context deadline exceeded (a plain HTTP/2 client waits for an answer a TLS listener never gives)")
                    .help("give the client the CA (buildx remote driver `cacert=ABSOLUTE_PATH`, buildctl `--tlscacert`), and the client pair under mutual TLS"),
            );
        }
        return;
    }
    let dial = Dial {
        alpn: &[b"h2"],
        identity,
    };
    let mut hs = match open(ctx, &target, Peer::Buildkitd, &dial, report) {
        Ok(hs) => hs,
        Err(f) => return report.findings.push(*f),
    };
    if hs.alpn.as_deref() != Some("h2") {
        report.findings.push(
            Finding::new(
                &BK715,
                format!(
                    "buildkitd at {} selected ALPN {} when offered `h2`",
                    target.name,
                    hs.alpn.as_deref().map_or("none".to_string(), |p| format!("`{p}`"))
                ),
            )
            .note("gRPC clients since BuildKit v0.17 require the server to select `h2`")
            .help("upgrade buildkitd to v0.17 or later, or configure the TLS proxy in front of it for passthrough (or to advertise `h2`)"),
        );
    }
    // With TLS 1.3 a server rejects a missing client certificate only after the client
    // finishes, so the verdict arrives on the first read.
    let mut first = [0u8; 9];
    let res = hs
        .stream
        .write_all(H2_PREFACE)
        .and_then(|()| hs.stream.flush())
        .and_then(|()| hs.stream.read(&mut first));
    match res {
        Ok(_) => report.facts.steps.push("HTTP/2 preface answered".into()),
        Err(e) if net::is_timeout(&e) => report
            .facts
            .steps
            .push("no HTTP/2 answer within the timeout".into()),
        Err(e) => report.findings.push(classify_io(
            &e,
            &target,
            Peer::Buildkitd,
            identity.is_some(),
        )),
    }
}
