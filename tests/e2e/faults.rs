//! The fault suite: from one good environment (the default spec, or the rootless
//! example for the rootless faults), plant one fault at a time in a copy, run the real
//! registry and the real buildkitd from its compose file, and check that the real
//! clients fail the way users see it: skopeo or curl (or the server itself refusing to
//! start), and `buildctl build` pushing through buildkitd with the registry cache `init`
//! prints. Faulty certificates and htpasswd entries are made with the openssl CLI,
//! independently of bkenv.
//!
//! Each fault carries, as data, the code `bkenv probe` must report for it (the BK7xx
//! catalog) and the code static `bkenv doctor` reports; `doctor --probe` must report the
//! probe's code too. The table printed by the agreement test puts each real client's
//! error next to those codes.

use crate::buildkit::{cache_args, context};
use crate::env::{Env, Up, findings};
use crate::good::examples;
use crate::oci;
use crate::sandbox::{WAIT, run_for, run_split};
use base64::Engine;
use std::path::Path;
use std::process::Command;

/// The name BuildKit dials, through which every fault is exercised.
const NAME: &str = "registry:5000";

/// buildkitd as host-side clients dial it (`BUILDKIT_HOST`).
const BUILDKITD: &str = "tcp://localhost:1234";

/// How the real client is exercised, and what its failure must say.
#[derive(Clone, Copy)]
enum Client {
    /// `skopeo copy` (push) with the generated certs.d and config.json.
    SkopeoPush(&'static str),
    /// `curl http://NAME/v2/`, as BuildKit speaks with `http = true`.
    CurlPlainHttp(&'static str),
    /// The registry itself refuses to start; its log says this.
    RegistryRefuses(&'static str),
    /// buildkitd itself refuses to start; its log says this.
    DaemonRefuses(&'static str),
    /// Both servers start: buildctl (its own column) is the client that fails.
    BuildctlOnly,
}

/// Which good environment a fault is planted in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    /// The default spec.
    Default,
    /// `examples/rootless`, made by `bkenv init` as root.
    Rootless,
}

struct Fault {
    name: &'static str,
    base: Base,
    plant: fn(&Env, &Path),
    client: Client,
    /// What `buildctl build ... --output type=image,push=true` must fail with.
    buildctl: &'static str,
    /// Whether BuildKit would speak plain HTTP (the environment's buildkitd.toml says
    /// `http = true`), so probe must too.
    plain_http: bool,
    /// What `bkenv probe` connects to, and the code it (and `doctor --probe`) reports;
    /// `None` for a fault only the daemon's own settings show (its environment), which a
    /// probe from outside cannot see: `doctor --probe` must then keep the static code.
    probe: Option<(&'static str, &'static str)>,
    /// The code static `bkenv doctor` reports.
    doctor: &'static str,
}

const FAULTS: &[Fault] = &[
    Fault {
        name: "certificate for the wrong name",
        base: Base::Default,
        plant: wrong_name,
        client: Client::SkopeoPush("certificate is valid for localhost"),
        buildctl: "certificate is valid for localhost",
        plain_http: false,
        probe: Some((NAME, "BK706")),
        doctor: "BK210",
    },
    Fault {
        name: "certificate from another CA",
        base: Base::Default,
        plant: other_ca,
        client: Client::SkopeoPush("certificate signed by unknown authority"),
        buildctl: "certificate signed by unknown authority",
        plain_http: false,
        probe: Some((NAME, "BK705")),
        doctor: "BK209",
    },
    Fault {
        name: "expired certificate",
        base: Base::Default,
        plant: expired,
        client: Client::SkopeoPush("certificate has expired or is not yet valid"),
        buildctl: "certificate has expired or is not yet valid",
        plain_http: false,
        probe: Some((NAME, "BK708")),
        doctor: "BK502",
    },
    Fault {
        name: "CN-only certificate",
        base: Base::Default,
        plant: cn_only,
        client: Client::SkopeoPush("legacy Common Name field"),
        buildctl: "legacy Common Name field",
        plain_http: false,
        probe: Some((NAME, "BK707")),
        doctor: "BK505",
    },
    Fault {
        name: "plain-HTTP registry, TLS expected",
        base: Base::Default,
        plant: registry_plain_http,
        client: Client::SkopeoPush("server gave HTTP response to HTTPS client"),
        buildctl: "server gave HTTP response to HTTPS client",
        plain_http: false,
        probe: Some((NAME, "BK703")),
        doctor: "BK203",
    },
    Fault {
        name: "TLS registry, plain HTTP expected",
        base: Base::Default,
        plant: buildkitd_plain_http,
        client: Client::CurlPlainHttp("Client sent an HTTP request to an HTTPS server"),
        buildctl: "unexpected status from HEAD request to http://registry:5000/v2/",
        plain_http: true,
        probe: Some((NAME, "BK704")),
        doctor: "BK202",
    },
    Fault {
        name: "config.json key without the port",
        base: Base::Default,
        plant: key_without_port,
        client: Client::SkopeoPush("authentication required"),
        buildctl: "401 Unauthorized",
        plain_http: false,
        probe: Some((NAME, "BK718")),
        doctor: "BK403",
    },
    Fault {
        name: "wrong password",
        base: Base::Default,
        plant: wrong_password,
        client: Client::SkopeoPush("authentication required"),
        buildctl: "401 Unauthorized",
        plain_http: false,
        probe: Some((NAME, "BK717")),
        doctor: "BK408",
    },
    Fault {
        name: "non-bcrypt htpasswd",
        base: Base::Default,
        plant: apr1_htpasswd,
        client: Client::SkopeoPush("authentication required"),
        buildctl: "401 Unauthorized",
        plain_http: false,
        probe: Some((NAME, "BK717")),
        doctor: "BK407",
    },
    Fault {
        name: "key does not match certificate",
        base: Base::Default,
        plant: mismatched_key,
        client: Client::RegistryRefuses("private key does not match public key"),
        buildctl: "failed to do request: Head \"https://registry:5000/v2/",
        plain_http: false,
        probe: Some((NAME, "BK701")),
        doctor: "BK501",
    },
    Fault {
        name: "missing certs mount",
        base: Base::Default,
        plant: no_certs_mount,
        client: Client::RegistryRefuses("open /certs/registry.crt: no such file or directory"),
        buildctl: "failed to do request: Head \"https://registry:5000/v2/",
        plain_http: false,
        probe: Some((NAME, "BK701")),
        doctor: "BK302",
    },
    Fault {
        name: "rootless: key unreadable by uid 1000",
        base: Base::Rootless,
        plant: key_owned_by_root,
        client: Client::DaemonRefuses("open /etc/buildkit/certs/server.key: permission denied"),
        buildctl: "connect: connection refused",
        plain_http: false,
        probe: Some((BUILDKITD, "BK701")),
        doctor: "BK308",
    },
    Fault {
        name: "rootless: socket outside /run/user/1000",
        base: Base::Rootless,
        plant: rootful_socket,
        client: Client::DaemonRefuses("mkdir /run/buildkit: permission denied"),
        buildctl: "connect: connection refused",
        plain_http: false,
        probe: Some((BUILDKITD, "BK701")),
        doctor: "BK307",
    },
    Fault {
        name: "rootless: config at the rootful path",
        base: Base::Rootless,
        plant: config_at_rootful_path,
        client: Client::BuildctlOnly,
        buildctl: "tls: first record does not look like a TLS handshake",
        plain_http: false,
        // Plaintext gRPC where TLS is expected: buildkitd's HTTP/2 SETTINGS frame
        // answers the ClientHello.
        probe: Some((BUILDKITD, "BK703")),
        doctor: "BK301",
    },
    Fault {
        name: "buildkitd proxy without NO_PROXY",
        base: Base::Default,
        plant: proxy_without_bypass,
        client: Client::BuildctlOnly,
        buildctl: "proxyconnect tcp",
        plain_http: false,
        // The proxy is buildkitd's own environment: a probe from outside dials the
        // registry directly and sees nothing wrong.
        probe: None,
        doctor: "BK221",
    },
    Fault {
        name: "credentials given to buildkitd",
        base: Base::Default,
        plant: credentials_in_daemon,
        client: Client::BuildctlOnly,
        buildctl: "401 Unauthorized",
        plain_http: false,
        // The daemon's own files: a probe sees only that the client has no credentials.
        probe: None,
        doctor: "BK421",
    },
];

// ---- planting ------------------------------------------------------------------------

fn openssl(args: &[&str], dir: &Path) {
    let (ok, out) = run_for(Command::new("openssl").args(args).current_dir(dir), WAIT);
    assert!(ok, "openssl {args:?}: {out}");
}

const LEAF_EXT: &str = "basicConstraints=critical,CA:FALSE\n\
    keyUsage=critical,digitalSignature\n\
    extendedKeyUsage=serverAuth\n";
const GOOD_SANS: &str = "subjectAltName=DNS:registry,DNS:localhost,IP:127.0.0.1,IP:::1\n";
const CERT: &str = "registry/certs/registry.crt";
const KEY: &str = "registry/certs/registry.key";

/// Reissues the registry certificate for its existing key with `ext`, signed by
/// `ca`/`ca_key` (paths relative to the environment).
fn reissue(env: &Env, scratch: &Path, ext: &str, ca: &Path, ca_key: &Path) {
    std::fs::write(scratch.join("leaf.ext"), ext).expect("ext");
    let key = env.path(KEY);
    let csr = scratch.join("leaf.csr");
    let out = env.path(CERT);
    openssl(
        &[
            "req",
            "-new",
            "-key",
            &key.to_string_lossy(),
            "-subj",
            "/CN=registry",
            "-out",
            &csr.to_string_lossy(),
        ],
        scratch,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr.to_string_lossy(),
            "-CA",
            &ca.to_string_lossy(),
            "-CAkey",
            &ca_key.to_string_lossy(),
            "-set_serial",
            "0x1234567890abcdef",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "leaf.ext",
            "-out",
            &out.to_string_lossy(),
        ],
        scratch,
    );
}

fn wrong_name(env: &Env, scratch: &Path) {
    // Inside the CA's name constraints, but without `registry`, the name BuildKit dials.
    let ext = format!("{LEAF_EXT}subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
    reissue(
        env,
        scratch,
        &ext,
        &env.path("ca/ca.crt"),
        &env.path("ca/ca.key"),
    );
}

fn other_ca(env: &Env, scratch: &Path) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=another CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.crt",
        ],
        scratch,
    );
    let ext = format!("{LEAF_EXT}{GOOD_SANS}");
    reissue(
        env,
        scratch,
        &ext,
        &scratch.join("other-ca.crt"),
        &scratch.join("other-ca.key"),
    );
}

