//! The README's quick start, as a new user lives it: `bkenv init demo` in a fresh
//! directory, with `bkenv` on `PATH` as `cargo install` leaves it, then every command
//! `init` printed, run by `sh` in the sandbox's host namespace, to a pushed image. Only
//! two things differ from a user's shell: `docker compose up -d` (no engine here; the
//! registry and the real buildkitd are started from the generated compose file as
//! `sandbox`/`container` do), and the placeholder for the user's project, which gets a
//! project directory. The README's block must be what `init` prints.

use crate::env::{CLIENT_TIMEOUT, Env};
use crate::sandbox::run_for;
use std::fs;
use std::path::Path;

/// The lines of the first ```sh block after `heading` in the README.
fn readme_block(heading: &str) -> Vec<String> {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let after = &readme[readme.find(heading).expect(heading)..];
    let body = &after[after.find("```sh\n").expect("a sh block") + 6..];
    body[..body.find("```").expect("block end")]
        .lines()
        .map(String::from)
        .collect()
}

/// The commands after "Next steps:" in `init`'s output, unindented.
fn printed_steps(out: &str) -> Vec<String> {
    out[out.find("Next steps:\n").expect("next steps") + 12..]
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l).to_string())
        .collect()
}

fn is_compose_up(line: &str) -> bool {
    line.starts_with("docker compose up -d") || line.starts_with("docker-compose up -d")
}

#[test]
fn readme_quick_start_builds_and_pushes_as_printed() {
    if !crate::buildkit::present() {
        return;
    }
    let work = tempfile::tempdir().expect("work");
    let bin = work.path().join("bin");
    fs::create_dir(&bin).expect("bin");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("bkenv"), bin.join("bkenv"))
        .expect("link bkenv");
    // `docker buildx ...` in the printed steps: the real buildx plugin behind a `docker`
    // stand-in (no Docker CLI here), as the other buildx tests run it.
    let docker =
        crate::support::docker_shim(&crate::buildkit::bin("docker-buildx").expect("docker-buildx"));
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        docker.path().display(),
        crate::buildkit::client_path()
    );
    let home = work.path().join("home");
    fs::create_dir(&home).expect("home");

    // Setup: the README's `bkenv init` line, verbatim (`cargo install` is `bin/`).
    let setup = readme_block("## Setup");
    let init = setup
        .iter()
        .find(|l| l.starts_with("bkenv init"))
        .expect("a bkenv init line in the setup");
    let (ok, out) = run_for(
        std::process::Command::new("sh")
            .args(["-c", init])
            .current_dir(&home)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &home),
        CLIENT_TIMEOUT,
    );
    assert!(ok, "{init}: {out}");
    let printed = printed_steps(&out);
    assert!(
        printed.contains(&"bkenv doctor --probe   # check the running environment".to_string()),
        "bkenv on PATH is printed as `bkenv`:\n{out}"
    );

    // The README shows what init prints (the compose line depends on the machine), then
    // one more host-side check.
    let usage = readme_block("## Using the environment");
    let same = |a: &String, b: &String| a == b || (is_compose_up(a) && is_compose_up(b));
    assert!(
        usage.len() > printed.len() && usage.iter().zip(&printed).all(|(a, b)| same(a, b)),
        "README's block is not what init prints:\n{}\n---\n{}",
        usage.join("\n"),
        printed.join("\n")
    );

    // The services, as `docker compose up -d` would start them.
    let dir = home.join("demo");
    let env = Env::adopt(work, dir.clone());
    let mut up = env.up();
    assert!(up.refused.is_none(), "registry: {:?}", up.refused);
    up.start_buildkitd(&env)
        .unwrap_or_else(|log| panic!("buildkitd: {log}"));

    // Every printed step and the README's extra check, in one shell, as pasted.
    let project = tempfile::tempdir().expect("project");
    fs::write(
        project.path().join("Dockerfile"),
        "FROM scratch\nCOPY app.txt /app.txt\n",
    )
    .expect("Dockerfile");
    fs::write(project.path().join("app.txt"), "my app\n").expect("app.txt");
    let script: Vec<String> = usage
        .iter()
        .map(|l| {
            if is_compose_up(l) {
                ": services started by the test sandbox".to_string()
            } else {
                l.replace(
                    bkenv::summary::PROJECT_PLACEHOLDER,
                    &project.path().display().to_string(),
                )
            }
        })
        .collect();
    // Entering the sandbox's mount namespace resets the working directory to `/`: the
    // user's shell is in the directory where they ran `bkenv init`.
    let script = format!("cd '{}'\nset -ex\n{}\n", home.display(), script.join("\n"));
    let mut sh = up.client("sh");
    sh.args(["-c", &script])
        .env("PATH", &path)
        .env("NO_COLOR", "1");
    let (ok, out) = run_for(&mut sh, CLIENT_TIMEOUT * 3);
    assert!(ok, "the quick start failed:\n{out}\n{}", up.logs());
    // skopeo (the README's last line) found the smoke test's image; the project's image
    // and its cache are in the registry too.
    assert!(out.contains("\"Digest\": \"sha256:"), "{out}");
    // `bkenv doctor --probe` checked the running environment and found it sound.
    assert!(out.contains("doctor: no problems found"), "{out}");
    // The buildx steps pushed through the remote builder made from create-remote.sh.
    for tag in ["app:dev", "app:buildcache", "hello:buildx"] {
        let (ok, raw) = up.inspect_raw_ref(&env, "localhost:5005", tag);
        assert!(ok, "{tag}: {raw}");
    }
    let (text, _) = up
        .pull_file(&env, "localhost:5005", "app:dev", "app.txt")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text, "my app\n");
}
