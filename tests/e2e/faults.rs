//! The fault suite: from one good environment (the default spec), plant one fault at a
//! time in a copy, run the real registry and the real client, and check that the client
//! fails the way users see it. Faulty certificates and htpasswd entries are made with the
//! openssl CLI, independently of bkenv.
//!
//! Each fault carries the code `bkenv probe` must report for it (the BK7xx catalog), and
//! the code static `bkenv doctor` reports, as data; the agreement test
//! compares them with what probe says.

use crate::env::{Env, Up};
use crate::oci;
use crate::sandbox::{WAIT, run_for};
use base64::Engine;
use std::path::Path;
use std::process::Command;

/// The name BuildKit dials, through which every fault is exercised.
const NAME: &str = "registry:5000";

/// How the real client is exercised, and what its failure must say.
#[derive(Clone, Copy)]
enum Client {
    /// `skopeo copy` (push) with the generated certs.d and config.json.
    SkopeoPush(&'static str),
    /// `curl http://NAME/v2/`, as BuildKit speaks with `http = true`.
    CurlPlainHttp(&'static str),
    /// The registry itself refuses to start; its log says this.
    RegistryRefuses(&'static str),
}

struct Fault {
    name: &'static str,
    plant: fn(&Env, &Path),
    client: Client,
    /// Whether BuildKit would speak plain HTTP (the environment's buildkitd.toml says
    /// `http = true`), so probe must too.
    plain_http: bool,
    /// The code `bkenv probe` reports.
    probe_code: &'static str,
    /// The code static `bkenv doctor` reports.
    doctor_code: &'static str,
}

const FAULTS: &[Fault] = &[
    Fault {
        name: "certificate for the wrong name",
        plant: wrong_name,
        client: Client::SkopeoPush("certificate is valid for localhost"),
        plain_http: false,
        probe_code: "BK706",
        doctor_code: "BK210",
    },
    Fault {
        name: "certificate from another CA",
        plant: other_ca,
        client: Client::SkopeoPush("certificate signed by unknown authority"),
        plain_http: false,
        probe_code: "BK705",
        doctor_code: "BK209",
    },
    Fault {
        name: "expired certificate",
        plant: expired,
        client: Client::SkopeoPush("certificate has expired or is not yet valid"),
        plain_http: false,
        probe_code: "BK708",
        doctor_code: "BK502",
    },
    Fault {
        name: "CN-only certificate",
        plant: cn_only,
        client: Client::SkopeoPush("legacy Common Name field"),
        plain_http: false,
        probe_code: "BK707",
        doctor_code: "BK505",
    },
    Fault {
        name: "plain-HTTP registry, TLS expected",
        plant: registry_plain_http,
        client: Client::SkopeoPush("server gave HTTP response to HTTPS client"),
        plain_http: false,
        probe_code: "BK703",
        doctor_code: "BK203",
    },
    Fault {
        name: "TLS registry, plain HTTP expected",
        plant: buildkitd_plain_http,
        client: Client::CurlPlainHttp("Client sent an HTTP request to an HTTPS server"),
        plain_http: true,
        probe_code: "BK704",
        doctor_code: "BK202",
    },
    Fault {
        name: "config.json key without the port",
        plant: key_without_port,
        client: Client::SkopeoPush("authentication required"),
        plain_http: false,
        probe_code: "BK718",
        doctor_code: "BK403",
    },
    Fault {
        name: "wrong password",
        plant: wrong_password,
        client: Client::SkopeoPush("authentication required"),
        plain_http: false,
        probe_code: "BK717",
        doctor_code: "BK408",
    },
    Fault {
        name: "non-bcrypt htpasswd",
        plant: apr1_htpasswd,
        client: Client::SkopeoPush("authentication required"),
        plain_http: false,
        probe_code: "BK717",
        doctor_code: "BK407",
    },
    Fault {
        name: "key does not match certificate",
        plant: mismatched_key,
        client: Client::RegistryRefuses("private key does not match public key"),
        plain_http: false,
        probe_code: "BK701",
        doctor_code: "BK501",
    },
    Fault {
        name: "missing certs mount",
        plant: no_certs_mount,
        client: Client::RegistryRefuses("open /certs/registry.crt: no such file or directory"),
        plain_http: false,
        probe_code: "BK701",
        doctor_code: "BK302",
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

// ---- running -------------------------------------------------------------------------

struct Row {
    fault: &'static str,
    /// Whether the real client (or registry) rejected the environment as expected.
    rejected: bool,
    client: String,
    expected_code: &'static str,
    /// Codes `bkenv probe` reported (`None` when probe was not run).
    probe_codes: Option<Vec<String>>,
    doctor_expected: &'static str,
    /// Codes static `bkenv doctor` reported.
    doctor_codes: Vec<String>,
}

/// The words around `needle` in `text` (or the start of `text` when it is absent).
fn around(text: &str, needle: &str) -> String {
    let line = text.lines().find(|l| l.contains(needle)).unwrap_or(text);
    let i = line.find(needle).unwrap_or(0);
    let start = line[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
    let snippet: String = line[start..].chars().take(100).collect();
    snippet.trim_end_matches('"').trim().to_string()
}

/// Runs the real client against `up`; (rejected as expected, what it said).
fn exercise(fault: &Fault, env: &Env, up: &Up, scratch: &Path) -> (bool, String) {
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
    }
}

/// `bkenv probe` inside the namespace, as BuildKit would connect to `NAME`: the codes
/// of its findings.
fn probe_codes(env: &Env, up: &Up, plain_http: bool) -> Vec<String> {
    let (_, findings) = up.probe(env, &[NAME], plain_http);
    findings.into_iter().map(|f| f.code).collect()
}

/// Static `bkenv doctor --format json DIR`: the codes of its findings.
fn doctor_codes(env: &Env) -> Vec<String> {
    let out = assert_cmd::Command::cargo_bin("bkenv")
        .expect("bkenv")
        .args(["doctor", "--format", "json"])
        .arg(env.dir.path())
        .timeout(WAIT)
        .output()
        .expect("doctor");
    crate::env::findings(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .map(|f| f.code)
        .collect()
}

fn run_faults(with_probe: bool) -> Vec<Row> {
    let good = Env::init(None);
    std::thread::scope(|s| {
        let handles: Vec<_> = FAULTS
            .iter()
            .map(|fault| {
                let good = &good;
                s.spawn(move || {
                    let env = good.copy();
                    let scratch = tempfile::tempdir().expect("scratch");
                    (fault.plant)(&env, scratch.path());
                    let up = env.up();
                    let (rejected, client) = exercise(fault, &env, &up, scratch.path());
                    let probe_codes = with_probe.then(|| probe_codes(&env, &up, fault.plain_http));
                    let doctor_codes = doctor_codes(&env);
                    Row {
                        doctor_expected: fault.doctor_code,
                        doctor_codes,
                        fault: fault.name,
                        rejected,
                        client,
                        expected_code: fault.probe_code,
                        probe_codes,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("fault thread"))
            .collect()
    })
}

fn print_table(rows: &[Row]) {
    let mut t = String::from("\nagreement table (real client vs bkenv doctor and probe)\n");
    t.push_str(&format!(
        "{:<36} {:<9} {:<7} {:<7} {:<14} {}\n",
        "fault", "client", "doctor", "probe", "probe found", "real client said"
    ));
    for r in rows {
        let probe = match &r.probe_codes {
            None => "not run".to_string(),
            Some(c) if c.is_empty() => "none".to_string(),
            Some(c) => c.join(","),
        };
        let doctor = if r.doctor_codes.iter().any(|c| c == r.doctor_expected) {
            r.doctor_expected
        } else {
            "MISSED"
        };
        t.push_str(&format!(
            "{:<36} {:<9} {:<7} {:<7} {:<14} {}\n",
            r.fault,
            if r.rejected { "rejected" } else { "ACCEPTED" },
            doctor,
            r.expected_code,
            probe,
            r.client
        ));
    }
    eprintln!("{t}");
}

/// Every planted fault is rejected by the real client (skopeo, curl or the registry
/// itself), and `bkenv probe`, connecting as BuildKit would, reports the matching code.
#[test]
fn every_fault_is_rejected_by_the_real_client_and_reported_by_probe() {
    if !crate::tools_present() {
        return;
    }
    let rows = run_faults(true);
    print_table(&rows);
    let accepted: Vec<&str> = rows
        .iter()
        .filter(|r| !r.rejected)
        .map(|r| r.fault)
        .collect();
    assert!(
        accepted.is_empty(),
        "real clients did not reject: {accepted:?}"
    );
    let missed: Vec<String> = rows
        .iter()
        .filter(|r| {
            !r.probe_codes
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c == r.expected_code))
        })
        .map(|r| {
            format!(
                "{}: expected {}, got {:?}",
                r.fault, r.expected_code, r.probe_codes
            )
        })
        .collect();
    assert!(
        missed.is_empty(),
        "probe disagrees with the real client: {missed:#?}"
    );
    let doctor_missed: Vec<String> = rows
        .iter()
        .filter(|r| !r.doctor_codes.iter().any(|c| c == r.doctor_expected))
        .map(|r| {
            format!(
                "{}: expected {}, got {:?}",
                r.fault, r.doctor_expected, r.doctor_codes
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
    // Every planted fault names a code and a doctor finding kind; the kinds are unique.
    let mut slugs: Vec<&str> = FAULTS.iter().map(|f| f.doctor_code).collect();
    slugs.sort_unstable();
    slugs.dedup();
    assert_eq!(slugs.len(), FAULTS.len());
    assert!(FAULTS.iter().all(|f| f.probe_code.starts_with("BK7")));
}
