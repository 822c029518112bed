//! A generated environment (`bkenv init` run as a process), what its spec says about the
//! registries, and the real clients driven against it inside a `Netns`.

use crate::sandbox::{Netns, Registry, WAIT, run_for, run_split};
use base64::Engine;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One registry of the spec, as the spec (not bkenv) describes it.
#[derive(Debug, Clone)]
pub struct Reg {
    pub service: String,
    /// The port the registry listens on inside its container.
    pub port: u16,
    /// Every `host:port` the spec gives it.
    pub names: Vec<String>,
    pub username: Option<String>,
    /// A mirror's upstream URL.
    pub upstream: Option<String>,
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub regs: Vec<Reg>,
}

fn str_array(item: &toml_edit::Item, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn local_reg(t: &toml_edit::Item, mirror: bool) -> Option<Reg> {
    let service = t.get("service")?.as_str()?.to_string();
    Some(Reg {
        service,
        port: t
            .get("port")
            .and_then(|p| p.as_integer())
            .map_or(5000, |p| u16::try_from(p).expect("port")),
        names: str_array(t, "names"),
        username: t
            .get("auth")
            .and_then(|a| a.get("username"))
            .and_then(|u| u.as_str())
            .map(String::from),
        upstream: mirror.then(|| {
            t.get("upstream")
                .and_then(|u| u.as_str())
                .unwrap_or("https://registry-1.docker.io")
                .to_string()
        }),
    })
}

impl Env {
    /// `bkenv init` in a fresh directory, from `spec` (a file) or the default spec.
    pub fn init(spec: Option<&Path>) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(spec) = spec {
            fs::copy(spec, dir.path().join("bkenv.toml")).expect("copy spec");
        }
        let out = assert_cmd::Command::cargo_bin("bkenv")
            .expect("bkenv binary")
            .arg("init")
            .arg(dir.path())
            .env("NO_COLOR", "1")
            .timeout(Duration::from_secs(60))
            .output()
            .expect("run bkenv init");
        assert!(
            out.status.success(),
            "bkenv init failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Env::from_dir(dir)
    }

    fn from_dir(dir: tempfile::TempDir) -> Env {
        let text = fs::read_to_string(dir.path().join("bkenv.toml")).expect("spec");
        let doc: toml_edit::DocumentMut = text.parse().expect("spec parses");
        let mut regs = Vec::new();
        if let Some(arr) = doc.get("registry").and_then(|r| r.as_array_of_tables()) {
            for t in arr.iter() {
                let item = toml_edit::Item::Table(t.clone());
                regs.extend(local_reg(&item, false));
            }
        }
        if let Some(m) = doc.get("mirror") {
            regs.extend(local_reg(m, true));
        }
        Env { dir, regs }
    }

    /// A byte-for-byte copy, to plant a fault in.
    pub fn copy(&self) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ok, out) = run_for(
            Command::new("cp")
                .arg("-a")
                .arg(self.dir.path().join("."))
                .arg(dir.path()),
            WAIT,
        );
        assert!(ok, "cp: {out}");
        Env::from_dir(dir)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        fs::write(self.path(rel), text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    }

    /// The push registry (the first local, non-mirror one).
    pub fn push_reg(&self) -> &Reg {
        self.regs
            .iter()
            .find(|r| r.upstream.is_none())
            .expect("a local registry")
    }

    /// `user:password` for `name` from the generated config.json.
    pub fn credentials(&self, name: &str) -> Option<String> {
        let cfg: serde_json::Value =
            serde_json::from_str(&self.read("docker/config.json")).expect("config.json");
        let auth = cfg["auths"][name]["auth"].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .expect("base64");
        Some(String::from_utf8(bytes).expect("utf8"))
    }

    /// Each local registry's "container address": its own loopback IP, 127.0.0.2 on.
    pub fn service_ip(&self, index: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(index).expect("few services"))
    }

    /// Every compose DNS name the spec dials, with the address of its service, for the
    /// namespace's /etc/hosts (compose's network DNS).
    pub fn service_names(&self) -> Vec<(String, Ipv4Addr)> {
        let mut out: Vec<(String, Ipv4Addr)> = Vec::new();
        for (i, r) in self.regs.iter().enumerate() {
            let mut hosts = vec![r.service.clone()];
            hosts.extend(r.names.iter().map(|n| host_of(n).to_string()));
            for host in hosts {
                if host.parse::<std::net::IpAddr>().is_err()
                    && host != "localhost"
                    && !out.iter().any(|(o, _)| *o == host)
                {
                    out.push((host, self.service_ip(i)));
                }
            }
        }
        out
    }

    /// `docker-compose config -q` on the generated compose file.
    pub fn compose_config(&self) -> (bool, String) {
        run_for(
            Command::new("docker-compose")
                .arg("-f")
                .arg(self.path("docker-compose.yml"))
                .args(["config", "-q"])
                .current_dir(self.dir.path()),
            WAIT,
        )
    }

    /// A namespace with every local registry of the spec started from the generated
    /// files (and a stand-in for a mirror's upstream). A registry that refuses to start
    /// is recorded in `Up::refused` with its log; the namespace stays up for clients.
    pub fn up(&self) -> Up {
        let mut names = self.service_names();
        let upstream = self
            .regs
            .iter()
            .find_map(|r| r.upstream.as_deref())
            .map(|url| {
                let host = url.trim_start_matches("https://").trim_end_matches('/');
                (host.to_string(), Ipv4Addr::new(127, 0, 0, 250))
            });
        names.extend(upstream.clone());
        let ns = Netns::new(&names);
        let mut stand_in = None;
        if let Some((host, ip)) = &upstream {
            stand_in = Some(crate::sandbox::upstream_stand_in(&ns, host, *ip));
        }
        let mut running = Vec::new();
        let mut refused = None;
        for (i, r) in self.regs.iter().enumerate() {
            let ip = self.service_ip(i);
            let trust = stand_in
                .as_ref()
                .filter(|_| r.upstream.is_some())
                .map(|s| s.1.as_path());
            match Registry::start(&ns, self.dir.path(), &r.service, ip, r.port, trust) {
                Ok(reg) => running.push(reg),
                Err(log) => refused = Some(log),
            }
        }
        Up {
            registries: running,
            refused,
            _stand_in: stand_in.map(|s| s.0),
            ns,
            home: tempfile::tempdir().expect("home"),
        }
    }
}