fn expired(env: &Env, scratch: &Path) {
    // `openssl ca` is the CLI that sets arbitrary validity dates.
    let cnf = format!(
        "[ca]\ndefault_ca = test\n[test]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\n\
         serial = {d}/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
         copy_extensions = none\n[any]\ncommonName = supplied\n",
        d = scratch.display()
    );
    std::fs::write(scratch.join("ca.cnf"), cnf).expect("cnf");
    std::fs::write(scratch.join("index.txt"), "").expect("index");
    std::fs::write(scratch.join("serial"), "1000\n").expect("serial");
    std::fs::write(scratch.join("leaf.ext"), format!("{LEAF_EXT}{GOOD_SANS}")).expect("ext");
    let key = env.path(KEY);
    openssl(
        &[
            "req",
            "-new",
            "-key",
            &key.to_string_lossy(),
            "-subj",
            "/CN=registry",
            "-out",
            "leaf.csr",
        ],
        scratch,
    );
    openssl(
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            &env.path("ca/ca.crt").to_string_lossy(),
            "-keyfile",
            &env.path("ca/ca.key").to_string_lossy(),
            "-startdate",
            "20240101000000Z",
            "-enddate",
            "20240301000000Z",
            "-extfile",
            "leaf.ext",
            "-in",
            "leaf.csr",
            "-out",
            &env.path(CERT).to_string_lossy(),
        ],
        scratch,
    );
}

