//! What `init` tells the user: what happened to each file, and the exact commands to
//! start and use the environment.

use crate::init::InitOutcome;
use crate::model::{Environment, layout};
use crate::output::Status;
use crate::render::primary_registry;
use std::fmt::Write;

pub(crate) fn init_summary(
    outcome: &InitOutcome,
    dir: &str,
    dry_run: bool,
    show_password: bool,
) -> String {
    let mut s = String::new();
    let verb = if dry_run {
        "bkenv init --dry-run: nothing written; the plan:"
    } else {
        "bkenv init:"
    };
    let _ = writeln!(s, "{verb}");
    for a in &outcome.applied {
        let _ = writeln!(
            s,
            "  {:<10} {}",
            a.status.as_str().split(' ').next().unwrap_or(""),
            a.path.display()
        );
    }
    s.push_str(&kept_notes(outcome));
    for n in &outcome.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    s.push_str(&passwords(outcome, show_password));
    if !dry_run {
        s.push_str(&next_steps(&outcome.env, dir));
    }
    s
}

/// What `init --quiet` prints: what needs the user's attention (files kept because they
/// were edited, and init's notes marked `warning:`) and, when asked for, the passwords.
/// The routine notes (CA reused, leaf reissued and why) are left out.
pub(crate) fn quiet_summary(outcome: &InitOutcome, show_password: bool) -> String {
    let mut s = String::new();
    s.push_str(&kept_notes(outcome));
    for n in outcome.notes.iter().filter(|n| n.starts_with("warning: ")) {
        let _ = writeln!(s, "  note: {n}");
    }
    s.push_str(&passwords(outcome, show_password));
    s
}

fn kept_notes(outcome: &InitOutcome) -> String {
    let mut s = String::new();
    for k in outcome
        .applied
        .iter()
        .filter(|a| a.status == Status::KeptEdited)
    {
        let _ = writeln!(
            s,
            "  note: {} was edited since bkenv wrote it; kept. Re-run with --force to overwrite it.",
            k.path.display()
        );
    }
    s
}

fn passwords(outcome: &InitOutcome, show_password: bool) -> String {
    let mut s = String::new();
    if show_password {
        for (i, p) in &outcome.passwords {
            let name = outcome
                .env
                .registries
                .get(*i)
                .and_then(|r| r.primary_name())
                .map(ToString::to_string)
                .unwrap_or_default();
            let _ = writeln!(s, "  password for {name}: {p}");
        }
    }
    s
}

/// The commands to start the environment and build, push and cache through it.
pub(crate) fn next_steps(env: &Environment, dir: &str) -> String {
    let mut s = String::from("\nNext steps:\n");
    if dir != "." {
        // A path with spaces or quotes still pastes into a shell as one word (a path
        // cannot hold the one character, NUL, that cannot be quoted).
        let quoted = shlex::try_quote(dir).unwrap_or(std::borrow::Cow::Borrowed(dir));
        let _ = writeln!(s, "  cd {quoted}");
    }
    s.push_str("  docker compose up -d\n");
    s.push_str("  set -a; . ./.env; set +a\n");
    let bk = &env.buildkitd;
    let mut tls = format!("--tlscacert {}/ca.crt", layout::CLIENT_DIR);
    if bk.mtls {
        let _ = write!(
            tls,
            " --tlscert {0}/client.crt --tlskey {0}/client.key",
            layout::CLIENT_DIR
        );
    }
    let Some(reg) = primary_registry(env).and_then(|(_, r)| r.primary_name()) else {
        return s;
    };
    let _ = writeln!(s, "  buildctl --addr \"$BUILDKIT_HOST\" {tls} build \\");
    s.push_str("    --frontend dockerfile.v0 --local context=. --local dockerfile=. \\\n");
    let _ = write!(s, "    --output type=image,name={reg}/app:dev,push=true");
    if bk.supports_image_manifest_cache() {
        let _ = write!(
            s,
            " \\\n    --export-cache type=registry,ref={reg}/app:buildcache,mode=max,image-manifest=true,oci-mediatypes=true \\\n    --import-cache type=registry,ref={reg}/app:buildcache"
        );
    } else {
        let _ = write!(
            s,
            " \\\n    --export-cache type=registry,ref={reg}/app:buildcache,mode=max"
        );
    }
    s.push('\n');
    s.push_str("  bkenv doctor --probe   # check the running environment\n");
    s
}
