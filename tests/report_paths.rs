//! Report paths resolve from the working directory, not from the checked directory
//! (issue 15 item 5), and explicit path flags are command-line paths (issue 14):
//! `bkenv doctor sub/env` run from the repository root annotates
//! `sub/env/buildkit/buildkitd.toml` in every format.

use assert_cmd::Command;
use std::path::Path;

/// A repository with an environment in `sub/env` holding two findings.
fn repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("sub/env/buildkit");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(
        env.join("buildkitd.toml"),
        "[worker.oci]\n  maxParallelism = 4\n\n[registry.\"*\"]\n  mirrors = [\"mirror.gcr.io\"]\n",
    )
    .unwrap();
    tmp
}

fn bkenv(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("bkenv")
        .unwrap()
        .args(args)
        .current_dir(cwd)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn every_format_names_paths_from_the_working_directory() {
    let tmp = repo();
    let root = tmp.path().canonicalize().unwrap();
    let mut all = String::new();
    for format in ["human", "github", "gitlab", "json", "sarif"] {
        let (code, out, err) = bkenv(&root, &["doctor", "sub/env", "--format", format]);
        assert_eq!(code, 1, "{format}: {err}");
        let mut out = out.replace(&format!("file://{}/", root.display()), "file:///REPO/");
        if format == "sarif" {
            // The rules' explanations are pinned by report__sarif_snapshot; here only
            // where results point matters.
            let mut v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let rules = &mut v["runs"][0]["tool"]["driver"]["rules"];
            let ids: Vec<serde_json::Value> = rules
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].clone())
                .collect();
            *rules = serde_json::Value::Array(ids);
            out = serde_json::to_string_pretty(&v).unwrap() + "\n";
        }
        all.push_str(&format!("==> --format {format} <==\n{out}\n"));
    }
    insta::assert_snapshot!("doctor_sub_env_every_format", all);

    // Each place the machine formats name exists from the working directory.
    let (_, json, _) = bkenv(&root, &["doctor", "sub/env", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let paths: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["location"]["path"].as_str())
        .collect();
    assert_eq!(paths.len(), 2, "{json}");
    for p in paths {
        assert!(root.join(p).is_file(), "{p} does not exist from the cwd");
    }
    let (_, sarif, _) = bkenv(&root, &["doctor", "sub/env", "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let run = &v["runs"][0];
    let base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    assert_eq!(base, format!("file://{}/", root.display()));
    for r in run["results"].as_array().unwrap() {
        let art = &r["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(art["uriBaseId"], "%SRCROOT%");
        let uri = art["uri"].as_str().unwrap();
        assert!(root.join(uri).is_file(), "{uri}");
    }

    // From inside the environment, and with an absolute DIR, the same files are named
    // from there.
    let (_, out, _) = bkenv(&root.join("sub"), &["doctor", "env", "--format", "github"]);
    assert!(out.contains("file=env/buildkit/buildkitd.toml,"), "{out}");
    let abs = root.join("sub/env");
    let (_, out, _) = bkenv(
        &root,
        &["doctor", abs.to_str().unwrap(), "--format", "github"],
    );
    assert!(
        out.contains("file=sub/env/buildkit/buildkitd.toml,"),
        "{out}"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let (_, out, _) = bkenv(
        elsewhere.path(),
        &["doctor", abs.to_str().unwrap(), "--format", "github"],
    );
    assert!(
        out.contains(&format!("file={}/buildkit/buildkitd.toml,", abs.display())),
        "{out}"
    );
}

/// `--buildkitd-config` and `--compose` are taken from the working directory, like any
/// command-line path; a missing one is an error (exit 2), not a finding.
#[test]
fn explicit_path_flags_resolve_from_the_working_directory() {
    let tmp = repo();
    let root = tmp.path();
    std::fs::write(root.join("ci.toml"), "[worker.oci]\n  net = \"host\"\n").unwrap();
    let (code, out, err) = bkenv(
        root,
        &[
            "doctor",
            "sub/env",
            "--buildkitd-config",
            "ci.toml",
            "--format",
            "github",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("file=ci.toml,line=2,"), "{out}");
    assert!(!out.contains("buildkit/buildkitd.toml"), "{out}");

    // Inside DIR, named from the cwd: read once, named from the cwd.
    let (code, out, err) = bkenv(
        root,
        &[
            "doctor",
            "sub/env",
            "--buildkitd-config",
            "sub/env/buildkit/buildkitd.toml",
            "--format",
            "github",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out.matches("file=sub/env/buildkit/buildkitd.toml,").count(),
        2,
        "{out}"
    );

    for flag in [
        "--compose",
        "--buildkitd-config",
        "--docker-config",
        "--env-file",
    ] {
        // `buildkit/buildkitd.toml` exists under DIR, not under the cwd.
        let (code, out, err) = bkenv(
            root,
            &["doctor", "sub/env", flag, "buildkit/buildkitd.toml"],
        );
        assert_eq!(code, 2, "{flag}: {out}{err}");
        assert!(
            err.contains(&format!("{flag} buildkit/buildkitd.toml: no such file"))
                && err.contains("relative to the working directory"),
            "{err}"
        );
        assert!(out.is_empty(), "{out}");
    }
    // preflight's --dockerfile is a command-line path too.
    std::fs::write(root.join("Dockerfile.ci"), "ARG BASE\nFROM ${BASE}\n").unwrap();
    let (_, out, err) = bkenv(
        root,
        &[
            "preflight",
            "--offline",
            "sub/env",
            "--dockerfile",
            "Dockerfile.ci",
            "--format",
            "github",
        ],
    );
    assert!(
        out.contains("title=BK602") && out.contains("file=Dockerfile.ci,line=2,"),
        "{out}{err}"
    );
    let (code, _, err) = bkenv(
        root,
        &["preflight", "--offline", "sub/env", "--compose", "nope.yml"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--compose nope.yml: no such file"), "{err}");
}

/// `doctor --fix sub/env` says which file it fixed from the working directory.
#[test]
fn fixed_files_are_named_from_the_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("sub/env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(
        env.join("buildkitd.toml"),
        "[registry.registry:5000]\n  http = true\n",
    )
    .unwrap();
    let (_, out, err) = bkenv(tmp.path(), &["doctor", "--fix", "sub/env"]);
    assert!(
        out.contains("fixed: sub/env/buildkitd.toml\n"),
        "{out}{err}"
    );
    assert_eq!(
        std::fs::read_to_string(env.join("buildkitd.toml")).unwrap(),
        "[registry.\"registry:5000\"]\n  http = true\n"
    );
}
