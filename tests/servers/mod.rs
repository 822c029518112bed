//! Loopback test servers (plain, TLS, mTLS, black hole) and rcgen certificates.

#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub type Ca = CertifiedIssuer<'static, KeyPair>;
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

pub fn ca(cn: &str) -> Ca {
    ca_with(cn, |_| {})
}

pub fn ca_with(cn: &str, tweak: impl FnOnce(&mut CertificateParams)) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    tweak(&mut p);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

pub fn intermediate(cn: &str, parent: &Ca) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::signed_by(p, KeyPair::generate().unwrap(), parent).unwrap()
}

pub fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// A leaf for `sans` signed by `ca`, after `tweak` edits its parameters.
pub fn leaf_with(ca: &Ca, sans: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Identity {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name = dn("leaf");
    tweak(&mut p);
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, ca).unwrap();
    (vec![cert.der().clone()], key_der(&key))
}

pub fn leaf(ca: &Ca, sans: &[&str]) -> Identity {
    leaf_with(ca, sans, |_| {})
}

pub fn server_config(id: &Identity, alpn: &[&[u8]], client_ca: Option<&Ca>) -> Arc<ServerConfig> {
    let b = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let b = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.der().clone()).unwrap();
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .unwrap();
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    let mut cfg = b.with_single_cert(id.0.clone(), id.1.clone_key()).unwrap();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// A request as the fake registry sees it.
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// The body (`Content-Length` bytes), as text.
    pub body: String,
}

/// (status line tail, extra headers, body).
pub type Reply = (&'static str, Vec<(String, String)>, String);

/// Accepts connections on a thread until dropped; each is handed to `handle`.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = Arc::new(handle);
        let thread = std::thread::spawn(move || {
            let mut workers = Vec::new();
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
                    let handle = handle.clone();
                    workers.push(std::thread::spawn(move || handle(conn)));
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// A TLS server answering HTTP requests with `route`.
    pub fn https(
        cfg: Arc<ServerConfig>,
        route: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        Server::start(move |sock| {
            let Ok(conn) = ServerConnection::new(cfg.clone()) else {
                return;
            };
            let mut tls = StreamOwned::new(conn, sock);
            serve_http(&mut tls, &route);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        })
    }

    /// A plain HTTP server answering with `route`.
    pub fn http(route: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start(move |mut sock| serve_http(&mut sock, &route))
    }

    pub fn connect_to(&self) -> Option<String> {
        Some(self.addr.to_string())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn read_head<S: Read>(s: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
        if buf.len() > 16 * 1024 {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn serve_http<S: Read + Write>(s: &mut S, route: &dyn Fn(&Request) -> Reply) {
    let Some(head) = read_head(s) else { return };
    let method = head.split(' ').next().unwrap_or("GET").to_string();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::to_string)
    };
    let authorization = header("Authorization: ");
    let length: usize = header("Content-Length: ").map_or(0, |n| n.trim().parse().unwrap_or(0));
    let mut body = vec![0u8; length.min(64 * 1024)];
    if s.read_exact(&mut body).is_err() {
        return;
    }
    let (status, headers, body) = route(&Request {
        method,
        path,
        authorization,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    let _ = s.write_all(out.as_bytes());
    let _ = s.flush();
}

pub fn ok() -> Reply {
    ("200 OK", vec![], "{}".into())
}

pub fn challenge(value: &str) -> Reply {
    (
        "401 Unauthorized",
        vec![("WWW-Authenticate".into(), value.into())],
        "{\"errors\":[]}".into(),
    )
}
