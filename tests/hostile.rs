//! Hostile trees: doctor on symlink loops, links out of the tree, unreadable files,
//! FIFOs, a 1 GiB sparse `buildkitd.toml`, binary files with certificate names and
//! 200-level nesting returns findings (BK900 for what it could not read), never panics,
//! never hangs and never reads a huge file into memory.
//!
//! Tests usually run as root here, where `chmod 000` does not stop a read: the
//! "unreadable" case is then covered by a FIFO (which blocks if opened) and a directory
//! named `buildkitd.toml`; the `chmod 000` case runs only as a normal user.
#![cfg(unix)]

use bkenv::diag::Finding;
use bkenv::doctor::{self, DoctorInputs, DoctorReport};
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use time::macros::datetime;

const GIB: u64 = 1 << 30;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Runs doctor on another thread; a hang fails the test instead of blocking the suite.
fn doctor_within(root: &Path, inputs: DoctorInputs, secs: u64) -> DoctorReport {
    let root = root.to_path_buf();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = doctor::run(&root, &inputs, datetime!(2026-06-01 0:00 UTC));
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(r) => ok(r),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("doctor did not finish in {secs}s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("doctor panicked"),
    }
}

fn is_root(dir: &Path) -> bool {
    let probe = dir.join(".uid-probe");
    ok(fs::write(&probe, ""));
    let uid = ok(fs::metadata(&probe)).uid();
    ok(fs::remove_file(&probe));
    uid == 0
}

fn mkfifo(p: &Path) {
    let st = ok(std::process::Command::new("mkfifo").arg(p).status());
    assert!(st.success(), "mkfifo {}", p.display());
}

fn sparse(p: &Path, len: u64) {
    ok(ok(File::create(p)).set_len(len));
}

