//! Crash and concurrency safety: `init` interrupted at every write never leaves a
//! truncated file or a CA key and certificate that do not belong together, and the next
//! run repairs the whole environment: every leaf key matches its certificate, every leaf
//! is signed by the CA, and doctor finds nothing. Runs at the same time take turns.

mod support;

use bkenv::doctor::{self, DoctorInputs};
use bkenv::output::Writer;
use bkenv::pki::{key_matches_cert, read_certs, read_private_key, signed_by};
use std::fs;
use std::path::Path;
use support::{NOW, options, run_init};

#[derive(Debug, PartialEq)]
enum CaState {
    Nothing,
    KeyOnly(String),
    Pair(String),
}

/// The CA files as they are; panics on a truncated file or a mismatched pair.
fn ca_state(dir: &Path) -> CaState {
    let key = fs::read_to_string(dir.join("ca/ca.key")).ok();
    let cert = fs::read_to_string(dir.join("ca/ca.crt")).ok();
    match (key, cert) {
        (None, None) => CaState::Nothing,
        (Some(k), None) => {
            read_private_key(k.as_bytes()).expect("a lone CA key is whole");
            CaState::KeyOnly(k)
        }
        (None, Some(_)) => panic!("a CA certificate without its key"),
        (Some(k), Some(c)) => {
            let key = read_private_key(k.as_bytes()).expect("CA key whole");
            let cert = &read_certs(c.as_bytes()).expect("CA cert whole")[0];
            assert!(key_matches_cert(&key, cert), "mismatched CA pair");
            CaState::Pair(k)
        }
    }
}

/// Every leaf of the environment: present, whole, its key matching, signed by the CA.
fn leaves_match(dir: &Path, context: &str) {
    let ca = &read_certs(&fs::read(dir.join("ca/ca.crt")).unwrap()).unwrap()[0];
    let mut pairs = vec![
        ("buildkit/certs/server.crt", "buildkit/certs/server.key"),
        ("registry/certs/registry.crt", "registry/certs/registry.key"),
    ];
    if dir.join("client/client.crt").exists() {
        pairs.push(("client/client.crt", "client/client.key"));
    }
    for (crt, key) in pairs {
        let c = fs::read(dir.join(crt)).unwrap_or_else(|e| panic!("{context}: {crt}: {e}"));
        let k = fs::read(dir.join(key)).unwrap_or_else(|e| panic!("{context}: {key}: {e}"));
        let cert = &read_certs(&c).unwrap_or_else(|e| panic!("{context}: {crt}: {e}"))[0];
        let key_info = read_private_key(&k).unwrap_or_else(|e| panic!("{context}: {key}: {e}"));
        assert!(
            key_matches_cert(&key_info, cert),
            "{context}: {key} does not match {crt}"
        );
        assert!(
            signed_by(cert, ca),
            "{context}: {crt} is not signed by ca/ca.crt"
        );
    }
}

/// Doctor's verdict on the environment: nothing to report.
fn doctor_clean(dir: &Path, context: &str) {
    doctor_clean_at(dir, context, NOW);
}

fn doctor_clean_at(dir: &Path, context: &str, now: time::OffsetDateTime) {
    let inputs = DoctorInputs {
        path_env: Some(dir.join("bin").into_os_string()),
        ..DoctorInputs::default()
    };
    let report = doctor::run(dir, &inputs, now).unwrap();
    let found: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{} {}", f.code(), f.message))
        .collect();
    assert!(found.is_empty(), "{context}: {found:#?}");
}

fn no_temp_files(dir: &Path) {
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        assert!(
            !e.file_name().to_string_lossy().contains(".bkenv-tmp-"),
            "{}",
            e.path().display()
        );
    }
}

fn interrupted(dir: &Path, new_ca: bool, after: usize) -> bool {
    interrupted_at(dir, new_ca, after, NOW)
}

