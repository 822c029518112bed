//! A shared machine: links and other users' files where bkenv expects its own, `sudo`
//! on a user's environment, special files as outputs, and inputs built to hang bkenv.
//! Every wait here is bounded by the test itself (a hang fails, it never blocks).

mod support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::{options, run_init};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn skip_unless_root(what: &str) -> bool {
    if !is_root() {
        eprintln!("SKIPPED: {what} needs root (CI runs as root)");
    }
    !is_root()
}

/// Runs `f` on another thread; panics if it takes longer than `secs`.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what} did not finish within {secs}s"))
}

/// Runs the binary with a bound; a run past it is killed and fails the test.
fn bkenv_within(secs: u64, args: &[&str], dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bkenv"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().unwrap();
    for _ in 0..secs * 20 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("bkenv {args:?} did not finish within {secs}s");
}

fn err_of(dir: &Path) -> String {
    run_init(&options(dir)).unwrap_err().to_string()
}

#[test]
fn a_ca_directory_or_key_that_is_a_link_is_refused() {
    let other = tempfile::tempdir().unwrap();
    run_init(&options(other.path())).unwrap();

    let dir = tempfile::tempdir().unwrap();
    symlink(other.path().join("ca"), dir.path().join("ca")).unwrap();
    let err = err_of(dir.path());
    assert!(err.contains("symbolic link"), "{err}");
    assert!(
        !dir.path().join("buildkit").exists(),
        "nothing issued under it"
    );

    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("ca")).unwrap();
    fs::copy(other.path().join("ca/ca.crt"), dir.path().join("ca/ca.crt")).unwrap();
    symlink(other.path().join("ca/ca.key"), dir.path().join("ca/ca.key")).unwrap();
    let err = err_of(dir.path());
    assert!(
        err.contains("ca.key") && err.contains("symbolic link"),
        "{err}"
    );
}

/// Another user pre-creates `ca/` (with their own CA) in a directory everyone can write
/// to: bkenv refuses to adopt it. Root is refused too, unless that user owns the
/// environment directory (`sudo` on their own environment).
#[test]
fn a_ca_owned_by_another_user_is_refused() {
    if skip_unless_root("chown to another user") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
    run_init(&options(d)).unwrap();
    for rel in ["ca", "ca/ca.key", "ca/ca.crt"] {
        std::os::unix::fs::lchown(d.join(rel), Some(65534), Some(65534)).unwrap();
    }
    let err = err_of(d);
    assert!(err.contains("owned by uid 65534"), "{err}");

    std::os::unix::fs::lchown(d.join("ca"), Some(0), Some(0)).unwrap();
    let err = err_of(d);
    assert!(
        err.contains("ca.key") && err.contains("owned by uid 65534"),
        "{err}"
    );
}

/// `sudo bkenv init` on a user's environment: their CA is accepted, and every file and
/// directory written belongs to them, not to root.
#[test]
fn root_on_a_users_environment_leaves_the_users_files() {
    if skip_unless_root("running as root on another user's directory") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::os::unix::fs::chown(d, Some(1000), Some(1000)).unwrap();
    // As `bkenv init` (commands/init.rs) does: a writer for this environment.
    let init = |opts: &bkenv::init::InitOptions| {
        let rng = ring::rand::SystemRandom::new();
        let mut w = bkenv::output::Writer::for_env(&opts.dir);
        bkenv::init::run(opts, &rng, &|_| None, &mut w).unwrap()
    };
    let out = init(&options(d));
    assert!(out.notes.iter().any(|n| n.contains("new CA")));
    let mut opts = options(d);
    opts.overrides.mtls = Some(true);
    init(&opts);
    opts.new_ca = true;
    init(&opts);
    for e in walkdir::WalkDir::new(d).min_depth(1) {
        let e = e.unwrap();
        let meta = fs::symlink_metadata(e.path()).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (1000, 1000),
            "{}",
            e.path().display()
        );
    }
    // The warning for a world-writable environment directory.
    fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
    let out = init(&options(d));
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("writable by other users")),
        "{:?}",
        out.notes
    );
}

/// Both hand-overs at once: as root on user 1001's environment, every file becomes
/// theirs except a rootless buildkitd's key, which belongs to its container user (1000).
#[test]
fn root_on_a_users_rootless_environment_gives_the_key_to_the_container_user() {
    if skip_unless_root("running as root on another user's directory") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::os::unix::fs::chown(d, Some(1001), Some(1001)).unwrap();
    let mut opts = options(d);
    opts.overrides.rootless = Some(true);
    let rng = ring::rand::SystemRandom::new();
    let mut w = bkenv::output::Writer::for_env(&opts.dir);
    bkenv::init::run(&opts, &rng, &|_| None, &mut w).unwrap();
    let key = d.join("buildkit/certs/server.key");
    for e in walkdir::WalkDir::new(d).min_depth(1) {
        let e = e.unwrap();
        let meta = fs::symlink_metadata(e.path()).unwrap();
        let want = if e.path() == key { 1000 } else { 1001 };
        assert_eq!(
            (meta.uid(), meta.gid()),
            (want, want),
            "{}",
            e.path().display()
        );
    }
    assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
}

