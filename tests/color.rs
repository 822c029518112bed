//! Colour follows the conventions everywhere bkenv prints (findings, help, clap's usage
//! errors, bkenv's own errors): on for a terminal, off for a pipe, `NO_COLOR` turns it
//! off, `CLICOLOR_FORCE` turns it on, and `--color auto|always|never` overrides both.
//! The terminal is a real pseudo-terminal (`script` from util-linux).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

const ESC: &str = "\x1b[";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bkenv")
}

/// A clean environment: no colour variables, a colour-capable TERM, not CI.
fn base_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "100")
}

/// Runs bkenv with `args` and `vars` on a pseudo-terminal (stdout and stderr both go to
/// it); returns what the terminal received.
fn on_tty(script: &Path, args: &[&str], vars: &[(&str, &str)]) -> String {
    let mut words = vec![bin()];
    words.extend(args);
    let line = shlex::try_join(words).expect("quote");
    let mut cmd = Command::new(script);
    base_env(&mut cmd);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs bkenv with stdout and stderr on pipes; returns both.
fn on_pipe(args: &[&str], vars: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(bin());
    base_env(&mut cmd);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().expect("bkenv");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// An environment with one error finding (BK002), and one whose spec does not load (an
/// error of bkenv itself, exit 2).
fn fixtures() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let finding = root.path().join("finding");
    std::fs::create_dir_all(&finding).expect("mkdir");
    std::fs::write(
        finding.join("buildkitd.toml"),
        "[grpc]\naddress = \"tcp://0.0.0.0:1234\"\n",
    )
    .expect("write");
    let failing = root.path().join("failing");
    std::fs::create_dir_all(&failing).expect("mkdir");
    std::fs::write(failing.join("bkenv.toml"), "nmes = 1\n").expect("write");
    (root, finding, failing)
}

#[test]
fn colour_follows_the_terminal_no_color_clicolor_force_and_the_flag() {
    let Some(script) = support::tool("script") else {
        return;
    };
    let (_root, finding, failing) = fixtures();
    let finding = finding.to_str().expect("utf-8");
    let failing = failing.to_str().expect("utf-8");
    // Every place bkenv prints with colour: findings, help, a usage error, an error.
    let cases: [(&str, Vec<&str>); 4] = [
        ("findings", vec!["doctor", finding]),
        ("help", vec!["doctor", "--help"]),
        ("usage error", vec!["doctor", "--no-such-flag"]),
        ("error", vec!["init", failing]),
    ];
    for (what, args) in &cases {
        fn with<'a>(args: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
            args.iter().chain(extra).copied().collect()
        }
        let expect = |text: &str, colour: bool, how: &str| {
            assert!(!text.trim().is_empty(), "{what} {how}: nothing printed");
            assert_eq!(
                text.contains(ESC),
                colour,
                "{what} {how}: colour expected {colour}:\n{text:?}"
            );
        };
        // A terminal: colour unless told otherwise.
        expect(&on_tty(&script, args, &[]), true, "on a terminal");
        expect(
            &on_tty(&script, args, &[("NO_COLOR", "1")]),
            false,
            "NO_COLOR",
        );
        expect(
            &on_tty(&script, args, &[("TERM", "dumb")]),
            false,
            "TERM=dumb",
        );
        expect(
            &on_tty(&script, &with(args, &["--color", "never"]), &[]),
            false,
            "--color never",
        );
        expect(
            &on_tty(&script, &with(args, &["--color=never"]), &[]),
            false,
            "--color=never",
        );
        expect(
            &on_tty(
                &script,
                &with(args, &["--color", "always"]),
                &[("NO_COLOR", "1")],
            ),
            true,
            "NO_COLOR with --color always (the flag wins)",
        );
        // A pipe: plain unless forced.
        expect(&on_pipe(args, &[]), false, "piped");
        expect(
            &on_pipe(args, &[("CLICOLOR_FORCE", "1")]),
            true,
            "piped, CLICOLOR_FORCE",
        );
        expect(
            &on_pipe(&with(args, &["--color", "always"]), &[]),
            true,
            "piped, --color always",
        );
        expect(
            &on_pipe(
                &with(args, &["--color", "never"]),
                &[("CLICOLOR_FORCE", "1")],
            ),
            false,
            "CLICOLOR_FORCE with --color never (the flag wins)",
        );
        expect(
            &on_pipe(
                &with(args, &["--color", "auto"]),
                &[("CLICOLOR_FORCE", "1")],
            ),
            true,
            "--color auto defers to CLICOLOR_FORCE",
        );
    }
}

/// Colour is only for people: a report written to a file, and every machine format,
/// stay plain even when colour is forced.
#[test]
fn machine_output_never_has_colour() {
    let (root, finding, _) = fixtures();
    let finding = finding.to_str().expect("utf-8");
    for format in ["json", "sarif", "github", "gitlab"] {
        let text = on_pipe(
            &["doctor", finding, "--format", format, "--color", "always"],
            &[],
        );
        assert!(!text.contains(ESC), "{format}: {text:?}");
    }
    let report = root.path().join("report.txt");
    let summary = on_pipe(
        &[
            "doctor",
            finding,
            "--output",
            report.to_str().expect("utf-8"),
            "--color",
            "always",
        ],
        &[],
    );
    let written = std::fs::read_to_string(&report).expect("report");
    assert!(written.contains("error[BK002]"), "{written}");
    assert!(!written.contains(ESC), "{written:?}");
    assert!(summary.contains("report:"), "{summary}");
}

#[test]
fn an_invalid_color_value_is_refused_with_the_choices() {
    let text = on_pipe(&["doctor", "--color", "sometimes"], &[]);
    assert!(
        text.contains("invalid value 'sometimes' for '--color <WHEN>'")
            && text.contains("[possible values: auto, always, never]"),
        "{text}"
    );
}
