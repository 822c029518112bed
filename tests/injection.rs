//! No value a user controls can add a key to a generated file, run a command when `.env`
//! is sourced, or put key material into a file every client reads.
//!
//! `.env` is read for real by POSIX `sh` and by Compose v1 (`docker-compose` 1.29, which
//! reads it with python-dotenv). Compose v2 cannot be installed here (Debian 12 ships
//! only v1; v2 is a Go binary outside the package registries), so its rules are
//! implemented below as a test oracle from compose-go's `dotenv` parser: an unquoted
//! value ends at ` #` and interpolates `$VAR`/`${VAR}`, a double-quoted one unescapes and
//! interpolates, a single-quoted one is literal up to the first `'` not preceded by `\`.
//! Generated YAML is parsed back by serde-saphyr and by PyYAML (Compose v1's parser) and
//! compared key by key with what the model says it must hold.

mod support;

use bkenv::model::{Environment, Role};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use support::{options, tool};

fn init_with(dir: &Path, password: Option<&str>) -> bkenv::error::Result<()> {
    let rng = ring::rand::SystemRandom::new();
    let pw = password.map(str::to_string);
    let env = move |var: &str| var.ends_with("_PASSWORD").then(|| pw.clone()).flatten();
    bkenv::init::run(&options(dir), &rng, &env, &mut bkenv::output::Writer::new()).map(|_| ())
}

fn spec_with_password_env() -> String {
    bkenv::spec::DEFAULT_SPEC.replace(
        "# password_env = \"BKENV_REGISTRY_PASSWORD\"",
        "password_env = \"BKENV_REGISTRY_PASSWORD\"",
    )
}

/// Compose v2's reading of one `.env` line (compose-go `dotenv`), for the oracle.
fn compose_v2_value(line: &str, vars: &BTreeMap<String, String>) -> Option<(String, String)> {
    let (key, src) = line.split_once('=')?;
    let interpolate = |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = if let Some(b) = after.strip_prefix('{') {
                let end = b.find('}').unwrap_or(b.len());
                (&b[..end], b.get(end + 1..).unwrap_or(""))
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            out.push_str(vars.get(name).map_or("", String::as_str));
            rest = tail;
        }
        out.push_str(rest);
        out
    };
    let value = match src.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let bytes = src.as_bytes();
            let end = (1..bytes.len()).find(|&i| bytes[i] == q as u8 && bytes[i - 1] != b'\\')?;
            let inner = &src[1..end];
            if q == '"' {
                interpolate(&inner.replace("\\n", "\n").replace("\\\"", "\""))
            } else {
                inner.to_string()
            }
        }
        _ => interpolate(src.split(" #").next().unwrap_or(src).trim()),
    };
    Some((key.to_string(), value))
}

