//! What a user meets after installing bkenv: `--version` with the commit, shell
//! completions loaded in the real shells, man pages rendered by the real `man`, `init
//! --quiet`, and the printed next steps run verbatim in `bash`.

mod support;

use clap::ValueEnum;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bkenv"))
}

fn bkenv(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run bkenv")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn format_names() -> Vec<String> {
    bkenv::report::Format::value_variants()
        .iter()
        .filter_map(|f| f.to_possible_value().map(|v| v.get_name().to_string()))
        .collect()
}

fn subcommand_names() -> Vec<String> {
    bkenv::cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = stdout(&bkenv(&["--version"]));
    let root = env!("CARGO_MANIFEST_DIR");
    let git = Command::new("git")
        .args(["-C", root, "log", "-1", "--format=%h %cs", "--abbrev=12"])
        .output();
    let top = Command::new("git")
        .args(["-C", root, "rev-parse", "--show-toplevel"])
        .output();
    match (git, top) {
        (Ok(g), Ok(t))
            if g.status.success()
                && Path::new(String::from_utf8_lossy(&t.stdout).trim())
                    .canonicalize()
                    .ok()
                    == Path::new(root).canonicalize().ok() =>
        {
            let commit = String::from_utf8_lossy(&g.stdout).trim().to_string();
            assert_eq!(
                out,
                format!("bkenv {} ({commit})\n", env!("CARGO_PKG_VERSION"))
            );
        }
        _ => {
            eprintln!("SKIPPED: not a git work tree; checking the fallback only");
            assert_eq!(
                out,
                format!(
                    "bkenv {} (commit unknown: built without git)\n",
                    env!("CARGO_PKG_VERSION")
                )
            );
        }
    }
}

/// The commit stamp of `build.rs` for a crate that is not the top of a git work tree (a
/// crates.io package unpacked under a home directory kept in git): a tiny crate with
/// bkenv's `build.rs`, built by cargo in a git repository whose top is its parent, and
/// with `BKENV_BUILD_COMMIT` (container builds) valid and hostile.
#[test]
fn version_stamp_outside_a_work_tree_and_from_the_variable() {
    let Some(git) = support::tool("git") else {
        return;
    };
    let home = tempfile::tempdir().expect("home");
    let (ok, out) = support::run(Command::new(&git).arg("init").arg("-q").arg(home.path()));
    assert!(ok, "git init: {out}");
    let krate = home.path().join("registry/bkenv-stamp");
    std::fs::create_dir_all(krate.join("src")).expect("crate dir");
    std::fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"stamp\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .expect("Cargo.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs"),
        krate.join("build.rs"),
    )
    .expect("build.rs");
    std::fs::write(
        krate.join("src/main.rs"),
        "fn main() { print!(\"{}\", env!(\"BKENV_COMMIT\")); }\n",
    )
    .expect("main.rs");
    let stamp = |commit: Option<&str>| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["run", "--offline"])
            .current_dir(&krate)
            .env("CARGO_TARGET_DIR", krate.join("target"))
            .env_remove("BKENV_BUILD_COMMIT");
        if let Some(c) = commit {
            cargo.env("BKENV_BUILD_COMMIT", c);
        }
        let out = cargo.output().expect("cargo run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (unknown, _) = stamp(None);
    assert_eq!(
        unknown, "commit unknown: built without git",
        "not the home's repository"
    );
    let (given, _) = stamp(Some("0123456789ab 2026-11-28"));
    assert_eq!(given, "0123456789ab 2026-11-28");
    // A value that would break the `--version` line is ignored, with a warning.
    let (hostile, warnings) = stamp(Some("abc\u{1b}[31m)\nbkenv 9.9.9"));
    assert_eq!(hostile, "commit unknown: built without git");
    assert!(
        warnings.contains("BKENV_BUILD_COMMIT ignored"),
        "{warnings}"
    );
}

/// The subcommand list `bkenv man SUBCOMMAND` accepts is every subcommand.
#[test]
fn man_accepts_every_subcommand() {
    let mut listed: Vec<&str> = bkenv::cli::SUBCOMMANDS.to_vec();
    let mut actual = subcommand_names();
    listed.sort_unstable();
    actual.sort_unstable();
    assert_eq!(listed, actual);
}

fn completion_script(shell: &str) -> tempfile::NamedTempFile {
    let text = stdout(&bkenv(&["completions", shell]));
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), text).expect("write completion script");
    file
}

