//! Turning rustls/webpki verdicts and alerts into BK7xx findings with BuildKit's wording.

use super::checks::{
    BK701, BK703, BK705, BK706, BK707, BK708, BK709, BK710, BK711, BK712, BK713, BK714, BK722,
};
use super::net::{Target, describe, is_timeout};
use super::{Peer, Session};
use crate::diag::Finding;
use crate::pki::{CertFacts, SanName};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError};
use std::io;

/// What findings say about a presented certificate, as `pki` reads it. An unparsable
/// certificate reads as empty (no names, no SAN extension).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Presented {
    /// RFC 4514 names, compared with each other and with the trusted roots' subjects.
    pub issuer: String,
    pub subject: String,
    pub issuer_cn: Option<String>,
    pub subject_cn: Option<String>,
    /// `DNS:name` / `IP:addr`, in certificate order; `None` when the extension is absent.
    pub sans: Option<Vec<String>>,
    /// Which key signed it, as the issuer's subject key identifier names that key.
    pub authority_key_id: Option<Vec<u8>>,
}

impl Presented {
    pub(super) fn of(cert: &CertificateDer<'_>) -> Option<Presented> {
        let f = CertFacts::from_der(cert.as_ref()).ok()?;
        let sans = f.has_san_extension.then(|| {
            f.sans
                .iter()
                .map(|s| match s {
                    SanName::Dns(d) => format!("DNS:{d}"),
                    SanName::Ip(ip) => format!("IP:{ip}"),
                })
                .collect()
        });
        Some(Presented {
            issuer: f.issuer,
            subject: f.subject,
            issuer_cn: f.issuer_cn,
            subject_cn: f.subject_cn,
            sans,
            authority_key_id: f.authority_key_id,
        })
    }

    pub(super) fn self_issued(&self) -> bool {
        self.issuer == self.subject
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug)]
pub(crate) enum HandshakeFailure {
    /// The client configuration itself is unusable (e.g. a bad client key).
    Config(rustls::Error),
    /// The server answered the ClientHello with HTTP; its first line.
    PlainHttp(String),
    Tls(rustls::Error),
    Io(io::Error),
}

/// The rustls error inside an I/O error from a TLS stream, if any.
pub(crate) fn tls_error(e: &io::Error) -> Option<rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned()
}

fn ca_help(peer: Peer<'_>, target: &Target) -> String {
    match peer {
        Peer::Registry => format!(
            "add the CA that signed it to `ca = [\"/path/to/ca.pem\"]` under `[registry.\"{}\"]` in buildkitd.toml, or reissue the registry certificate from a CA already listed there",
            target.name
        ),
        Peer::Buildkitd => "pass the CA that signed buildkitd's certificate to buildctl `--tlscacert` (buildx remote driver `cacert=`)".to_string(),
        Peer::TokenRealm { registry } => format!(
            "the token is fetched by the client, not buildkitd: trust the CA on the client machine, pass `--registry-auth-tlscontext host={registry},ca=/path/to/ca.pem` to buildctl, or set `BUILDKIT_NO_CLIENT_TOKEN=1`"
        ),
    }
}

fn reissue_help(peer: Peer<'_>, target: &Target, what: &str) -> String {
    let server = match peer {
        Peer::Buildkitd => "buildkitd's certificate (`[grpc.tls] cert`)",
        Peer::Registry => "the registry certificate (`http.tls.certificate` in its config.yml)",
        Peer::TokenRealm { .. } => "the token server's certificate",
    };
    let mut help = format!("reissue {server} {what} and restart the server");
    if matches!(peer, Peer::Buildkitd) {
        help.push_str(&format!(
            ", or pass buildctl `--tlsservername` with a name it covers instead of `{}`",
            target.host
        ));
    }
    help
}