fn sh_reads(dir: &Path, vars: &[String]) -> BTreeMap<String, String> {
    // Each value printed between markers, so a newline or an injected variable shows.
    let script = vars
        .iter()
        .map(|v| format!("printf '%s\\0' \"${v}\""))
        .collect::<Vec<_>>()
        .join("; ");
    let out = Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(format!("set -a; . ./.env; set +a; {script}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    vars.iter()
        .cloned()
        .zip(text.split('\0').map(str::to_string))
        .collect()
}

/// Compose v1 reads `.env` for interpolation; `config` prints the resolved file.
fn compose_v1_reads(dir: &Path, vars: &[String]) -> Option<BTreeMap<String, String>> {
    let compose = tool("docker-compose")?;
    let env: Vec<String> = vars
        .iter()
        .map(|v| format!("      {v}: \"${{{v}}}\""))
        .collect();
    let file = format!(
        "version: \"3.8\"\nservices:\n  t:\n    image: busybox\n    environment:\n{}\n",
        env.join("\n")
    );
    fs::write(dir.join("probe-compose.yml"), file).unwrap();
    let out = Command::new(compose)
        .current_dir(dir)
        .args(["-f", "probe-compose.yml", "config"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let envs = doc["services"]["t"]["environment"].as_object().unwrap();
    Some(
        vars.iter()
            .map(|v| (v.clone(), envs[v].as_str().unwrap_or_default().to_string()))
            .collect(),
    )
}

/// Every character `.env` accepts reads back unchanged in sh, Compose v1 and Compose v2.
#[test]
fn every_accepted_character_reads_the_same_in_sh_and_both_composes() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    let mut want = BTreeMap::new();
    for b in 0x20u8..=0x7e {
        let value = format!("a{}b{}", b as char, b as char);
        if bkenv::dotenv::check_value(&value).is_err() {
            continue;
        }
        let key = format!("V{b}");
        text.push_str(&bkenv::dotenv::assignment(&key, &value));
        want.insert(key, value);
    }
    assert_eq!(want.len(), 95 - 4, "printable ASCII less ' \\ $ and `");
    fs::write(dir.path().join(".env"), &text).unwrap();
    let vars: Vec<String> = want.keys().cloned().collect();
    assert_eq!(sh_reads(dir.path(), &vars), want, "sh");
    let v2: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| compose_v2_value(l, &BTreeMap::new()))
        .collect();
    assert_eq!(v2, want, "compose v2 oracle");
    if let Some(v1) = compose_v1_reads(dir.path(), &vars) {
        assert_eq!(v1, want, "compose v1");
    }
}

/// The reported attacks: a password that runs a command, one that sets BUILDKIT_HOST,
/// one that breaks the quoting, and a username that splits its htpasswd line. Each is
/// refused by name, and nothing is written.
#[test]
fn hostile_passwords_and_usernames_are_refused() {
    let marker = tempfile::tempdir().unwrap();
    let touched = marker.path().join("pwned");
    let attacks = [
        format!("$(touch {})", touched.display()),
        format!("`touch {}`", touched.display()),
        "x\nBUILDKIT_HOST=tcp://evil:1234".to_string(),
        "it's".to_string(),
        "back\\slash".to_string(),
        "caf\u{e9}".to_string(),
    ];
    for password in &attacks {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("bkenv.toml"), spec_with_password_env()).unwrap();
        let err = init_with(dir.path(), Some(password))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("password") && err.contains("cannot carry safely"),
            "{password:?}: {err}"
        );
        assert!(!dir.path().join(".env").exists(), "{password:?}");
    }
    for username in ["ci\nadmin", "a:b", "#ci", "a b", "o'neil", "$USER"] {
        let dir = tempfile::tempdir().unwrap();
        let spec = bkenv::spec::DEFAULT_SPEC.replace(
            "username = \"bkenv\"",
            &format!("username = {}", toml_edit::Value::from(username)),
        );
        fs::write(dir.path().join("bkenv.toml"), spec).unwrap();
        let err = init_with(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("auth.username"), "{username:?}: {err}");
    }
    assert!(!touched.exists());
}

/// A chosen password using every special character `.env` allows reaches sh, Compose
/// v1, Compose v2, htpasswd and config.json as the same string.
#[test]
fn an_accepted_password_reads_the_same_everywhere() {
    let password = "p a#s\"s!w&o;r|d<1>(2)*?[3]{4}~%^=@,.:/+-_";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("bkenv.toml"), spec_with_password_env()).unwrap();
    init_with(d, Some(password)).unwrap();
    let vars = vec![
        "REGISTRY_AUTH_PASSWORD".to_string(),
        "REGISTRY_AUTH_USERNAME".to_string(),
        "BUILDKIT_HOST".to_string(),
    ];
    let sh = sh_reads(d, &vars);
    assert_eq!(sh["REGISTRY_AUTH_PASSWORD"], password);
    assert_eq!(sh["BUILDKIT_HOST"], "tcp://localhost:1234");
    let text = fs::read_to_string(d.join(".env")).unwrap();
    let v2: BTreeMap<String, String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| compose_v2_value(l, &BTreeMap::new()))
        .collect();
    for v in &vars {
        assert_eq!(v2[v], sh[v], "compose v2 oracle: {v}");
    }
    if let Some(v1) = compose_v1_reads(d, &vars) {
        assert_eq!(v1, sh, "compose v1");
    }
    let htpasswd = fs::read_to_string(d.join("registry/auth/htpasswd")).unwrap();
    let (_, hash) = htpasswd.trim_end().split_once(':').unwrap();
    assert!(bcrypt::verify(password, hash).unwrap());
}

