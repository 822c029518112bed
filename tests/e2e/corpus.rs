//! The corpus of issue 14 against the real daemon: each buildkitd.toml of
//! tests/fixtures/corpus is loaded by buildkitd v0.23.2 and must load or fail as
//! `verdicts.toml` pins it, with the GC policy `buildctl debug workers -v` shows; and
//! `doctor --fix` turns `[registry.registry:5000]`, which the daemon refuses, into a file
//! it loads (issue 15 item 1).

use crate::buildkit;
use crate::sandbox::{Proc, WAIT, run_for, wait_until};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Deserialize)]
struct Case {
    daemon: String,
    #[serde(default)]
    gc: Vec<String>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

/// A buildkitd serving on a unix socket in its own directory.
struct Daemon {
    _proc: Proc,
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts the real daemon with `config` and extra `flags`: `Ok` once it serves, or
/// `Err(its log)` when it exits. It runs in a private mount namespace with its own
/// `/run`, so nothing it creates there meets another daemon on this machine.
fn start(config: &Path, flags: &[&str]) -> Result<Daemon, String> {
    let Some(buildkitd) = buildkit::bin("buildkitd") else {
        return Err("no buildkitd".into());
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("buildkitd.sock");
    let log = dir.path().join("log");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs tmpfs /run && exec \"$0\" \"$@\"")
        .arg(&buildkitd)
        .arg("--config")
        .arg(config)
        .arg(format!("--addr=unix://{}", sock.display()))
        .arg("--root")
        .arg(dir.path().join("root"))
        .args([
            "--oci-worker-snapshotter",
            "native",
            "--containerd-worker",
            "false",
        ])
        .args(flags)
        .env("PATH", buildkit::client_path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut daemon = Proc::spawn("buildkitd", &mut cmd);
    let _ = wait_until("buildkitd socket or exit", || {
        sock.exists() || daemon.exited()
    });
    if !sock.exists() {
        let _ = wait_until("buildkitd exit", || daemon.exited());
        return Err(std::fs::read_to_string(&log).unwrap_or_default());
    }
    Ok(Daemon {
        _proc: daemon,
        sock,
        _dir: dir,
    })
}

/// `buildctl` against `daemon`: (success, output).
fn buildctl(daemon: &Daemon, args: &[&str]) -> (bool, String) {
    let buildctl = buildkit::bin("buildctl").expect("buildctl");
    run_for(
        Command::new(buildctl)
            .arg(format!("--addr=unix://{}", daemon.sock.display()))
            .args(args),
        WAIT,
    )
}

/// What the real daemon does with `config`: `Ok(workers -v output)` once it serves, or
/// `Err(its log)` when it exits.
fn load(config: &Path) -> Result<String, String> {
    let daemon = start(config, &[])?;
    let (ok, out) = buildctl(&daemon, &["debug", "workers", "-v"]);
    assert!(ok, "buildctl debug workers: {out}");
    Ok(out)
}

#[test]
fn corpus_configs_as_the_real_daemon_loads_them() {
    if !buildkit::present() {
        return;
    }
    let text = std::fs::read_to_string(corpus().join("verdicts.toml")).unwrap();
    let cases: BTreeMap<String, Case> = toml_edit::de::from_str(&text).unwrap();
    let mut checked = 0;
    for (name, case) in &cases {
        let config = corpus().join(name).join("buildkitd.toml");
        if !config.is_file() || case.daemon.starts_with("skip") || case.daemon.starts_with("n/a") {
            continue;
        }
        checked += 1;
        match (case.daemon.strip_prefix("fails: "), load(&config)) {
            (None, Ok(out)) => {
                assert_eq!(case.daemon, "loads", "{name}");
                for line in &case.gc {
                    assert!(out.contains(line.as_str()), "{name}: no `{line}` in\n{out}");
                }
            }
            (Some(says), Err(log)) => {
                assert!(log.contains(says), "{name}: `{says}` not in\n{log}");
                assert!(log.contains("failed to parse config"), "{name}: {log}");
            }
            (want, got) => panic!(
                "{name}: pinned `{}`, the daemon: {got:?}",
                want.unwrap_or("loads")
            ),
        }
    }
    eprintln!("corpus: {checked} configs loaded by the real buildkitd as pinned");
    assert!(checked >= 15, "{checked}");
}

/// `[registry.registry:5000]` is a TOML syntax error the daemon refuses; `doctor --fix`
/// quotes the key, and the daemon loads the result.
#[test]
fn unquoted_registry_key_fixed_by_doctor_loads_in_the_real_daemon() {
    if !buildkit::present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("buildkitd.toml");
    std::fs::write(&config, "[registry.registry:5000]\n  http = true\n").unwrap();
    let refused = load(&config).expect_err("the daemon loads an unquoted host:port key");
    assert!(refused.contains("failed to parse config"), "{refused}");
    let out = Command::new(assert_cmd::cargo::cargo_bin("bkenv"))
        .args(["doctor", "--fix", "."])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("fixed: buildkitd.toml"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "[registry.\"registry:5000\"]\n  http = true\n"
    );
    load(&config).unwrap_or_else(|log| panic!("the fixed file does not load: {log}"));
}

/// BK013 (a size or duration BuildKit cannot parse) holds exactly where the real daemon
/// refuses the file, for the spellings seen in public configs and the edges of
/// `units.RAMInBytes` and `time.ParseDuration`.
#[test]
fn size_and_duration_verdicts_agree_with_the_daemon() {
    if !buildkit::present() {
        return;
    }
    let sizes = [
        "\"10GiB\"",
        "\"10 G\"",
        "\"1.5GB\"",
        "\"10gb\"",
        "\"10TB\"",
        "\"1e9\"",
        "10.5",
        "\"10 GB \"",
        "\"50 %\"",
        "-5",
        "\"0x10\"",
        "true",
    ];
    let durations = [
        "\"48h\"",
        "172800",
        "\"1h30m\"",
        "\"172800\"",
        "\"-1h\"",
        "0",
        "\"2d\"",
        "1.5",
        "\"1w\"",
        "\"48H\"",
    ];
    let configs = sizes
        .iter()
        .map(|v| format!("[worker.oci]\n  gc = true\n  reservedSpace = {v}\n"))
        .chain(durations.iter().map(|v| {
            format!("[worker.oci]\n  gc = true\n[[worker.oci.gcpolicy]]\n  all = true\n  keepDuration = {v}\n")
        }));
    let mut disagree = Vec::new();
    for text in configs {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("buildkitd.toml");
        std::fs::write(&config, &text).unwrap();
        let inputs = bkenv::doctor::DoctorInputs::default();
        let report =
            bkenv::doctor::run(dir.path(), &inputs, time::OffsetDateTime::now_utc()).unwrap();
        let doctor_says_fails = report.findings.iter().any(|f| f.code() == "BK013");
        let daemon_fails = load(&config).is_err();
        if doctor_says_fails != daemon_fails {
            disagree.push(format!(
                "{text}: doctor BK013 {doctor_says_fails}, daemon fails {daemon_fails}"
            ));
        }
    }
    assert!(disagree.is_empty(), "{disagree:#?}");
}

/// BK306: flags in `BUILDKITD_FLAGS` never reach buildkitd. Without
/// `--allow-insecure-entitlement network.host` on its command line the real daemon
/// refuses `--allow network.host` with the text BK306 predicts; with it, the build
/// passes; doctor names the variable on the bad fixture and not on the good one.
#[test]
fn buildkitd_flags_in_the_environment_are_not_applied() {
    if !buildkit::present() {
        return;
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checks/BK306");
    let inputs = bkenv::doctor::DoctorInputs::default();
    let now = time::OffsetDateTime::now_utc();
    let bad = bkenv::doctor::run(&fixtures.join("bad"), &inputs, now).unwrap();
    let bk306: Vec<_> = bad
        .findings
        .iter()
        .filter(|f| f.code() == "BK306")
        .collect();
    assert_eq!(bk306.len(), 1, "{:#?}", bad.findings);
    let predicted = bk306[0].prevents.clone().unwrap_or_default();
    let good = bkenv::doctor::run(&fixtures.join("good"), &inputs, now).unwrap();
    assert!(good.findings.iter().all(|f| f.code() != "BK306"));

    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("Dockerfile"), "FROM scratch\nCOPY a /a\n").unwrap();
    std::fs::write(work.path().join("a"), "a\n").unwrap();
    std::fs::write(work.path().join("buildkitd.toml"), "").unwrap();
    let ctx = format!("context={}", work.path().display());
    let df = format!("dockerfile={}", work.path().display());
    let build = [
        "build",
        "--frontend",
        "dockerfile.v0",
        "--local",
        &ctx,
        "--local",
        &df,
        "--allow",
        "network.host",
    ];
    let config = work.path().join("buildkitd.toml");
    // What the image runs: buildkitd with its arguments, the variable ignored.
    let plain = start(&config, &[]).unwrap_or_else(|log| panic!("buildkitd: {log}"));
    let (ok, out) = buildctl(&plain, &build);
    assert!(
        !ok && out.contains(&predicted),
        "`{predicted}` not in\n{out}"
    );
    drop(plain);
    let flagged = start(&config, &["--allow-insecure-entitlement", "network.host"])
        .unwrap_or_else(|log| panic!("buildkitd: {log}"));
    let (ok, out) = buildctl(&flagged, &build);
    assert!(ok, "{out}");
}