fn cn_only(env: &Env, scratch: &Path) {
    reissue(
        env,
        scratch,
        LEAF_EXT,
        &env.path("ca/ca.crt"),
        &env.path("ca/ca.key"),
    );
}

fn registry_plain_http(env: &Env, _: &Path) {
    let cfg = env.read("registry/config.yml");
    let kept: Vec<&str> = cfg
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("tls:")
                || t.starts_with("certificate:")
                || t.starts_with("key:")
                || t.starts_with("minimumtls:"))
        })
        .collect();
    assert_eq!(kept.len() + 4, cfg.lines().count(), "tls block of {cfg}");
    env.write("registry/config.yml", &(kept.join("\n") + "\n"));
}

fn buildkitd_plain_http(env: &Env, _: &Path) {
    let path = "buildkit/buildkitd.toml";
    let mut doc: toml_edit::DocumentMut = env.read(path).parse().expect("buildkitd.toml");
    doc["registry"][NAME]["http"] = toml_edit::value(true);
    env.write(path, &doc.to_string());
}

fn edit_config_json(env: &Env, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let mut cfg: serde_json::Value =
        serde_json::from_str(&env.read("docker/config.json")).expect("config.json");
    edit(cfg["auths"].as_object_mut().expect("auths"));
    env.write("docker/config.json", &cfg.to_string());
}

