//! Token auth with the real registry (token mode), the real buildkitd and the real
//! buildctl, against `bkenv doctor --probe`: the default environment's registry switched
//! from htpasswd to `auth.token`, with a token realm stand-in (socat + a script) serving
//! a real ES256 JWT for the environment's credentials. The verdicts must agree:
//!
//! - the client trusts the realm and the registry trusts the signer: buildctl pushes and
//!   doctor reports nothing live;
//! - the registry trusts another signer: buildctl fails with 401, doctor BK717 (a token
//!   was issued; the credentials are fine);
//! - only the realm's CA is missing from the client's trust (buildctl fetches tokens
//!   itself): buildctl fails with x509, doctor BK705 on the realm.

use crate::buildkit::context;
use crate::env::{CLIENT_TIMEOUT, Env, Up, findings};
use crate::sandbox::{Proc, WAIT, run_for, run_split, wait_until};
use crate::support_token::{Signer, jwt, signer};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NAME: &str = "registry:5000";
const REALM_IP: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 240);
const SERVICE: &str = "bkenv-e2e-registry";
const ISSUER: &str = "bkenv-e2e-tokens";

/// The realm stand-in: `socat` with TLS on REALM_IP:443 running a script that drains the
/// request (a POST's body too), answers the OAuth POST with 404 (clients then GET with
/// Basic, as containerd falls back) and a GET carrying `basic` with the token.
fn realm(up: &Up, dir: &Path, basic: &str, token: &str, ca_cert: bool) -> (Proc, PathBuf) {
    up.net.add_address(REALM_IP);
    let (cert, key) = (dir.join("realm.crt"), dir.join("realm.key"));
    let (ok, out) = run_for(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=token realm stand-in", "-addext"])
            .arg(format!("subjectAltName=IP:{REALM_IP}"))
            .arg("-addext")
            .arg(if ca_cert {
                "basicConstraints=critical,CA:TRUE"
            } else {
                "basicConstraints=critical,CA:FALSE"
            })
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        WAIT,
    );
    assert!(ok, "realm certificate: {out}");
    let body = serde_json::json!({ "token": token, "access_token": token }).to_string();
    std::fs::write(dir.join("token.json"), &body).expect("token body");
    let script = dir.join("realm.sh");
    std::fs::write(
        &script,
        format!(
            "cr=$(printf '\\r'); first=''; len=0; auth=''\n\
             while IFS= read -r line; do line=${{line%\"$cr\"}}; [ -z \"$line\" ] && break\n\
               [ -z \"$first\" ] && first=$line\n\
               case $line in [Cc]ontent-[Ll]ength:*) len=${{line#*: }};; [Aa]uthorization:*) auth=${{line#*: }};; esac\n\
             done\n\
             [ \"$len\" -gt 0 ] 2>/dev/null && head -c \"$len\" >/dev/null\n\
             case $first in POST*) printf 'HTTP/1.1 404 Not Found\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n'; exit 0;; esac\n\
             if [ \"$auth\" = '{basic}' ]; then\n\
               printf 'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: {len}\\r\\nConnection: close\\r\\n\\r\\n'; cat '{json}'\n\
             else printf 'HTTP/1.1 401 Unauthorized\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n'; fi\n",
            len = body.len(),
            json = dir.join("token.json").display(),
        ),
    )
    .expect("realm script");
    let mut server = Proc::spawn(
        "token realm stand-in",
        up.net
            .cmd("socat")
            .arg(format!(
                "OPENSSL-LISTEN:443,bind={REALM_IP},fork,reuseaddr,verify=0,cert={},key={}",
                cert.display(),
                key.display()
            ))
            .arg(format!("EXEC:sh {}", script.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let r = wait_until("token realm stand-in", || {
        up.net.listening(REALM_IP.into(), 443) || server.exited()
    });
    assert!(r.is_ok() && !server.exited(), "realm: {r:?}");
    (server, cert)
}

/// The registry config with `auth.token` (trusting `bundle`, a path under
/// `registry/certs`, mounted at `/certs`) instead of htpasswd.
fn token_mode(env: &Env, bundle: &str) {
    let cfg = env.read("registry/config.yml");
    let start = cfg.find("auth:").expect("auth section");
    let rest = &cfg[start..];
    // The auth block runs to the next top-level key (or the end).
    let end = rest
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| rest[i..].starts_with(|c: char| !c.is_whitespace()))
        .unwrap_or(rest.len());
    let token = format!(
        "auth:\n  token:\n    realm: https://{REALM_IP}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: /certs/{bundle}\n"
    );
    env.write(
        "registry/config.yml",
        &format!("{}{token}{}", &cfg[..start], &rest[end..]),
    );
}

fn doctor_probe(env: &Env, up: &Up, client_trust: Option<&Path>) -> Vec<crate::env::Finding> {
    let mut cmd = up.client(assert_cmd::cargo::cargo_bin("bkenv"));
    cmd.args(["doctor", "--probe", "--format", "json"])
        .arg(env.root())
        .env("NO_COLOR", "1");
    if let Some(t) = client_trust {
        cmd.env("SSL_CERT_FILE", t);
    }
    let (_, json, err) = run_split(&mut cmd, CLIENT_TIMEOUT);
    assert!(!json.is_empty(), "bkenv doctor: {err}");
    findings(&json)
}

fn push(env: &Env, up: &Up, tag: &str, client_trust: &Path) -> (bool, String) {
    let ctx = context("scratch", &format!("token auth: {tag}\n"));
    let meta = tempfile::tempdir().expect("metadata dir");
    let image = format!("{NAME}/bkenv-e2e:{tag}");
    let m = meta.path().join("m.json");
    up.buildctl_build_with(
        env,
        &ctx,
        &image,
        &m,
        &[],
        &[("SSL_CERT_FILE", client_trust)],
    )
}

/// One case: the environment with the registry trusting `registry_trusts`, the client
/// trusting the realm or not; (buildctl ok, its output, live codes, findings).
fn case(
    base: &Env,
    tokens: &Signer,
    registry_trusts: &Signer,
    client_trusts_realm: bool,
    realm_ca_cert: bool,
    tag: &str,
) -> (bool, String, Vec<crate::env::Finding>) {
    let env = base.copy();
    std::fs::write(
        env.path("registry/certs/token-signer.crt"),
        &registry_trusts.cert_pem,
    )
    .expect("bundle");
    token_mode(&env, "token-signer.crt");
    let creds = env.credentials(NAME).expect("credentials");
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, creds)
    );
    let scratch = tempfile::tempdir().expect("scratch");
    let mut up = env.up();
    let token = jwt(tokens, ISSUER, SERVICE, "bkenv", &["bkenv-e2e"]);
    let (_realm, realm_cert) = realm(&up, scratch.path(), &basic, &token, realm_ca_cert);
    up.start_buildkitd(&env).expect("buildkitd starts");
    // The client's trust: the system bundle, plus the realm's certificate when trusted.
    let bundle = scratch.path().join("client-trust.pem");
    let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let extra = if client_trusts_realm {
        std::fs::read_to_string(&realm_cert).expect("realm cert")
    } else {
        String::new()
    };
    std::fs::write(&bundle, system + &extra).expect("client bundle");
    let (ok, out) = push(&env, &up, tag, &bundle);
    let found = doctor_probe(&env, &up, Some(&bundle));
    (ok, out, found)
}