/// `doctor --fix` as root on a user's environment keeps the fixed files the user's, and
/// a fixed input that is a link stays a link (the file it points at is fixed).
#[test]
fn fix_keeps_owners_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_init(&options(d)).unwrap();
    let toml = d.join("buildkit/buildkitd.toml");
    let text = fs::read_to_string(&toml).unwrap();
    let broken = text.replacen(
        "address = [\"unix:///run/buildkit/buildkitd.sock\", \"tcp://0.0.0.0:1234\"]",
        "address = \"tcp://0.0.0.0:1234\"",
        1,
    );
    assert_ne!(broken, text, "the planted BK002");
    // The real file lives elsewhere (a dotfiles checkout); the environment links to it.
    let elsewhere = tempfile::tempdir().unwrap();
    let real = elsewhere.path().join("buildkitd.toml");
    fs::write(&real, &broken).unwrap();
    let link = d.join("linked-buildkitd.toml");
    symlink(&real, &link).unwrap();
    if is_root() {
        for e in walkdir::WalkDir::new(d) {
            std::os::unix::fs::lchown(e.unwrap().path(), Some(1000), Some(1000)).unwrap();
        }
        std::os::unix::fs::chown(&real, Some(1000), Some(1000)).unwrap();
    }
    let out = bkenv_within(
        120,
        &[
            "doctor",
            "--fix",
            "--buildkitd-config",
            "linked-buildkitd.toml",
            ".",
        ],
        Some(d),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("fixed: linked-buildkitd.toml"), "{stdout}");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(&real)
            .unwrap()
            .contains("address = [\"tcp://0.0.0.0:1234\"]")
    );
    if is_root() {
        let meta = fs::metadata(&real).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
        let lock = fs::metadata(d.join(".bkenv/lock")).unwrap();
        assert_eq!(lock.uid(), 1000, "the lock file is the user's too");
    }
}