/// The reported YAML injection, and its relatives in every value that reaches a YAML
/// file: refused with the field named.
#[test]
fn values_that_would_add_yaml_keys_are_refused() {
    let nl = "\n    pid: host\n    user: root";
    let cases = [
        (
            "image = \"moby/buildkit:v0.23.2\"",
            format!(
                "image = {}",
                toml_str(&format!("moby/buildkit:v0.23.2{nl}"))
            ),
            "buildkitd.image",
        ),
        (
            "\"tcp://0.0.0.0:1234\"",
            toml_str(&format!("tcp://0.0.0.0:1234{nl}")),
            "buildkitd.listen",
        ),
        (
            "\"127.0.0.1:1234:1234\"",
            toml_str(&format!("127.0.0.1{nl}:1234:1234")),
            "buildkitd.publish",
        ),
        (
            "\"127.0.0.1:5005:5000\"",
            toml_str("127.0.0.1\"\n      - \"0.0.0.0:5005:5000"),
            "registry[0].publish",
        ),
        (
            "image = \"registry:2.8.3\"",
            format!("image = {}", toml_str(&format!("registry:2.8.3{nl}"))),
            "registry[0].image",
        ),
    ];
    for (from, to, field) in cases {
        let spec = bkenv::spec::DEFAULT_SPEC.replacen(from, &to, 1);
        assert_ne!(spec, bkenv::spec::DEFAULT_SPEC, "{from}");
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("bkenv.toml"), spec).unwrap();
        let err = init_with(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
        assert!(!dir.path().join("docker-compose.yml").exists());
    }
    let mirror = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mirror/bkenv.toml"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let upstream = "upstream = \"https://registry-1.docker.io\"";
    assert!(mirror.contains(upstream));
    let hostile = mirror.replace(
        upstream,
        &format!(
            "upstream = {}",
            toml_str("https://registry-1.docker.io\nproxy:\n  username: x")
        ),
    );
    fs::write(dir.path().join("bkenv.toml"), hostile).unwrap();
    let err = init_with(dir.path(), None).unwrap_err().to_string();
    assert!(err.contains("mirror.upstream"), "{err}");
}

fn toml_str(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_string()
}

/// Every example environment: the compose file and every registry config parsed back by
/// two independent YAML parsers equal, key by key, what the model says they hold, so
/// no value can have added or changed a key.
#[test]
fn generated_yaml_parses_back_to_exactly_the_model() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let pyyaml = pyyaml();
    for entry in fs::read_dir(&examples).unwrap() {
        let src = entry.unwrap().path();
        let spec_path = src.join("bkenv.toml");
        if !spec_path.is_file() {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in fs::read_dir(&src).unwrap() {
            let f = f.unwrap().path();
            fs::copy(&f, d.join(f.file_name().unwrap())).unwrap();
        }
        support::run_init(&options(d)).unwrap();
        let (_, spec) = bkenv::spec::load(&d.join("bkenv.toml")).unwrap();
        let env = bkenv::spec::validate(&spec).unwrap();
        let mut files = vec![("docker-compose.yml".to_string(), expected_compose(&env))];
        for reg in &env.registries {
            if let Some(local) = reg.local() {
                files.push((
                    format!("{}/config.yml", local.service),
                    expected_registry_config(&env, reg),
                ));
            }
        }
        for (rel, want) in files {
            let text = fs::read_to_string(d.join(&rel)).unwrap();
            let got: Value = serde_saphyr::from_str(&text).unwrap();
            assert_eq!(got, want, "{}: {rel} (serde-saphyr)", src.display());
            if let Some(py) = &pyyaml {
                let out = Command::new(py)
                    .args([
                        "-c",
                        "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
                    ])
                    .stdin(fs::File::open(d.join(&rel)).unwrap())
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let got: Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(got, want, "{}: {rel} (PyYAML)", src.display());
            }
        }
    }
}

