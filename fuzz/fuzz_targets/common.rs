//! What each fuzz target runs on one input. Shared by the cargo-fuzz binaries and by
//! `tests/fuzz_regressions.rs` (which includes this file), so a kept crashing input
//! replays through exactly the code that found it.

use bkenv::creds::{DockerConfig, key_host};
use bkenv::doctor::discover::{FileKind, classify};
use bkenv::doctor::load::{Snapshot, add_file};
use bkenv::doctor::paths::PathIndex;
use bkenv::doctor::refs;
use bkenv::pki::{key_matches_cert, read_certs, read_private_key};
use std::path::{Path, PathBuf};

/// Every target, in the order `fuzz/run.sh` runs them.
#[allow(dead_code)]
pub const TARGETS: &[&str] = &[
    "buildkitd_toml",
    "compose_yaml",
    "docker_config",
    "registry_config",
    "htpasswd",
    "pem",
    "env",
    "refs",
    "spec",
    "snapshot",
];

/// Runs `target` on `data`. Panics on an unknown target name (a misnamed regression
/// directory should fail loudly, not pass silently).
pub fn run(target: &str, data: &[u8]) {
    let text = std::str::from_utf8(data).ok();
    match target {
        "buildkitd_toml" => check_one("buildkit/buildkitd.toml", FileKind::BuildkitdToml, data),
        "compose_yaml" => check_one("docker-compose.yml", FileKind::Compose, data),
        "registry_config" => check_one("registry/config.yml", FileKind::RegistryConfig, data),
        "htpasswd" => check_one("registry/auth/htpasswd", FileKind::Htpasswd, data),
        "env" => check_one(".env", FileKind::Env, data),
        "docker_config" => {
            if let Some(t) = text {
                docker_config(t);
            }
            check_one("docker/config.json", FileKind::DockerConfig, data);
        }
        "pem" => {
            if let (Ok(certs), Ok(key)) = (read_certs(data), read_private_key(data)) {
                for c in &certs {
                    let _ = key_matches_cert(&key, c);
                    let _ = c.uses_sha1();
                    let _ = c.is_self_issued();
                }
            }
            check_one("certs/server.crt", FileKind::Pem, data);
        }
        "refs" => {
            if let Some(t) = text {
                for r in refs::dockerfile_refs(t).into_iter().chain(refs::ci_refs(t)) {
                    let host = refs::registry_host(&r.reference);
                    let _ = bkenv::hostport::is_loopback(&host);
                    let _ = bkenv::hostport::strip_port(&host);
                }
                let _ = bkenv::hostport::strip_port(&refs::registry_host(t));
            }
            check_one("Dockerfile", FileKind::Dockerfile, data);
            check_one(".gitlab-ci.yml", FileKind::Ci, data);
        }
        "spec" => {
            if let Some(s) = text.and_then(|t| bkenv::spec::parse(t, Path::new("bkenv.toml")).ok())
            {
                let _ = bkenv::spec::validate(&s);
            }
        }
        "snapshot" => {
            let mut snap = Snapshot::default();
            let files = sections(data);
            snap.paths = PathIndex::of(files.iter().map(|(p, _)| PathBuf::from(p)));
            for (path, body) in files {
                let rel = PathBuf::from(path);
                if let Ok(Some(kind)) = classify(&rel, || Some(body.to_vec())) {
                    add_file(&mut snap, rel, kind, body.to_vec(), Some(0o600));
                }
            }
            check(&snap);
        }
        other => panic!("unknown fuzz target {other}"),
    }
}

/// The `snapshot` target's input: a whole environment as `@@ <path>` header lines,
/// each followed by that file's content, so the checks that relate two files (the
/// htpasswd a registry config names, `.env` against compose, CA paths against PEM
/// files) are reached. At most 16 files, so one input stays one environment.
pub fn sections(data: &[u8]) -> Vec<(String, &[u8])> {
    let mut out: Vec<(String, &[u8])> = Vec::new();
    let mut rest = data;
    let mut current: Option<(String, usize)> = None;
    let mut offset = 0;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        if let Some(path) = line.strip_prefix(b"@@ ") {
            if let Some((p, start)) = current.take() {
                out.push((p, &data[start..offset]));
            }
            if out.len() == 16 {
                return out;
            }
            let path = String::from_utf8_lossy(path).trim().to_string();
            current = Some((path, offset + end));
        }
        offset += end;
        rest = &rest[end..];
    }
    if let Some((p, start)) = current {
        out.push((p, &data[start..]));
    }
    out
}

fn docker_config(text: &str) {
    let Ok(cfg) = DockerConfig::parse(text) else {
        return;
    };
    for host in [
        "docker.io",
        "registry:5000",
        "localhost:5000",
        "[::1]:5000",
        "",
    ] {
        let _ = format!("{:?}", cfg.lookup(host));
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Some(auths) = v.get("auths").and_then(|a| a.as_object())
    {
        for k in auths.keys() {
            let _ = format!("{:?}", cfg.lookup(key_host(k)));
        }
    }
}

fn check_one(name: &str, kind: FileKind, data: &[u8]) {
    let mut snap = Snapshot::default();
    add_file(
        &mut snap,
        PathBuf::from(name),
        kind,
        data.to_vec(),
        Some(0o600),
    );
    check(&snap);
}

fn check(snap: &Snapshot) {
    // A fixed clock: the same input must take the same path on every run.
    if let Ok(now) = time::OffsetDateTime::from_unix_timestamp(1_780_000_000) {
        let _ = bkenv::doctor::check(snap, now);
    }
}
