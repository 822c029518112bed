//! The commands end to end through the binary: doctor --probe against the real registry,
//! the same exit code in every format, and no secret in any output.

mod support;

use assert_cmd::Command;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::{fresh, tool};

/// The real distribution registry serving `dir`'s generated certificate and htpasswd on
/// an ephemeral loopback port (paths overridden with its documented REGISTRY_* variables).
struct Registry {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Registry {
    fn start(bin: &Path, dir: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(bin)
            .args(["serve", "registry/config.yml"])
            .current_dir(dir)
            .env("REGISTRY_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "REGISTRY_HTTP_TLS_CERTIFICATE",
                dir.join("registry/certs/registry.crt"),
            )
            .env(
                "REGISTRY_HTTP_TLS_KEY",
                dir.join("registry/certs/registry.key"),
            )
            .env(
                "REGISTRY_AUTH_HTPASSWD_PATH",
                dir.join("registry/auth/htpasswd"),
            )
            .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
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

/// Runs bkenv inside `dir` on `.`, as a user in the environment does: report paths are
/// named from the working directory (tests/report_paths.rs covers other directories).
fn bkenv(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("bkenv")
        .unwrap()
        .args(args)
        .arg(".")
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Reissues the registry certificate for `localhost` only, with the same CA, via openssl.
fn plant_wrong_name(openssl: &Path, d: &Path) {
    let run = |args: &[&str]| {
        let ok = std::process::Command::new(openssl)
            .args(args)
            .current_dir(d)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "openssl {args:?}");
    };
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-new",
        "-key",
        "registry/certs/registry.key",
        "-subj",
        "/CN=localhost",
        "-out",
        "w.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "w.csr",
        "-CA",
        "ca/ca.crt",
        "-CAkey",
        "ca/ca.key",
        "-CAcreateserial",
        "-days",
        "90",
        "-extfile",
        "ext.cnf",
        "-out",
        "registry/certs/registry.crt",
    ]);
    for f in ["ext.cnf", "w.csr", "ca/ca.srl"] {
        let _ = std::fs::remove_file(d.join(f));
    }
}

#[test]
fn doctor_probe_names_the_presented_sans_the_dialled_name_and_the_fix_once() {
    let (Some(reg_bin), Some(openssl)) = (tool("docker-registry"), tool("openssl")) else {
        return;
    };
    let (dir, _) = fresh(None);
    let d = dir.path();
    let good = Registry::start(&reg_bin, d);
    let resolve = format!("registry:5000=127.0.0.1:{}", good.port);
    let probe = [
        "doctor",
        "--probe",
        "--timeout",
        "2",
        "--resolve",
        &resolve,
        "-A",
        "BK701",
        "--format",
        "json",
    ];
    let (code, out, err) = bkenv(d, &probe);
    assert_eq!(code, 0, "a good environment has no findings: {out}{err}");
    drop(good);

    plant_wrong_name(&openssl, d);
    let bad = Registry::start(&reg_bin, d);
    let resolve = format!("registry:5000=127.0.0.1:{}", bad.port);
    let base = [
        "doctor",
        "--probe",
        "--timeout",
        "2",
        "--resolve",
        &resolve,
        "-A",
        "BK701",
    ];
    let (code, out, _) = bkenv(d, &base);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.matches("error[").count(),
        1,
        "one finding for one fault:\n{out}"
    );
    assert!(out.contains("error[BK706]"), "{out}");
    assert!(
        out.contains("DNS:localhost") && out.contains("BuildKit dials `registry`"),
        "{out}"
    );
    assert!(
        out.contains("help: reissue the registry certificate"),
        "{out}"
    );

    let gh: Vec<String> = {
        let args: Vec<&str> = base.iter().copied().chain(["--format", "github"]).collect();
        bkenv(d, &args)
            .1
            .lines()
            .filter(|l| l.starts_with("::"))
            .map(String::from)
            .collect()
    };
    assert_eq!(gh.len(), 1, "{gh:?}");
    let toml = std::fs::read_to_string(d.join("buildkit/buildkitd.toml")).unwrap();
    let line = toml
        .lines()
        .position(|l| l.contains("[registry.\"registry:5000\"]"))
        .unwrap()
        + 1;
    assert!(
        gh[0].starts_with(&format!(
            "::error file=buildkit/buildkitd.toml,line={line},"
        )),
        "{}",
        gh[0]
    );
}