fn bk900_for<'a>(findings: &'a [Finding], rel: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| {
        f.code() == "BK900"
            && f.location
                .as_ref()
                .is_some_and(|l| l.path == Path::new(rel))
    })
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn hostile_tree_gives_findings_and_terminates() {
    let dir = ok(tempfile::tempdir());
    let root = dir.path();
    let root_user = is_root(root);

    // Symlink loops, a link to the tree's own parent and links out of the tree.
    ok(fs::create_dir(root.join("links")));
    ok(symlink("loop_b", root.join("links/loop_a")));
    ok(symlink("loop_a", root.join("links/loop_b")));
    ok(symlink("..", root.join("links/up")));
    ok(symlink(".", root.join("links/here")));
    ok(symlink("/etc", root.join("links/etc")));
    ok(symlink("/etc/passwd", root.join("links/passwd.crt")));
    ok(symlink("/nonexistent/x", root.join("links/buildkitd.toml")));
    // A service mounts the link farm, so doctor lists it for existence checks.
    ok(fs::write(
        root.join("docker-compose.yml"),
        "services:\n  registry:\n    image: registry:2\n    volumes:\n      - ./links:/links\n      - ./links/up:/up\n",
    ));

    // A 1 GiB sparse buildkitd.toml (no disk use), and one a content peek would read.
    ok(fs::create_dir(root.join("big")));
    sparse(&root.join("big/buildkitd.toml"), GIB);
    sparse(&root.join("big/daemon.toml"), GIB);

    // Binary files with certificate and key names.
    ok(fs::create_dir(root.join("bin")));
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    ok(fs::write(root.join("bin/ca.crt"), &noise));
    ok(fs::write(root.join("bin/ca.key"), &noise));
    let mut framed = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    framed.extend_from_slice(&noise);
    framed.extend_from_slice(b"\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n");
    ok(fs::write(root.join("bin/server.pem"), &framed));
    ok(fs::write(
        root.join("bin/client.crt"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ));
    ok(fs::write(root.join("bin/Dockerfile"), &noise));

    // A FIFO and a directory with names doctor reads: opening the FIFO would block.
    ok(fs::create_dir(root.join("special")));
    mkfifo(&root.join("special/buildkitd.toml"));
    mkfifo(&root.join("special/config.json"));
    ok(fs::create_dir_all(root.join("special/dir/buildkitd.toml")));

    // A file the user cannot read (only meaningful when not root).
    ok(fs::create_dir(root.join("locked")));
    let locked = root.join("locked/docker-compose.yml");
    ok(fs::write(&locked, "services: {}\n"));
    ok(fs::set_permissions(
        &locked,
        fs::Permissions::from_mode(0o000),
    ));

    // 200 levels of nesting with a real config at the bottom.
    let mut deep = root.join("deep");
    for _ in 0..200 {
        deep.push("d");
    }
    ok(fs::create_dir_all(&deep));
    ok(fs::write(
        deep.join("buildkitd.toml"),
        "[grpc]\naddress = [\"tcp://0.0.0.0:1234\"]\n",
    ));

    let report = doctor_within(root, DoctorInputs::default(), 120);
    let f = &report.findings;

    let big = bk900_for(f, "big/buildkitd.toml").expect("BK900 for the 1 GiB file");
    assert!(big.message.contains("too large"), "{}", big.message);
    let peeked = bk900_for(f, "big/daemon.toml").expect("BK900 for the 1 GiB peeked file");
    assert!(peeked.message.contains("too large"), "{}", peeked.message);
    let fifo = bk900_for(f, "special/buildkitd.toml").expect("BK900 for the FIFO");
    assert!(fifo.message.contains("FIFO"), "{}", fifo.message);
    assert!(bk900_for(f, "special/config.json").is_some(), "{f:#?}");
    if !root_user {
        assert!(
            bk900_for(f, "locked/docker-compose.yml").is_some(),
            "{f:#?}"
        );
    }

    // Links were listed but never followed: nothing outside the tree was read.
    // (As root the locked compose file is readable too and roots a second environment.)
    let envs = &report.environments;
    assert_eq!(envs.len(), if root_user { 2 } else { 1 }, "{envs:#?}");
    for p in envs.iter().flat_map(|e| &e.pem) {
        assert!(p.src.path.starts_with("bin"), "{}", p.src.path.display());
    }
    assert!(
        envs.iter()
            .flat_map(|e| &e.buildkitd)
            .all(|t| !t.src.path.starts_with("links"))
    );
    let snap = envs
        .iter()
        .find(|e| e.holds(Path::new("docker-compose.yml")))
        .expect("the root compose file's environment");
    let paths = &snap.paths;
    assert_eq!(paths.exists(Path::new("links/loop_a")), Some(true));
    assert_eq!(paths.exists(Path::new("links/etc")), Some(true));
    assert_eq!(paths.exists(Path::new("links/nothing")), Some(false));
    assert_eq!(paths.exists(Path::new("links/etc/passwd")), None);
    assert_eq!(paths.exists(Path::new("links/here/links")), None);
    assert_eq!(paths.exists(Path::new("links/up/links")), None);

    // The deep config was loaded, and the binary "certificates" were reported as such.
    let deep_rel: PathBuf = deep.strip_prefix(root).unwrap().join("buildkitd.toml");
    assert!(
        snap.buildkitd.iter().any(|t| t.src.path == deep_rel),
        "the 200-level config was not loaded"
    );
    assert!(snap.pem.len() >= 3, "{:?}", snap.pem.len());

    if let Some(peak) = peak_rss() {
        assert!(
            peak < GIB / 2,
            "peak RSS {peak} bytes: a huge file was read"
        );
    }

    ok(fs::set_permissions(
        &locked,
        fs::Permissions::from_mode(0o644),
    ));
}

#[test]
fn explicit_inputs_that_are_not_regular_files_are_bk900() {
    let dir = ok(tempfile::tempdir());
    let root = dir.path();
    mkfifo(&root.join("pipe"));
    ok(fs::create_dir(root.join("a-dir")));
    sparse(&root.join("huge.json"), GIB);
    ok(symlink("loop2", root.join("loop1")));
    ok(symlink("loop1", root.join("loop2")));
    let inputs = DoctorInputs {
        buildkitd_config: Some(PathBuf::from("pipe")),
        compose: Some(PathBuf::from("a-dir")),
        docker_config: Some(PathBuf::from("huge.json")),
        registry_config: Some(PathBuf::from("loop1")),
        htpasswd: Some(root.join("missing")),
        env_file: Some(PathBuf::from("/dev/zero")),
        path_env: Some("".into()),
        compose_project_name: None,
        host: None,
    };
    let report = doctor_within(root, inputs, 60);
    let f = &report.findings;
    for (rel, says) in [
        ("pipe", "FIFO"),
        ("a-dir", "directory"),
        ("huge.json", "too large"),
        ("loop1", ""),
        ("missing", ""),
        ("/dev/zero", "device"),
    ] {
        let hit = bk900_for(f, rel).unwrap_or_else(|| panic!("no BK900 for {rel}: {f:#?}"));
        assert!(hit.message.contains(says), "{rel}: {}", hit.message);
    }
}

#[test]
fn read_bounded_caps_at_the_limit() {
    let dir = ok(tempfile::tempdir());
    let at = dir.path().join("at");
    sparse(&at, doctor::discover::MAX_FILE_BYTES);
    assert_eq!(
        ok(doctor::discover::read_bounded(&at)).len() as u64,
        doctor::discover::MAX_FILE_BYTES
    );
    let over = dir.path().join("over");
    sparse(&over, doctor::discover::MAX_FILE_BYTES + 1);
    let err = doctor::discover::read_bounded(&over).unwrap_err();
    assert!(err.contains("too large to be a config file"), "{err}");
}
