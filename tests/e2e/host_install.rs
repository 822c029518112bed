//! The host install `bkenv init` writes with `[host]` (`host/`), run for real: its
//! `install.sh` lays the files out under a scratch root (never the machine's `/etc`),
//! and the real buildkitd starts with exactly the `ExecStart` of the generated
//! `buildkit.service`, the `fd://` socket of `buildkit.socket` passed in by
//! `systemd-socket-activate` as systemd would. Then the real buildctl builds and pushes
//! through the TLS TCP address with the environment's client files, and skopeo pulls back.
//!
//! The daemon runs on the sandbox's "host" (`sandbox::Network`), in one more private
//! mount namespace where `/etc` is rebuilt from the host's entries plus the installed
//! `/etc/buildkit`, the release binary is bind-mounted at the unit's path, and `/run`
//! and `/var/lib` (the socket and buildkitd's state) are empty tmpfs. The rootless user
//! unit runs the same way as uid 1000 (init, install.sh and the unit line as that user),
//! rootlesskit and slirp4netns included.

use crate::buildkit::{bin, context, present};
use crate::builds::build_pull;
use crate::env::{Env, InitAs};
use crate::sandbox::{Proc, WAIT, run_for};
use std::fs;
use std::process::{Command, Stdio};

/// The value of `key=` in a unit file (one line, as bkenv writes them).
fn unit_value(text: &str, key: &str) -> String {
    let prefix = format!("{key}=");
    let found: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    assert_eq!(found.len(), 1, "one {key}= in\n{text}");
    found[0].to_string()
}

/// A unit-file value with its specifiers resolved as systemd resolves them for a
/// system unit (`%t` = `/run`, `%%` = `%`); any other specifier fails the test. (The
/// default spec's words hold no `$`, which systemd would also unescape in arguments.)
fn resolve(value: &str) -> String {
    resolve_in(value, "/run")
}

/// `resolve` with `%t` = `runtime` (a user unit's runtime directory).
fn resolve_in(value: &str, runtime: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('t') => out.push_str(runtime),
            other => panic!("unexpected specifier %{other:?} in {value}"),
        }
    }
    out
}

