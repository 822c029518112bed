//! Snapshots of what users see: generated files (secrets redacted) and help text.

mod support;

use assert_cmd::Command;
use std::fs;
use support::{fresh, redact};

fn generated(spec: Option<&str>, files: &[&str]) -> String {
    let (dir, outcome) = fresh(spec);
    let passwords: Vec<&str> = outcome.passwords.values().map(String::as_str).collect();
    let mut out = String::new();
    for f in files {
        let text = fs::read_to_string(dir.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        out.push_str(&format!("==> {f} <==\n{}\n", redact(&text, &passwords)));
    }
    out
}

const FILES: &[&str] = &[
    "buildkit/buildkitd.toml",
    "docker-compose.yml",
    "registry/config.yml",
    "registry/auth/htpasswd",
    "docker/config.json",
    ".env",
    ".gitignore",
];

#[test]
fn default_environment_files() {
    insta::assert_snapshot!(generated(None, FILES));
}

/// `bkenv init --rootless` on the default spec: the rootless image, its config path,
/// and the socket moved under /run/user/1000 (spec included: the flag edits it).
#[test]
fn default_environment_rootless_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = support::options(dir.path());
    opts.overrides.rootless = Some(true);
    let outcome = support::run_init(&opts).unwrap();
    let passwords: Vec<&str> = outcome.passwords.values().map(String::as_str).collect();
    let mut out = String::new();
    for f in [
        "bkenv.toml",
        "buildkit/buildkitd.toml",
        "docker-compose.yml",
    ] {
        let text = fs::read_to_string(dir.path().join(f)).unwrap();
        out.push_str(&format!("==> {f} <==\n{}\n", redact(&text, &passwords)));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn example_environments() {
    for example in ["minimal", "mtls", "mirror", "external-registry", "rootless"] {
        let dir = format!("{}/examples/{example}", env!("CARGO_MANIFEST_DIR"));
        let spec = fs::read_to_string(format!("{dir}/bkenv.toml")).unwrap();
        let (env_dir, outcome) = {
            let tmp = tempfile::tempdir().unwrap();
            for entry in fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
            }
            let out = support::run_init(&support::options(tmp.path()))
                .unwrap_or_else(|e| panic!("{example}: {e}"));
            (tmp, out)
        };
        let passwords: Vec<&str> = outcome.passwords.values().map(String::as_str).collect();
        let mut out = format!("==> bkenv.toml <==\n{spec}\n");
        for f in FILES {
            if let Ok(text) = fs::read_to_string(env_dir.path().join(f)) {
                out.push_str(&format!("==> {f} <==\n{}\n", redact(&text, &passwords)));
            }
        }
        insta::assert_snapshot!(format!("example_{}", example.replace('-', "_")), out);
    }
}

fn help(args: &[&str]) -> String {
    let out = Command::cargo_bin("bkenv")
        .unwrap()
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_text() {
    insta::assert_snapshot!("help", help(&["--help"]));
    insta::assert_snapshot!("help_init", help(&["init", "--help"]));
    insta::assert_snapshot!("help_explain", help(&["explain", "--help"]));
}

#[test]
fn bad_input_errors_name_the_field_and_exit_2() {
    let cases = [
        (
            "names = [\"registry:5000\", \"localhost:5005\"]",
            "names = [\"my_registry:5000\"]",
        ),
        ("leaf_validity_days = 365", "leaf_validity_days = 1000"),
        (
            "names = [\"registry:5000\", \"localhost:5005\"]",
            "nmes = [\"registry:5000\"]",
        ),
    ];
    let mut out = String::new();
    for (from, to) in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("bkenv.toml"),
            bkenv::spec::DEFAULT_SPEC.replacen(from, to, 1),
        )
        .unwrap();
        let o = Command::cargo_bin("bkenv")
            .unwrap()
            .arg("init")
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{to}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "nothing but the spec is written"
        );
        let err = String::from_utf8(o.stderr)
            .unwrap()
            .replace(&dir.path().display().to_string(), "[DIR]");
        out.push_str(&format!("$ {to}\n{err}\n"));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn lifecycle_help() {
    insta::assert_snapshot!("help_status", help(&["status", "--help"]));
    insta::assert_snapshot!("help_renew", help(&["renew", "--help"]));
    insta::assert_snapshot!("help_rotate_ca", help(&["rotate-ca", "--help"]));
    insta::assert_snapshot!("help_trust", help(&["trust", "--help"]));
    insta::assert_snapshot!("help_trust_install", help(&["trust", "install", "--help"]));
    insta::assert_snapshot!(
        "help_trust_uninstall",
        help(&["trust", "uninstall", "--help"])
    );
}

#[test]
fn probe_help() {
    insta::assert_snapshot!("help_probe", help(&["probe", "--help"]));
    insta::assert_snapshot!("help_doctor", help(&["doctor", "--help"]));
    insta::assert_snapshot!("help_preflight", help(&["preflight", "--help"]));
}
