//! A compose service run as Docker would run it, without an engine: the image's user,
//! environment, entrypoint and VOLUMEs, the service's `command`, `entrypoint`, `user`,
//! `environment`, `volumes` and `ports`, in its own network namespace on the bridge and
//! its own mount namespace whose root (`pivot_root`, as runc does) holds only what the
//! image and the compose file put there.
//!
//! Images cannot be pulled here, so each image the launcher knows is described by what
//! it brings (`Image`): its `USER`, `ENV`, `ENTRYPOINT`/`CMD`, `VOLUME`s, the directories
//! its user owns and its `/etc` entries, with the host's build of the same program (the
//! Debian `docker-registry`, the real `buildkitd` v0.23.2) on its `PATH`. Everything the
//! environment decides (which image, which flags, which files at which paths, which user)
//! comes from the compose file, so a hand-written compose file runs the same way.
//!
//! `pivot_root` rather than `chroot`: the kernel refuses to create a user namespace from
//! a chrooted process, and the rootless image's `rootlesskit` needs one.

use crate::sandbox::{Attached, Network, Proc, Service, parse_volume, publish, wait_until};
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Registry,
    Buildkit { rootless: bool },
}

/// What an image brings that the compose file does not say.
pub struct Image {
    /// `USER` as `(uid, gid)`.
    pub user: (u32, u32),
    pub env: Vec<(&'static str, &'static str)>,
    pub entrypoint: Vec<&'static str>,
    pub cmd: Vec<&'static str>,
    /// `VOLUME`s: a fresh directory each unless the service mounts something there.
    pub volumes: Vec<&'static str>,
    /// Directories of the image owned by its user (all others belong to root).
    pub user_dirs: Vec<&'static str>,
    pub passwd: &'static str,
    pub group: &'static str,
    /// `/etc/subuid` and `/etc/subgid` (rootlesskit maps the user's range).
    pub subids: Option<&'static str>,
    /// Files of the image: path, contents, mode.
    pub files: Vec<(&'static str, &'static str, u32)>,
    /// Programs on the image's `PATH` (`/usr/local/bin` here) → the host binary.
    pub bins: Vec<(&'static str, PathBuf)>,
    /// The log line that says the server accepts connections.
    pub ready_log: &'static str,
}

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const ROOT_ONLY: &str = "root:x:0:0:root:/root:/bin/sh\n";

/// The registry image's `/entrypoint.sh` (distribution 2.8): a config path becomes
/// `registry serve PATH`.
const REGISTRY_ENTRYPOINT: &str = "#!/bin/sh\nset -e\ncase \"$1\" in\n    *.yaml|*.yml) set -- registry serve \"$@\" ;;\n    serve|garbage-collect|help|-*) set -- registry \"$@\" ;;\nesac\nexec \"$@\"\n";

/// `(repository, tag)` of an image reference, Docker Hub prefixes removed.
fn repo_tag(reference: &str) -> (&str, &str) {
    let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let repo = repo
        .trim_start_matches("docker.io/")
        .trim_start_matches("library/");
    (repo, tag)
}

/// What kind of server `svc` runs, when the launcher knows its image.
pub fn kind_of(svc: &Service) -> Option<Kind> {
    match repo_tag(&svc.image) {
        ("registry", tag) if tag.starts_with('2') => Some(Kind::Registry),
        ("moby/buildkit", tag) => Some(Kind::Buildkit {
            rootless: tag.ends_with("-rootless"),
        }),
        _ => None,
    }
}

/// The launcher's description of `reference`; `None` for an image it cannot run.
pub fn image(reference: &str) -> Option<Image> {
    let (repo, tag) = repo_tag(reference);
    match repo {
        "registry" if tag.starts_with('2') => Some(Image {
            user: (0, 0),
            env: vec![("PATH", PATH)],
            entrypoint: vec!["/entrypoint.sh"],
            cmd: vec!["/etc/docker/registry/config.yml"],
            volumes: vec!["/var/lib/registry"],
            user_dirs: vec![],
            passwd: ROOT_ONLY,
            group: "root:x:0:\n",
            subids: None,
            files: vec![("entrypoint.sh", REGISTRY_ENTRYPOINT, 0o755)],
            bins: vec![("registry", PathBuf::from("/usr/bin/docker-registry"))],
            ready_log: "msg=\"listening on ",
        }),
        "moby/buildkit" => {
            let bins = ["buildkitd", "buildctl"]
                .iter()
                .map(|b| (*b, crate::buildkit::bin(b).expect("buildkit binaries")))
                .collect();
            Some(if tag.ends_with("-rootless") {
                Image {
                    user: (1000, 1000),
                    env: vec![
                        ("PATH", PATH),
                        ("HOME", "/home/user"),
                        ("USER", "user"),
                        ("XDG_RUNTIME_DIR", "/run/user/1000"),
                        ("TMPDIR", "/home/user/.local/tmp"),
                        (
                            "BUILDKIT_HOST",
                            "unix:///run/user/1000/buildkit/buildkitd.sock",
                        ),
                    ],
                    entrypoint: vec!["rootlesskit", "buildkitd"],
                    cmd: vec![],
                    volumes: vec!["/home/user/.local/share/buildkit"],
                    user_dirs: vec![
                        "/run/user/1000",
                        "/home/user",
                        "/home/user/.local",
                        "/home/user/.local/tmp",
                        "/home/user/.local/share",
                        "/home/user/.local/share/buildkit",
                    ],
                    passwd: "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
                    group: "root:x:0:\nuser:x:1000:\n",
                    subids: Some("user:100000:65536\n"),
                    files: vec![],
                    bins,
                    ready_log: "running server on ",
                }
            } else {
                Image {
                    user: (0, 0),
                    env: vec![("PATH", PATH)],
                    entrypoint: vec!["buildkitd"],
                    cmd: vec![],
                    volumes: vec!["/var/lib/buildkit"],
                    user_dirs: vec![],
                    passwd: ROOT_ONLY,
                    group: "root:x:0:\n",
                    subids: None,
                    files: vec![],
                    bins,
                    ready_log: "running server on ",
                }
            })
        }
        _ => None,
    }
}

/// A running container: killed, with everything it started, on drop.
pub struct Container {
    pub name: String,
    pub log: PathBuf,
    main: Proc,
    _published: Vec<Proc>,
    net: Attached,
    _root: tempfile::TempDir,
    _bins: tempfile::TempDir,
    _anonymous: tempfile::TempDir,
}

impl Drop for Container {
    fn drop(&mut self) {
        self.main.kill();
        // rootlesskit's child, runc and whatever else the server started: every process
        // in the container's network namespace was started by this container.
        for pid in self.net.processes() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Container {
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Options compose cannot express.
#[derive(Default)]
pub struct Extra<'a> {
    /// The image's system CA bundle (`/etc/ssl/certs/ca-certificates.crt`).
    pub system_trust: Option<&'a Path>,
    /// Where named volumes live (shared by every run of one environment).
    pub volumes: Option<&'a Path>,
}

/// Appends a bind mount (remounted read-only with `ro`) to the container's script.
fn bind(script: &mut String, src: &Path, dst: &Path, ro: bool) {
    let dst = sh_quote(&dst.display().to_string());
    script.push_str(&format!(
        "mount --bind {} {dst}\n",
        sh_quote(&src.display().to_string())
    ));
    if ro {
        script.push_str(&format!("mount -o remount,bind,ro {dst}\n"));
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn chown(path: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// `UID[:GID]` of a compose `user:`.
fn parse_user(user: &str, image_gid: u32) -> (u32, u32) {
    let (u, g) = user
        .split_once(':')
        .map_or((user, None), |(u, g)| (u, Some(g)));
    let num = |s: &str| {
        s.parse::<u32>()
            .unwrap_or_else(|_| panic!("user {user:?}: the launcher takes numeric ids"))
    };
    (num(u), g.map_or(image_gid, num))
}

/// Starts compose service `name` (`svc`, from the compose file in `env_dir`) at `ip` on
/// `net`. `Err` carries the server's log when it stops or never becomes ready.
pub fn start(
    net: &Network,
    env_dir: &Path,
    name: &str,
    svc: &Service,
    ip: Ipv4Addr,
    extra: &Extra<'_>,
) -> Result<Container, String> {
    let img = image(&svc.image)
        .unwrap_or_else(|| panic!("service {name}: no launcher for image {}", svc.image));
    let attached = net.attach(ip);
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    fs::set_permissions(r, fs::Permissions::from_mode(0o755)).expect("chmod root");
    for d in [
        "usr", "dev", "proc", "sys", "run", "var/lib", "etc", ".pivot", "root",
    ] {
        fs::create_dir_all(r.join(d)).expect("skeleton");
    }
    fs::create_dir_all(r.join("tmp")).expect("tmp");
    fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("tmp");
    let mut script = format!(
        "set -e\nmount --bind {0} {0}\ncd {0}\n",
        sh_quote(&r.display().to_string())
    );
    bind(&mut script, Path::new("/usr"), &r.join("usr"), true);
    for d in ["bin", "sbin", "lib", "lib64"] {
        let host = Path::new("/").join(d);
        match fs::symlink_metadata(&host) {
            // merged /usr: the same links as the host
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&host).expect("readlink");
                std::os::unix::fs::symlink(target, r.join(d)).expect("symlink");
            }
            Ok(_) => {
                fs::create_dir_all(r.join(d)).expect("dir");
                bind(&mut script, &host, &r.join(d), true);
            }
            Err(_) => {}
        }
    }
    bind(&mut script, Path::new("/dev"), &r.join("dev"), false);

    // /etc as the image has it, with the compose network's name resolution.
    let etc = r.join("etc");
    fs::copy(net.hosts_file(), etc.join("hosts")).expect("hosts");
    fs::write(etc.join("passwd"), img.passwd).expect("passwd");
    fs::write(etc.join("group"), img.group).expect("group");
    fs::write(etc.join("nsswitch.conf"), "hosts: files dns\n").expect("nsswitch");
    fs::write(etc.join("resolv.conf"), "").expect("resolv.conf");
    if let Some(ids) = img.subids {
        fs::write(etc.join("subuid"), ids).expect("subuid");
        fs::write(etc.join("subgid"), ids).expect("subgid");
    }
    if let Some(bundle) = extra.system_trust {
        fs::create_dir_all(etc.join("ssl/certs")).expect("ssl dir");
        fs::copy(bundle, etc.join("ssl/certs/ca-certificates.crt")).expect("bundle");
    }
    for (path, text, mode) in &img.files {
        let p = r.join(path);
        fs::write(&p, text).expect("image file");
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).expect("mode");
    }
    for d in &img.user_dirs {
        let p = r.join(d.trim_start_matches('/'));
        fs::create_dir_all(&p).expect("image dir");
        chown(&p, img.user);
    }

    // The image's programs: the host builds, bound into a directory on its PATH. Bind
    // mounts are resolved by root, so no parent directory of the host binaries needs to
    // be open to the image's user.
    let bins = tempfile::tempdir().expect("bins");
    fs::set_permissions(bins.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    for (b, host) in &img.bins {
        let p = bins.path().join(b);
        fs::write(&p, "").expect("mount point");
        bind(&mut script, host, &p, true);
    }
    script.push_str(&format!(
        "mount --rbind {} usr/local/bin\n",
        sh_quote(&bins.path().display().to_string())
    ));

    // Volumes: the compose file's first, then the image's VOLUMEs it leaves alone.
    let anonymous = tempfile::tempdir().expect("volumes");
    let named_root = extra.volumes.unwrap_or(anonymous.path());
    let mut mounted: Vec<String> = Vec::new();
    for v in &svc.volumes {
        let m = parse_volume(env_dir, v);
        let dst = r.join(m.target.trim_start_matches('/'));
        let src = match &m.source {
            Some(p) => p.clone(),
            None => {
                let p = named_root.join(&m.name);
                if !p.exists() {
                    fs::create_dir_all(&p).expect("named volume");
                    // Docker fills a new named volume from the image, owner included.
                    if img.user_dirs.contains(&m.target.as_str()) {
                        chown(&p, img.user);
                    }
                }
                p
            }
        };
        if src.is_file() {
            fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
            fs::write(&dst, "").expect("mount point");
        } else {
            fs::create_dir_all(&dst).expect("mount point");
        }
        bind(&mut script, &src, &dst, m.read_only);
        mounted.push(m.target.clone());
    }
    for (i, v) in img.volumes.iter().enumerate() {
        if mounted.iter().any(|m| m == v) {
            continue;
        }
        let p = anonymous.path().join(format!("anon{i}"));
        fs::create_dir_all(&p).expect("anonymous volume");
        if img.user_dirs.contains(v) {
            chown(&p, img.user);
        }
        let dst = r.join(v.trim_start_matches('/'));
        fs::create_dir_all(&dst).expect("mount point");
        bind(&mut script, &p, &dst, false);
    }
    script.push_str("mount -t proc proc proc\nmount --rbind /sys sys\n");
    script.push_str("pivot_root . .pivot\ncd /\numount -l /.pivot\n");

    // What Docker executes: entrypoint + command, as the service's user, with the
    // image's environment and the service's on top.
    let user = svc
        .user
        .as_deref()
        .map_or(img.user, |u| parse_user(u, img.user.1));
    let mut env: Vec<(String, String)> = img
        .env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in svc.environment.iter().flat_map(|e| e.pairs()) {
        env.retain(|(o, _)| *o != k);
        env.push((k, v));
    }
    let entrypoint: Vec<String> = match &svc.entrypoint {
        Some(e) => e.words(),
        None => img.entrypoint.iter().map(|s| s.to_string()).collect(),
    };
    let command: Vec<String> = match (&svc.command, &svc.entrypoint) {
        (Some(c), _) => c.words(),
        // Docker: a service `entrypoint` drops the image's CMD.
        (None, Some(_)) => Vec::new(),
        (None, None) => img.cmd.iter().map(|s| s.to_string()).collect(),
    };
    script.push_str("exec ");
    if user != (0, 0) {
        // After the uid change: the kernel clears the parent-death signal on it.
        script.push_str(&format!(
            "setpriv --reuid {} --regid {} --clear-groups --pdeathsig KILL ",
            user.0, user.1
        ));
    }
    script.push_str("env -i");
    for (k, v) in &env {
        script.push_str(&format!(" {}", sh_quote(&format!("{k}={v}"))));
    }
    script.push_str(" \"$@\"\n");

    let log = net.dir.path().join(format!("{name}.log"));
    let log_file = fs::File::create(&log).expect("log");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--pdeathsig", "KILL", "nsenter", "-t"])
        .arg(attached.pid().to_string())
        .args([
            "--net",
            "--",
            "unshare",
            "--mount",
            "--propagation",
            "private",
        ])
        .args(["sh", "-c", &script, "sh"])
        .args(entrypoint.iter().chain(&command))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file);
    let mut main = Proc::spawn(name, &mut cmd);
    let ports: Vec<u16> = svc
        .ports
        .iter()
        .map(|p| crate::sandbox::parse_port(p).2)
        .collect();
    // Ready: the server says it serves, and every published port has a listener.
    let ready = wait_until(&format!("{name} ready"), || {
        main.exited()
            || (fs::read_to_string(&log).is_ok_and(|l| l.contains(img.ready_log))
                && ports.iter().all(|p| attached.listening(*p)))
    });
    let failed = ready.is_err() || main.exited();
    let mut container = Container {
        name: name.to_string(),
        log,
        main,
        _published: Vec::new(),
        net: attached,
        _root: root,
        _bins: bins,
        _anonymous: anonymous,
    };
    if failed {
        let text = container.log_text();
        // Dropping it kills what is left of it.
        drop(container);
        return Err(format!("{name} did not start ({ready:?}):\n{text}"));
    }
    container._published = publish(net, ip, &svc.ports);
    Ok(container)
}