/// A Python with PyYAML (Compose v1 depends on it), or `None` with a loud message.
fn pyyaml() -> Option<std::path::PathBuf> {
    for py in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(py)
            .args(["-c", "import yaml"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py.into());
        }
    }
    tool("python3-yaml-is-missing")
}

fn expected_compose(env: &Environment) -> Value {
    let mut services = serde_json::Map::new();
    let mut volumes = serde_json::Map::new();
    let mut depends = Vec::new();
    for reg in &env.registries {
        let Some(l) = reg.local() else { continue };
        let s = &l.service;
        let mut mounts = vec![
            format!("./{s}/config.yml:/etc/docker/registry/config.yml:ro"),
            format!("./{s}/certs:/certs:ro"),
        ];
        if reg.auth.is_some() {
            mounts.push(format!("./{s}/auth:/auth:ro"));
        }
        mounts.push(format!("{s}-data:/var/lib/registry"));
        let mut svc = json!({"image": l.image, "restart": "unless-stopped", "volumes": mounts});
        if !l.publish.is_empty() {
            svc["ports"] = json!(
                l.publish
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
        }
        services.insert(s.clone(), svc);
        volumes.insert(format!("{s}-data"), json!({}));
        depends.push(s.clone());
    }
    let bk = &env.buildkitd;
    let config = bk.config_path_in_container();
    let mut command = vec![format!("--config={config}")];
    command.extend(bk.listen.iter().map(|a| format!("--addr={a}")));
    let mut svc = json!({
        "image": bk.image,
        "restart": "unless-stopped",
        "volumes": [
            format!("./buildkit/buildkitd.toml:{config}:ro"),
            "./buildkit/certs:/etc/buildkit/certs:ro",
        ],
    });
    if bk.rootless {
        command.push("--oci-worker-no-process-sandbox".into());
        svc["security_opt"] = json!(["seccomp=unconfined", "apparmor=unconfined"]);
    } else {
        svc["privileged"] = json!(true);
    }
    svc["command"] = json!(command);
    if !bk.publish.is_empty() {
        svc["ports"] = json!(
            bk.publish
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        );
    }
    if !depends.is_empty() {
        svc["depends_on"] = json!(depends);
    }
    services.insert(bk.service.clone(), svc);
    let mut doc = json!({"version": "3.8", "services": services});
    if !volumes.is_empty() {
        doc["volumes"] = Value::Object(volumes);
    }
    doc
}

fn expected_registry_config(_env: &Environment, reg: &bkenv::model::Registry) -> Value {
    let l = reg.local().unwrap();
    let mut doc = json!({
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}, "delete": {"enabled": true}},
        "http": {
            "addr": format!(":{}", l.port),
            "tls": {"certificate": "/certs/registry.crt", "key": "/certs/registry.key", "minimumtls": "tls1.2"},
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
    });
    if reg.auth.is_some() {
        doc["auth"] = json!({"htpasswd": {"realm": l.service, "path": "/auth/htpasswd"}});
    }
    if let Role::Mirror { upstream, .. } = &reg.role {
        doc["proxy"] = json!({"remoteurl": upstream});
    }
    doc
}

/// The YAML escaping itself, for what validation would refuse anyway: every nasty string
/// parses back to itself.
#[test]
fn yaml_quoting_round_trips_any_string() {
    let nasty = [
        "plain",
        "a: b",
        "- x",
        "#c",
        "\"q\"",
        "back\\slash",
        "line\nbreak",
        "tab\tx",
        "\u{7}bell",
        "caf\u{e9}",
        "\u{2028}sep",
        "\u{1f600}",
        "null",
        "yes",
        "0.1",
        "",
    ];
    for s in nasty {
        let doc = format!("k: {}\n", bkenv::render::yaml_quote(s));
        let got: BTreeMap<String, String> = serde_saphyr::from_str(&doc).unwrap();
        assert_eq!(got["k"], s, "{doc}");
    }
}

