//! Inputs the fuzz targets (`fuzz/`) found crashing, hanging or allocating without
//! bound, replayed through the same code in the normal suite. Each file under
//! `tests/fuzz_regressions/<target>/` is one input for the target of that name.

#[path = "../fuzz/fuzz_targets/common.rs"]
mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn fuzz_regressions_replay_cleanly() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let targets = std::fs::read_dir(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
    let mut inputs = Vec::new();
    for t in targets.flatten() {
        let target = t.file_name().to_string_lossy().into_owned();
        assert!(
            common::TARGETS.contains(&target.as_str()),
            "no fuzz target {target}"
        );
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
            common::run(&t, &data);
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

#[test]
fn snapshot_input_splits_into_files() {
    let data = b"ignored preamble\n@@ buildkit/buildkitd.toml\n[grpc]\n@@ .env\nA=1\n@@ empty\n";
    let files = common::sections(data);
    let got: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), *b)).collect();
    assert_eq!(
        got,
        [
            ("buildkit/buildkitd.toml", &b"[grpc]\n"[..]),
            (".env", b"A=1\n"),
            ("empty", b""),
        ]
    );
    let many: Vec<u8> = (0..40)
        .flat_map(|i| format!("@@ f{i}\nx\n").into_bytes())
        .collect();
    assert_eq!(common::sections(&many).len(), 16);
}
