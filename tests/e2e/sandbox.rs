//! A private network + mount namespace per test environment, and the real registry run
//! inside it exactly as `docker-compose.yml` mounts it.
//!
//! # Method
//!
//! * **Network.** `unshare --net --mount --propagation private` creates a namespace whose
//!   only interface is `lo`; the holder process brings it up and sleeps. Every byte of
//!   test traffic stays on that loopback, so the spec's real ports (5000, 5005, ...) are
//!   free regardless of what runs on the machine, nothing outside is reachable (the
//!   mirror's upstream included), and parallel tests never collide.
//! * **Names.** A temporary `/etc/hosts` is bind-mounted over `/etc/hosts` inside the
//!   mount namespace, mapping every compose service name the spec dials (`registry`,
//!   `mirror`) to 127.0.0.1, next to `localhost`. Clients therefore dial the exact names
//!   of the spec, and TLS verification checks those names.
//! * **Registry.** `docker-registry` (distribution 2.8, the code of the `registry:2`
//!   image) runs chrooted into a temporary root that holds bind mounts of `/usr`, `/lib`,
//!   `/lib64`, `/bin` and `/dev` (read-only) plus, parsed from the GENERATED compose file,
//!   every volume of the service: `./registry/config.yml` on
//!   `/etc/docker/registry/config.yml`, `./registry/certs` on `/certs`, ... with their
//!   `:ro` flags, and a temporary directory per named volume. The registry is started
//!   with the image's command, `serve /etc/docker/registry/config.yml`, and a clean
//!   environment; it listens where its config says (`:5000`), as in its container.
//! * **Published ports.** Each `[IP:]HOST:CONTAINER` of the service becomes a `socat`
//!   forwarder inside the namespace from `IP:HOST` to the container port, as Docker's
//!   proxy does; no IP means every address, like Docker.
//! * **Clients** (skopeo, curl, openssl) run in the same namespaces through `nsenter`.
//!
//! Every process is started with `setpriv --pdeathsig KILL`, waited for with a deadline,
//! and killed by its PID on drop.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any single wait may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A spawned process killed by PID on drop.
pub struct Proc {
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to completion within `timeout`, returning (success, stdout+stderr). On
/// timeout the process is killed and the result is a failure mentioning it.
pub fn run_for(cmd: &mut Command, timeout: Duration) -> (bool, String) {
    let (ok, mut out, err) = run_split(cmd, timeout);
    out.push_str(&err);
    (ok, out)
}

/// `run_for` with stdout and stderr apart: (success, stdout, stderr).
pub fn run_split(cmd: &mut Command, timeout: Duration) -> (bool, String, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    match status {
        Some(s) => (s.success(), out, err),
        None => (
            false,
            out,
            format!("TIMED OUT after {timeout:?}: {cmd:?}\n{err}"),
        ),
    }
}

/// Polls `ready` every 50 ms until it holds or `WAIT` passes.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{what}: not ready after {WAIT:?}"))
}

/// A private network + mount namespace, held open by a sleeping process.
pub struct Netns {
    holder: Proc,
    pub dir: tempfile::TempDir,
}

impl Netns {
    /// A namespace with `lo` up where each `(name, ip)` of `names` resolves to `ip`.
    pub fn new(names: &[(String, Ipv4Addr)]) -> Netns {
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts = dir.path().join("hosts");
        let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n");
        for (n, ip) in names {
            text.push_str(&format!("{ip}\t{n}\n"));
        }
        fs::write(&hosts, text).expect("hosts");
        let ready = dir.path().join("ready");
        let script = format!(
            "set -e; ip link set lo up; mount --bind '{}' /etc/hosts; touch '{}'; exec sleep 600",
            hosts.display(),
            ready.display()
        );
        let holder = Proc::spawn(
            "netns holder",
            Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "unshare", "--net", "--mount"])
                .args(["--propagation", "private", "sh", "-c", &script])
                .stdin(Stdio::null()),
        );
        let mut ns = Netns { holder, dir };
        let r = wait_until("network namespace", || ready.exists());
        assert!(r.is_ok() && !ns.holder.exited(), "{r:?}");
        ns
    }

    /// A command that runs `program` inside the namespaces.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("setpriv");
        c.args(["--pdeathsig", "KILL", "nsenter", "-t"])
            .arg(self.holder.pid().to_string())
            .args(["--net", "--mount", "--"])
            .arg(program);
        c
    }

    /// Whether something listens on TCP `ip:port` (or on the wildcard address) in the
    /// namespace, read from /proc: no traffic.
    pub fn listening(&self, ip: IpAddr, port: u16) -> bool {
        let port_hex = format!("{port:04X}");
        let ip_hex = match ip {
            IpAddr::V4(v4) => format!("{:08X}", u32::from_le_bytes(v4.octets())),
            IpAddr::V6(v6) => v6
                .octets()
                .chunks(4)
                .map(|c| format!("{:08X}", u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        };
        ["tcp", "tcp6"].iter().any(|f| {
            let table = fs::read_to_string(format!("/proc/{}/net/{f}", self.holder.pid()))
                .unwrap_or_default();
            table.lines().skip(1).any(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let Some((addr, p)) = cols.get(1).and_then(|a| a.split_once(':')) else {
                    return false;
                };
                let wildcard = addr.bytes().all(|b| b == b'0');
                let v4_in_v6 = addr.len() == 32 && addr.ends_with(&ip_hex);
                cols.get(3) == Some(&"0A")
                    && p == port_hex
                    && (wildcard || addr == ip_hex || v4_in_v6)
            })
        })
    }
}