fn client_cert_help(peer: Peer<'_>, target: &Target) -> String {
    match peer {
        Peer::Registry => format!(
            "set `keypair = [{{ key = \"/path/client.key\", cert = \"/path/client.cert\" }}]` under `[registry.\"{}\"]` in buildkitd.toml, with a clientAuth certificate from the CA the registry trusts",
            target.name
        ),
        Peer::Buildkitd => "pass a client certificate from the CA in buildkitd's `[grpc.tls] ca` with buildctl `--tlscert`/`--tlskey` (buildx remote driver `cert=`/`key=`)".to_string(),
        Peer::TokenRealm { registry } => format!(
            "the token is fetched by the client: pass `--registry-auth-tlscontext host={registry},cert=...,key=...` to buildctl, or set `BUILDKIT_NO_CLIENT_TOKEN=1` so buildkitd uses its `keypair`"
        ),
    }
}

fn date(t: UnixTime) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => format!("{secs} (unix)"),
    }
}

/// What went wrong before a handshake completed.
pub(crate) fn classify_failure(
    f: HandshakeFailure,
    ctx: &Session<'_>,
    target: &Target,
    peer: Peer<'_>,
    has_identity: bool,
) -> Finding {
    let who = describe(peer, &target.name);
    match f {
        HandshakeFailure::PlainHttp(line) => {
            let help = match peer {
                Peer::Registry => format!(
                    "serve TLS on the registry (`http.tls` in its config.yml), or declare it plain HTTP with `[registry.\"{}\"] http = true` in buildkitd.toml",
                    target.name
                ),
                Peer::Buildkitd => "buildkitd serves gRPC without TLS: give it `[grpc.tls]` `cert`/`key` in the config it really reads (a rootless image reads `~/.config/buildkit/buildkitd.toml` unless `--config` says otherwise) or `--tlscert`/`--tlskey`, or drop the TLS flags from buildctl".to_string(),
                Peer::TokenRealm { .. } => "make the registry's token realm (`auth.token.realm`) an https:// URL served over TLS, or point it at http://".to_string(),
            };
            let mut f = Finding::new(
                &BK703,
                format!("{who} answered the TLS ClientHello with plain HTTP (`{line}`)"),
            )
            .help(help);
            if matches!(peer, Peer::Buildkitd) {
                // What buildctl and buildx print for a plaintext gRPC server.
                f = f.prevents("transport: authentication handshake failed: tls: first record does not look like a TLS handshake");
            }
            f
        }
        HandshakeFailure::Tls(e) => classify_tls(&e, target, peer, has_identity),
        HandshakeFailure::Io(e) => classify_io(&e, target, peer, has_identity),
        HandshakeFailure::Config(e) => Finding::new(
            &BK714,
            format!(
                "the client identity for {who} cannot be used: {e} (trust: {})",
                ctx.trust(peer).label
            ),
        )
        .help(client_cert_help(peer, target)),
    }
}

/// An I/O error on a TLS (or plain) stream: an alert, a timeout, or a hang-up.
pub(crate) fn classify_io(
    e: &io::Error,
    target: &Target,
    peer: Peer<'_>,
    has_identity: bool,
) -> Finding {
    let who = describe(peer, &target.name);
    if let Some(t) = tls_error(e) {
        return classify_tls(&t, target, peer, has_identity);
    }
    if is_timeout(e) {
        return Finding::new(
            &BK701,
            format!("{who} accepted the TCP connection but did not answer in time"),
        )
        .prevents("net/http: TLS handshake timeout")
        .help(format!(
            "check that the service on {} is healthy and that no proxy or firewall swallows the traffic",
            target.name
        ));
    }
    Finding::new(&BK722, format!("{who} dropped the connection: {e}")).help(format!(
        "inspect {} with `curl -v` and check proxies in between",
        target.name
    ))
}

fn classify_tls(e: &rustls::Error, target: &Target, peer: Peer<'_>, has_identity: bool) -> Finding {
    let who = describe(peer, &target.name);
    let rejected = |alert: AlertDescription| {
        let (code, prevents) = if has_identity {
            (&BK714, format!("remote error: tls: {}", go_alert(alert)))
        } else {
            (&BK713, format!("remote error: tls: {}", go_alert(alert)))
        };
        let msg = if has_identity {
            format!(
                "{who} rejected the client certificate offered (TLS alert \"{}\")",
                go_alert(alert)
            )
        } else {
            format!(
                "{who} requires a client certificate and none was offered (TLS alert \"{}\")",
                go_alert(alert)
            )
        };
        Finding::new(code, msg)
            .prevents(prevents)
            .help(client_cert_help(peer, target))
    };
    match e {
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            rejected(AlertDescription::CertificateRequired)
        }
        rustls::Error::AlertReceived(
            a @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::AccessDenied),
        ) => rejected(*a),
        other => Finding::new(
            &BK722,
            format!("the TLS handshake with {who} failed: {other}"),
        )
        .help(format!(
            "inspect {} with `openssl s_client -connect` and the server's logs",
            target.name
        )),
    }
}

