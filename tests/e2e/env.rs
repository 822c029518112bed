//! A generated environment (`bkenv init` run as a process), what its spec says about the
//! registries, its compose services started in a `Network`, and the real clients driven
//! against it there.

use crate::container::{self, Container, Kind};
use crate::sandbox::{Compose, Network, Service, WAIT, run_for, run_split};
use base64::Engine;
use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One registry of the spec, as the spec (not bkenv) describes it.
#[derive(Debug, Clone)]
pub struct Reg {
    pub service: String,
    /// Every `host:port` the spec gives it.
    pub names: Vec<String>,
    pub username: Option<String>,
    /// A mirror's upstream URL.
    pub upstream: Option<String>,
}

pub struct Env {
    /// Holds the environment (or the directory it was created in) until the test ends.
    _dir: tempfile::TempDir,
    /// The environment directory.
    root: PathBuf,
    /// Local registries and the mirror.
    pub regs: Vec<Reg>,
    /// Every `host:port` of the spec's external registries.
    pub external: Vec<String>,
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

/// How `bkenv init` is run for an environment.
#[derive(Default)]
pub struct InitAs<'a> {
    /// Files copied next to the spec (an external registry's `ca_file`).
    pub files: Vec<(&'a str, &'a Path)>,
    /// Extra environment variables (a `password_env`).
    pub env: Vec<(&'a str, &'a str)>,
    /// Run init as this uid (and gid), in a directory that user owns.
    pub uid: Option<u32>,
}

impl Env {
    /// `bkenv init` in a fresh directory, from `spec` (a file) or the default spec.
    pub fn init(spec: Option<&Path>) -> Env {
        let (env, out) = Env::init_as(spec, &InitAs::default());
        assert!(out.0, "bkenv init failed: {}", out.1);
        env
    }

    /// `bkenv init` as `how` says: the environment and (success, init's output).
    pub fn init_as(spec: Option<&Path>, how: &InitAs<'_>) -> (Env, (bool, String)) {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(spec) = spec {
            fs::copy(spec, dir.path().join("bkenv.toml")).expect("copy spec");
        }
        for (name, src) in &how.files {
            fs::copy(src, dir.path().join(name)).expect("copy file");
        }
        let bkenv = assert_cmd::cargo::cargo_bin("bkenv");
        // The user must reach the binary: a directory of the target path may be closed
        // to them, so they get a link (or copy) in an open directory.
        let bin_dir = tempfile::tempdir().expect("bin dir");
        let mut cmd = match how.uid {
            Some(uid) => {
                for entry in walkdir::WalkDir::new(dir.path()) {
                    let p = entry.expect("walk").into_path();
                    std::os::unix::fs::chown(&p, Some(uid), Some(uid)).expect("chown");
                }
                let open = std::fs::Permissions::from_mode(0o755);
                fs::set_permissions(bin_dir.path(), open).expect("chmod");
                let linked = bin_dir.path().join("bkenv");
                if fs::hard_link(&bkenv, &linked).is_err() {
                    fs::copy(&bkenv, &linked).expect("copy bkenv");
                }
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .args(["--clear-groups", "--"])
                    .arg(&linked);
                c
            }
            None => Command::new(&bkenv),
        };
        cmd.arg("init")
            .arg(dir.path())
            .env("NO_COLOR", "1")
            .envs(how.env.iter().copied());
        let out = run_for(&mut cmd, Duration::from_secs(60));
        (Env::from_dir(dir), out)
    }

    fn from_dir(dir: tempfile::TempDir) -> Env {
        let root = dir.path().to_path_buf();
        Env::adopt(dir, root)
    }

    /// The environment at `root`, inside `dir` (which is removed when the test ends).
    pub fn adopt(dir: tempfile::TempDir, root: PathBuf) -> Env {
        let text = fs::read_to_string(root.join("bkenv.toml")).expect("spec");
        let doc: toml_edit::DocumentMut = text.parse().expect("spec parses");
        let mut regs = Vec::new();
        let mut external = Vec::new();
        if let Some(arr) = doc.get("registry").and_then(|r| r.as_array_of_tables()) {
            for t in arr.iter() {
                let item = toml_edit::Item::Table(t.clone());
                match local_reg(&item, false) {
                    Some(r) => regs.push(r),
                    None => external.extend(str_array(&item, "names")),
                }
            }
        }
        if let Some(m) = doc.get("mirror") {
            regs.extend(local_reg(m, true));
        }
        Env {
            _dir: dir,
            root,
            regs,
            external,
        }
    }

    /// A byte-for-byte copy, to plant a fault in.
    /// The copy keeps the directory's base name, so that Compose gives it the same project
    /// (and network) name the generated buildx files were written for.
    pub fn copy(&self) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir
            .path()
            .join(self.root().file_name().expect("a named directory"));
        fs::create_dir(&root).expect("copy root");
        let (ok, out) = run_for(
            Command::new("cp")
                .arg("-a")
                .arg(self.root().join("."))
                .arg(&root),
            WAIT,
        );
        assert!(ok, "cp: {out}");
        Env::adopt(dir, root)
    }

    /// The environment directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
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

    /// The compose file's services with their addresses on the bridge (by name order,
    /// from 172.30.0.10), and the name → address map compose's DNS would give: each
    /// service name, and each registry name's host that is its service's (or, for an
    /// external registry, `EXTERNAL_IP`, where a test may start a stand-in).
    pub fn addresses(&self) -> (Compose, BTreeMap<String, Ipv4Addr>, Vec<(String, Ipv4Addr)>) {
        let compose = Compose::load(self.root());
        let ips: BTreeMap<String, Ipv4Addr> = compose
            .services
            .keys()
            .enumerate()
            .map(|(i, name)| {
                let last = 10 + u8::try_from(i).expect("few services");
                (name.clone(), Ipv4Addr::new(172, 30, 0, last))
            })
            .collect();
        let mut names: Vec<(String, Ipv4Addr)> =
            ips.iter().map(|(n, ip)| (n.clone(), *ip)).collect();
        let mut add = |host: &str, ip: Ipv4Addr| {
            if host.parse::<std::net::IpAddr>().is_err()
                && host != "localhost"
                && !names.iter().any(|(o, _)| o == host)
            {
                names.push((host.to_string(), ip));
            }
        };
        for r in &self.regs {
            if let Some(ip) = ips.get(&r.service) {
                for n in &r.names {
                    add(host_of(n), *ip);
                }
            }
        }
        for n in &self.external {
            add(host_of(n), EXTERNAL_IP);
        }
        (compose, ips, names)
    }

    /// `docker-compose config -q` on the generated compose file.
    pub fn compose_config(&self) -> (bool, String) {
        run_for(
            Command::new("docker-compose")
                .arg("-f")
                .arg(self.path("docker-compose.yml"))
                .args(["config", "-q"])
                .current_dir(self.root()),
            COMPOSE_WAIT,
        )
    }

    /// A network with every registry service of the compose file started from the
    /// generated files (and a stand-in for a mirror's upstream). A registry that refuses
    /// to start is recorded in `Up::refused` with its log; the network stays up.
    pub fn up(&self) -> Up {
        let (compose, ips, mut names) = self.addresses();
        let upstream = self
            .regs
            .iter()
            .find_map(|r| r.upstream.as_deref())
            .map(|url| {
                let host = url.trim_start_matches("https://").trim_end_matches('/');
                (host.to_string(), UPSTREAM_IP)
            });
        names.extend(upstream.clone());
        let net = Network::new(&names);
        let stand_in = upstream
            .as_ref()
            .map(|(host, ip)| crate::sandbox::upstream_stand_in(&net, host, *ip));
        let mut up = Up {
            registries: Vec::new(),
            buildkitd: None,
            refused: None,
            stand_in,
            compose,
            ips,
            volumes: tempfile::tempdir().expect("volumes"),
            home: tempfile::tempdir().expect("home"),
            net,
        };
        let services: Vec<String> = up
            .compose
            .services
            .iter()
            .filter(|(_, s)| container::kind_of(s) == Some(Kind::Registry))
            .map(|(n, _)| n.clone())
            .collect();
        for name in services {
            let svc = up.compose.services[&name].clone();
            match up.start(self, &name, &svc) {
                Ok(c) => up.registries.push(c),
                Err(log) => up.refused = Some(log),
            }
        }
        up
    }
}

