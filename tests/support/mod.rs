//! Shared test helpers: run init in a temp dir with a fixed clock, find real tools.
#![allow(dead_code)]

use bkenv::init::{InitOptions, InitOutcome};
use bkenv::output::Writer;
use bkenv::spec::Overrides;
use std::path::{Path, PathBuf};
use std::process::Command;
use time::OffsetDateTime;
use time::macros::datetime;

/// The fixed clock tests run at.
pub const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

pub fn options(dir: &Path) -> InitOptions {
    InitOptions {
        dir: dir.to_path_buf(),
        overrides: Overrides::default(),
        new_ca: false,
        force: false,
        dry_run: false,
        now: NOW,
        uid: bkenv::safefs::euid(),
        lock_wait: bkenv::lock::DEFAULT_WAIT,
        renewal: bkenv::init::Renewal::default(),
    }
}

pub fn run_init(opts: &InitOptions) -> bkenv::error::Result<InitOutcome> {
    let rng = ring::rand::SystemRandom::new();
    // Specs that read a password from the environment get a fixed one.
    let env = |var: &str| {
        var.ends_with("_PASSWORD")
            .then(|| "password-from-env".to_string())
    };
    bkenv::init::run(opts, &rng, &env, &mut Writer::new())
}

/// A fresh environment from `spec` (the default spec when `None`).
pub fn fresh(spec: Option<&str>) -> (tempfile::TempDir, InitOutcome) {
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(spec) = spec {
        std::fs::write(dir.path().join("bkenv.toml"), spec).expect("write spec");
    }
    let outcome = run_init(&options(dir.path())).expect("init");
    (dir, outcome)
}

/// Path of a real tool, or `None` with a loud message. Under CI a missing tool fails.
pub fn tool(name: &str) -> Option<PathBuf> {
    tool_or(name, "install it (see .ci/run)")
}

/// `tool`, with `how` telling the user how to get it.
pub fn tool_or(name: &str, how: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "{name} is required in CI but not installed"
        );
        eprintln!("SKIPPED: `{name}` is not installed; {how} to run this test");
    }
    found
}

/// Runs a command, returning (success, stdout+stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("spawn");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Every file under `root` with its bytes, sorted, for byte-identical comparisons.
pub fn snapshot_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .expect("prefix")
                .display()
                .to_string();
            out.push((rel, std::fs::read(entry.path()).expect("read")));
        }
    }
    out
}

/// Replaces secrets and per-run values so a generated file can be snapshotted.
pub fn redact(text: &str, passwords: &[&str]) -> String {
    let mut out = String::new();
    let mut in_pem = false;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            in_pem = true;
            out.push_str(line);
            out.push_str("\n[base64 redacted]\n");
            continue;
        }
        if line.starts_with("-----END ") {
            in_pem = false;
        }
        if in_pem {
            continue;
        }
        let mut l = line.to_string();
        if let Some(i) = l.find("\"auth\": \"") {
            l = format!(
                "{}\"auth\": \"[redacted]\"{}",
                &l[..i],
                if l.ends_with(',') { "," } else { "" }
            );
        }
        if let Some(i) = l.find(":$2y$") {
            l = format!("{}:$2y$[redacted]", &l[..i]);
        }
        for p in passwords {
            l = l.replace(p, "[password]");
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// `openssl verify` of `leaf` against the environment CA for a host name or IP.
pub fn openssl_verify(
    openssl: &Path,
    dir: &Path,
    leaf: &str,
    name: &str,
    purpose: &str,
) -> (bool, String) {
    let mut cmd = Command::new(openssl);
    cmd.arg("verify")
        .arg("-CAfile")
        .arg(dir.join("ca/ca.crt"))
        .arg("-purpose")
        .arg(purpose);
    // Certificates are issued at the test's fixed clock; verify at that time too.
    cmd.arg("-attime").arg(
        (NOW + time::Duration::hours(1))
            .unix_timestamp()
            .to_string(),
    );
    // An IP (bracketed as in `[::1]:5005` or not) is checked against IP SANs.
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        cmd.arg("-verify_ip").arg(bare);
    } else if !name.is_empty() {
        cmd.arg("-verify_hostname").arg(name);
    }
    run(cmd.arg(dir.join(leaf)))
}

/// A directory holding `docker`: a stand-in for the Docker CLI that hands `buildx ...`
/// to the real plugin at `plugin`, as the CLI does, so generated scripts run unchanged.
pub fn docker_shim(plugin: &Path) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("docker shim dir");
    let docker = dir.path().join("docker");
    let quoted = plugin.display().to_string().replace('\'', "'\\''");
    std::fs::write(
        &docker,
        format!("#!/bin/sh\n[ \"$1\" = buildx ] && shift\nexec '{quoted}' \"$@\"\n"),
    )
    .expect("docker shim");
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755))
        .expect("chmod docker shim");
    dir
}

/// A `bkenv doctor --format json` run: the codes of its findings, its exit status and
/// its standard output (panics, with stderr, when stdout is not the JSON report).
pub fn doctor_json(out: &std::process::Output) -> (Vec<String>, i32, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let codes = json["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (codes, out.status.code().unwrap_or(-1), stdout)
}
