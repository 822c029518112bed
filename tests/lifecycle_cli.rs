//! The lifecycle commands as a user runs them: exit codes, JSON on stdout, refusals
//! that name the next step, and every write point of `rotate-ca` and `renew` through
//! the crash harness (`BKENV_FAIL_AFTER_WRITES=N`), each completed by running the
//! command again.

mod support;

use assert_cmd::Command;
use std::fs;
use std::path::Path;

fn bkenv(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    bkenv_env(dir, args, None)
}

fn bkenv_env(
    dir: &Path,
    args: &[&str],
    fail_after: Option<usize>,
) -> (Option<i32>, String, String) {
    let mut c = Command::cargo_bin("bkenv").expect("binary");
    c.args(args).arg(dir).env("NO_COLOR", "1");
    if let Some(n) = fail_after {
        c.env("BKENV_FAIL_AFTER_WRITES", n.to_string());
    }
    let out = c.output().expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn init(dir: &Path) {
    let (code, out, err) = bkenv(dir, &["init"]);
    assert_eq!(code, Some(0), "{out}{err}");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn pem_count(dir: &Path, rel: &str) -> usize {
    fs::read_to_string(dir.join(rel))
        .unwrap_or_default()
        .matches("BEGIN CERTIFICATE")
        .count()
}

#[test]
fn status_exit_codes_follow_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, out, err) = bkenv(d, &["status"]);
    assert_eq!(code, Some(2), "not an environment yet: {out}");
    assert!(
        err.contains("bkenv.toml") && err.contains("bkenv init"),
        "{err}"
    );
    init(d);
    let (code, out, _) = bkenv(d, &["status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ok: every certificate is valid for more than 30 days"),
        "{out}"
    );
    // Leaves live 365 days: a 400-day threshold flags them, in every format.
    let (code, out, _) = bkenv(d, &["status", "--within", "400d", "--format", "json"]);
    assert_eq!(code, Some(1), "{out}");
    let doc = json(&out);
    assert_eq!(doc["within_days"], 400);
    assert_eq!(doc["attention"].as_array().map(Vec::len), Some(2), "{doc}");
    let (code, _, err) = bkenv(d, &["status", "--within", "soon"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a duration like 30d"), "{err}");
}

#[test]
fn renew_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    let before = support::snapshot_tree(d);
    let (code, out, err) = bkenv(d, &["renew", "--force", "--dry-run"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 certificates would be reissued"), "{out}");
    assert!(out.contains("docker compose -f "), "{out}");
    assert_eq!(support::snapshot_tree(d), before);
}

#[test]
fn rotation_refusals_name_the_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    let (code, _, err) = bkenv(d, &["rotate-ca", "--drop-old"]);
    assert_eq!(code, Some(0), "nothing to drop: {err}");
    let (code, _, err) = bkenv(d, &["rotate-ca", "--finish"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("start one with `bkenv rotate-ca`"), "{err}");
    let (code, out, err) = bkenv(d, &["rotate-ca", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(json(&out)["phase"], "started");
    let (code, _, err) = bkenv(d, &["init", "--new-ca"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("rotation is in progress (phase: started)"),
        "{err}"
    );
    let (code, _, err) = bkenv(d, &["rotate-ca", "--drop-old"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("rotate-ca --finish` first"), "{err}");
    let (code, _, err) = bkenv(d, &["rotate-ca", "--finish", "--drop-old"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, out, _) = bkenv(d, &["status", "--format", "json"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(json(&out)["rotation"]["phase"], "started");
}

/// A copy of the environment at `from`.
fn copy(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    let (ok, out) = support::run(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(from.join("."))
            .arg(to.path()),
    );
    assert!(ok, "{out}");
    to
}

/// `args` on fresh copies of `start`, interrupted before its Nth write for N = 0, 1, ...:
/// each interrupted run exits 2 naming the injected failure, and the same command run
/// again completes it (`check`). Returns the copy the uninterrupted run completed.
fn every_write_point(
    start: &Path,
    args: &[&str],
    check: impl Fn(&Path, &str),
) -> tempfile::TempDir {
    let mut n = 0;
    loop {
        let trial = copy(start);
        let d = trial.path();
        let (code, out, err) = bkenv_env(d, args, Some(n));
        if code == Some(0) {
            check(d, &format!("{args:?} uninterrupted at {n}"));
            assert!(n > 2, "{args:?}: write points exercised: {n}");
            return trial;
        }
        assert_eq!(code, Some(2), "{args:?} at {n}: {out}{err}");
        assert!(err.contains("injected failure"), "{args:?} at {n}: {err}");
        let (code, out, err) = bkenv(d, args);
        assert_eq!(code, Some(0), "{args:?} re-run after {n}: {out}{err}");
        check(d, &format!("{args:?} interrupted at {n}"));
        n += 1;
        assert!(n < 100, "{args:?} never completes");
    }
}

#[test]
fn every_write_point_of_rotate_ca_and_renew_through_the_crash_harness() {
    let template = tempfile::tempdir().unwrap();
    init(template.path());
    // The trust files hold this many CAs after each step.
    let steps: [(&[&str], usize); 4] = [
        (&["renew", "--force"], 1),
        (&["rotate-ca"], 2),
        (&["rotate-ca", "--finish"], 2),
        (&["rotate-ca", "--drop-old"], 1),
    ];
    let mut start = template;
    for (args, cas) in steps {
        start = every_write_point(start.path(), args, |d, context| {
            for f in [
                "client/ca.crt",
                "buildkit/certs/ca.crt",
                "certs.d/localhost:5005/ca.crt",
            ] {
                assert_eq!(pem_count(d, f), cas, "{context}: {f}");
            }
            let (code, out, _) = bkenv(d, &["status"]);
            assert_eq!(code, Some(0), "{context}: {out}");
        });
    }
}

/// The commands `rotate-ca` and `status` print next, pasted verbatim into a shell in the
/// directory the user ran them from (the environment's parent, a name with a space):
/// each one runs the next rotation step on that environment.
#[test]
fn printed_next_steps_run_verbatim_from_where_the_user_is() {
    let parent = tempfile::tempdir().unwrap();
    let env = parent.path().join("my env");
    fs::create_dir(&env).unwrap();
    init(&env);
    let bin = assert_cmd::cargo::cargo_bin("bkenv");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = |line: &str| {
        let out = std::process::Command::new("sh")
            .args(["-c", line])
            .current_dir(parent.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .output()
            .expect("sh");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{line}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    // The line after `prefix`, as printed.
    let after = |text: &str, prefix: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
            .to_string()
    };
    // Host trust installed into an image tree: each step says whether it fell behind.
    let image = tempfile::tempdir().unwrap();
    fs::create_dir_all(image.path().join("etc/docker")).unwrap();
    sh(&format!(
        "bkenv trust install --yes --target docker --root '{}' 'my env'",
        image.path().display()
    ));
    let again = "run `sudo bkenv trust install 'my env'` again";
    let out = sh("bkenv rotate-ca 'my env'");
    assert!(out.contains(again), "{out}");
    let finish = after(&out, "then: ");
    assert_eq!(finish, "bkenv rotate-ca --finish 'my env'");
    // Brought along; status (exit 0 only when nothing needs attention) says the same
    // next step, with what to wait for in parentheses.
    sh(&format!(
        "bkenv trust install --yes --target docker --root '{}' 'my env'",
        image.path().display()
    ));
    let status = sh("bkenv status 'my env'");
    let next = after(&status, "next: ");
    assert!(next.starts_with(&format!("{finish} (")), "{status}");
    let out = sh(&finish);
    // `--finish` changes no trust set: the host is still current.
    assert!(!out.contains(again), "{out}");
    let drop_old = after(&out, "once every client has them: ");
    let out = sh(&drop_old);
    assert!(
        out.contains("rotation complete") && out.contains(again),
        "{out}"
    );
    assert_eq!(pem_count(&env, "client/ca.crt"), 1);
}