/// Where an external registry's names resolve (a test may start a stand-in there).
pub const EXTERNAL_IP: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 200);
/// The host's address for a mirror's upstream stand-in.
const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 250);

/// One finding of a bkenv JSON report.
#[derive(Debug, serde::Deserialize)]
pub struct Finding {
    pub code: String,
    #[allow(dead_code)] // shown in failure messages through Debug
    pub message: String,
    #[serde(default)]
    pub severity: String,
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

/// Running services and the clients that talk to them.
pub struct Up {
    pub registries: Vec<Container>,
    pub buildkitd: Option<Container>,
    /// The log of a registry that refused to start.
    pub refused: Option<String>,
    /// A mirror's upstream stand-in and its certificate.
    stand_in: Option<(crate::sandbox::Proc, PathBuf)>,
    pub compose: Compose,
    /// Compose service → its address on the bridge.
    pub ips: BTreeMap<String, Ipv4Addr>,
    /// Named volumes, shared by every run of a service in this network.
    volumes: tempfile::TempDir,
    home: tempfile::TempDir,
    pub net: Network,
}

pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Bound on `docker-compose config`: Compose v1 is Python, and the fault table starts a
/// dozen at once; on a loaded two-core machine (load average 15) they took over 20 s.
const COMPOSE_WAIT: Duration = Duration::from_secs(90);

impl Up {
    /// Every running service's log, for failure messages.
    pub fn logs(&self) -> String {
        self.registries
            .iter()
            .chain(&self.buildkitd)
            .map(|c| format!("--- {} ---\n{}", c.name, c.log_text()))
            .collect()
    }