#[test]
fn exit_code_is_the_same_in_every_format() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    // A mistake static doctor catches: the grpc address as a string.
    let toml = std::fs::read_to_string(d.join("buildkit/buildkitd.toml")).unwrap();
    let (start, rest) = toml.split_once("address = [").unwrap();
    let (_, after) = rest.split_once(']').unwrap();
    std::fs::write(
        d.join("buildkit/buildkitd.toml"),
        format!("{start}address = \"tcp://0.0.0.0:1234\"{after}"),
    )
    .unwrap();
    for format in ["human", "json", "sarif", "github", "gitlab"] {
        for cmd in [
            &["doctor", "--format", format][..],
            &["preflight", "--offline", "--format", format][..],
        ] {
            let (code, out, err) = bkenv(d, cmd);
            assert_eq!(code, 1, "{cmd:?}: {out}{err}");
            assert!(out.contains("BK002"), "{cmd:?}: {out}");
        }
    }
    let (code, out, _) = bkenv(d, &["doctor", "-A", "BK002"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn doctor_fix_repairs_and_reports_what_it_changed() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let path = d.join("buildkit/buildkitd.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        toml.replace(
            "ca = [\"/etc/buildkit/certs/ca.crt\"]",
            "ca = \"/etc/buildkit/certs/ca.crt\" # ours",
        ),
    )
    .unwrap();
    // A check silenced with -A is not fixed either.
    let (code, out, _) = bkenv(d, &["doctor", "--fix", "-A", "BK002"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("fixed:"), "{out}");
    let (code, out, _) = bkenv(d, &["doctor", "--fix"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("fixed: buildkit/buildkitd.toml"), "{out}");
    let fixed = std::fs::read_to_string(&path).unwrap();
    assert!(
        fixed.contains("ca = [\"/etc/buildkit/certs/ca.crt\"] # ours"),
        "{fixed}"
    );
}

#[test]
fn no_secret_appears_in_any_output() {
    let (dir, outcome) = fresh(None);
    let d = dir.path();
    let password = outcome.passwords[&0].clone();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("bkenv:{password}"));
    let keys: Vec<String> = [
        "ca/ca.key",
        "registry/certs/registry.key",
        "buildkit/certs/server.key",
    ]
    .iter()
    .map(|k| std::fs::read_to_string(d.join(k)).unwrap())
    .map(|pem| pem.lines().nth(1).unwrap().to_string()) // a line of base64 key material
    .collect();
    // Plant findings that point into secret-holding files.
    std::fs::write(
        d.join("registry/auth/htpasswd"),
        format!("bkenv:{password}\n"),
    )
    .unwrap();
    let report = d.join("report.out");
    let report_arg = report.to_str().unwrap().to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["doctor"],
        vec!["doctor", "--format", "json"],
        vec!["doctor", "--format", "sarif"],
        vec!["doctor", "--format", "github"],
        vec!["doctor", "--format", "gitlab"],
        vec![
            "preflight",
            "--offline",
            "--format",
            "json",
            "--output",
            &report_arg,
        ],
        vec!["doctor", "--probe", "--timeout", "0.5"],
    ];
    for args in &runs {
        let (_, out, err) = bkenv(d, args);
        let report = std::fs::read_to_string(&report).unwrap_or_default();
        for text in [&out, &err, &report] {
            assert!(!text.contains(&password), "{args:?} printed the password");
            assert!(
                !text.contains(&b64),
                "{args:?} printed the base64 credential"
            );
            for k in &keys {
                assert!(!text.contains(k.as_str()), "{args:?} printed key material");
            }
        }
    }
    let init = Command::cargo_bin("bkenv")
        .unwrap()
        .arg("init")
        .arg(d)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&init.stdout).into_owned() + &String::from_utf8_lossy(&init.stderr);
    assert!(
        !text.contains(&password),
        "init printed the password without --show-password"
    );
}

