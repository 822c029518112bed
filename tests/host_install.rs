//! `[host]` in the spec: `init` writes a host install under `host/` (config with machine
//! paths, BuildKit's systemd units, `install.sh`). Judged by its consumers: systemd's own
//! `systemd-analyze verify` (in a private mount namespace where the real buildkitd sits
//! at the `ExecStart` path), `sh` running `install.sh` into a scratch root, and
//! `bkenv doctor --host=ROOT` on the tree it lays out.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HOST_FILES: &[&str] = &[
    "host/buildkitd.toml",
    "host/system/buildkit.socket",
    "host/system/buildkit.service",
    "host/user/buildkit.service",
    "host/install.sh",
];

fn spec_with(host: &str) -> String {
    format!("{}\n{host}", bkenv::spec::DEFAULT_SPEC)
}

/// A machine path with specifiers and variables in it: systemd would expand `%n` (the
/// unit name), `%k` and `${HOME}` unless bkenv doubles `%` and `$`.
const SPECIFIER_HOST: &str = "[host]\ncerts_dir = \"/opt/bk%k/certs\"\nconfig = \"/opt/bk%k${HOME}/buildkitd.toml\"\nbuildkitd = \"/opt/bk%n${HOME}/buildkitd\"\n";

fn files(dir: &Path, names: &[&str]) -> String {
    let mut out = String::new();
    for f in names {
        let text = fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        out.push_str(&format!("==> {f} <==\n{text}\n"));
    }
    out
}

#[test]
fn host_install_files() {
    let (dir, _) = support::fresh(Some(&spec_with("[host]\n")));
    insta::assert_snapshot!(files(dir.path(), HOST_FILES));
    let mode = |f: &str| {
        fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("host/install.sh"), 0o755);
    // No key material under host/: install.sh copies the keys from buildkit/certs.
    for f in HOST_FILES {
        let text = fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{f}");
    }
    if let Some(sc) = support::tool("shellcheck") {
        let (ok, out) = support::run(Command::new(sc).arg(dir.path().join("host/install.sh")));
        assert!(ok, "{out}");
    }
    // Without [host], no host/ directory.
    let (plain, _) = support::fresh(None);
    assert!(!plain.path().join("host").exists());
}

#[test]
fn host_install_specifiers_doubled() {
    let (dir, _) = support::fresh(Some(&spec_with(SPECIFIER_HOST)));
    let units = files(
        dir.path(),
        &[
            "host/system/buildkit.service",
            "host/user/buildkit.service",
            "host/install.sh",
        ],
    );
    insta::assert_snapshot!(units);
    // TOML has no specifiers: the config names the path as it is.
    let toml: toml_edit::DocumentMut = fs::read_to_string(dir.path().join("host/buildkitd.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        toml["grpc"]["tls"]["cert"].as_str(),
        Some("/opt/bk%k/certs/server.crt")
    );
}

#[test]
fn host_paths_outside_the_grammar_are_refused() {
    for (field, value) in [
        ("certs_dir", "etc/buildkit/certs"),
        ("certs_dir", "/etc/build kit"),
        ("config", "/etc/buildkit/\\\"x.toml"),
        ("config", "/etc/buildkit/x\\n.toml"),
        ("buildkitd", "/usr/local/bin/../buildkitd"),
        ("buildkitd", "/usr/local/bin/"),
        ("certs_dir", "/etc//certs"),
    ] {
        let text = spec_with(&format!("[host]\n{field} = \"{value}\"\n"));
        let spec = bkenv::spec::parse(&text, Path::new("bkenv.toml"))
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        let err = bkenv::spec::validate(&spec).expect_err(value).to_string();
        assert!(err.contains(&format!("host.{field}")), "{value}: {err}");
    }
    for config in [
        "/etc/buildkit/certs/buildkitd.toml",
        "/etc/buildkit/certs",
        "/",
    ] {
        let text = spec_with(&format!("[host]\nconfig = \"{config}\"\n"));
        let spec = bkenv::spec::parse(&text, Path::new("bkenv.toml")).unwrap();
        assert!(bkenv::spec::validate(&spec).is_err(), "{config}");
    }
    let text = spec_with("[host]\ncert_dir = \"/x\"\n");
    assert!(bkenv::spec::parse(&text, Path::new("bkenv.toml")).is_err());
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn buildkitd_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BKENV_BUILDKIT_BIN") {
        return Some(Path::new(&dir).join("buildkitd"));
    }
    support::tool_or("buildkitd", "set BKENV_BUILDKIT_BIN (see .ci/run)")
}