/// `--output` to a device, a pipe or a link to stdout writes there; it never replaces it.
#[test]
fn output_to_special_files_writes_through() {
    let (env, _) = support::fresh(None);
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    let env_dir = env.path().to_str().unwrap();

    // A link to this process's stdout: the report must arrive on the pipe.
    let stdout_link = s.join("stdout");
    symlink("/proc/self/fd/1", &stdout_link).unwrap();
    let out = bkenv_within(
        60,
        &[
            "doctor",
            env_dir,
            "--format",
            "json",
            "--output",
            stdout_link.to_str().unwrap(),
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"findings\""), "{text}");
    assert!(
        fs::symlink_metadata(&stdout_link)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A FIFO with a reader.
    let fifo = s.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
    };
    let out = bkenv_within(
        60,
        &[
            "doctor",
            env_dir,
            "--format",
            "json",
            "--output",
            fifo.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(reader.join().unwrap().contains("\"findings\""));
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());

    // A character device (a private /dev/null, so the machine's is never at risk).
    if is_root() {
        let null = s.join("null");
        assert!(
            Command::new("mknod")
                .arg(&null)
                .args(["c", "1", "3"])
                .status()
                .unwrap()
                .success()
        );
        let out = bkenv_within(
            60,
            &["doctor", env_dir, "--output", null.to_str().unwrap()],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(fs::metadata(&null).unwrap().file_type().is_char_device());
    }

    // A regular file is still replaced atomically.
    let file = s.join("report.json");
    bkenv_within(
        60,
        &[
            "doctor",
            env_dir,
            "--format",
            "json",
            "--output",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(fs::read_to_string(&file).unwrap().contains("\"findings\""));
}

/// A directory doctor cannot list is bkenv failing to run (exit 2), not a finding.
#[test]
fn an_unreadable_doctor_directory_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let bin = dir.path().join("bkenv");
    fs::copy(env!("CARGO_BIN_EXE_bkenv"), &bin).unwrap();
    let mut cmd = if is_root() {
        // Root reads anything: drop to nobody, as an ordinary user would run it.
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let out = cmd.arg("doctor").arg(&locked).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot read") || err.contains("could not read"),
        "{err}"
    );
}

/// A FIFO or a device where init expects the CA (or a leaf) is refused at once: no
/// blocked open, no endless read.
#[test]
fn special_files_in_place_of_key_material_are_refused_without_hanging() {
    for rel in ["ca/ca.key", "ca/ca.crt", "buildkit/certs/server.key"] {
        let (dir, _) = support::fresh(None);
        let path = dir.path().join(rel);
        fs::remove_file(&path).unwrap();
        assert!(
            Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()
        );
        let d = dir.path().to_path_buf();
        let err = within(60, "init with a FIFO", move || err_of(&d));
        assert!(err.contains("FIFO"), "{rel}: {err}");
    }
    if is_root() {
        let (dir, _) = support::fresh(None);
        let path = dir.path().join("ca/ca.crt");
        fs::remove_file(&path).unwrap();
        // /dev/zero's device numbers: read without a limit, it never ends.
        assert!(
            Command::new("mknod")
                .arg(&path)
                .args(["c", "1", "5"])
                .status()
                .unwrap()
                .success()
        );
        let d = dir.path().to_path_buf();
        let err = within(60, "init with /dev/zero", move || err_of(&d));
        assert!(err.contains("device"), "{err}");
    }
}

/// A committed htpasswd entry with bcrypt cost 31 (days to verify): doctor, preflight and
/// init all finish.
#[test]
fn a_huge_bcrypt_cost_is_not_verified() {
    let (dir, _) = support::fresh(None);
    let d = dir.path();
    let htpasswd = d.join("registry/auth/htpasswd");
    let line = fs::read_to_string(&htpasswd).unwrap();
    let (user, hash) = line.trim_end().split_once(':').unwrap();
    let cost = &hash[4..6];
    let slow = hash.replacen(&format!("$2y${cost}$"), "$2y$31$", 1);
    fs::write(&htpasswd, format!("{user}:{slow}\n")).unwrap();
    let dir_s = d.to_str().unwrap();
    bkenv_within(120, &["doctor", dir_s], None);
    bkenv_within(120, &["preflight", "--offline", dir_s], None);
    let p = d.to_path_buf();
    within(120, "init", move || {
        run_init(&options(&p))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .unwrap();
}

/// A server that answers one byte at a time, forever: `probe --timeout 1` ends anyway,
/// over plain HTTP and inside a TLS handshake.
#[test]
fn a_trickling_server_cannot_hold_a_probe() {
    use std::io::Write;
    use std::net::TcpListener;
    for (plain, first) in [
        (true, &b"HTTP/1.1 200 OK\r\n"[..]),
        (false, &b"\x16\x03\x03\x40\x00"[..]),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { return };
                std::thread::spawn(move || {
                    let _ = s.write_all(first);
                    for _ in 0..6000 {
                        if s.write_all(b"x").is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                });
            }
        });
        let target = addr.to_string();
        let mut args = vec!["probe", target.as_str(), "--timeout", "1"];
        if plain {
            args.push("--plain-http");
        }
        let out = bkenv_within(60, &args, None);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn smaller_spec_limits() {
    let spec = |from: &str, to: &str| {
        let s = bkenv::spec::DEFAULT_SPEC.replacen(from, to, 1);
        assert_ne!(s, bkenv::spec::DEFAULT_SPEC, "{from}");
        s
    };
    let many: Vec<String> = (0..33).map(|i| format!("\"r{i}:5000\"")).collect();
    let cases = [
        (
            spec("ca_validity_days = 3650", "ca_validity_days = 2932897"),
            "pki.ca_validity_days",
        ),
        (
            spec(
                "names = [\"registry:5000\", \"localhost:5005\"]",
                &format!("names = [\"localhost:5005\", {}]", many.join(", ")),
            ),
            "at most 32",
        ),
        (
            spec("service = \"registry\"", "service = \"buildkit\""),
            "bkenv writes for itself",
        ),
        (
            spec(
                "\"registry:5000\", \"localhost:5005\"",
                "\"registry:05000\", \"localhost:5005\"",
            ),
            "leading zeros",
        ),
        (
            spec(
                "\"registry:5000\", \"localhost:5005\"",
                "\"registry:5000\", \"127.1:5005\"",
            ),
            "ends in a number",
        ),
        (
            spec(
                "ca_common_name = \"bkenv development CA\"",
                &format!("ca_common_name = \"{}\"", "n".repeat(56)),
            ),
            "longer than 55",
        ),
        (
            spec(
                "ca_common_name = \"bkenv development CA\"",
                "ca_common_name = \"dev\\u0007CA\"",
            ),
            "control characters",
        ),
    ];
    for (text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("bkenv.toml"), &text).unwrap();
        let err = err_of(dir.path());
        assert!(err.contains(want), "{want}: {err}");
    }
}