fn go_alert(a: AlertDescription) -> &'static str {
    match a {
        AlertDescription::CertificateRequired => "certificate required",
        AlertDescription::UnknownCA => "unknown certificate authority",
        AlertDescription::CertificateExpired => "expired certificate",
        AlertDescription::AccessDenied => "access denied",
        _ => "bad certificate",
    }
}

/// Why webpki refused the chain the server presented.
pub(crate) fn classify_verify(
    e: &rustls::Error,
    ctx: &Session<'_>,
    target: &Target,
    peer: Peer<'_>,
    chain: &[CertificateDer<'static>],
) -> Finding {
    let who = describe(peer, &target.name);
    let leaf = chain.first().and_then(Presented::of).unwrap_or_default();
    let rustls::Error::InvalidCertificate(ce) = e else {
        return Finding::new(&BK722, format!("verifying {who} failed: {e}"));
    };
    match ce {
        CertificateError::NotValidForNameContext { presented, .. } => {
            name_mismatch(&who, target, peer, &leaf, presented)
        }
        CertificateError::NotValidForName => name_mismatch(&who, target, peer, &leaf, &[]),
        CertificateError::ExpiredContext { time, not_after } => Finding::new(
            &BK708,
            format!(
                "{who} presents a certificate that expired on {} (checked at {})",
                date(*not_after),
                date(*time)
            ),
        )
        .help(reissue_help(peer, target, "with a new validity period")),
        CertificateError::NotValidYetContext { time, not_before } => Finding::new(
            &BK708,
            format!(
                "{who} presents a certificate not valid before {} (checked at {})",
                date(*not_before),
                date(*time)
            ),
        )
        .note("a future `not before` usually means clock skew between the CA host and this machine")
        .help(reissue_help(peer, target, "with a `not before` in the past, or fix the clock,")),
        CertificateError::Expired | CertificateError::NotValidYet => Finding::new(
            &BK708,
            format!("{who} presents a certificate outside its validity period"),
        )
        .help(reissue_help(peer, target, "with a current validity period")),
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            unknown_issuer(&who, ctx, target, peer, chain, &leaf)
        }
        CertificateError::InvalidPurposeContext { presented, .. } => Finding::new(
            &BK710,
            format!("{who} presents a certificate whose extended key usage is {presented:?}, without serverAuth"),
        )
        .help(reissue_help(peer, target, "with the serverAuth extended key usage")),
        CertificateError::InvalidPurpose => Finding::new(
            &BK710,
            format!("{who} presents a certificate whose extended key usage lacks serverAuth"),
        )
        .help(reissue_help(peer, target, "with the serverAuth extended key usage")),
        CertificateError::Other(oe) => match oe.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => Finding::new(
                &BK711,
                format!(
                    "{who} presents a CA certificate ({}) as its own certificate",
                    leaf.subject_cn.as_deref().unwrap_or("no CN")
                ),
            )
            .note("BuildKit's clients (Go) accept it, but rustls/webpki clients refuse it and the CA key sits on the server")
            .help(reissue_help(peer, target, "as a leaf (CA:FALSE) signed by the CA")),
            Some(webpki::Error::NameConstraintViolation) => Finding::new(
                &BK712,
                format!(
                    "{who} presents a certificate for {} outside its CA's name constraints",
                    leaf.sans.as_deref().map(|s| s.join(", ")).unwrap_or_default()
                ),
            )
            .help(reissue_help(peer, target, "with names inside the CA's permitted subtrees (or re-create the CA with wider constraints)")),
            _ => Finding::new(&BK722, format!("verifying {who} failed: {e}")),
        },
        _ => Finding::new(&BK722, format!("verifying {who} failed: {e}")),
    }
}