fn key_without_port(env: &Env, _: &Path) {
    edit_config_json(env, |auths| {
        let entry = auths.remove(NAME).expect("registry:5000 entry");
        auths.insert("registry".into(), entry);
    });
}

fn wrong_password(env: &Env, _: &Path) {
    let creds = env.credentials(NAME).expect("credentials");
    let user = creds.split_once(':').expect("user:pass").0;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:wrong-password"));
    edit_config_json(env, |auths| {
        auths.insert(NAME.into(), serde_json::json!({ "auth": auth }));
    });
}

fn apr1_htpasswd(env: &Env, _: &Path) {
    let creds = env.credentials(NAME).expect("credentials");
    let (user, pass) = creds.split_once(':').expect("user:pass");
    let (ok, hash) = run_for(
        Command::new("openssl").args(["passwd", "-apr1", "-salt", "bkenvE2E", pass]),
        WAIT,
    );
    assert!(ok && hash.starts_with("$apr1$"), "{hash}");
    env.write("registry/auth/htpasswd", &format!("{user}:{}", hash.trim()));
}

fn mismatched_key(env: &Env, scratch: &Path) {
    let key = env.path(KEY);
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key.to_string_lossy(),
        ],
        scratch,
    );
}

fn no_certs_mount(env: &Env, _: &Path) {
    let compose = env.read("docker-compose.yml");
    let kept: Vec<&str> = compose
        .lines()
        // Values are quoted YAML scalars since issue 12.
        .filter(|l| l.trim() != "- \"./registry/certs:/certs:ro\"")
        .collect();
    assert_eq!(
        kept.len() + 1,
        compose.lines().count(),
        "certs mount in {compose}"
    );
    env.write("docker-compose.yml", &(kept.join("\n") + "\n"));
    let (ok, out) = env.compose_config();
    assert!(ok, "the compose file stays valid without the mount: {out}");
}

