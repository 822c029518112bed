//! One environment's "host" and compose network, in private namespaces, and the compose
//! file read the way Docker reads it.
//!
//! # Method
//!
//! * **Host.** `unshare --net --mount --propagation private` creates a namespace whose
//!   only interfaces are `lo` and a bridge (`bk0`, 172.30.0.1/24) standing in for the
//!   compose network; the holder process brings them up and sleeps. Every byte of test
//!   traffic stays inside, so the spec's real ports (1234, 5000, 5005, ...) are free
//!   whatever runs on the machine, nothing outside is reachable (the mirror's upstream
//!   included), and parallel tests never collide. Clients (buildctl, docker-buildx,
//!   skopeo, curl, openssl, bkenv) run here through `nsenter`.
//! * **Names.** A temporary `/etc/hosts` is bind-mounted over `/etc/hosts` in the host's
//!   mount namespace and copied into each container, mapping every compose service name
//!   (and each registry name's host) to its container's address, as compose's DNS does.
//!   Clients therefore dial the exact names of the spec, and TLS checks those names.
//! * **Containers** (`container`): each service gets its own network namespace with a
//!   veth on the bridge (172.30.0.10 on, by service name) and its own mount
//!   namespace, so `0.0.0.0` and `localhost` mean that container, as under Docker. A
//!   container that stopped has no address: clients get "no route to host" where
//!   Docker's DNS would say "no such host".
//! * **Published ports.** Each `[IP:]HOST:CONTAINER` of a service becomes a `socat`
//!   forwarder on the host from `IP:HOST` to the container's port, as Docker's proxy
//!   does; no IP means every address, like Docker.
//!
//! Every process is started with `setpriv --pdeathsig KILL`, waited for with a deadline,
//! and killed by its PID on drop (a container also kills every process left in its
//! network namespace).

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

    /// Kills the process (if it still runs) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
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

/// The compose network: a bridge in the "host" namespace, 172.30.0.1/24.
pub const BRIDGE: &str = "bk0";
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 1);

/// The "host" of one environment: a private network + mount namespace, held open by a
/// sleeping process, with `lo` up, a bridge standing in for the compose network, and an
/// `/etc/hosts` that plays compose's DNS. Clients run here; each container gets its own
/// network namespace on the bridge (`attach`).
pub struct Network {
    holder: Proc,
    pub dir: tempfile::TempDir,
    veths: std::sync::atomic::AtomicU32,
}

impl Network {
    /// A namespace where each `(name, ip)` of `names` resolves to `ip`.
    pub fn new(names: &[(String, Ipv4Addr)]) -> Network {
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts = dir.path().join("hosts");
        let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n");
        for (n, ip) in names {
            text.push_str(&format!("{ip}\t{n}\n"));
        }
        fs::write(&hosts, text).expect("hosts");
        let ready = dir.path().join("ready");
        let script = format!(
            "set -e; ip link set lo up; ip link add {BRIDGE} type bridge; \
             ip addr add {GATEWAY}/24 dev {BRIDGE}; ip link set {BRIDGE} up; \
             mount --bind '{}' /etc/hosts; touch '{}'; exec sleep 3600",
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
        let mut ns = Network {
            holder,
            dir,
            veths: 0.into(),
        };
        let r = wait_until("network namespace", || ready.exists());
        assert!(r.is_ok() && !ns.holder.exited(), "{r:?}");
        ns
    }

    pub fn hosts_file(&self) -> PathBuf {
        self.dir.path().join("hosts")
    }

    /// A command that runs `program` on the "host": inside the namespaces.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("setpriv");
        c.args(["--pdeathsig", "KILL", "nsenter", "-t"])
            .arg(self.holder.pid().to_string())
            .args(["--net", "--mount", "--"])
            .arg(program);
        c
    }

    /// Another address of the host on the bridge (a stand-in server listens there).
    pub fn add_address(&self, ip: Ipv4Addr) {
        let (ok, out) = run_for(
            self.cmd("ip")
                .args(["addr", "add"])
                .arg(format!("{ip}/24"))
                .args(["dev", BRIDGE]),
            WAIT,
        );
        assert!(ok, "ip addr add {ip}: {out}");
    }

    /// A fresh network namespace with `eth0` = `ip` on the bridge and `lo` up, as
    /// Docker gives each container. Held open by a sleeping process.
    pub fn attach(&self, ip: Ipv4Addr) -> Attached {
        let dir = tempfile::tempdir().expect("tempdir");
        let ready = dir.path().join("ready");
        let holder = Proc::spawn(
            "container netns",
            Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "unshare", "--net", "sh", "-c"])
                .arg(format!("touch '{}'; exec sleep 3600", ready.display()))
                .stdin(Stdio::null()),
        );
        let r = wait_until("container netns", || ready.exists());
        assert!(r.is_ok(), "{r:?}");
        let n = self.veths.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let pid = holder.pid();
        let script = format!(
            "set -e; ip link add veth{n} type veth peer name eth0 netns {pid}; \
             ip link set veth{n} master {BRIDGE}; ip link set veth{n} up; \
             nsenter -t {pid} --net sh -c 'ip link set lo up; ip addr add {ip}/24 dev eth0; \
             ip link set eth0 up; ip route add default via {GATEWAY}'"
        );
        let (ok, out) = run_for(self.cmd("sh").arg("-c").arg(&script), WAIT);
        assert!(ok, "veth for {ip}: {out}");
        Attached {
            holder,
            ip,
            _dir: dir,
        }
    }

    /// Whether something listens on TCP `ip:port` (or the wildcard) on the host.
    pub fn listening(&self, ip: IpAddr, port: u16) -> bool {
        listening(self.holder.pid(), ip, port)
    }
}