fn name_mismatch(
    who: &str,
    target: &Target,
    peer: Peer<'_>,
    leaf: &Presented,
    presented: &[String],
) -> Finding {
    let is_ip = matches!(
        ServerName::try_from(target.host.as_str()),
        Ok(ServerName::IpAddress(_))
    );
    let cn = leaf.subject_cn.clone().unwrap_or_default();
    if leaf.sans.is_none() {
        return Finding::new(
            &BK707,
            format!(
                "{who} presents a certificate without SANs (CN={cn}) while BuildKit dials `{}`",
                target.host
            ),
        )
        .note("Go and webpki have no Common Name fallback")
        .help(reissue_help(
            peer,
            target,
            &format!("with a SAN for `{}`", target.host),
        ));
    }
    let sans = leaf
        .sans
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| presented.to_vec());
    let list = sans.join(", ");
    let san = if is_ip { "IP" } else { "DNS" };
    let prevents = if is_ip && !sans.iter().any(|s| s.starts_with("IP:")) {
        format!(
            "x509: cannot validate certificate for {} because it doesn't contain any IP SANs",
            target.host
        )
    } else {
        format!("x509: certificate is valid for {list}, not {}", target.host)
    };
    let mut f = Finding::new(
        &BK706,
        format!(
            "{who} presents a certificate for {list}, but BuildKit dials `{}`",
            target.host
        ),
    )
    .prevents(prevents)
    .note("Go and webpki ignore the Common Name; only SANs count")
    .help(reissue_help(
        peer,
        target,
        &format!("with the SAN `{san}:{}`", target.host),
    ));
    if is_ip {
        f = f.note(
            "an IP address is matched only by an IP SAN, never by a DNS SAN with the same text",
        );
    }
    f
}

fn unknown_issuer(
    who: &str,
    ctx: &Session<'_>,
    target: &Target,
    peer: Peer<'_>,
    chain: &[CertificateDer<'static>],
    leaf: &Presented,
) -> Finding {
    let signer = (ctx.signer)(chain);
    let issuer = leaf
        .issuer_cn
        .clone()
        .unwrap_or_else(|| "an unnamed issuer".into());
    let issuer_known = ctx.trust(peer).has_subject(&leaf.issuer);
    let issuer_sent = chain
        .iter()
        .skip(1)
        .filter_map(Presented::of)
        .any(|c| c.subject == leaf.issuer);
    // Only a chain that carries intermediates, but not the leaf's issuer, proves a gap; a
    // lone leaf from an unknown issuer is far more often an untrusted private root.
    if signer.is_none() && !leaf.self_issued() && !issuer_known && !issuer_sent && chain.len() > 1 {
        return Finding::new(
            &BK709,
            format!("{who} sends intermediate certificates, but not its certificate's issuer `{issuer}`, which is not trusted either"),
        )
        .note("Go does not fetch missing intermediates")
        .help(format!(
            "serve the full chain (leaf followed by the intermediate `{issuer}`) in the server's certificate file; if `{issuer}` is a root instead, {}",
            ca_help(peer, target)
        ));
    }
    let issuer_id = leaf
        .authority_key_id
        .as_deref()
        .map_or_else(String::new, |id| {
            format!(" (key id {})", crate::pki::colon_hex(id, 8))
        });
    let mut msg = format!(
        "{who} presents a certificate issued by `{issuer}`{issuer_id}, which is not among {}",
        ctx.trust(peer).label
    );
    if let Some(s) = &signer {
        msg.push_str(&format!("; it was signed by {s}"));
    }
    let mut f = Finding::new(&BK705, msg).help(ca_help(peer, target));
    if leaf.self_issued() {
        f = f.note("the certificate is self-signed");
    } else if chain.len() == 1 && signer.is_none() && !issuer_known {
        f = f.note(format!(
            "the server sends only its leaf; if `{issuer}` is an intermediate CA, the server must send it after the leaf (Go does not fetch missing intermediates)"
        ));
    }
    f
}