/// The parts of a compose service the launcher needs.
#[derive(Debug, Deserialize)]
pub struct Compose {
    pub services: BTreeMap<String, Service>,
}

#[derive(Debug, Deserialize)]
pub struct Service {
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
}

impl Compose {
    pub fn load(env_dir: &Path) -> Compose {
        let text = fs::read_to_string(env_dir.join("docker-compose.yml")).expect("compose");
        serde_saphyr::from_str(&text).expect("compose parses")
    }
}

/// One `SRC:DST[:ro]` volume entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// A host path (bind mount) or `None` for a named volume.
    pub source: Option<PathBuf>,
    pub target: String,
    pub read_only: bool,
}

pub fn parse_volume(env_dir: &Path, spec: &str) -> Mount {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, target, mode) = match parts.as_slice() {
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => panic!("unsupported volume syntax {spec:?}"),
    };
    let source = (src.starts_with("./") || src.starts_with('/')).then(|| env_dir.join(src));
    Mount {
        source,
        target: target.to_string(),
        read_only: mode.split(',').any(|m| m == "ro"),
    }
}

/// `[IP:]HOST:CONTAINER` of a compose `ports` entry.
pub fn parse_port(spec: &str) -> (Option<String>, u16, u16) {
    let (rest, container) = spec.rsplit_once(':').expect("HOST:CONTAINER");
    let container: u16 = container.parse().expect("container port");
    let (ip, host) = match rest.rsplit_once(':') {
        Some((ip, host)) => (Some(ip.trim_matches(['[', ']']).to_string()), host),
        None => (None, rest),
    };
    (ip, host.parse().expect("host port"), container)
}

/// The real registry of one compose service, running in a `Netns`.
pub struct Registry {
    pub log: PathBuf,
    _procs: Vec<Proc>,
    _root: tempfile::TempDir,
    _volumes: tempfile::TempDir,
}

/// Read-only system directories the chroot needs to run the registry binary.
const SYSTEM_DIRS: &[&str] = &["usr", "lib", "lib64", "bin", "dev"];