#[test]
fn host_install_builds_and_pushes_from_its_own_unit_line() {
    if !present() || crate::support::tool("systemd-socket-activate").is_none() {
        return;
    }
    let spec = tempfile::NamedTempFile::new().expect("spec");
    fs::write(
        spec.path(),
        format!("{}\n[host]\n", bkenv::spec::DEFAULT_SPEC),
    )
    .expect("spec");
    let env = Env::init(Some(spec.path()));
    let up = env.up();
    assert!(up.refused.is_none(), "{:?}", up.refused);

    // install.sh, as a user runs it, into a scratch root.
    let root = tempfile::tempdir().expect("root");
    let (ok, out) = run_for(
        Command::new("sh")
            .arg(env.path("host/install.sh"))
            .env("ROOT", root.path())
            .stdin(Stdio::null()),
        WAIT,
    );
    assert!(ok, "install.sh: {out}");
    let units = root.path().join("etc/systemd/system");
    let service = fs::read_to_string(units.join("buildkit.service")).expect("installed unit");
    let socket = fs::read_to_string(units.join("buildkit.socket")).expect("installed socket");
    let exec: Vec<String> = unit_value(&service, "ExecStart")
        .split_whitespace()
        .map(resolve)
        .collect();
    let listen = resolve(&unit_value(&socket, "ListenStream"));
    assert!(exec.iter().any(|w| w == "fd://"), "{exec:?}");
    let binary = exec[0].clone();

    let real = bin("buildkitd").expect("buildkitd");
    let log = root.path().join("buildkitd.log");
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    // systemd connects nothing: the first client triggers activation, as with a real
    // socket unit. The poke is bounded; buildctl's own check follows over TCP.
    let poke = format!(
        "i=0; while [ $i -lt 40 ]; do {} --addr unix://{} debug workers >/dev/null 2>&1 && break; i=$((i+1)); sleep 0.5; done",
        q(&bin("buildctl").expect("buildctl").display().to_string()),
        listen
    );
    let script = format!(
        "set -e\n\
         old=$(mktemp -d); mount --rbind /etc \"$old\"; mount -t tmpfs bkenv-etc /etc\n\
         for e in \"$old\"/* \"$old\"/.[!.]*; do [ -e \"$e\" ] || [ -L \"$e\" ] || continue; n=/etc/${{e##*/}}\n\
           if [ -L \"$e\" ]; then cp -P \"$e\" \"$n\"; elif [ -d \"$e\" ]; then mkdir \"$n\"; mount --rbind \"$e\" \"$n\";\n\
           else touch \"$n\"; mount --bind \"$e\" \"$n\"; fi; done\n\
         mkdir -p /etc/buildkit; mount --bind {etc_bk} /etc/buildkit\n\
         mount -t tmpfs bkenv-run /run; mount -t tmpfs bkenv-varlib /var/lib\n\
         mkdir -p \"$(dirname {bin})\"; mount -t tmpfs bkenv-bin \"$(dirname {bin})\"\n\
         touch {bin}; mount --bind {real} {bin}\n\
         mkdir -p \"$(dirname {listen})\"\n\
         ( {poke} ) &\n\
         exec systemd-socket-activate -l {listen} \"$@\" >{log} 2>&1\n",
        etc_bk = q(&root.path().join("etc/buildkit").display().to_string()),
        bin = q(&binary),
        real = q(&real.display().to_string()),
        listen = q(&listen),
        log = q(&log.display().to_string()),
    );
    let mut daemon = Proc::spawn(
        "buildkitd from its unit",
        up.net
            .cmd("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
                "sh",
            ])
            .args(&exec)
            .env("PATH", crate::buildkit::client_path())
            .stdin(Stdio::null()),
    );
    let port: u16 = exec
        .iter()
        .find_map(|w| w.strip_prefix("tcp://"))
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .expect("a tcp address in ExecStart");
    let ready = crate::sandbox::wait_until("buildkitd's TCP listener", || {
        up.net.listening("0.0.0.0".parse().expect("ip"), port)
    });
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    assert!(
        ready.is_ok() && !daemon.exited(),
        "{ready:?}\n{}",
        log_text()
    );

    let ctx = context("scratch", "built by the host install's buildkitd\n");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        build_pull(&env, &up, &ctx, "bkenv-e2e:host", &[]);
    }));
    let text = log_text();
    daemon.kill();
    if let Err(e) = result {
        eprintln!("buildkitd log:\n{text}");
        std::panic::resume_unwind(e);
    }
    // The daemon served the socket systemd-socket-activate passed (fd://) and the TLS
    // address, both from the unit line.
    assert!(
        text.contains(&format!("running server on {listen}")) && text.contains(&format!(":{port}")),
        "{text}"
    );
}