#[test]
fn token_auth_doctor_agrees_with_buildctl() {
    if !crate::buildkit::present() {
        return;
    }
    let base = Env::init(None);
    let (tokens, other) = (signer(), signer());
    let live = |f: &[crate::env::Finding]| -> Vec<String> {
        f.iter()
            .filter(|f| f.code.starts_with("BK7"))
            .map(|f| format!("{} {}", f.code, f.message))
            .collect()
    };

    let (ok, out, found) = case(&base, &tokens, &tokens, true, false, "token-good");
    assert!(
        ok,
        "buildctl pushes with a token the registry accepts: {out}"
    );
    assert!(live(&found).is_empty(), "{:#?}", live(&found));

    // The realm presents a CA certificate (openssl's default for `req -x509`) that the
    // client trusts directly: Go accepts it and buildctl pushes; doctor only warns.
    let (ok, out, found) = case(&base, &tokens, &tokens, true, true, "token-ca-realm");
    assert!(
        ok,
        "buildctl accepts a trusted CA:TRUE realm certificate: {out}"
    );
    let l = live(&found);
    assert!(l.len() == 1 && l[0].starts_with("BK711"), "doctor: {l:#?}");
    assert!(
        found
            .iter()
            .filter(|f| f.code.starts_with("BK7"))
            .all(|f| f.severity == "warning"),
        "{found:#?}"
    );

    let (ok, out, found) = case(
        &base,
        &tokens,
        &other,
        true,
        false,
        "token-untrusted-signer",
    );
    assert!(!ok && out.contains("401 Unauthorized"), "{out}");
    let l = live(&found);
    assert!(
        l.len() == 1 && l[0].starts_with("BK717") && l[0].contains("issued a token"),
        "buildctl: {out}\ndoctor: {l:#?}"
    );

    let (ok, out, found) = case(
        &base,
        &tokens,
        &tokens,
        false,
        false,
        "token-realm-untrusted",
    );
    assert!(
        !ok && out.contains("certificate signed by unknown authority"),
        "{out}"
    );
    let l = live(&found);
    assert!(
        l.len() == 1 && l[0].starts_with("BK705") && l[0].contains("token realm"),
        "buildctl: {out}\ndoctor: {l:#?}"
    );
    eprintln!(
        "token auth: buildctl and doctor --probe agree on 4 cases (accepted token; CA:TRUE realm certificate: pushed / BK711 warning; untrusted signer: 401 / BK717; realm untrusted by the client: x509 / BK705)"
    );
}
