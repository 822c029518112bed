//! `bkenv trust install|uninstall` on the real host paths, in a private mount namespace:
//! `/etc` and `/usr/local/share/ca-certificates` are overlays whose writes land in a
//! temporary directory, so the namespace sees `/etc/docker/certs.d`, containerd's
//! `certs.d`, the system store and the real `update-ca-certificates` at their real
//! places while the host's files never change (checked at the end). Needs root, like
//! the e2e suite.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private mount namespace held open by a sleeping process.
struct Ns {
    holder: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

impl Ns {
    /// `None` (after a loud message; a failure under CI) without root or overlayfs.
    fn new() -> Option<Ns> {
        for tool in [
            "unshare",
            "nsenter",
            "setpriv",
            "update-ca-certificates",
            "openssl",
        ] {
            support::tool(tool)?;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let ready = dir.path().join("ready");
        let script = format!(
            "set -e\n\
             for x in etc local; do mkdir -p {d}/$x/upper {d}/$x/work; done\n\
             mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/etc/upper,workdir={d}/etc/work /etc\n\
             mount -t overlay overlay -o lowerdir=/usr/local/share/ca-certificates,upperdir={d}/local/upper,workdir={d}/local/work /usr/local/share/ca-certificates\n\
             mkdir -p /etc/containerd /etc/docker\n\
             touch '{}'\n\
             exec sleep 600\n",
            ready.display()
        );
        let holder = Command::new("setpriv")
            .args([
                "--pdeathsig",
                "KILL",
                "unshare",
                "--mount",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unshare");
        let mut ns = Ns { holder, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            if matches!(ns.holder.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                let mut err = String::new();
                if let Some(mut e) = ns.holder.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                assert!(
                    std::env::var("CI").is_err(),
                    "a private mount namespace with overlays is needed in CI: {err}"
                );
                eprintln!(
                    "SKIPPED: cannot make a private mount namespace with overlays (run as root): {err}"
                );
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(ns)
    }

    /// `program` run inside the namespace.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["--mount", "--"])
            .arg(program);
        c
    }

    /// `path` as the namespace sees it.
    fn path(&self, path: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{path}", self.holder.id()))
    }

    fn bkenv(&self, args: &[&str], dir: &Path) -> (bool, String) {
        let mut c = self.cmd(assert_cmd::cargo::cargo_bin("bkenv"));
        c.args(args)
            .arg(dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        support::run(&mut c)
    }

    /// `openssl verify` of `leaf` against the namespace's system bundle.
    fn system_trusts(&self, leaf: &Path) -> bool {
        let (ok, _) = support::run(
            self.cmd("openssl")
                .args(["verify", "-CAfile", "/etc/ssl/certs/ca-certificates.crt"])
                .arg(leaf),
        );
        ok
    }
}

fn sha(path: &Path) -> Option<String> {
    fs::read(path).ok().map(|b| bkenv::output::sha256_hex(&b))
}

fn init(spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("bkenv.toml"), spec).expect("spec");
    let (ok, out) = support::run(
        Command::new(assert_cmd::cargo::cargo_bin("bkenv"))
            .arg("init")
            .arg(dir.path()),
    );
    assert!(ok, "init: {out}");
    dir
}

fn pem_count(path: &Path) -> usize {
    fs::read_to_string(path)
        .unwrap_or_default()
        .matches("BEGIN CERTIFICATE")
        .count()
}

#[test]
fn trust_install_and_uninstall_on_the_real_paths_in_a_private_namespace() {
    let host_bundle = sha(Path::new("/etc/ssl/certs/ca-certificates.crt"));
    let host_docker = Path::new("/etc/docker/certs.d");
    let host_docker_before = fs::read_dir(host_docker).map(|d| d.count()).ok();
    let Some(ns) = Ns::new() else { return };
    let env = init(include_str!("../examples/mtls/bkenv.toml"));
    let d = env.path();
    let leaf = d.join("registry/certs/registry.crt");
    assert!(!ns.system_trusts(&leaf), "not trusted before the install");

    // Without consent (stdin is not a terminal, no --yes) nothing changes.
    let (ok, out) = ns.bkenv(&["trust", "install"], d);
    assert!(!ok && out.contains("--yes"), "{out}");
    assert!(!ns.path("/etc/docker/certs.d").exists(), "{out}");
    // The plan names what makes this safe: the name constraints.
    assert!(out.contains("can sign only for: "), "{out}");

    let (ok, out) = ns.bkenv(&["trust", "install", "--yes"], d);
    assert!(ok, "{out}");
    let ca = fs::read_to_string(d.join("ca/ca.crt")).expect("ca");
    // Docker: every host-side name, IPv6 literals bracketed; registry:5000 is dialled
    // only inside the compose network.
    for name in ["localhost:5005", "[::1]:5005"] {
        let docker = ns.path(&format!("/etc/docker/certs.d/{name}/ca.crt"));
        assert_eq!(
            fs::read_to_string(&docker).expect("docker ca.crt"),
            ca,
            "{name}"
        );
        assert_eq!(
            fs::metadata(&docker).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let hosts = ns.path(&format!("/etc/containerd/certs.d/{name}/hosts.toml"));
        let doc: toml_edit::DocumentMut = fs::read_to_string(&hosts)
            .expect("hosts.toml")
            .parse()
            .expect("hosts.toml parses");
        let server = format!("https://{name}");
        assert_eq!(doc["server"].as_str(), Some(server.as_str()));
        let ca_path = doc["host"][server.as_str()]["ca"].as_str().expect("ca");
        assert_eq!(ca_path, format!("/etc/containerd/certs.d/{name}/ca.crt"));
        assert_eq!(
            fs::read_to_string(ns.path(ca_path)).expect("containerd ca"),
            ca
        );
    }
    assert!(!ns.path("/etc/docker/certs.d/registry:5000").exists());
    // The system store: the real update-ca-certificates ran.
    assert!(ns.system_trusts(&leaf), "trusted after the install: {out}");
    assert!(out.contains("update-ca-certificates"), "{out}");
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join(".bkenv/host-trust.json")).expect("record"))
            .expect("record JSON");
    // Two names: Docker 2, containerd 2 x (ca.crt, hosts.toml), the system store 1.
    assert_eq!(
        record["files"].as_array().map(Vec::len),
        Some(7),
        "{record}"
    );

    // Again: nothing to change.
    let (ok, out) = ns.bkenv(&["trust", "install", "--yes"], d);
    assert!(ok && out.contains("nothing to change"), "{out}");

    // A rotation: host trust follows the environment's trust set at each install. The
    // steps that change that set say so; `--finish` (old + new before and after) does not.
    for (step, cas, behind) in [
        (None, 2, true),
        (Some("--finish"), 2, false),
        (Some("--drop-old"), 1, true),
    ] {
        let mut args = vec!["rotate-ca"];
        args.extend(step);
        let (ok, out) = ns.bkenv(&args, d);
        assert!(ok, "{out}");
        assert_eq!(
            out.contains("sudo bkenv trust install"),
            behind,
            "{step:?}: {out}"
        );
        let (ok, out) = ns.bkenv(&["status"], d);
        assert_eq!(ok, !behind, "{step:?}: {out}");
        let (ok, out) = ns.bkenv(&["trust", "install", "--yes"], d);
        assert!(ok, "{out}");
        assert_eq!(
            pem_count(&ns.path("/etc/docker/certs.d/localhost:5005/ca.crt")),
            cas
        );
        let system: Vec<_> = fs::read_dir(ns.path("/usr/local/share/ca-certificates"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("bkenv-"))
            .collect();
        assert_eq!(system.len(), cas, "{step:?}: {out}");
        assert!(ns.system_trusts(&leaf), "{step:?}");
    }

    // A file changed since the install is kept; everything else goes, with the
    // directories the install created.
    let changed = ns.path("/etc/docker/certs.d/localhost:5005/ca.crt");
    let mut text = fs::read_to_string(&changed).unwrap();
    text.push_str("# mine\n");
    fs::write(&changed, &text).unwrap();
    let (ok, out) = ns.bkenv(&["trust", "uninstall"], d);
    assert!(
        !ok && out.contains("--yes"),
        "consent for uninstall too: {out}"
    );
    let (ok, out) = ns.bkenv(&["trust", "uninstall", "--yes"], d);
    assert!(ok, "{out}");
    assert!(
        out.contains("kept") && out.contains("localhost:5005/ca.crt"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(&changed).unwrap(),
        text,
        "the edited file stays"
    );
    assert!(!ns.path("/etc/docker/certs.d/[::1]:5005").exists());
    assert!(
        !ns.path("/etc/containerd/certs.d").exists(),
        "created by install, removed"
    );
    assert!(
        ns.path("/etc/containerd").is_dir(),
        "containerd's own directory stays"
    );
    assert!(!ns.system_trusts(&leaf), "no longer trusted: {out}");
    // The record keeps only the directory that still holds the kept file, so a later
    // uninstall removes it once it is empty.
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join(".bkenv/host-trust.json")).expect("record"))
            .expect("record JSON");
    assert_eq!(
        record["files"].as_array().map(Vec::len),
        Some(0),
        "{record}"
    );
    let dirs: Vec<&str> = record["dirs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    assert_eq!(
        dirs,
        ["/etc/docker/certs.d/localhost:5005", "/etc/docker/certs.d"],
        "{record}"
    );

    // Someone else's file where bkenv would write: refused, untouched.
    fs::write(&changed, "not bkenv's\n").unwrap();
    let (ok, out) = ns.bkenv(&["trust", "install", "--yes"], d);
    assert!(
        !ok && out.contains("was not written by `bkenv trust install`"),
        "{out}"
    );
    assert_eq!(fs::read_to_string(&changed).unwrap(), "not bkenv's\n");
    assert!(
        !ns.path("/etc/docker/certs.d/[::1]:5005").exists(),
        "nothing written"
    );

    drop(ns);
    // The host never saw any of it.
    assert_eq!(
        sha(Path::new("/etc/ssl/certs/ca-certificates.crt")),
        host_bundle
    );
    assert_eq!(
        fs::read_dir(host_docker).map(|d| d.count()).ok(),
        host_docker_before
    );
    assert!(!Path::new("/etc/containerd").exists());
}

#[test]
fn a_ca_without_name_constraints_stays_out_of_the_system_store() {
    let Some(ns) = Ns::new() else { return };
    let spec = include_str!("../templates/bkenv.toml")
        .replace("name_constraints = true", "name_constraints = false");
    let env = init(&spec);
    let d = env.path();
    let (ok, out) = ns.bkenv(&["trust", "install", "--yes", "--dry-run"], d);
    assert!(ok, "{out}");
    assert!(
        out.contains("NO name constraints") && out.contains("--allow-unconstrained"),
        "{out}"
    );
    assert!(out.contains("skipped system"), "{out}");
    let (ok, out) = ns.bkenv(&["trust", "install", "--yes"], d);
    assert!(ok, "{out}");
    let leaf = d.join("registry/certs/registry.crt");
    assert!(!ns.system_trusts(&leaf), "{out}");
    assert!(
        ns.path("/etc/docker/certs.d/localhost:5005/ca.crt")
            .exists()
    );
    let (ok, out) = ns.bkenv(&["trust", "install", "--yes", "--allow-unconstrained"], d);
    assert!(ok, "{out}");
    assert!(ns.system_trusts(&leaf), "{out}");
    let (ok, out) = ns.bkenv(&["trust", "uninstall", "--yes"], d);
    assert!(ok, "{out}");
    assert!(!ns.system_trusts(&leaf), "{out}");
}

/// `--root` writes into an image being built: the files land under it, the paths inside
/// `hosts.toml` are the image's own, and `update-ca-certificates` is left to the image.
#[test]
fn root_prefix_writes_into_an_image_tree() {
    let env = init(include_str!("../templates/bkenv.toml"));
    let d = env.path();
    let image = tempfile::tempdir().unwrap();
    let r = image.path();
    for dir in [
        "etc/docker",
        "etc/containerd",
        "usr/local/share/ca-certificates",
        "usr/sbin",
    ] {
        fs::create_dir_all(r.join(dir)).unwrap();
    }
    fs::write(
        r.join("usr/sbin/update-ca-certificates"),
        "#!/bin/sh\nexit 1\n",
    )
    .unwrap();
    let (ok, out) = support::run(
        Command::new(assert_cmd::cargo::cargo_bin("bkenv"))
            .args(["trust", "install", "--yes", "--root"])
            .arg(r)
            .arg(d)
            .stdin(Stdio::null()),
    );
    assert!(ok, "{out}");
    assert!(out.contains("not run for another root"), "{out}");
    let ca = fs::read_to_string(d.join("ca/ca.crt")).unwrap();
    assert_eq!(
        fs::read_to_string(r.join("etc/docker/certs.d/localhost:5005/ca.crt")).unwrap(),
        ca
    );
    let hosts =
        fs::read_to_string(r.join("etc/containerd/certs.d/localhost:5005/hosts.toml")).unwrap();
    assert!(
        hosts.contains("ca = \"/etc/containerd/certs.d/localhost:5005/ca.crt\""),
        "{hosts}"
    );
    let system: Vec<_> = fs::read_dir(r.join("usr/local/share/ca-certificates"))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(system.len(), 1);
    let (ok, out) = support::run(
        Command::new(assert_cmd::cargo::cargo_bin("bkenv"))
            .args(["trust", "uninstall", "--yes"])
            .arg(d)
            .stdin(Stdio::null()),
    );
    assert!(ok, "{out}");
    assert!(!r.join("etc/docker/certs.d").exists(), "{out}");
    assert!(
        r.join("etc/docker").is_dir(),
        "the image's own directory stays"
    );
}

/// Without the rights to the host's trust directories, the install stops with how to
/// get them (sudo), and nothing lands there.
#[test]
fn without_root_the_install_says_to_use_sudo() {
    if support::tool("setpriv").is_none() || bkenv::safefs::euid() != 0 {
        return;
    }
    let env = init(include_str!("../templates/bkenv.toml"));
    let d = env.path();
    let image = tempfile::tempdir().unwrap();
    let r = image.path();
    fs::create_dir_all(r.join("etc/docker")).unwrap();
    fs::set_permissions(r, fs::Permissions::from_mode(0o755)).unwrap();
    // The environment belongs to uid 1001, who runs bkenv from a directory it can reach.
    for e in walkdir::WalkDir::new(d) {
        std::os::unix::fs::chown(e.unwrap().path(), Some(1001), Some(1001)).unwrap();
    }
    let bin = tempfile::tempdir().unwrap();
    fs::set_permissions(bin.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let linked = bin.path().join("bkenv");
    if fs::hard_link(assert_cmd::cargo::cargo_bin("bkenv"), &linked).is_err() {
        fs::copy(assert_cmd::cargo::cargo_bin("bkenv"), &linked).unwrap();
    }
    let (ok, out) = support::run(
        Command::new("setpriv")
            .args(["--reuid=1001", "--regid=1001", "--clear-groups", "--"])
            .arg(&linked)
            .args(["trust", "install", "--yes", "--target", "docker", "--root"])
            .arg(r)
            .arg(d)
            .stdin(Stdio::null()),
    );
    assert!(!ok && out.contains("run it with sudo"), "{out}");
    assert!(!r.join("etc/docker/certs.d").exists());
}

/// On a terminal the plan is shown and the answer decides: anything but yes changes
/// nothing; `y` installs. The terminal is a real pty from util-linux `script`.
#[test]
fn on_a_terminal_the_answer_decides() {
    let Some(script) = support::tool("script") else {
        return;
    };
    let env = init(include_str!("../templates/bkenv.toml"));
    let d = env.path();
    let image = tempfile::tempdir().unwrap();
    let r = image.path();
    fs::create_dir_all(r.join("etc/docker")).unwrap();
    let installed = r.join("etc/docker/certs.d/localhost:5005/ca.crt");
    let bkenv = assert_cmd::cargo::cargo_bin("bkenv");
    let line = format!(
        "'{}' trust install --target docker --root '{}' '{}'",
        bkenv.display(),
        r.display(),
        d.display()
    );
    let answer = |text: &str| {
        use std::io::Write;
        // `-e`: the child's exit status; `-q`: no banner; the typescript is discarded.
        let mut child = Command::new(&script)
            .args(["-qec", &line, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn script");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("answer");
        let out = child.wait_with_output().expect("script");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    for no in ["n\n", "\n", "maybe\n"] {
        let (ok, out) = answer(no);
        assert!(!ok, "{no:?}: {out}");
        assert!(
            out.contains("Install these files? [y/N]") && out.contains("nothing was changed"),
            "{no:?}: {out}"
        );
        assert!(!installed.exists(), "{no:?}: {out}");
        assert!(!d.join(".bkenv/host-trust.json").exists(), "{no:?}: {out}");
    }
    let (ok, out) = answer("y\n");
    assert!(ok, "{out}");
    assert_eq!(
        fs::read_to_string(&installed).unwrap(),
        fs::read_to_string(d.join("ca/ca.crt")).unwrap(),
        "{out}"
    );
}

/// Every path under `root`, relative, sorted: the shape of a tree.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().filter_map(|e| e.ok()) {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `trust install` and `trust uninstall` stopped at each write (the crash harness,
/// `BKENV_FAIL_AFTER_WRITES=N`) are completed by running them again: the install ends
/// with every file in place and recorded, the uninstall with the image tree exactly as
/// it was before the install.
#[test]
fn trust_interrupted_at_each_write_is_completed_by_a_rerun() {
    let template = init(include_str!("../examples/mtls/bkenv.toml"));
    let run = |args: &[&str], env: &Path, root: &Path, fail: Option<usize>| {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("bkenv"));
        c.arg("trust").args(args).arg("--yes");
        // The record holds absolute paths: only install takes the root.
        if args == ["install"] {
            c.arg("--root").arg(root);
        }
        c.arg(env).stdin(Stdio::null());
        if let Some(n) = fail {
            c.env("BKENV_FAIL_AFTER_WRITES", n.to_string());
        }
        support::run(&mut c)
    };
    // A fresh environment copy and image tree for each trial.
    let trial = || {
        let env = tempfile::tempdir().unwrap();
        let (ok, out) = support::run(
            Command::new("cp")
                .arg("-a")
                .arg(template.path().join("."))
                .arg(env.path()),
        );
        assert!(ok, "{out}");
        let root = tempfile::tempdir().unwrap();
        for dir in [
            "etc/docker",
            "etc/containerd",
            "usr/local/share/ca-certificates",
            "usr/sbin",
        ] {
            fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        fs::write(root.path().join("usr/sbin/update-ca-certificates"), "").unwrap();
        (env, root)
    };
    let pristine = tree(trial().1.path());
    let ca = fs::read_to_string(template.path().join("ca/ca.crt")).unwrap();
    let installed = |root: &Path, context: &str| {
        let files = [
            "etc/docker/certs.d/localhost:5005/ca.crt",
            "etc/docker/certs.d/[::1]:5005/ca.crt",
            "etc/containerd/certs.d/localhost:5005/ca.crt",
            "etc/containerd/certs.d/[::1]:5005/ca.crt",
        ];
        for f in files {
            assert_eq!(
                fs::read_to_string(root.join(f)).ok().as_deref(),
                Some(ca.as_str()),
                "{context}: {f}"
            );
        }
        let system = fs::read_dir(root.join("usr/local/share/ca-certificates"))
            .unwrap()
            .count();
        assert_eq!(system, 1, "{context}");
    };

    for (step, before) in [("install", false), ("uninstall", true)] {
        let mut n = 0;
        loop {
            let (env, root) = trial();
            let (e, r) = (env.path(), root.path());
            if before {
                let (ok, out) = run(&["install"], e, r, None);
                assert!(ok, "{out}");
            }
            let context = format!("{step} stopped after {n} writes");
            let (ok, out) = run(&[step], e, r, Some(n));
            if ok {
                assert!(n > 2, "{step}: write points exercised: {n}");
                break;
            }
            assert!(out.contains("injected failure"), "{context}: {out}");
            let (ok, out) = run(&[step], e, r, None);
            assert!(ok, "{context}, run again: {out}");
            match step {
                "install" => {
                    installed(r, &context);
                    // And what it recorded is exactly what uninstall takes away.
                    let (ok, out) = run(&["uninstall"], e, r, None);
                    assert!(ok && !out.contains("kept"), "{context}: {out}");
                }
                _ => assert!(!out.contains("kept"), "{context}: {out}"),
            }
            assert_eq!(tree(r), pristine, "{context}");
            n += 1;
            assert!(n < 100, "{step} never completes");
        }
    }
}