/// A container's own network namespace (see [`Network::attach`]).
pub struct Attached {
    holder: Proc,
    pub ip: Ipv4Addr,
    _dir: tempfile::TempDir,
}

impl Attached {
    pub fn pid(&self) -> u32 {
        self.holder.pid()
    }

    /// Whether something listens on `port` of this namespace (any address).
    pub fn listening(&self, port: u16) -> bool {
        listening(self.holder.pid(), self.ip.into(), port)
    }

    /// Every process in this namespace but its holder: what the container started.
    pub fn processes(&self) -> Vec<u32> {
        let ns = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/net")).ok();
        let mine = ns(&self.holder.pid().to_string());
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|p| *p != self.holder.pid() && mine.is_some() && ns(&p.to_string()) == mine)
            .collect()
    }
}

/// Whether something listens on TCP `ip:port` (or on the wildcard address) in the network
/// namespace of `pid`, read from /proc: no traffic.
fn listening(pid: u32, ip: IpAddr, port: u16) -> bool {
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
        let table = fs::read_to_string(format!("/proc/{pid}/net/{f}")).unwrap_or_default();
        table.lines().skip(1).any(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let Some((addr, p)) = cols.get(1).and_then(|a| a.split_once(':')) else {
                return false;
            };
            let wildcard = addr.bytes().all(|b| b == b'0');
            let v4_in_v6 = addr.len() == 32 && addr.ends_with(&ip_hex);
            cols.get(3) == Some(&"0A") && p == port_hex && (wildcard || addr == ip_hex || v4_in_v6)
        })
    })
}

/// The parts of a compose file the launcher needs.
#[derive(Debug, Deserialize)]
pub struct Compose {
    pub services: BTreeMap<String, Service>,
}

/// One compose service: what Docker would run. Only the short syntaxes are supported;
/// anything else fails the test with the entry named.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub image: String,
    #[serde(default)]
    pub command: Option<Words>,
    #[serde(default)]
    pub entrypoint: Option<Words>,
    /// `UID[:GID]` (numeric: the launcher has no image user database).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
}

/// `command`/`entrypoint`: a list, or a string split into words as compose does.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Words {
    List(Vec<String>),
    Line(String),
}

impl Words {
    pub fn words(&self) -> Vec<String> {
        match self {
            Words::List(l) => l.clone(),
            Words::Line(s) => s.split_whitespace().map(String::from).collect(),
        }
    }
}

/// `environment`: `["K=V"]` or `{K: V}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Environment {
    List(Vec<String>),
    Map(BTreeMap<String, String>),
}

impl Environment {
    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            Environment::List(l) => l
                .iter()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
            Environment::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
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
    /// The volume's name when `source` is `None`.
    pub name: String,
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
        name: src.to_string(),
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

/// Compose `ports` as Docker's proxy does them: one `socat` forwarder on the host per
/// entry, from `IP:HOST` (every address without an IP) to the container's port.
pub fn publish(net: &Network, container: Ipv4Addr, ports: &[String]) -> Vec<Proc> {
    let mut procs = Vec::new();
    for p in ports {
        let (host_ip, host, target) = parse_port(p);
        let listen = match &host_ip {
            Some(ip) if ip.contains(':') => format!("TCP6-LISTEN:{host},bind=[{ip}]"),
            Some(ip) => format!("TCP4-LISTEN:{host},bind={ip}"),
            None => format!("TCP6-LISTEN:{host},ipv6only=0"),
        };
        let mut fwd = net.cmd("socat");
        fwd.arg(format!("{listen},fork,reuseaddr"))
            .arg(format!("TCP4:{container}:{target}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut proc = Proc::spawn(&format!("publish {p}"), &mut fwd);
        let bound = host_ip
            .as_deref()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| {
                a.parse().expect("publish IP")
            });
        let up = wait_until(&format!("publish {p}"), || {
            net.listening(bound, host) || proc.exited()
        });
        assert!(up.is_ok() && !proc.exited(), "socat for {p}: {up:?}");
        procs.push(proc);
    }
    procs
}

/// A stand-in for a mirror's upstream (`registry-1.docker.io`), which is unreachable
/// offline while the pull-through registry pings it at startup: a TLS server on the
/// host's `ip:443` (`socat`, a self-signed certificate for `host`, which becomes the
/// mirror's only trusted root) answering every request at once with
/// `503 Service Unavailable`, as an upstream that is down does. The proxy then serves
/// what its storage holds. Returns the server and the certificate (the bundle).
pub fn upstream_stand_in(net: &Network, host: &str, ip: Ipv4Addr) -> (Proc, PathBuf) {
    net.add_address(ip);
    let dir = net.dir.path();
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
    // A script file (socat would split an inline command at its escapes) that reads the
    // request's head before answering, so the client never sees a reset mid-request.
    let answer = dir.join("upstream.sh");
    fs::write(
        &answer,
        "cr=$(printf '\\r')\nwhile IFS= read -r line; do line=${line%\"$cr\"}; [ -z \"$line\" ] && break; done\n\
         printf 'HTTP/1.1 503 Service Unavailable\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n'\n",
    )
    .expect("upstream script");
    let mut server = Proc::spawn(
        "upstream stand-in",
        net.cmd("socat")
            .arg(format!(
                "OPENSSL-LISTEN:443,bind={ip},fork,reuseaddr,verify=0,cert={},key={}",
                cert.display(),
                key.display()
            ))
            .arg(format!("EXEC:sh {}", answer.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let up = wait_until("upstream stand-in", || {
        net.listening(ip.into(), 443) || server.exited()
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
        if host.is_none() {
            assert_eq!(m.name, "registry-data");
        }
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
