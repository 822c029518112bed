//! `bkenv doctor --host` on a machine: run inside a private mount namespace whose `/etc`
//! is a tmpfs holding a fixture install (`tests/fixtures/host`, plus one planted fault per
//! case), so the real host's `/etc` is never read nor touched. The fixture units are
//! BuildKit's upstream `examples/systemd` ones (socket activation, `--addr fd://`), with
//! `--config` and drop-ins as administrators write them.

mod support;
mod support_doctor;

use std::path::Path;
use std::process::{Command, Stdio};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `bkenv doctor --host --format json` in a private mount namespace whose `/etc`
/// is a copy of `tree/etc`. Returns the codes reported and the exit status.
fn doctor_host_in_namespace(tree: &Path) -> (Vec<String>, i32, String) {
    let script = format!(
        "set -e; mount -t tmpfs bkenv-etc /etc; cp -a '{}/etc/.' /etc/; exec timeout 60 '{}' doctor --host --format json --color never",
        tree.display(),
        env!("CARGO_BIN_EXE_bkenv")
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    support::doctor_json(&out)
}

#[test]
fn doctor_host_in_a_private_mount_namespace() {
    if !is_root() {
        eprintln!("SKIPPED: doctor --host in a mount namespace needs root (CI runs as root)");
        return;
    }
    let host = support_doctor::fixtures().join("checks");
    // (fixture, expected codes, exit status): each planted fault is named, the healthy
    // install is clean; BK884 is a warning (exit 0).
    let cases: &[(&str, &[&str], i32)] = &[
        ("BK882/good", &[], 0),
        ("BK881/bad", &["BK881"], 1),
        ("BK882/bad", &["BK882"], 1),
        ("BK883/bad", &["BK883"], 1),
        ("BK884/bad", &["BK884"], 0),
        ("BK885/bad", &["BK885"], 1),
    ];
    for (case, want, exit) in cases {
        let tree = support_doctor::materialize(&host.join(case));
        // /etc of the namespace is a copy: the modes the fixture sets come along (cp -a).
        let (codes, status, out) = doctor_host_in_namespace(tree.path());
        assert_eq!(&codes, want, "{case}: {out}");
        assert_eq!(status, *exit, "{case}: {out}");
    }
    // The real /etc was never changed: no buildkit unit appeared on this machine.
    assert!(!Path::new("/etc/systemd/system/buildkit.service.d/user.conf").exists());
}