impl Registry {
    /// Starts the registry of `service` as the compose file in `env_dir` describes it,
    /// with `ip` as its container address and `container_port` the port its config
    /// listens on. `Err` carries the registry's log when it refuses to start.
    pub fn start(
        ns: &Netns,
        env_dir: &Path,
        service: &str,
        ip: Ipv4Addr,
        container_port: u16,
        system_trust: Option<&Path>,
    ) -> Result<Registry, String> {
        let compose = Compose::load(env_dir);
        let svc = compose
            .services
            .get(service)
            .unwrap_or_else(|| panic!("compose has no service {service}"));
        let root = tempfile::tempdir().expect("root");
        let r = root.path();
        let mut script = String::from("set -e\n");
        let mut bind = |src: &Path, target: &str, ro: bool, is_file: bool| {
            let dst = r.join(target.trim_start_matches('/'));
            if is_file {
                fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
                fs::write(&dst, "").expect("mount point");
            } else {
                fs::create_dir_all(&dst).expect("mkdir");
            }
            script.push_str(&format!(
                "mount --bind '{}' '{}'\n",
                src.display(),
                dst.display()
            ));
            if ro {
                script.push_str(&format!("mount -o remount,bind,ro '{}'\n", dst.display()));
            }
        };
        for d in SYSTEM_DIRS {
            let src = Path::new("/").join(d);
            if src.exists() {
                bind(&src, d, *d != "dev", false);
            }
        }
        fs::create_dir_all(r.join("tmp")).expect("tmp");
        fs::create_dir_all(r.join("etc")).expect("etc");
        // Name resolution as on the compose network: the namespace's hosts file.
        fs::copy(ns.dir.path().join("hosts"), r.join("etc/hosts")).expect("etc/hosts");
        if let Some(bundle) = system_trust {
            // The image's system CA bundle (Alpine's path), for a mirror's upstream.
            fs::create_dir_all(r.join("etc/ssl/certs")).expect("ssl dir");
            fs::copy(bundle, r.join("etc/ssl/certs/ca-certificates.crt")).expect("bundle");
        }
        let volumes = tempfile::tempdir().expect("volumes");
        for v in &svc.volumes {
            let m = parse_volume(env_dir, v);
            let src = match &m.source {
                Some(p) => p.clone(),
                None => {
                    let name = v.split(':').next().unwrap_or("volume");
                    let p = volumes.path().join(name);
                    fs::create_dir_all(&p).expect("named volume");
                    p
                }
            };
            let is_file = src.is_file();
            bind(&src, &m.target, m.read_only, is_file);
        }
        let (ok, out) = run_for(ns.cmd("sh").arg("-c").arg(&script), WAIT);
        assert!(ok, "mounts for {service}: {out}\n{script}");

        let log = ns.dir.path().join(format!("{service}.log"));
        let log_file = fs::File::create(&log).expect("log");
        let mut procs = Vec::new();
        let mut reg = ns.cmd("chroot");
        reg.arg(r)
            .args([
                "/usr/bin/docker-registry",
                "serve",
                bkenv::model::layout::REG_CONFIG_IN,
            ])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            // The container's own address: the config's `:PORT` listens on every address
            // of its container, which here is this one loopback address.
            .env("REGISTRY_HTTP_ADDR", format!("{ip}:{container_port}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file);
        procs.push(Proc::spawn(&format!("{service} registry"), &mut reg));
        // distribution opens its socket before loading the certificate and key, and logs
        // "listening on" only once TLS is configured: ready means both.
        let started = wait_until(&format!("{service} on :{container_port}"), || {
            procs[0].exited()
                || (ns.listening(ip.into(), container_port)
                    && fs::read_to_string(&log).is_ok_and(|l| l.contains("msg=\"listening on ")))
        });
        if started.is_err() || procs[0].exited() {
            let text = fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{service} did not start ({started:?}):\n{text}"));
        }
        for p in &svc.ports {
            let (host_ip, host, container) = parse_port(p);
            let listen = match &host_ip {
                Some(ip) if ip.contains(':') => format!("TCP6-LISTEN:{host},bind=[{ip}]"),
                Some(ip) => format!("TCP4-LISTEN:{host},bind={ip}"),
                None => format!("TCP6-LISTEN:{host},ipv6only=0"),
            };
            let mut fwd = ns.cmd("socat");
            fwd.arg(format!("{listen},fork,reuseaddr"))
                .arg(format!("TCP4:{ip}:{container}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            procs.push(Proc::spawn(&format!("publish {p}"), &mut fwd));
            let idx = procs.len() - 1;
            let up = wait_until(&format!("publish {p}"), || {
                let bound = host_ip
                    .as_deref()
                    .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| {
                        a.parse().expect("publish IP")
                    });
                ns.listening(bound, host) || procs[idx].exited()
            });
            assert!(up.is_ok() && !procs[idx].exited(), "socat for {p}: {up:?}");
        }
        Ok(Registry {
            log,
            _procs: procs,
            _root: root,
            _volumes: volumes,
        })
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A stand-in for a mirror's upstream (`registry-1.docker.io`), which is unreachable
/// offline while the pull-through registry pings it at startup: `openssl s_server -www`
/// on `ip:443` with a self-signed certificate for `host`, which becomes the mirror
/// chroot's only trusted root. Returns the server and the certificate (the bundle).
pub fn upstream_stand_in(ns: &Netns, host: &str, ip: Ipv4Addr) -> (Proc, PathBuf) {
    let dir = ns.dir.path();
    let (cert, key) = (dir.join("upstream.crt"), dir.join("upstream.key"));
    let (ok, out) = run_for(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=upstream stand-in"])
            .arg("-addext")
            .arg(format!("subjectAltName=DNS:{host}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        WAIT,
    );
    assert!(ok, "upstream certificate: {out}");
    let mut server = Proc::spawn(
        "upstream stand-in",
        ns.cmd("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("{ip}:443"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let up = wait_until("upstream stand-in", || {
        ns.listening(ip.into(), 443) || server.exited()
    });
    assert!(up.is_ok() && !server.exited(), "upstream stand-in: {up:?}");
    (server, cert)
}

/// The launcher reads the registry's mounts from the generated compose file; they land
/// on the container paths the generated registry config names.
#[test]
fn compose_mounts_of_the_registry_are_the_container_paths() {
    use bkenv::model::layout;
    let (dir, _) = crate::support::fresh(None);
    let compose = Compose::load(dir.path());
    let svc = &compose.services["registry"];
    let mounts: Vec<Mount> = svc
        .volumes
        .iter()
        .map(|v| parse_volume(dir.path(), v))
        .collect();
    for (target, host) in [
        (layout::REG_CONFIG_IN, Some("registry/config.yml")),
        (layout::REG_CERTS_IN, Some("registry/certs")),
        (layout::REG_AUTH_IN, Some("registry/auth")),
        ("/var/lib/registry", None),
    ] {
        let m = mounts
            .iter()
            .find(|m| m.target == target)
            .unwrap_or_else(|| panic!("no mount on {target}: {mounts:?}"));
        assert_eq!(m.source, host.map(|h| dir.path().join("./").join(h)));
        assert_eq!(m.read_only, host.is_some(), "{target}");
    }
    let config = fs::read_to_string(dir.path().join("registry/config.yml")).expect("config");
    for path in [
        "/certs/registry.crt",
        "/certs/registry.key",
        "/auth/htpasswd",
    ] {
        assert!(config.contains(path), "{path}");
    }
    assert_eq!(
        svc.ports.iter().map(|p| parse_port(p)).collect::<Vec<_>>(),
        [(Some("127.0.0.1".to_string()), 5005, 5000)]
    );
}
