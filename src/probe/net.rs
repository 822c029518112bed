//! TCP dialling with `--resolve`-style overrides, and what a failed dial means.

use super::Peer;
use super::checks::{BK701, BK702};
use crate::diag::Finding;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A connection whose whole exchange (TLS handshake, request and response) must finish
/// before a deadline. A per-read timeout alone is not a bound: a server that trickles
/// one byte per second satisfies every read forever. So each read and write may wait
/// only for the time left, and once the deadline has passed every call fails as a
/// timeout. The HTTP and TLS layers above need no timing of their own.
#[derive(Debug)]
pub(crate) struct Conn {
    sock: TcpStream,
    deadline: Instant,
}

impl Conn {
    pub(super) fn new(sock: TcpStream, budget: Duration) -> Self {
        Conn {
            sock,
            deadline: Instant::now() + budget,
        }
    }

    /// The time left, set as the socket's timeout for the next call.
    fn arm(
        &self,
        set: impl FnOnce(&TcpStream, Option<Duration>) -> io::Result<()>,
    ) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the exchange did not finish within the timeout",
            ));
        }
        set(&self.sock, Some(left))
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(TcpStream::set_read_timeout)?;
        self.sock.read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(TcpStream::set_write_timeout)?;
        self.sock.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// A `host:port` as dialled, plus where the socket really goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `host:port`, what a finding quotes.
    pub name: String,
    /// Host without brackets: SNI and hostname verification.
    pub host: String,
    pub port: u16,
    pub connect_to: Option<String>,
}

impl Target {
    pub(super) fn new(name: &str, default_port: u16, connect_to: Option<String>) -> Self {
        let (host, port) = crate::hostport::host_and_port(name);
        let port = port.unwrap_or(default_port);
        let name = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Target {
            name,
            host: host.to_string(),
            port,
            connect_to,
        }
    }

    /// What `Host:` carries: Go sends the URL host, port only when the URL had one.
    pub(super) fn authority(&self, default_port: u16) -> String {
        if self.port == default_port {
            if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            }
        } else {
            self.name.clone()
        }
    }
}

pub(crate) fn describe(peer: Peer<'_>, name: &str) -> String {
    match peer {
        Peer::Buildkitd => format!("buildkitd at {name}"),
        Peer::Registry => format!("registry {name}"),
        Peer::TokenRealm { registry } => format!("token realm {name} of registry {registry}"),
    }
}

fn dial_help(peer: Peer<'_>, target: &Target) -> String {
    let via = target
        .connect_to
        .as_ref()
        .map(|c| format!(" (connecting to {c})"))
        .unwrap_or_default();
    match peer {
        Peer::Buildkitd => format!(
            "start buildkitd with `--addr tcp://0.0.0.0:{}` and check `BUILDKIT_HOST`/`--addr` and the published port{via}",
            target.port
        ),
        Peer::Registry => format!(
            "start the registry and publish port {} (compose `ports:`); the image reference and `[registry.\"{}\"]` must use the port it listens on{via}",
            target.port, target.name
        ),
        Peer::TokenRealm { .. } => format!(
            "the realm is fetched by the client (buildctl/buildx): make {} reachable from it, or fix the registry's `auth.token.realm`{via}",
            target.name
        ),
    }
}