fn interrupted_at(dir: &Path, new_ca: bool, after: usize, now: time::OffsetDateTime) -> bool {
    let mut opts = options(dir);
    opts.new_ca = new_ca;
    opts.now = now;
    let rng = ring::rand::SystemRandom::new();
    let mut writer = Writer::new();
    writer.fail_after = Some(after);
    bkenv::init::run(&opts, &rng, &|_| None, &mut writer).is_ok()
}

fn repair(dir: &Path, context: &str) {
    repair_at(dir, context, NOW);
}

fn repair_at(dir: &Path, context: &str, now: time::OffsetDateTime) {
    let mut opts = options(dir);
    opts.now = now;
    run_init(&opts).unwrap_or_else(|e| panic!("{context}: {e}"));
    leaves_match(dir, context);
    doctor_clean_at(dir, context, now);
}

#[test]
fn first_run_interrupted_at_every_write() {
    for after in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let done = interrupted(dir.path(), false, after);
        let state = ca_state(dir.path());
        no_temp_files(dir.path());
        let context = format!("first run interrupted after {after} writes");
        repair(dir.path(), &context);
        match state {
            CaState::KeyOnly(k) | CaState::Pair(k) => {
                assert_eq!(ca_state(dir.path()), CaState::Pair(k), "{context}: CA key");
            }
            CaState::Nothing => assert!(matches!(ca_state(dir.path()), CaState::Pair(_))),
        }
        if done {
            break;
        }
        assert!(after < 100, "init never completed");
    }
}

/// A re-run that reissues every leaf (eleven months later, so every leaf expires
/// within the renewal margin; `mtls` adds a client pair), interrupted at every write:
/// the old files are bkenv's, not user edits, and the repair run replaces them as pairs.
#[test]
fn reissue_interrupted_at_every_write() {
    let template = tempfile::tempdir().unwrap();
    run_init(&options(template.path())).unwrap();
    let spec = fs::read_to_string(template.path().join("bkenv.toml")).unwrap();
    let changed = spec.replace("mtls = false", "mtls = true");
    assert_ne!(spec, changed);
    let later = NOW + time::Duration::days(340);
    for after in 0.. {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(template.path(), dir.path());
        fs::write(dir.path().join("bkenv.toml"), &changed).unwrap();
        let done = interrupted_at(dir.path(), false, after, later);
        no_temp_files(dir.path());
        let context = format!("reissue interrupted after {after} writes");
        repair_at(dir.path(), &context, later);
        if done {
            break;
        }
        assert!(after < 100, "init never completed");
    }
}

#[test]
fn new_ca_interrupted_at_every_write_is_all_or_nothing() {
    let template = tempfile::tempdir().unwrap();
    run_init(&options(template.path())).unwrap();
    let CaState::Pair(old_key) = ca_state(template.path()) else {
        panic!("no CA")
    };
    // 0: the old pair in place; 1: a new pair in place, the old one in a backup.
    let mut phase = 0;
    for after in 0.. {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(template.path(), dir.path());
        let done = interrupted(dir.path(), true, after);
        let context = format!("--new-ca interrupted after {after} writes");
        // What a later run finds, after finishing or undoing the switch.
        let mut w = Writer::new();
        bkenv::castore::recover(dir.path(), &mut w).unwrap();
        let now = match ca_state(dir.path()) {
            CaState::Pair(k) if k == old_key => 0,
            CaState::Pair(_) => 1,
            other => panic!("{context}: {other:?}"),
        };
        assert!(now >= phase, "{context}: went back to phase {now}");
        phase = now;
        if now == 1 {
            assert_eq!(
                backed_up_keys(dir.path()),
                std::slice::from_ref(&old_key),
                "{context}"
            );
        }
        no_temp_files(dir.path());
        repair(dir.path(), &context);
        if done {
            assert_eq!(phase, 1, "a completed --new-ca has a new pair");
            break;
        }
        assert!(after < 100, "init never completed");
    }
}