/// The rootless daemon's key as bkenv left it before it handed keys over: root's, 0600.
fn key_owned_by_root(env: &Env, _: &Path) {
    let key = env.path("buildkit/certs/server.key");
    std::os::unix::fs::chown(&key, Some(0), Some(0)).expect("chown");
}

/// Replaces exactly one line of the compose file (`None` drops it).
fn edit_compose_line(env: &Env, line: &str, with: Option<&str>) {
    let compose = env.read("docker-compose.yml");
    let mut found = 0;
    let kept: Vec<String> = compose
        .lines()
        .filter_map(|l| {
            if l.trim() != line {
                return Some(l.to_string());
            }
            found += 1;
            let indent = &l[..l.len() - l.trim_start().len()];
            with.map(|w| format!("{indent}{w}"))
        })
        .collect();
    assert_eq!(found, 1, "{line} in {compose}");
    env.write("docker-compose.yml", &(kept.join("\n") + "\n"));
    let (ok, out) = env.compose_config();
    assert!(ok, "the compose file stays valid: {out}");
}

/// An HTTPS proxy in buildkitd's environment whose `NO_PROXY` lists the loopback names
/// only: buildkitd sends the registry's requests to the proxy, which refuses them (a
/// port of the registry's host where nothing listens, so the failure is immediate).
fn proxy_without_bypass(env: &Env, _: &Path) {
    edit_compose_line(
        env,
        "privileged: true",
        Some(
            "privileged: true\n    environment:\n      \
             - \"HTTPS_PROXY=http://registry:3128\"\n      \
             - \"NO_PROXY=localhost,127.0.0.1\"",
        ),
    );
}

/// The client's credentials moved into buildkitd's container (`DOCKER_CONFIG` and the
/// config mounted there), as users do when the daemon is the one pushing: buildkitd
/// never reads them and the client has none to send.
fn credentials_in_daemon(env: &Env, _: &Path) {
    std::fs::create_dir_all(env.path("daemon-docker")).expect("daemon-docker");
    env.write("daemon-docker/config.json", &env.read("docker/config.json"));
    edit_config_json(env, serde_json::Map::clear);
    edit_compose_line(
        env,
        "privileged: true",
        Some(
            "privileged: true\n    environment:\n      \
             - \"DOCKER_CONFIG=/root/.docker\"",
        ),
    );
    edit_compose_line(
        env,
        r#"- "./buildkit/buildkitd.toml:/etc/buildkit/buildkitd.toml:ro""#,
        Some(
            "- \"./buildkit/buildkitd.toml:/etc/buildkit/buildkitd.toml:ro\"\n      \
             - \"./daemon-docker:/root/.docker:ro\"",
        ),
    );
}