/// Structured flags are checked when the command line is parsed, before anything runs
/// (`--resolve` even without `--probe`): exit 2 and what the value should look like.
#[test]
fn malformed_structured_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (
            &["doctor", "--resolve", "registry"][..],
            "`registry` is not NAME:PORT=ADDR:PORT",
        ),
        (
            &["doctor", "--probe", "--timeout", "0"][..],
            "`0` is not a positive number of seconds",
        ),
        (
            &["preflight", "--offline", "--build-arg", "BASE"][..],
            "`BASE` is not KEY=VALUE",
        ),
    ] {
        let (code, out, err) = bkenv(dir.path(), args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}

/// Source snippets redact the values of secret-named keys, whatever the file: before,
/// only lines matching a few upper-case keywords were hidden, so buildkitd.toml's
/// `auth = "..."` and `credentials = "..."` (unknown keys, BK004) were printed verbatim.
#[test]
fn snippets_redact_secret_values_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("buildkit")).unwrap();
    std::fs::write(
        d.join("buildkit/buildkitd.toml"),
        "[registry.\"registry:5000\"]\nauth = \"dXNlcjpodW50ZXIy\"\ncredentials = 'user:hunter2'\n",
    )
    .unwrap();
    for format in ["human", "json", "sarif", "github", "gitlab"] {
        let (code, out, err) = bkenv(d, &["doctor", "--format", format]);
        assert_eq!(code, 0, "{format}: {out}{err}");
        assert!(out.contains("BK004"), "{format}: {out}");
        for secret in ["dXNlcjpodW50ZXIy", "hunter2"] {
            assert!(!out.contains(secret), "{format} shows {secret}: {out}");
        }
    }
    let (_, out, _) = bkenv(d, &["doctor"]);
    assert!(out.contains("2 | auth = \"<redacted>\""), "{out}");
    assert!(out.contains("3 | credentials = '<redacted>'"), "{out}");
}

/// `init` in a project directory (a hand-written compose file and `.env`) fails with
/// exit 2, says the files are not bkenv's and what to do, prints no next steps, and
/// writes nothing.
#[test]
fn init_in_a_project_directory_exits_2_with_the_ways_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("docker-compose.yml"), "services: {}\n").unwrap();
    std::fs::write(d.join(".env"), "A=1\n").unwrap();
    let (code, out, err) = bkenv(d, &["init"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "no summary, no next steps: {out}");
    assert!(
        err.contains("docker-compose.yml and .env exist and were not written by bkenv"),
        "{err}"
    );
    assert!(
        err.contains("--force") && err.contains("bkenv init ~/bkenv/demo"),
        "{err}"
    );
    assert!(!err.contains("kept"), "{err}");
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 2, "nothing written");
}

/// A directory with nothing to check is not a clean environment: doctor and preflight
/// say so (BK902) and exit 1 in every format; `-A BK902` allows it explicitly.
#[test]
fn nothing_to_check_is_not_a_clean_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("README.md"), "not an environment\n").unwrap();
    for args in [
        &["doctor"][..],
        &["doctor", "--format", "json"][..],
        &["preflight", "--offline"][..],
        &["preflight", "--offline", "--format", "sarif"][..],
        &["preflight", "--offline", "--image", "registry:5000/app:1"][..],
    ] {
        let (code, out, err) = bkenv(d, args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(out.contains("BK902"), "{args:?}: {out}");
        if !args.contains(&"--format") {
            assert!(!out.contains("no problems found"), "{args:?}: {out}");
        }
    }
    let (code, out, _) = bkenv(d, &["doctor"]);
    assert_eq!(code, 1);
    assert!(out.contains("nothing to check in"), "{out}");
    let (code, out, err) = bkenv(d, &["doctor", "-A", "BK902"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// An environment that is simply not up: BK701's help says to start it, with the
/// Compose command that exists on this machine (both forms when neither does).
#[test]
fn bk701_for_an_environment_not_up_says_to_start_it() {
    let (dir, _) = fresh(None);
    let d = dir.path();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let resolve = |name: &str| format!("{name}=127.0.0.1:{closed}");
    let (code, out, err) = bkenv(
        d,
        &[
            "doctor",
            "--probe",
            "--timeout",
            "2",
            "--resolve",
            &resolve("registry:5000"),
            "--resolve",
            &resolve("localhost:1234"),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let helps: Vec<&str> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "BK701")
        .filter_map(|f| f["help"].as_str())
        .collect();
    // buildkitd (BUILDKIT_HOST) and the registry name buildkitd dials.
    assert_eq!(helps.len(), 2, "{out}");
    for h in helps {
        assert!(
            h.starts_with("if the environment is simply not up, start it: `docker")
                && h.contains("up -d` where docker-compose.yml is; otherwise "),
            "{h}"
        );
    }
}