/// The reported failure: `--new-ca` fails halfway (here: the disk refuses the switch),
/// and the retry must still rotate to a new key rather than re-derive a certificate for
/// the old one.
#[test]
fn a_failed_new_ca_retried_retires_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_init(&options(d)).unwrap();
    let CaState::Pair(old_key) = ca_state(d) else {
        panic!("no CA")
    };
    for after in 0..4 {
        assert!(!interrupted(d, true, after), "fails after {after}");
    }
    let mut opts = options(d);
    opts.new_ca = true;
    run_init(&opts).unwrap();
    let CaState::Pair(new_key) = ca_state(d) else {
        panic!("no CA")
    };
    assert_ne!(new_key, old_key, "the retry rotated");
    assert!(backed_up_keys(d).contains(&old_key), "the old key is kept");
    leaves_match(d, "after the retry");
    doctor_clean(d, "after the retry");
}

/// Two `--new-ca` in the same second (the clock is fixed) keep both old keys, in two
/// backups with readable, distinct names.
#[test]
fn two_rotations_in_one_second_keep_both_old_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_init(&options(d)).unwrap();
    let mut keys = Vec::new();
    let mut opts = options(d);
    opts.new_ca = true;
    for _ in 0..2 {
        let CaState::Pair(k) = ca_state(d) else {
            panic!("no CA")
        };
        keys.push(k);
        run_init(&opts).unwrap();
    }
    let mut names: Vec<String> = fs::read_dir(d.join("ca"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("backup-"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["backup-20261123T120000Z", "backup-20261123T120000Z-2"]
    );
    let mut backed = backed_up_keys(d);
    backed.sort();
    keys.sort();
    assert_eq!(backed, keys);
    doctor_clean(d, "after two rotations");
}

/// The CA keys kept under `ca/backup-*`.
fn backed_up_keys(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir.join("ca")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("backup-") {
            assert!(
                !e.path().join("backup-").exists(),
                "backups do not nest: {}",
                e.path().display()
            );
            out.push(fs::read_to_string(e.path().join("ca.key")).unwrap());
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Eight `bkenv init` processes started together in one empty directory: one CA, every
/// leaf matching its key, a clean doctor.
#[test]
fn eight_concurrent_inits_leave_one_ca_and_matching_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("env");
    let children: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_bkenv"))
                .arg("init")
                .arg(&d)
                .env_remove("BKENV_FAIL_AFTER_WRITES")
                .env("BKENV_LOCK_WAIT", "600")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut new_cas = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        new_cas += stdout.matches("note: new CA generated").count();
    }
    assert_eq!(new_cas, 1, "exactly one run generated the CA");
    assert!(matches!(ca_state(&d), CaState::Pair(_)));
    // The real clock was used: check the pairs, and doctor at the time of the run.
    leaves_match(&d, "after eight concurrent runs");
    let inputs = DoctorInputs {
        path_env: Some(d.join("bin").into_os_string()),
        ..DoctorInputs::default()
    };
    let report = doctor::run(&d, &inputs, time::OffsetDateTime::now_utc()).unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

/// A second run that cannot get the lock in time fails with the holder's pid, command
/// and start time, and changes nothing.
#[test]
fn a_run_that_cannot_get_the_lock_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_init(&options(d)).unwrap();
    let before = support::snapshot_tree(d);
    let holder = bkenv::lock::Holder {
        command: "init --new-ca",
        started: NOW,
    };
    let held = bkenv::lock::EnvLock::acquire(d, &holder, std::time::Duration::ZERO, None).unwrap();
    for args in [vec!["init"], vec!["doctor", "--fix"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bkenv"))
            .args(&args)
            .arg(d)
            .env("BKENV_LOCK_WAIT", "0.2")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let pid = format!("pid={}", std::process::id());
        for want in [
            pid.as_str(),
            "bkenv init --new-ca",
            "started=2026-11-23T12:00:00Z",
        ] {
            assert!(err.contains(want), "{args:?}: {want} missing from {err}");
        }
    }
    drop(held);
    assert_eq!(support::snapshot_tree(d).len(), before.len());
    run_init(&options(d)).unwrap();
}