/// A trust file (0644, copied to every client) never carries a key: a CA certificate
/// file with the CA key appended, or an external `ca_file` holding a key, is refused,
/// and a certificate file with extra text is copied as its certificates only.
#[test]
fn trust_files_get_certificates_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::run_init(&options(d)).unwrap();
    let cert = fs::read_to_string(d.join("ca/ca.crt")).unwrap();
    let key = fs::read_to_string(d.join("ca/ca.key")).unwrap();
    fs::write(d.join("ca/ca.crt"), format!("{cert}{key}")).unwrap();
    let err = support::run_init(&options(d)).unwrap_err().to_string();
    assert!(err.contains("private key"), "{err}");
    assert_no_key_in_readable_files(d, "ca/ca.crt");

    fs::write(d.join("ca/ca.crt"), format!("# my CA\n{cert}")).unwrap();
    let mut opts = options(d);
    opts.force = true;
    support::run_init(&opts).unwrap();
    for trust in [
        "client/ca.crt",
        "buildkit/certs/ca.crt",
        "certs.d/registry:5000/ca.crt",
    ] {
        assert_eq!(fs::read_to_string(d.join(trust)).unwrap(), cert, "{trust}");
    }

    let ext = tempfile::tempdir().unwrap();
    let e = ext.path();
    let spec = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/external-registry/bkenv.toml"),
    )
    .unwrap();
    fs::write(e.join("bkenv.toml"), &spec).unwrap();
    let ca_file = spec
        .lines()
        .find_map(|l| l.trim().strip_prefix("ca_file = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("the example names a ca_file");
    fs::create_dir_all(e.join(&ca_file).parent().unwrap()).unwrap();
    fs::write(e.join(&ca_file), format!("{cert}{key}")).unwrap();
    let err = support::run_init(&options(e)).unwrap_err().to_string();
    assert!(err.contains("private key"), "{err}");
    assert_no_key_in_readable_files(e, &ca_file);
}

/// No file readable by others holds a private key, except `planted`, which the test put
/// there.
fn assert_no_key_in_readable_files(dir: &Path, planted: &str) {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let mode = entry.metadata().unwrap().permissions().mode();
        let text = fs::read_to_string(entry.path()).unwrap_or_default();
        if mode & 0o044 != 0 && entry.path() != dir.join(planted) {
            assert!(
                !text.contains("PRIVATE KEY"),
                "{} (mode {mode:o}) holds a key",
                entry.path().display()
            );
        }
    }
}

/// The buildx wiring in a directory whose name is hostile to `sh`, to buildx's CSV
/// option parser and to TOML (a quote, `$`, a comma, double quotes, a space): the real
/// `sh` runs the generated script, the real buildx (`create --driver remote`, which
/// needs no daemon) stores exactly the absolute paths, and the builder config names the
/// CA by exactly its path.
#[test]
fn buildx_wiring_survives_a_hostile_directory_name() {
    let Some(buildx) = buildx_bin() else { return };
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("it's $HOME,x \"y\"");
    fs::create_dir(&dir).unwrap();
    init_with(&dir, None).unwrap();
    let abs = fs::canonicalize(&dir).unwrap().display().to_string();

    let shim = support::docker_shim(&buildx);
    let state = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg(dir.join("buildx/create-remote.sh"))
        .env("PATH", format!("{}:/usr/bin:/bin", shim.path().display()))
        .env("DOCKER_CONFIG", state.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stored: Value = serde_json::from_slice(
        &fs::read(state.path().join("buildx/instances").join(&name)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        stored["Nodes"][0]["DriverOpts"],
        json!({ "cacert": format!("{abs}/client/ca.crt") })
    );
    let cfg: toml_edit::DocumentMut = fs::read_to_string(dir.join("buildx/builder.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        cfg["registry"]["registry:5000"]["ca"][0].as_str(),
        Some(format!("{abs}/buildkit/certs/ca.crt").as_str())
    );
}

/// docker-buildx from `BKENV_BUILDKIT_BIN` or `PATH` (a loud skip, or a failure in CI).
fn buildx_bin() -> Option<std::path::PathBuf> {
    match std::env::var_os("BKENV_BUILDKIT_BIN") {
        Some(d) => Some(Path::new(&d).join("docker-buildx")),
        None => tool("docker-buildx"),
    }
}
