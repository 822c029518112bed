//! Crash safety: `init` interrupted at every write never leaves a truncated file or a CA
//! key and certificate that do not belong together, and the next run completes.

mod support;

use bkenv::output::Writer;
use bkenv::pki::{key_matches_cert, read_certs, read_private_key};
use std::fs;
use std::path::Path;
use support::{options, run_init};

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
    let mut opts = options(dir);
    opts.new_ca = new_ca;
    let rng = ring::rand::SystemRandom::new();
    let mut writer = Writer::new();
    writer.fail_after = Some(after);
    bkenv::init::run(&opts, &rng, &|_| None, &mut writer).is_ok()
}

#[test]
fn first_run_interrupted_at_every_write() {
    for after in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let done = interrupted(dir.path(), false, after);
        let state = ca_state(dir.path());
        no_temp_files(dir.path());
        run_init(&options(dir.path())).unwrap_or_else(|e| panic!("after {after} writes: {e}"));
        match state {
            CaState::KeyOnly(k) | CaState::Pair(k) => {
                assert_eq!(
                    ca_state(dir.path()),
                    CaState::Pair(k),
                    "the CA key survived write {after}"
                );
            }
            CaState::Nothing => assert!(matches!(ca_state(dir.path()), CaState::Pair(_))),
        }
        if done {
            break;
        }
        assert!(after < 100, "init never completed");
    }
}

#[test]
fn new_ca_interrupted_at_every_write_never_mismatches() {
    let template = tempfile::tempdir().unwrap();
    run_init(&options(template.path())).unwrap();
    let CaState::Pair(old_key) = ca_state(template.path()) else {
        panic!("no CA")
    };
    // 0: old pair, 1: old key alone, 2: new key alone, 3: new pair; never backwards.
    let mut phase = 0;
    for after in 0.. {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(template.path(), dir.path());
        let done = interrupted(dir.path(), true, after);
        let now = match ca_state(dir.path()) {
            CaState::Pair(k) if k == old_key => 0,
            CaState::KeyOnly(k) if k == old_key => 1,
            CaState::KeyOnly(_) => 2,
            CaState::Pair(_) => 3,
            CaState::Nothing => panic!("after {after} writes the CA is gone"),
        };
        assert!(
            now >= phase,
            "after {after} writes: phase {now} after {phase}"
        );
        phase = now;
        no_temp_files(dir.path());
        run_init(&options(dir.path())).unwrap_or_else(|e| panic!("after {after} writes: {e}"));
        assert!(matches!(ca_state(dir.path()), CaState::Pair(_)));
        if done {
            assert_eq!(phase, 3, "a completed --new-ca has a new pair");
            break;
        }
        assert!(after < 100, "init never completed");
    }
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