    /// Starts compose service `name` as `svc` says (a registry with a `proxy` gets the
    /// upstream stand-in's certificate as its system trust).
    pub fn start(&self, env: &Env, name: &str, svc: &Service) -> Result<Container, String> {
        let mirror = env
            .regs
            .iter()
            .any(|r| r.service == name && r.upstream.is_some());
        let extra = container::Extra {
            system_trust: self
                .stand_in
                .as_ref()
                .filter(|_| mirror)
                .map(|s| s.1.as_path()),
            volumes: Some(self.volumes.path()),
        };
        container::start(&self.net, env.root(), name, svc, self.ips[name], &extra)
    }

    /// Starts the compose file's BuildKit service (by its image), as `start` does.
    pub fn start_buildkitd(&mut self, env: &Env) -> Result<(), String> {
        let (name, svc) = self
            .compose
            .services
            .iter()
            .find(|(_, s)| matches!(container::kind_of(s), Some(Kind::Buildkit { .. })))
            .map(|(n, s)| (n.clone(), s.clone()))
            .expect("a moby/buildkit service in the compose file");
        self.buildkitd = Some(self.start(env, &name, &svc)?);
        Ok(())
    }

    /// Restarts compose service `name` as `docker compose restart` does: its process
    /// stops and starts again from the compose file, with its named volumes.
    pub fn restart(&mut self, env: &Env, name: &str) -> Result<(), String> {
        if self.buildkitd.as_ref().is_some_and(|c| c.name == name) {
            // Dropping the container kills it.
            self.buildkitd = None;
            self.start_buildkitd(env)?;
        } else {
            self.registries.retain(|c| c.name != name);
            let svc = self
                .compose
                .services
                .get(name)
                .unwrap_or_else(|| panic!("no service {name}"))
                .clone();
            let c = self.start(env, name, &svc)?;
            self.registries.push(c);
        }
        // The bridge still knows the stopped container's interface by its address.
        let _ = run_for(
            self.net
                .cmd("ip")
                .args(["neigh", "flush", "dev", crate::sandbox::BRIDGE]),
            WAIT,
        );
        Ok(())
    }

    /// `bkenv ARGS` on this network's host, as a user runs it there.
    pub fn bkenv(&self, args: &[&str]) -> (bool, String, String) {
        let mut cmd = self.client(
            assert_cmd::cargo::cargo_bin("bkenv")
                .to_str()
                .expect("path"),
        );
        cmd.args(args).env("NO_COLOR", "1");
        run_split(&mut cmd, CLIENT_TIMEOUT)
    }

    pub fn client(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = self.net.cmd(program);
        c.env_clear()
            .env("PATH", crate::buildkit::client_path())
            .env("HOME", self.home.path())
            .env("TMPDIR", self.home.path());
        c
    }

    /// skopeo with TLS verification on, the certs.d directory of `name` and the generated
    /// config.json: exactly what a host-side client gets from bkenv.
    pub fn skopeo(&self, env: &Env, name: &str, dir: &str, args: &[&str]) -> Command {
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
        self.push_ref(env, name, layout, "app:dev")
    }

    /// Pushes the test's OCI layout as `name/repo_tag`.
    pub fn push_ref(&self, env: &Env, name: &str, layout: &Path, repo_tag: &str) -> (bool, String) {
        let mut c = self.skopeo(
            env,
            name,
            "dest",
            &["copy", "--retry-times", "0", "--preserve-digests"],
        );
        c.arg(format!("oci:{}:dev", layout.display()))
            .arg(format!("docker://{name}/{repo_tag}"));
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
        self.inspect_raw_ref(env, name, "app:dev")
    }

    /// The raw manifest of `repo_tag` through `name`.
    pub fn inspect_raw_ref(&self, env: &Env, name: &str, repo_tag: &str) -> (bool, String) {
        self.inspect_raw_at(
            &env.path(&format!("certs.d/{name}")),
            &env.path("docker/config.json"),
            &format!("{name}/{repo_tag}"),
        )
    }

    /// The raw manifest of `reference` (`host:port/repo:tag`) with the trust of
    /// `cert_dir` and the credentials of `authfile` (a client with files of its own).
    pub fn inspect_raw_at(
        &self,
        cert_dir: &Path,
        authfile: &Path,
        reference: &str,
    ) -> (bool, String) {
        let mut c = self.client("skopeo");
        c.args([
            "--command-timeout",
            "45s",
            "inspect",
            "--raw",
            "--tls-verify=true",
        ])
        .arg("--cert-dir")
        .arg(cert_dir)
        .arg("--authfile")
        .arg(authfile)
        .arg(format!("docker://{reference}"));
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
        let host = host_of(name).trim_start_matches('[').trim_end_matches(']');
        // An IP literal is matched against IP SANs (and sends no SNI), a name against DNS SANs.
        let check = if host.parse::<std::net::IpAddr>().is_ok() {
            r#"-verify_ip "$2""#
        } else {
            r#"-servername "$2" -verify_hostname "$2""#
        };
        let mut c = self.client("sh");
        c.arg("-c").arg(format!(
            r#"printf 'Q\n' | openssl s_client -connect "$1" {check} -CAfile "$3" -verify_return_error -brief 2>&1"#
        ));
        c.args(["sh", name, host]).arg(env.path("ca/ca.crt"));
        run_for(&mut c, CLIENT_TIMEOUT)
    }
}