/// One finding of a bkenv JSON report.
#[derive(Debug, serde::Deserialize)]
pub struct Finding {
    pub code: String,
    pub slug: Option<String>,
    #[allow(dead_code)] // shown in failure messages through Debug
    pub message: String,
}

/// The findings of a `--format json` report (panics on anything else).
pub fn findings(json: &str) -> Vec<Finding> {
    #[derive(serde::Deserialize)]
    struct Report {
        findings: Vec<Finding>,
    }
    serde_json::from_str::<Report>(json)
        .unwrap_or_else(|e| panic!("not a bkenv JSON report ({e}): {json}"))
        .findings
}

/// `host` of `host:port` (brackets of an IPv6 literal removed).
pub fn host_of(name: &str) -> &str {
    let host = name.rsplit_once(':').map_or(name, |(h, _)| h);
    host.trim_matches(['[', ']'])
}

/// Running registries and the clients that talk to them.
pub struct Up {
    pub registries: Vec<Registry>,
    /// The log of a registry that refused to start.
    pub refused: Option<String>,
    _stand_in: Option<crate::sandbox::Proc>,
    pub ns: Netns,
    home: tempfile::TempDir,
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

impl Up {
    /// Every running registry's log, for failure messages.
    pub fn logs(&self) -> String {
        self.registries.iter().map(Registry::log_text).collect()
    }

    fn client(&self, program: &str) -> Command {
        let mut c = self.ns.cmd(program);
        c.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", self.home.path())
            .env("TMPDIR", self.home.path());
        c
    }