/// `systemd-analyze verify` (system units, then `--user` on the user unit) in a private
/// mount namespace where `binary_at` holds the real buildkitd (verify checks that the
/// `ExecStart` binary exists and is executable). `None` when it cannot run here.
fn verify(dir: &Path, binary_at: Option<&str>) -> Option<(bool, String)> {
    support::tool("systemd-analyze")?;
    let real = buildkitd_bin()?;
    let mut script = String::from("set -e\n");
    for top in ["/usr/local/bin", "/opt"] {
        script.push_str(&format!("mount -t tmpfs bkenv-verify {top}\n"));
    }
    if let Some(at) = binary_at {
        script.push_str(&format!(
            "mkdir -p \"$(dirname '{at}')\"; touch '{at}'; mount --bind '{}' '{at}'\n",
            real.display()
        ));
    }
    let runtime = tempfile::tempdir().unwrap();
    fs::set_permissions(runtime.path(), fs::Permissions::from_mode(0o700)).unwrap();
    script.push_str(&format!(
        "set +e; cd '{0}/host/system' && systemd-analyze verify ./buildkit.socket ./buildkit.service; s=$?\n\
         cd '{0}/host/user' && XDG_RUNTIME_DIR='{1}' systemd-analyze --user verify ./buildkit.service; u=$?\n\
         [ $s = 0 ] && [ $u = 0 ]\n",
        dir.display(),
        runtime.path().display()
    ));
    Some(support::run(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null()),
    ))
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    if !is_root() {
        eprintln!(
            "SKIPPED: systemd-analyze verify in a mount namespace needs root (CI runs as root)"
        );
        return;
    }
    let (dir, _) = support::fresh(Some(&spec_with("[host]\n")));
    let Some((ok, out)) = verify(dir.path(), Some("/usr/local/bin/buildkitd")) else {
        return;
    };
    assert!(ok, "{out}");
    // The check has teeth: without the binary at the ExecStart path, verify refuses.
    let (ok, out) = verify(dir.path(), None).unwrap();
    assert!(!ok && out.contains("/usr/local/bin/buildkitd"), "{out}");

    // Specifiers doubled: systemd looks for the literal path, where the binary is.
    let (dir, _) = support::fresh(Some(&spec_with(SPECIFIER_HOST)));
    let (ok, out) = verify(dir.path(), Some("/opt/bk%n${HOME}/buildkitd")).unwrap();
    assert!(ok, "{out}");
}

/// Runs the generated `install.sh` with `ROOT`, as a user would run it on `/`.
fn install_into(env: &Path, root: &Path) {
    let (ok, out) = support::run(
        Command::new("sh")
            .arg(env.join("host/install.sh"))
            .env("ROOT", root)
            .stdin(Stdio::null()),
    );
    assert!(ok, "{out}");
}

fn doctor_host(root: &Path) -> (Vec<String>, i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bkenv"))
        .args(["doctor", &format!("--host={}", root.display())])
        .args(["--format", "json", "--color", "never"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    support::doctor_json(&out)
}

#[test]
fn doctor_host_finds_nothing_on_the_installed_tree() {
    let (dir, _) = support::fresh(Some(&spec_with("[host]\n")));
    let root = tempfile::tempdir().unwrap();
    install_into(dir.path(), root.path());
    let key = root.path().join("etc/buildkit/certs/server.key");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::read(&key).unwrap(),
        fs::read(dir.path().join("buildkit/certs/server.key")).unwrap()
    );
    assert!(
        root.path()
            .join("etc/systemd/system/buildkit.socket")
            .is_file()
    );
    let (codes, status, out) = doctor_host(root.path());
    assert!(codes.is_empty(), "{out}");
    assert_eq!(status, 0, "{out}");

    // The same tree with the key gone: doctor --host names it.
    fs::remove_file(&key).unwrap();
    let (codes, status, out) = doctor_host(root.path());
    assert_eq!(codes, ["BK882"], "{out}");
    assert_eq!(status, 1, "{out}");
}

#[test]
fn next_steps_say_how_to_install() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("bkenv.toml"), spec_with("[host]\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bkenv"))
        .args(["init", "--color", "never"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let steps = stdout
        .split("Next steps:")
        .nth(1)
        .unwrap_or_else(|| panic!("{stdout}"));
    for line in [
        "  sudo host/install.sh\n",
        "  sudo systemctl enable --now buildkit.socket buildkit.service\n",
        " doctor --host\n",
    ] {
        assert!(steps.contains(line), "{line:?} in {steps}");
    }
    // Rootless: the user unit, installed by the user.
    fs::write(
        dir.path().join("bkenv.toml"),
        spec_with("[host]\nrootless = true\ncerts_dir = \"/home/u/.config/buildkit/certs\"\nconfig = \"/home/u/.config/buildkit/buildkitd.toml\"\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bkenv"))
        .args(["init", "--color", "never"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\n  host/install.sh\n  systemctl --user enable --now buildkit.service\n"),
        "{stdout}"
    );
    let script = fs::read_to_string(dir.path().join("host/install.sh")).unwrap();
    assert!(
        script.contains("systemctl --user daemon-reload"),
        "{script}"
    );
}

/// Characters the grammar allows but `sh` and systemd treat specially land where the
/// spec says, byte for byte.
#[test]
fn install_sh_quotes_hostile_paths() {
    let certs = "/opt/a$b`c`;d&e|f*%n(g)/certs";
    let config = "/opt/$(id)/x{y}.toml";
    let (dir, _) = support::fresh(Some(&spec_with(&format!(
        "[host]\ncerts_dir = '{certs}'\nconfig = '{config}'\n"
    ))));
    let root = tempfile::tempdir().unwrap();
    install_into(dir.path(), root.path());
    let at = |p: &str| root.path().join(p.trim_start_matches('/'));
    assert!(at(&format!("{certs}/server.key")).is_file());
    assert!(at(config).is_file());
    let toml: toml_edit::DocumentMut = fs::read_to_string(at(config)).unwrap().parse().unwrap();
    assert_eq!(
        toml["grpc"]["tls"]["key"].as_str(),
        Some(format!("{certs}/server.key").as_str())
    );
    let unit = fs::read_to_string(dir.path().join("host/system/buildkit.service")).unwrap();
    assert!(unit.contains("--config /opt/$$(id)/x{y}.toml\n"), "{unit}");
    // Nothing escaped the scratch root: only /opt was created there.
    let tops: Vec<_> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(tops.len(), 2, "{tops:?}"); // opt and etc (units)
    // doctor --host reads the unit back as systemd does (`%%`, `$$`) and finds it all.
    let (codes, status, out) = doctor_host(root.path());
    assert!(codes.is_empty() && status == 0, "{out}");
}