/// Connects within `timeout` per address; the connection's whole exchange is then
/// bounded by `timeout` too ([`Conn`]).
pub(crate) fn connect(
    target: &Target,
    peer: Peer<'_>,
    timeout: Duration,
) -> Result<(Conn, SocketAddr), Box<Finding>> {
    let dial = target
        .connect_to
        .clone()
        .unwrap_or_else(|| format!("{}:{}", bracket(&target.host), target.port));
    let lookup = |name: String| name.to_socket_addrs().map(Iterator::collect);
    let addrs = match resolve(&dial, timeout, lookup) {
        Ok(a) => a,
        Err(e) => return Err(Box::new(dns_failure(target, peer, &dial, &e))),
    };
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(sock) => return Ok((Conn::new(sock, timeout), *addr)),
            Err(e) => last = Some((*addr, e)),
        }
    }
    let Some((addr, e)) = last else {
        let e = io::Error::new(io::ErrorKind::NotFound, "no addresses");
        return Err(Box::new(dns_failure(target, peer, &dial, &e)));
    };
    let what = if is_timeout(&e) {
        format!("did not accept a connection within {timeout:?}")
    } else if e.kind() == io::ErrorKind::ConnectionRefused {
        "refused the connection".to_string()
    } else {
        format!("could not be reached ({e})")
    };
    let prevents = if e.kind() == io::ErrorKind::ConnectionRefused {
        format!("dial tcp {addr}: connect: connection refused")
    } else {
        format!("dial tcp {addr}: i/o timeout")
    };
    Err(Box::new(
        Finding::new(
            &BK701,
            format!("{} {what} at {addr}", describe(peer, &target.name)),
        )
        .prevents(prevents)
        .help(dial_help(peer, target)),
    ))
}

/// Resolves `dial` within `timeout`. getaddrinfo has no timeout of its own, and a
/// resolver that never answers (an unreachable DNS server) must not hold a probe past
/// its deadline; the lookup runs on its own thread, which is left to finish alone.
fn resolve(
    dial: &str,
    timeout: Duration,
    lookup: impl FnOnce(String) -> io::Result<Vec<SocketAddr>> + Send + 'static,
) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = dial.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let (tx, rx) = mpsc::channel();
    let name = dial.to_string();
    std::thread::Builder::new()
        .name("probe-dns".into())
        .spawn(move || {
            let _ = tx.send(lookup(name));
        })?;
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer from the resolver within {timeout:?}"),
        ))
    })
}

fn dns_failure(target: &Target, peer: Peer<'_>, dial: &str, e: &io::Error) -> Finding {
    Finding::new(
        &BK702,
        format!(
            "{}: `{dial}` does not resolve ({e})",
            describe(peer, &target.name)
        ),
    )
    .prevents(format!("dial tcp: lookup {}: no such host", target.host))
    .help(format!(
        "make `{}` resolvable where BuildKit runs: DNS, compose `extra_hosts:` of the buildkitd service, or /etc/hosts",
        target.host
    ))
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_as_buildkit_writes_them() {
        assert_eq!(Target::new("[::1]:5000", 443, None).name, "[::1]:5000");
        assert_eq!(Target::new("::1", 443, None).name, "[::1]:443");
        let t = Target::new("registry.test", 443, None);
        assert_eq!(t.name, "registry.test:443");
        assert_eq!(t.authority(443), "registry.test");
    }

    #[test]
    fn a_lookup_that_never_answers_is_cut_at_the_timeout() {
        // Had resolve waited for the lookup, it would return Ok after 30 s.
        let hang = |_: String| {
            std::thread::sleep(Duration::from_secs(30));
            Ok(Vec::new())
        };
        let e = resolve("registry.test:443", Duration::from_millis(100), hang).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let literal = resolve("127.0.0.1:5000", Duration::from_millis(1), hang).unwrap();
        assert_eq!(literal, ["127.0.0.1:5000".parse().unwrap()]);
    }

    #[test]
    fn a_trickling_peer_cannot_outlast_the_deadline() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // One byte every 20 ms, for far longer than the deadline.
            for _ in 0..2000 {
                if s.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let t = Target::new(&addr.to_string(), 443, None);
        let (mut conn, _) = connect(&t, Peer::Registry, Duration::from_millis(300)).unwrap();
        let mut got = Vec::new();
        let e = conn.read_to_end(&mut got).unwrap_err();
        assert!(is_timeout(&e), "{e}");
        // Each byte arrived well within a per-read timeout; only the deadline ended it.
        assert!(!got.is_empty() && got.len() < 2000, "{}", got.len());
    }

    #[test]
    fn unresolvable_name_is_bk702() {
        let t = Target::new("x.test:1", 443, Some("not a socket address".into()));
        let f = connect(&t, Peer::Registry, Duration::from_millis(200)).unwrap_err();
        assert_eq!(f.check, &BK702);
        assert!(f.help.unwrap().contains("extra_hosts"));
    }
}
