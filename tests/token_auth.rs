//! Token auth against the real distribution registry (`docker-registry`, token mode):
//! an in-test token server issues real ES256 JWTs (x5c header, as distribution's own
//! token servers sign them) on loopback, and `bkenv probe` must agree with what the
//! registry does: a token the registry accepts, a token signed by a key the registry
//! does not trust (issued, then refused: BK717 says the credentials are fine), a wrong
//! password (the token server refuses: BK717 blames the credentials), and a realm that
//! only buildkitd's `ca` trusts while the client fetches the token (BK705).

mod servers;
mod support;
mod support_token;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use servers::{Server, ca, leaf, server_config};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{fresh, tool};
use support_token::{Signer, jwt, signer};

const SERVICE: &str = "registry.test";
const ISSUER: &str = "bkenv-test-issuer";

/// The token server: the OAuth POST is answered 404 (so clients fall back to GET with
/// Basic, as containerd does); GET with exactly `basic` gets a token.
fn token_server(tls_ca: &servers::Ca, s: Signer, basic: String) -> Server {
    Server::https(
        server_config(&leaf(tls_ca, &["127.0.0.1"]), &[], None),
        move |req| {
            if req.method == "POST" {
                return ("404 Not Found", vec![], "{}".into());
            }
            match req.authorization.as_deref() {
                Some(a) if a == basic => {
                    let token = jwt(&s, ISSUER, SERVICE, "bkenv", &[]);
                    (
                        "200 OK",
                        vec![],
                        serde_json::json!({ "token": token, "access_token": token }).to_string(),
                    )
                }
                _ => ("401 Unauthorized", vec![], "{}".into()),
            }
        },
    )
}