/// Completes `words` (the last one being completed) with the generated bash script,
/// loaded and driven in a real `bash`: `complete -p` must name `_bkenv`, which is then
/// called with COMP_WORDS/COMP_CWORD as bash's programmable completion does.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let driver = r#"
set -e
source "$1"; shift
complete -p bkenv | grep -q -- '-F _bkenv' || { echo "not registered: $(complete -p bkenv)"; exit 3; }
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_bkenv bkenv "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", driver, "bash"])
        .arg(script)
        .args(words)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_subcommands_and_format_values() {
    if support::tool("bash").is_none() {
        return;
    }
    let script = completion_script("bash");
    let subs = bash_complete(script.path(), &["bkenv", ""]);
    for name in subcommand_names() {
        assert!(subs.contains(&name), "{name} not in {subs:?}");
    }
    let partial = bash_complete(script.path(), &["bkenv", "pre"]);
    assert_eq!(partial, ["preflight"]);
    for sub in ["doctor", "preflight", "probe"] {
        let values = bash_complete(script.path(), &["bkenv", sub, "--format", ""]);
        assert_eq!(values, format_names(), "{sub} --format");
    }
    let some = bash_complete(script.path(), &["bkenv", "doctor", "--format", "s"]);
    assert_eq!(some, ["sarif"]);
    let shells = bash_complete(script.path(), &["bkenv", "completions", ""]);
    for shell in ["bash", "elvish", "fish", "powershell", "zsh"] {
        assert!(
            shells.iter().any(|s| s == shell),
            "{shell} not in {shells:?}"
        );
    }
    let colors = bash_complete(script.path(), &["bkenv", "init", "--color", ""]);
    assert_eq!(colors, ["auto", "always", "never"]);
    let pages = bash_complete(script.path(), &["bkenv", "man", "pr"]);
    assert_eq!(pages, ["preflight", "probe"]);
}