/// The rootful image's socket in the rootless service's command.
fn rootful_socket(env: &Env, _: &Path) {
    edit_compose_line(
        env,
        r#"- "--addr=unix:///run/user/1000/buildkit/buildkitd.sock""#,
        Some(r#"- "--addr=unix:///run/buildkit/buildkitd.sock""#),
    );
}

/// The config mounted where the rootful image reads it, without `--config`: the
/// rootless daemon reads `~/.config/buildkit/buildkitd.toml` and starts without TLS.
fn config_at_rootful_path(env: &Env, _: &Path) {
    edit_compose_line(
        env,
        r#"- "./buildkit/buildkitd.toml:/home/user/.config/buildkit/buildkitd.toml:ro""#,
        Some(r#"- "./buildkit/buildkitd.toml:/etc/buildkit/buildkitd.toml:ro""#),
    );
    edit_compose_line(
        env,
        r#"- "--config=/home/user/.config/buildkit/buildkitd.toml""#,
        None,
    );
}

// ---- running -------------------------------------------------------------------------

struct Row {
    fault: &'static str,
    /// Whether the real client (or server) rejected the environment as expected.
    rejected: bool,
    client: String,
    /// Whether buildctl failed with the expected error, and what it said.
    buildctl_rejected: bool,
    buildctl: String,
    /// The code probe and `doctor --probe` must report: the probe's, or the static one
    /// when probe cannot see the fault.
    probe_code: &'static str,
    /// Whether `bkenv probe` ran for this fault.
    probed: bool,
    /// Codes `bkenv probe` reported.
    probe_codes: Vec<String>,
    /// Codes `bkenv doctor --probe` reported.
    live_codes: Vec<String>,
    doctor: &'static str,
    /// Codes static `bkenv doctor` reported.
    doctor_codes: Vec<String>,
}

/// The words around `needle` in `text` (its last line when `needle` is absent), with
/// digests shortened so the table shows the error rather than hex.
fn around(text: &str, needle: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains(needle))
        .or_else(|| text.lines().last())
        .unwrap_or("");
    let mut short = String::new();
    let mut rest = line;
    while let Some(k) = rest.find("sha256:") {
        let hex = rest[k + 7..]
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .count();
        short.push_str(&rest[..k + 7]);
        if hex == 64 {
            short.push('…');
        } else {
            short.push_str(&rest[k + 7..k + 7 + hex]);
        }
        rest = &rest[k + 7 + hex..];
    }
    short.push_str(rest);
    let i = short.find(needle).unwrap_or(0);
    let start = short[..i]
        .char_indices()
        .rev()
        .nth(110)
        .map_or(0, |(j, _)| j);
    let snippet: String = short[start..].chars().take(240).collect();
    snippet.trim_end_matches('"').trim().to_string()
}

/// Runs the real client against `up`; (rejected as expected, what it said).
fn exercise(
    fault: &Fault,
    env: &Env,
    up: &Up,
    daemon: &Result<(), String>,
    scratch: &Path,
) -> (bool, String) {
    match fault.client {
        Client::SkopeoPush(expect) => {
            let layout = scratch.join("layout");
            if !layout.exists() {
                oci::write_layout(&layout);
            }
            let (ok, out) = up.push(env, NAME, &layout);
            let rejected = !ok && out.contains(expect);
            (rejected, format!("skopeo: {}", around(&out, expect)))
        }
        Client::CurlPlainHttp(expect) => {
            let (_, out) = up.curl(env, &format!("http://{NAME}/v2/"), None);
            let rejected = !out.ends_with("HTTP 200") && out.contains(expect);
            let code = out.lines().last().unwrap_or("").to_string();
            (rejected, format!("curl: {code} {}", around(&out, expect)))
        }
        Client::RegistryRefuses(expect) => {
            let log = up.refused.clone().unwrap_or_default();
            let rejected = up.refused.is_some() && log.contains(expect);
            (
                rejected,
                format!("registry exits: {}", around(&log, expect)),
            )
        }
        Client::DaemonRefuses(expect) => {
            let log = daemon.clone().err().unwrap_or_default();
            let rejected = daemon.is_err() && log.contains(expect);
            (
                rejected,
                format!("buildkitd exits: {}", around(&log, expect)),
            )
        }
        Client::BuildctlOnly => (true, "(both servers start)".into()),
    }
}

/// `bkenv probe` inside the namespace, as BuildKit would connect to `target`.
fn probe_codes(env: &Env, up: &Up, target: &str, plain_http: bool) -> Vec<String> {
    let (_, findings) = up.probe(env, &[target], plain_http);
    findings.into_iter().map(|f| f.code).collect()
}

/// `bkenv doctor --format json DIR` (with `--probe` inside the namespace, live).
fn doctor_codes(env: &Env, up: &Up, live: bool) -> Vec<String> {
    let mut cmd = up.client(assert_cmd::cargo::cargo_bin("bkenv"));
    cmd.args(["doctor", "--format", "json"]);
    if live {
        cmd.arg("--probe");
    }
    cmd.arg(env.root()).env("NO_COLOR", "1");
    let (_, json, err) = run_split(&mut cmd, crate::env::CLIENT_TIMEOUT);
    assert!(!json.is_empty(), "bkenv doctor: {err}");
    findings(&json).into_iter().map(|f| f.code).collect()
}

/// buildctl pushing through buildkitd (with the registry cache `init` prints when
/// `cache`: an import failure would hide the push's own error): (ok, output).
fn buildctl_push(env: &Env, up: &Up, tag: &str, cache: bool) -> (bool, String) {
    let ctx = context("scratch", &format!("fault table: {tag}\n"));
    let meta = tempfile::tempdir().expect("metadata dir");
    let image = format!("{NAME}/bkenv-e2e:{tag}");
    let extra = if cache {
        cache_args(&format!("{NAME}/bkenv-e2e:buildcache"))
    } else {
        Vec::new()
    };
    up.buildctl_build(env, &ctx, &image, &meta.path().join("m.json"), &extra)
}

fn run_faults(with_probe: bool) -> (Vec<Row>, (bool, String)) {
    let default = Env::init(None);
    let rootless = Env::init(Some(&examples("rootless")));
    std::thread::scope(|s| {
        let control = s.spawn(|| {
            let env = default.copy();
            let mut up = env.up();
            let daemon = up.start_buildkitd(&env);
            let (ok, out) = buildctl_push(&env, &up, "control", true);
            let clean = daemon.is_ok()
                && ok
                && doctor_codes(&env, &up, false).is_empty()
                && (!with_probe || doctor_codes(&env, &up, true).is_empty());
            (clean, format!("{daemon:?}\n{out}"))
        });
        let handles: Vec<_> = FAULTS
            .iter()
            .enumerate()
            .map(|(i, fault)| {
                let base = match fault.base {
                    Base::Default => &default,
                    Base::Rootless => &rootless,
                };
                s.spawn(move || {
                    let env = base.copy();
                    let scratch = tempfile::tempdir().expect("scratch");
                    (fault.plant)(&env, scratch.path());
                    let mut up = env.up();
                    let daemon = up.start_buildkitd(&env);
                    let (rejected, client) = exercise(fault, &env, &up, &daemon, scratch.path());
                    let (ok, out) = buildctl_push(&env, &up, &format!("fault{i}"), false);
                    let (probe_codes, live_codes) = if with_probe {
                        (
                            fault.probe.map_or_else(Vec::new, |(target, _)| {
                                probe_codes(&env, &up, target, fault.plain_http)
                            }),
                            doctor_codes(&env, &up, true),
                        )
                    } else {
                        (Vec::new(), Vec::new())
                    };
                    Row {
                        fault: fault.name,
                        rejected,
                        client,
                        buildctl_rejected: !ok && out.contains(fault.buildctl),
                        buildctl: format!("buildctl: {}", around(&out, fault.buildctl)),
                        probe_code: fault.probe.map_or(fault.doctor, |(_, code)| code),
                        probed: fault.probe.is_some(),
                        probe_codes,
                        live_codes,
                        doctor: fault.doctor,
                        doctor_codes: doctor_codes(&env, &up, false),
                    }
                })
            })
            .collect();
        let rows = handles
            .into_iter()
            .map(|h| h.join().expect("fault thread"))
            .collect();
        (rows, control.join().expect("control thread"))
    })
}

fn codes(c: &[String]) -> String {
    if c.is_empty() {
        "none".into()
    } else {
        c.join(",")
    }
}

fn print_table(rows: &[Row], control_ok: bool) {
    let mut t = String::from(
        "\nagreement table: the real clients and servers against bkenv doctor (static and --probe) and probe\n",
    );
    t.push_str(&format!(
        "{:<40} {:<9} {:<9} {:<52} {:<7} {:<16} {}\n",
        "fault",
        "client",
        "buildctl",
        "doctor (expected: found)",
        "probe",
        "probe found",
        "doctor --probe found"
    ));
    t.push_str(&format!(
        "{:<40} {:<9} {:<9} {:<52} {:<7} {:<16} {}\n",
        "(control: push + cache export)",
        "-",
        if control_ok { "pushed" } else { "FAILED" },
        "none",
        "-",
        "-",
        "none"
    ));
    for r in rows {
        let doctor = if r.doctor_codes.iter().any(|f| f == r.doctor) {
            r.doctor.to_string()
        } else {
            format!("{}: MISSED ({})", r.doctor, codes(&r.doctor_codes))
        };
        let verdict = |ok: bool| if ok { "rejected" } else { "ACCEPTED" };
        t.push_str(&format!(
            "{:<40} {:<9} {:<9} {:<52} {:<7} {:<16} {}\n      {}\n      {}\n",
            r.fault,
            verdict(r.rejected),
            verdict(r.buildctl_rejected),
            doctor,
            if r.probed { r.probe_code } else { "-" },
            if r.probed {
                codes(&r.probe_codes)
            } else {
                "(not seen outside)".into()
            },
            codes(&r.live_codes),
            r.client,
            r.buildctl,
        ));
    }
    eprintln!("{t}");
}

/// Every planted fault is rejected by the real clients (skopeo, curl or the server
/// itself, and buildctl through the real buildkitd), `bkenv probe` and `doctor --probe`,
/// connecting as BuildKit would, report the matching code, and static doctor reports its
/// code. A control copy builds, pushes and exports its
/// cache with every doctor clean.
#[test]
fn every_fault_is_rejected_by_the_real_client_and_reported_by_probe() {
    if !crate::buildkit::present() {
        return;
    }
    let (rows, (control_ok, control)) = run_faults(true);
    print_table(&rows, control_ok);
    assert!(control_ok, "the unfaulted copy: {control}");
    let accepted: Vec<String> = rows
        .iter()
        .filter(|r| !r.rejected || !r.buildctl_rejected)
        .map(|r| format!("{}: {} / {}", r.fault, r.client, r.buildctl))
        .collect();
    assert!(
        accepted.is_empty(),
        "real clients did not reject as expected: {accepted:#?}"
    );
    let missed: Vec<String> = rows
        .iter()
        .filter(|r| {
            (r.probed && !r.probe_codes.iter().any(|c| c == r.probe_code))
                || !r.live_codes.iter().any(|c| c == r.probe_code)
        })
        .map(|r| {
            format!(
                "{}: expected {}, probe {:?}, doctor --probe {:?}",
                r.fault, r.probe_code, r.probe_codes, r.live_codes
            )
        })
        .collect();
    assert!(
        missed.is_empty(),
        "probe disagrees with the real client: {missed:#?}"
    );
    let doctor_missed: Vec<String> = rows
        .iter()
        .filter(|r| !r.doctor_codes.iter().any(|f| f == r.doctor))
        .map(|r| {
            format!(
                "{}: expected {:?}, got {:?}",
                r.fault, r.doctor, r.doctor_codes
            )
        })
        .collect();
    assert!(
        doctor_missed.is_empty(),
        "static doctor missed: {doctor_missed:#?}"
    );
}

#[test]
fn fault_table_codes_are_distinct_per_fault_kind() {
    // Every planted fault names a doctor code of its own, in the catalog: static codes
    // for doctor, live (BK7xx) codes for probe.
    let mut codes: Vec<&str> = FAULTS.iter().map(|f| f.doctor).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), FAULTS.len());
    let statics = bkenv::catalog::static_checks();
    let live = bkenv::catalog::live_checks();
    for f in FAULTS {
        assert!(
            statics.iter().any(|c| c.code == f.doctor),
            "{}: {} is not a static check",
            f.name,
            f.doctor
        );
        assert!(
            f.probe
                .is_none_or(|(_, code)| live.iter().any(|c| c.code == code)),
            "{}: {:?} is not a live check",
            f.name,
            f.probe
        );
    }
}