    /// skopeo with TLS verification on, the certs.d directory of `name` and the generated
    /// config.json: exactly what a host-side client gets from bkenv.
    fn skopeo(&self, env: &Env, name: &str, dir: &str, args: &[&str]) -> Command {
        let mut c = self.client("skopeo");
        c.args(["--command-timeout", "45s"])
            .args(args)
            .arg(format!("--{dir}-tls-verify=true"))
            .arg(format!("--{dir}-cert-dir"))
            .arg(env.path(&format!("certs.d/{name}")))
            .arg(format!("--{dir}-authfile"))
            .arg(env.path("docker/config.json"));
        c
    }

    pub fn push(&self, env: &Env, name: &str, layout: &Path) -> (bool, String) {
        let mut c = self.skopeo(
            env,
            name,
            "dest",
            &["copy", "--retry-times", "0", "--preserve-digests"],
        );
        c.arg(format!("oci:{}:dev", layout.display()))
            .arg(format!("docker://{name}/app:dev"));
        run_for(&mut c, CLIENT_TIMEOUT)
    }

    pub fn pull(&self, env: &Env, name: &str, out: &Path) -> (bool, String) {
        let mut c = self.skopeo(env, name, "src", &["copy", "--retry-times", "0"]);
        c.arg(format!("docker://{name}/app:dev"))
            .arg(format!("dir:{}", out.display()));
        run_for(&mut c, CLIENT_TIMEOUT)
    }

    /// The raw manifest of `app:dev` through `name`.
    pub fn inspect_raw(&self, env: &Env, name: &str) -> (bool, String) {
        let mut c = self.client("skopeo");
        c.args([
            "--command-timeout",
            "45s",
            "inspect",
            "--raw",
            "--tls-verify=true",
        ])
        .arg("--cert-dir")
        .arg(env.path(&format!("certs.d/{name}")))
        .arg("--authfile")
        .arg(env.path("docker/config.json"))
        .arg(format!("docker://{name}/app:dev"));
        run_for(&mut c, CLIENT_TIMEOUT)
    }

    /// `curl --cacert ca/ca.crt [-u creds] URL`: (exit success, http code + body/errors).
    pub fn curl(&self, env: &Env, url: &str, creds: Option<&str>) -> (bool, String) {
        let mut c = self.client("curl");
        c.args(["-sS", "-g", "--max-time", "15", "-w", "\nHTTP %{http_code}"])
            .arg("--cacert")
            .arg(env.path("ca/ca.crt"));
        if let Some(creds) = creds {
            c.arg("-u").arg(creds);
        }
        run_for(c.arg(url), CLIENT_TIMEOUT)
    }

    /// `bkenv probe --format json` of `names` inside the namespace, with the generated CA
    /// and config.json: (exit success, findings).
    pub fn probe(&self, env: &Env, names: &[&str], plain_http: bool) -> (bool, Vec<Finding>) {
        let mut cmd = self.client(
            assert_cmd::cargo::cargo_bin("bkenv")
                .to_str()
                .expect("path"),
        );
        cmd.args(["probe", "--format", "json", "--cacert"])
            .arg(env.path("ca/ca.crt"))
            .arg("--docker-config")
            .arg(env.path("docker"));
        if plain_http {
            cmd.arg("--plain-http");
        }
        cmd.args(names).env("NO_COLOR", "1");
        let (ok, json, err) = run_split(&mut cmd, CLIENT_TIMEOUT);
        assert!(err.is_empty() || !json.is_empty(), "bkenv probe: {err}");
        (ok, findings(&json))
    }

    /// `openssl s_client` with the environment CA and hostname verification for `name`.
    pub fn s_client(&self, env: &Env, name: &str) -> (bool, String) {
        let host = host_of(name);
        let mut c = self.client("sh");
        c.arg("-c").arg(
            r#"printf 'Q\n' | openssl s_client -connect "$1" -servername "$2" -verify_hostname "$2" -CAfile "$3" -verify_return_error -brief 2>&1"#,
        );
        c.args(["sh", name, host]).arg(env.path("ca/ca.crt"));
        run_for(&mut c, CLIENT_TIMEOUT)
    }
}