#[test]
fn fish_completes_subcommands_and_format_values() {
    if support::tool("fish").is_none() {
        return;
    }
    let script = completion_script("fish");
    let complete = |line: &str| -> Vec<String> {
        let out = Command::new("fish")
            .arg("--no-config")
            .arg("-c")
            .arg(format!("source $argv[1]; complete --do-complete '{line}'"))
            .arg(script.path())
            .output()
            .expect("fish");
        assert!(
            out.status.success(),
            "fish: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect()
    };
    let subs = complete("bkenv ");
    for name in subcommand_names() {
        assert!(subs.contains(&name), "{name} not in {subs:?}");
    }
    let mut values = complete("bkenv doctor --format ");
    let mut expected = format_names();
    values.sort();
    expected.sort();
    assert_eq!(values, expected);
}

#[test]
fn zsh_parses_its_completion() {
    if support::tool("zsh").is_none() {
        return;
    }
    let script = completion_script("zsh");
    let text = std::fs::read_to_string(script.path()).expect("read");
    assert!(text.starts_with("#compdef bkenv"), "{}", &text[..40]);
    // `-n`: parse without running; a syntax error fails.
    let out = Command::new("zsh")
        .args(["-f", "-n"])
        .arg(script.path())
        .output()
        .expect("zsh");
    assert!(
        out.status.success(),
        "zsh -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// PowerShell and Elvish are not on this machine, and clap's scripts for them complete
/// subcommands and option names (not values): checked for those.
#[test]
fn powershell_and_elvish_scripts_offer_every_subcommand() {
    let powershell = stdout(&bkenv(&["completions", "powershell"]));
    let elvish = stdout(&bkenv(&["completions", "elvish"]));
    for name in subcommand_names() {
        assert!(
            powershell.contains(&format!("[CompletionResult]::new('{name}', '{name}'")),
            "powershell: {name}"
        );
        assert!(elvish.contains(&format!("cand {name} '")), "elvish: {name}");
    }
    assert!(powershell.contains("[CompletionResult]::new('--format', '--format'"));
    assert!(elvish.contains("cand --format '"));
}

#[test]
fn unknown_shell_is_refused_with_the_choices() {
    let out = bkenv(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{err}"
    );
}

/// Renders a page with the real `man` (groff), warnings on: returns the text.
fn render_man(roff: &str) -> Option<String> {
    support::tool("man")?;
    let file = tempfile::Builder::new()
        .suffix(".1")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), roff).expect("write page");
    let out = Command::new("man")
        .args(["--warnings=all", "-l"])
        .arg(file.path())
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("man");
    assert!(out.status.success(), "man failed");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.trim().is_empty(), "groff warnings: {warnings}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes man's overstrike bold/underline (`X\bX`, `_\bX`).
fn plain(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn man_pages_render_without_warnings() {
    let top = stdout(&bkenv(&["man"]));
    assert!(top.starts_with(".ie \\n(.g .ds Aq"), "roff: {}", &top[..60]);
    assert!(top.contains(".TH bkenv 1"), "{top}");
    let Some(text) = render_man(&top).map(|t| plain(&t)) else {
        return;
    };
    assert!(
        text.contains("bkenv - Stand up, diagnose and preflight"),
        "{text}"
    );
    for name in subcommand_names() {
        assert!(text.contains(&format!("bkenv-{name}(1)")), "{name}: {text}");
    }
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "version: {text}");

    let init = stdout(&bkenv(&["man", "init"]));
    assert!(
        init.contains(&format!(
            ".TH bkenv-init 1  \"bkenv {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{init}"
    );
    assert!(init.contains("\n\\fBbkenv init\\fR ["), "{init}");
    let text = plain(&render_man(&init).expect("man"));
    assert!(text.contains("[DIR]"), "{text}");
    assert!(text.contains("--quiet"), "{text}");
    assert!(text.contains("--color"), "{text}");
    // Every subcommand has a page.
    for name in subcommand_names() {
        let page = stdout(&bkenv(&["man", &name]));
        assert!(page.contains(&format!(".TH bkenv-{name} 1")), "{name}");
    }
}

#[test]
fn man_refuses_an_unknown_subcommand_with_a_suggestion() {
    let out = bkenv(&["man", "doctr"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'doctr'") && err.contains("doctor"), "{err}");
}

#[test]
fn init_quiet_prints_only_what_needs_attention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = dir.path().join("env");
    let env_s = env.to_str().expect("utf-8");
    let full = stdout(&bkenv(&["init", "--dry-run", env_s]));
    assert!(full.contains("note: new CA generated"), "{full}");
    let first = stdout(&bkenv(&["init", "--quiet", env_s]));
    assert_eq!(first, "", "a first run has nothing that needs attention");
    assert!(env.join("ca/ca.key").is_file() && env.join(".env").is_file());
    let again = stdout(&bkenv(&["init", "-q", env_s]));
    assert_eq!(
        again, "",
        "nor has an unchanged re-run (no `CA reused` note)"
    );

    // An edited file is kept and still reported under --quiet.
    let compose = env.join("docker-compose.yml");
    let mut text = std::fs::read_to_string(&compose).expect("compose");
    text.push_str("# my edit\n");
    std::fs::write(&compose, text).expect("edit");
    let edited = stdout(&bkenv(&["init", "-q", env_s]));
    assert_eq!(
        edited,
        "  note: docker-compose.yml was edited since bkenv wrote it; kept. Re-run with --force to overwrite it.\n"
    );

    // So is a warning: a directory other users can write to.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let open = stdout(&bkenv(&["init", "-q", env_s]));
    assert!(
        open.contains("note: warning: ") && open.contains("is writable by other users"),
        "{open}"
    );
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // --show-password is an explicit request: printed even when quiet.
    let third = stdout(&bkenv(&["init", "-q", "--show-password", env_s]));
    let password = third
        .lines()
        .find_map(|l| l.strip_prefix("  password for registry:5000: "))
        .unwrap_or_else(|| panic!("{third}"));
    let dotenv = std::fs::read_to_string(env.join(".env")).expect(".env");
    assert!(
        dotenv.contains(password),
        "the printed password is the one in .env"
    );
    assert!(!third.contains("Next steps"), "{third}");
}

/// The next steps `init` prints, run as printed in `bash` from where init ran, with
/// `bkenv` on PATH as `cargo install` puts it: `cd` into a directory whose name needs
/// quoting, source `.env`, and run `bkenv doctor` there. (`docker compose up -d`,
/// `buildctl` and `--probe` need the running services; tests/e2e runs those.)
#[test]
fn printed_next_steps_run_verbatim() {
    if support::tool("bash").is_none() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let name = "my env's dir";
    let out = Command::new(bin())
        .args(["init", name])
        .current_dir(work.path())
        .output()
        .expect("init");
    let text = stdout(&out);
    let steps: Vec<&str> = text
        .split_once("\nNext steps:\n")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{text}"))
        .lines()
        .map(str::trim)
        .collect();
    assert_eq!(steps[0], r#"cd "my env's dir""#);
    assert_eq!(steps[1], "docker compose up -d");
    assert_eq!(steps[2], "set -a; . ./.env; set +a");
    let doctor = steps
        .iter()
        .find(|s| s.starts_with("bkenv doctor --probe"))
        .expect("doctor step");
    // Every step but the ones that need running services, verbatim.
    let script = format!(
        "set -eu\n{}\n{}\nprintf '%s\\n' \"$BUILDKIT_HOST\" \"$PWD\"\n{}\n",
        steps[0],
        steps[2],
        doctor.replace(" --probe", "")
    );
    let path = format!(
        "{}:{}",
        bin().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .expect("bash");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("tcp://localhost:1234"));
    assert!(lines.next().is_some_and(|l| l.ends_with(name)), "{out}");
    assert!(out.contains("no problems found"), "{out}");
}
