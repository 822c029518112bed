//! Inputs the fuzz targets (`fuzz/`) found crashing, hanging or allocating without
//! bound, replayed through the same code in the normal suite. Each file under
//! `tests/fuzz_regressions/<target>/` is one input for the target of that name.

use bkenv::creds::DockerConfig;
use bkenv::doctor::discover::FileKind;
use bkenv::doctor::load::{Snapshot, add_file};
use bkenv::doctor::refs;
use bkenv::pki::{key_matches_cert, read_certs, read_private_key};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

fn check_one(name: &str, kind: FileKind, data: &[u8]) {
    let mut snap = Snapshot::default();
    add_file(
        &mut snap,
        PathBuf::from(name),
        kind,
        data.to_vec(),
        Some(0o600),
    );
    let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    let _ = bkenv::doctor::check(&snap, now);
}

/// What each fuzz target runs on one input (kept in step with `fuzz/fuzz_targets/`).
fn run_target(target: &str, data: &[u8]) {
    let text = std::str::from_utf8(data).ok();
    match target {
        "buildkitd_toml" => check_one("buildkit/buildkitd.toml", FileKind::BuildkitdToml, data),
        "compose_yaml" => check_one("docker-compose.yml", FileKind::Compose, data),
        "registry_config" => check_one("registry/config.yml", FileKind::RegistryConfig, data),
        "htpasswd" => check_one("registry/auth/htpasswd", FileKind::Htpasswd, data),
        "env" => check_one(".env", FileKind::Env, data),
        "docker_config" => {
            if let Some(cfg) = text.and_then(|t| DockerConfig::parse(t).ok()) {
                for host in [
                    "docker.io",
                    "registry:5000",
                    "localhost:5000",
                    "[::1]:5000",
                    "",
                ] {
                    let _ = format!("{:?}", cfg.lookup(host));
                }
            }
            check_one("docker/config.json", FileKind::DockerConfig, data);
        }
        "pem" => {
            if let (Ok(certs), Ok(key)) = (read_certs(data), read_private_key(data)) {
                for c in &certs {
                    let _ = key_matches_cert(&key, c);
                }
            }
            check_one("certs/server.crt", FileKind::Pem, data);
        }
        "refs" => {
            if let Some(t) = text {
                for r in refs::dockerfile_refs(t).into_iter().chain(refs::ci_refs(t)) {
                    let _ = refs::strip_port(&refs::registry_host(&r.reference));
                }
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
        other => panic!("unknown fuzz target directory {other}"),
    }
}

#[test]
fn fuzz_regressions_replay_cleanly() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let Ok(targets) = std::fs::read_dir(&base) else {
        return;
    };
    let mut inputs = Vec::new();
    for t in targets.flatten() {
        let target = t.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(t.path()).into_iter().flatten().flatten() {
            inputs.push((target.clone(), f.path()));
        }
    }
    inputs.sort();
    for (target, path) in inputs {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (tx, rx) = mpsc::channel();
        let t = target.clone();
        std::thread::spawn(move || {
            run_target(&t, &data);
            let _ = tx.send(());
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{target} hangs on {}", path.display())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{target} panics on {}", path.display())
            }
        }
    }
}