/// The real registry in token mode, serving `dir`'s registry certificate.
struct Registry {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Registry {
    fn start(bin: &Path, dir: &Path, realm: &str, bundle: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = tempfile::tempdir().expect("tempdir");
        let config = data.path().join("config.yml");
        let cfg = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {crt}\n    key: {key}\nauth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {bundle}\n",
            root = data.path().join("storage").display(),
            crt = dir.join("registry/certs/registry.crt").display(),
            key = dir.join("registry/certs/registry.key").display(),
            bundle = bundle.display(),
        );
        std::fs::write(&config, cfg).expect("registry config");
        let child = Command::new(bin)
            .args(["serve"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            port,
            _data: data,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bkenv probe registry:5000` as BuildKit dials it, the client trusting `client_trust`
/// (SSL_CERT_FILE) and buildkitd `cacerts`: (exit code, findings as JSON).
fn probe(
    dir: &Path,
    reg: &Registry,
    client_trust: &Path,
    cacerts: &[&Path],
    env: &[(&str, &str)],
) -> (i32, serde_json::Value) {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("bkenv"));
    cmd.current_dir(dir)
        .args([
            "probe",
            "registry:5000",
            "--timeout",
            "5",
            "--format",
            "json",
        ])
        .arg("--resolve")
        .arg(format!("registry:5000=127.0.0.1:{}", reg.port))
        .args(["--docker-config", "docker"])
        .env("SSL_CERT_FILE", client_trust)
        .env_remove("SSL_CERT_DIR")
        .env_remove("BUILDKIT_NO_CLIENT_TOKEN")
        .envs(env.iter().copied());
    for c in cacerts {
        cmd.arg("--cacert").arg(c);
    }
    let out = cmd.output().expect("bkenv probe");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn findings(json: &serde_json::Value) -> Vec<(String, String)> {
    json["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["code"].as_str().unwrap_or("").to_string(),
                        f["message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn token_auth_probe_agrees_with_the_real_registry() {
    let Some(reg_bin) = tool("docker-registry") else {
        return;
    };
    let (dir, _) = fresh(None);
    let d = dir.path();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("docker/config.json")).unwrap())
            .unwrap();
    let basic = format!(
        "Basic {}",
        config["auths"]["registry:5000"]["auth"]
            .as_str()
            .expect("registry:5000 credentials")
    );
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    // The token server's TLS certificate comes from a CA of its own.
    let tls_ca = ca("token server CA");
    std::fs::write(s.join("token-ca.crt"), tls_ca.pem()).unwrap();
    let env_ca = d.join("ca/ca.crt");
    let token_ca = s.join("token-ca.crt");
    // Trusted by the client: the environment's CA (the registry) and the token CA.
    std::fs::write(
        s.join("client.pem"),
        std::fs::read_to_string(&env_ca).unwrap() + &tls_ca.pem(),
    )
    .unwrap();
    let client = s.join("client.pem");

    let trusted = signer();
    std::fs::write(s.join("trusted.crt"), &trusted.cert_pem).unwrap();
    let tokens = token_server(&tls_ca, trusted, basic.clone());
    let realm = format!("https://127.0.0.1:{}/token", tokens.port());

    // 1. The registry trusts the signer: the whole flow passes.
    let reg = Registry::start(&reg_bin, d, &realm, &s.join("trusted.crt"));
    let (code, json) = probe(d, &reg, &client, &[&env_ca], &[]);
    assert_eq!(code, 0, "{json:#}");
    assert!(findings(&json).is_empty(), "{json:#}");
    drop(reg);

    // 2. The registry trusts another signer: a token is issued, the registry refuses it.
    let other = signer();
    std::fs::write(s.join("other.crt"), &other.cert_pem).unwrap();
    let reg = Registry::start(&reg_bin, d, &realm, &s.join("other.crt"));
    let (code, json) = probe(d, &reg, &client, &[&env_ca], &[]);
    assert_eq!(code, 1, "{json:#}");
    let f = findings(&json);
    assert_eq!(f.len(), 1, "{json:#}");
    assert_eq!(f[0].0, "BK717");
    assert!(
        f[0].1.contains("issued a token") && f[0].1.contains("the credentials are fine"),
        "{}",
        f[0].1
    );

    // 3. A wrong password: the token server refuses; BK717 blames the credentials.
    let bad_auth = STANDARD.encode("bkenv:wrong-password");
    std::fs::write(
        d.join("docker/config.json"),
        serde_json::json!({ "auths": { "registry:5000": { "auth": bad_auth } } }).to_string(),
    )
    .unwrap();
    drop(reg);
    let reg = Registry::start(&reg_bin, d, &realm, &s.join("trusted.crt"));
    let (_, json) = probe(d, &reg, &client, &[&env_ca], &[]);
    let f = findings(&json);
    assert_eq!(f.len(), 1, "{json:#}");
    assert_eq!(f[0].0, "BK717");
    assert!(
        f[0].1.contains("rejects the credentials") && !f[0].1.contains("issued"),
        "{}",
        f[0].1
    );
    // The help names the config.json `--docker-config` pointed at.
    let help = json["findings"][0]["help"].as_str().unwrap_or_default();
    assert!(help.contains("in docker/config.json"), "{help}");

    // 4. Only buildkitd's `ca` trusts the token server; the client, which fetches the
    //    token, does not: BK705 on the realm (buildctl: certificate signed by unknown
    //    authority), although the daemon's trust would pass it.
    let (code, json) = probe(d, &reg, &env_ca, &[&env_ca, &token_ca], &[]);
    assert_eq!(code, 1, "{json:#}");
    let f = findings(&json);
    assert_eq!(f.len(), 1, "{json:#}");
    assert_eq!(f[0].0, "BK705");
    assert!(
        f[0].1.contains("token realm") && f[0].1.contains("client"),
        "{}",
        f[0].1
    );
    // With BUILDKIT_NO_CLIENT_TOKEN set on the client, buildkitd fetches the token with
    // its own trust, and the realm passes (the wrong password is then what fails).
    let (_, json) = probe(
        d,
        &reg,
        &env_ca,
        &[&env_ca, &token_ca],
        &[("BUILDKIT_NO_CLIENT_TOKEN", "true")],
    );
    let f = findings(&json);
    assert_eq!(f.len(), 1, "{json:#}");
    assert_eq!(f[0].0, "BK717", "{json:#}");
}
