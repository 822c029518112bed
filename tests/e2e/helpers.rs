//! Credential helpers with the real buildctl against `bkenv doctor --probe`: the
//! default environment's config.json hands `registry:5000` to `docker-credential-bke2e`
//! (`credHelpers`), a script on the client's PATH. buildctl asks it as the docker CLI
//! does; doctor asks it only with `--credential-helpers`, and the verdicts agree:
//! the right secret (pushed / clean; BK724 without the opt-in), a stale one (401 /
//! BK717), and a failing helper (`error getting credentials` / BK725).

use crate::buildkit::{client_path, context};
use crate::env::{CLIENT_TIMEOUT, Env, Up, findings};
use crate::sandbox::run_split;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const NAME: &str = "registry:5000";

/// Writes `docker-credential-bke2e` answering `get` with `script`, and points
/// config.json at it.
fn helper(env: &Env, dir: &Path, script: &str) {
    let path = dir.join("docker-credential-bke2e");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("mode");
    env.write(
        "docker/config.json",
        &serde_json::json!({ "auths": {}, "credHelpers": { NAME: "bke2e" } }).to_string(),
    );
}

fn answer(user: &str, secret: &str) -> String {
    let json = serde_json::json!({ "ServerURL": NAME, "Username": user, "Secret": secret });
    format!("cat >/dev/null; echo '{json}'")
}

fn push(env: &Env, up: &Up, path: &str, tag: &str) -> (bool, String) {
    let ctx = context("scratch", &format!("credential helper: {tag}\n"));
    let meta = tempfile::tempdir().expect("metadata dir");
    let image = format!("{NAME}/bkenv-e2e:{tag}");
    let m = meta.path().join("m.json");
    up.buildctl_build_with(env, &ctx, &image, &m, &[], &[("PATH", Path::new(path))])
}

/// The live codes of `doctor --probe` (with `--credential-helpers` when `run`).
fn live(env: &Env, up: &Up, path: &str, run: bool) -> Vec<String> {
    let mut cmd = up.client(assert_cmd::cargo::cargo_bin("bkenv"));
    cmd.args(["doctor", "--probe", "--format", "json"])
        .env("PATH", path)
        .env("NO_COLOR", "1");
    if run {
        cmd.arg("--credential-helpers");
    }
    cmd.arg(env.root());
    let (_, json, err) = run_split(&mut cmd, CLIENT_TIMEOUT);
    assert!(!json.is_empty(), "bkenv doctor: {err}");
    findings(&json)
        .into_iter()
        .map(|f| f.code)
        .filter(|c| c.starts_with("BK7"))
        .collect()
}

#[test]
fn credential_helpers_doctor_agrees_with_buildctl() {
    if !crate::buildkit::present() {
        return;
    }
    let base = Env::init(None);
    let creds = base.credentials(NAME).expect("credentials");
    let (user, secret) = creds.split_once(':').expect("user:password");
    let cases = [
        (
            "helper-good",
            answer(user, secret),
            true,
            Vec::<&str>::new(),
        ),
        (
            "helper-stale",
            answer(user, "stale-secret"),
            false,
            vec!["BK717"],
        ),
        (
            "helper-fails",
            "echo 'error: the store is locked'; exit 1".to_string(),
            false,
            vec!["BK725"],
        ),
    ];
    for (tag, script, pushes, codes) in cases {
        let env = base.copy();
        let bin = tempfile::tempdir().expect("helper dir");
        helper(&env, bin.path(), &script);
        let path = format!("{}:{}", bin.path().display(), client_path());
        let mut up = env.up();
        up.start_buildkitd(&env).expect("buildkitd starts");
        let (ok, out) = push(&env, &up, &path, tag);
        assert_eq!(ok, pushes, "{tag}: buildctl: {out}");
        if tag == "helper-stale" {
            assert!(out.contains("401 Unauthorized"), "{tag}: {out}");
        }
        if tag == "helper-fails" {
            // BK725's `prevents` is this text.
            assert!(
                out.contains(
                    "error getting credentials - err: exit status 1, out: `error: the store is locked`"
                ),
                "{tag}: {out}"
            );
        }
        assert_eq!(
            live(&env, &up, &path, true),
            codes,
            "{tag}: buildctl: {out}"
        );
        // Without the opt-in the helper is not run: a note, whatever it would say.
        assert_eq!(live(&env, &up, &path, false), ["BK724"], "{tag}");
    }
    eprintln!(
        "credential helpers: buildctl and doctor --probe --credential-helpers agree on 3 helpers (right secret: pushed / clean; stale: 401 / BK717; failing: error getting credentials / BK725); without the flag doctor notes BK724"
    );
}