/// The rootless user unit, run as uid 1000 the way `systemd --user` would: `install.sh`
/// run by that user (after `init` as that user, so the key is theirs), then exactly the
/// unit's `ExecStart` (rootlesskit, slirp4netns, the TLS port forwarded by rootlesskit)
/// with `%t` its runtime directory; buildctl builds and pushes through the forwarded port.
#[test]
fn rootless_user_unit_builds_and_pushes() {
    if !present() || crate::support::tool("slirp4netns").is_none() {
        return;
    }
    let base = tempfile::tempdir().expect("base");
    let home = base.path().join("home");
    let run = base.path().join("run");
    for d in [&home, &run] {
        fs::create_dir(d).expect("dir");
        std::os::unix::fs::chown(d, Some(1000), Some(1000)).expect("chown");
    }
    fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    fs::set_permissions(
        base.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let cfg = home.join(".config/buildkit");
    let spec = tempfile::NamedTempFile::new().expect("spec");
    fs::write(
        spec.path(),
        format!(
            "{}\n[host]\nrootless = true\ncerts_dir = \"{}/certs\"\nconfig = \"{}/buildkitd.toml\"\n",
            bkenv::spec::DEFAULT_SPEC,
            cfg.display(),
            cfg.display()
        ),
    )
    .expect("spec");
    let (env, (ok, out)) = Env::init_as(
        Some(spec.path()),
        &InitAs {
            uid: Some(1000),
            ..InitAs::default()
        },
    );
    assert!(ok, "init as uid 1000: {out}");
    let up = env.up();
    assert!(up.refused.is_none(), "{:?}", up.refused);

    let as_user = |c: &mut Command| {
        c.env_clear()
            .env("PATH", crate::buildkit::client_path())
            .env("HOME", &home)
            .env("USER", "user")
            .env("XDG_RUNTIME_DIR", &run);
    };
    // ROOT=/: the machine's own paths, without the daemon-reload no user manager here has.
    let mut install = Command::new("setpriv");
    install
        .args(["--reuid=1000", "--regid=1000", "--clear-groups", "sh"])
        .arg(env.path("host/install.sh"));
    as_user(&mut install);
    let (ok, out) = run_for(install.env("ROOT", "/").stdin(Stdio::null()), WAIT);
    assert!(ok, "install.sh as uid 1000: {out}");
    let unit = fs::read_to_string(home.join(".config/systemd/user/buildkit.service"))
        .expect("installed user unit");
    let runtime = run.display().to_string();
    let exec: Vec<String> = unit_value(&unit, "ExecStart")
        .split_whitespace()
        .map(|w| resolve_in(w, &runtime))
        .collect();
    let binary = exec
        .iter()
        .find(|w| w.ends_with("/buildkitd"))
        .expect("buildkitd in ExecStart")
        .clone();
    let real = bin("buildkitd").expect("buildkitd");
    let log = base.path().join("buildkitd.log");
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    // slirp4netns opens /dev/net/tun as the user: a private 0666 node stands in for the
    // usual one (this machine's is 0600); the binary sits at the unit's path.
    let script = format!(
        "set -e\n\
         d=$(mktemp -d); mount -t tmpfs bkenv-tun \"$d\"; mknod -m 0666 \"$d/tun\" c 10 200; mount --bind \"$d/tun\" /dev/net/tun\n\
         mkdir -p \"$(dirname {bin})\"; mount -t tmpfs bkenv-bin \"$(dirname {bin})\"\n\
         touch {bin}; mount --bind {real} {bin}\n\
         exec setpriv --reuid=1000 --regid=1000 --clear-groups \"$@\" >{log} 2>&1\n",
        bin = q(&binary),
        real = q(&real.display().to_string()),
        log = q(&log.display().to_string()),
    );
    let mut cmd = up.net.cmd("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
        "sh",
    ])
    .args(&exec);
    as_user(&mut cmd);
    let mut daemon = Proc::spawn(
        "rootless buildkitd from its user unit",
        cmd.stdin(Stdio::null()),
    );
    let port: u16 = exec
        .iter()
        .find_map(|w| w.strip_prefix("tcp://"))
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .expect("a tcp address in ExecStart");
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    let ready = crate::sandbox::wait_until("rootlesskit's forwarded port", || {
        up.net.listening("0.0.0.0".parse().expect("ip"), port)
    });
    assert!(
        ready.is_ok() && !daemon.exited(),
        "{ready:?}\n{}",
        log_text()
    );
    let ctx = context("scratch", "built by the rootless host install\n");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        build_pull(&env, &up, &ctx, "bkenv-e2e:host-rootless", &[]);
    }));
    let text = log_text();
    daemon.kill();
    if let Err(e) = result {
        eprintln!("buildkitd log:\n{text}");
        std::panic::resume_unwind(e);
    }
    // The rootless daemon (its state under the user's home) served both addresses.
    let socket = format!("running server on {runtime}/buildkit/buildkitd.sock");
    assert!(
        text.contains(&socket) && text.contains(&format!(":{port}")),
        "{text}"
    );
}
