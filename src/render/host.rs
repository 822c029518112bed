//! A host install (`[host]` in the spec): buildkitd run by systemd on a machine rather
//! than in a container, as BuildKit's `examples/systemd` units run it:
//!
//! - `host/buildkitd.toml`: the environment's `buildkitd.toml` (the same renderer, the
//!   same registry tables) with every file under the container's certs directory named
//!   by its machine path under `certs_dir`, and `grpc.address` the TCP listeners;
//! - `host/system/buildkit.{socket,service}`: socket activation (`--addr fd://`) plus the
//!   TLS TCP address, `--config` the machine path of the config;
//! - `host/user/buildkit.service`: the rootless user unit (rootlesskit, slirp4netns,
//!   the TCP ports forwarded by rootlesskit's builtin port driver);
//! - `host/install.sh`: copies the certificates (keys 0600), the config and the units
//!   into place and runs `systemctl daemon-reload`. bkenv never runs it: nothing is
//!   installed outside the environment unless the user runs it.
//!
//! Paths were validated by the spec (`model::HostInstall`); here every word of a unit
//! file goes through [`unit_word`] (specifier `%` doubled, anything systemd would split
//! or unescape refused) and every shell word through `shell::quote`.

use super::buildkitd;
use super::buildx::{parse_generated, rewrite_paths, rewrite_registry_paths};
use crate::error::{Error, Result};
use crate::model::{Environment, HostInstall, Role, layout};
use crate::output::PlannedFile;
use crate::shell::quote as sh_quote;
use crate::tomlutil::{set, strings};
use toml_edit::Item;

const MODE_SCRIPT: u32 = 0o755;
/// The socket the system unit listens on, as upstream's `buildkit.socket` names it.
const SYSTEM_SOCKET: &str = "%t/buildkit/buildkitd.sock";

/// The host files of `env`, when its spec asks for them.
pub(crate) fn plan(env: &Environment, buildkitd_toml: &str) -> Result<Vec<PlannedFile>> {
    let Some(h) = &env.host else {
        return Ok(Vec::new());
    };
    let tcp = tcp_listeners(env);
    let mut install = PlannedFile::public(layout::HOST_INSTALL, install_script(env, h));
    install.mode = MODE_SCRIPT;
    Ok(vec![
        PlannedFile::public(layout::HOST_CONFIG, host_config(buildkitd_toml, h, &tcp)?),
        PlannedFile::public(layout::HOST_SYSTEM_SOCKET, system_socket()),
        PlannedFile::public(layout::HOST_SYSTEM_SERVICE, system_service(h, &tcp)?),
        PlannedFile::public(layout::HOST_USER_SERVICE, user_service(h, &tcp)?),
        install,
    ])
}

/// The TCP addresses of the spec's `listen`: the TLS endpoint clients dial. The unix
/// socket of the container form is replaced by the socket unit's.
fn tcp_listeners(env: &Environment) -> Vec<String> {
    env.buildkitd
        .listen
        .iter()
        .filter(|a| a.starts_with("tcp://"))
        .cloned()
        .collect()
}

/// One word of an `ExecStart=` line: `%` and `$` doubled (systemd expands specifiers,
/// then `${VAR}` and `$VAR`; `%%` and `$$` are the literal characters), and refused when
/// it holds what systemd would split on or unescape.
pub(crate) fn unit_word(word: &str) -> Result<String> {
    if word.is_empty()
        || word
            .chars()
            .any(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(Error::invalid(
            "host",
            format!("{word:?} cannot be one word of a systemd ExecStart line"),
        ));
    }
    Ok(word.replace('%', "%%").replace('$', "$$"))
}

/// The executable of an `ExecStart=` line: systemd expands specifiers in it but no
/// variables (so `$$` would stay two dollars), hence only `%` is doubled.
pub(crate) fn unit_executable(path: &str) -> Result<String> {
    Ok(unit_word(path)?.replace("$$", "$"))
}

/// `buildkitd --addr FIRST [--addr TCP]... --config CONFIG` as unit-file words; the
/// binary is the line's executable (`exec`) or an argument (of rootlesskit).
/// `first` is unit-file text already (a constant that may use a specifier, `%t`).
fn daemon_words(h: &HostInstall, exec: bool, first: &str, tcp: &[String]) -> Result<Vec<String>> {
    let binary = if exec {
        unit_executable(&h.buildkitd)?
    } else {
        unit_word(&h.buildkitd)?
    };
    let mut w = vec![binary, "--addr".into(), first.into()];
    for a in tcp {
        w.push("--addr".into());
        w.push(unit_word(a)?);
    }
    w.push("--config".into());
    w.push(unit_word(&h.config)?);
    Ok(w)
}

fn host_config(buildkitd_toml: &str, h: &HostInstall, tcp: &[String]) -> Result<String> {
    let mut doc = parse_generated(buildkitd_toml)?;
    if let Some(grpc) = doc.get_mut("grpc").and_then(Item::as_table_mut) {
        // buildkit/buildkitd.toml's header ("bkenv merges this file") is not true here.
        grpc.decor_mut().clear();
        // The units' `--addr` flags win over this list; it is what a buildkitd started
        // by hand with only `--config` listens on.
        set(grpc, "address", strings(tcp));
        if let Some(tls) = grpc.get_mut("tls") {
            rewrite_paths(tls, &h.certs_dir);
        }
    }
    rewrite_registry_paths(&mut doc, &h.certs_dir);
    doc.decor_mut().clear();
    Ok(format!(
        "# Generated by bkenv for a host install (host/install.sh puts it at {}):\n\
         # buildkit/buildkitd.toml with machine paths under {}.\n\
         # Edit buildkit/buildkitd.toml and re-run `bkenv init`, not this file.\n{doc}",
        h.config, h.certs_dir
    ))
}

fn system_socket() -> String {
    format!(
        "# Generated by bkenv: BuildKit's socket unit (moby/buildkit examples/systemd/system).\n\
         [Unit]\n\
         Description=BuildKit\n\
         Documentation=https://github.com/moby/buildkit\n\
         \n\
         [Socket]\n\
         ListenStream={SYSTEM_SOCKET}\n\
         SocketMode=0660\n\
         \n\
         [Install]\n\
         WantedBy=sockets.target\n"
    )
}

fn system_service(h: &HostInstall, tcp: &[String]) -> Result<String> {
    let exec = format!(
        "ExecStart={}",
        daemon_words(h, true, "fd://", tcp)?.join(" ")
    );
    Ok(format!(
        "# Generated by bkenv: BuildKit's service unit (moby/buildkit examples/systemd/system),\n\
         # socket-activated (fd://) and listening with TLS on TCP as [grpc.tls] of --config says.\n\
         [Unit]\n\
         Description=BuildKit\n\
         Requires=buildkit.socket\n\
         After=buildkit.socket\n\
         Documentation=https://github.com/moby/buildkit\n\
         \n\
         [Service]\n\
         {exec}\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    ))
}

fn user_service(h: &HostInstall, tcp: &[String]) -> Result<String> {
    // rootlesskit runs buildkitd in a user namespace with slirp4netns networking; its
    // builtin port driver forwards each TCP listener from the host.
    let mut words: Vec<String> = [
        "rootlesskit",
        "--net=slirp4netns",
        "--copy-up=/etc",
        "--disable-host-loopback",
        "--port-driver=builtin",
    ]
    .map(String::from)
    .to_vec();
    for a in tcp {
        let hostport = a.trim_start_matches("tcp://");
        if let Some((_, port)) = hostport.rsplit_once(':') {
            words.push(format!("--publish={hostport}:{port}/tcp"));
        }
    }
    let mut words: Vec<String> = words.iter().map(|w| unit_word(w)).collect::<Result<_>>()?;
    // `%t`: the user's runtime directory, where upstream's user unit puts the socket.
    words.extend(daemon_words(
        h,
        false,
        "unix://%t/buildkit/buildkitd.sock",
        tcp,
    )?);
    Ok(format!(
        "# Generated by bkenv: BuildKit's rootless user unit (moby/buildkit examples/systemd/user).\n\
         [Unit]\n\
         Description=BuildKit (rootless)\n\
         Documentation=https://github.com/moby/buildkit\n\
         \n\
         [Service]\n\
         ExecStart={}\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        words.join(" ")
    ))
}

/// The files of `buildkit/certs` the host config names.
fn cert_files(env: &Environment) -> Vec<(String, &'static str)> {
    let mut files = vec![
        ("ca.crt".to_string(), "0644"),
        ("server.crt".to_string(), "0644"),
        ("server.key".to_string(), "0600"),
    ];
    for (i, reg) in env.registries.iter().enumerate() {
        if let Role::External { ca_file: Some(_) } = reg.role {
            files.push((buildkitd::external_ca_name(i), "0644"));
        }
    }
    files
}

fn install_script(env: &Environment, h: &HostInstall) -> String {
    let mut s = String::from(
        "#!/bin/sh\n\
         # Generated by bkenv: installs this environment's buildkitd on this machine, as the\n\
         # units in this directory run it. bkenv never runs this script: nothing is installed\n\
         # outside the environment until you do.\n",
    );
    if h.rootless {
        s.push_str(
            "# Run it as the user the rootless daemon runs as (it installs a user unit);\n\
             # the config and certificates go where that user can write.\n",
        );
    } else {
        s.push_str("# Run it as root (sudo host/install.sh).\n");
    }
    s.push_str(
        "# ROOT=DIR installs into DIR laid out like / instead (no daemon-reload then).\n\
         set -eu\n\
         umask 077\n\
         here=$(CDPATH='' cd -- \"$(dirname -- \"$0\")\" && pwd)\n\
         src=$(dirname -- \"$here\")/",
    );
    s.push_str(layout::BUILDKIT_CERTS);
    s.push_str("\nroot=${ROOT:-}\n");
    s.push_str(&format!("certs=\"$root\"{}\n", sh_quote(&h.certs_dir)));
    s.push_str(&format!("config=\"$root\"{}\n", sh_quote(&h.config)));
    s.push_str("install -d -m 0755 \"$certs\" \"$(dirname -- \"$config\")\"\n");
    for (name, mode) in cert_files(env) {
        let n = sh_quote(&name);
        s.push_str(&format!("install -m {mode} \"$src\"/{n} \"$certs\"/{n}\n"));
    }
    s.push_str("install -m 0644 \"$here/buildkitd.toml\" \"$config\"\n");
    if h.rootless {
        s.push_str(
            "units=\"$root${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user\"\n\
             install -d -m 0755 \"$units\"\n\
             install -m 0644 \"$here/user/buildkit.service\" \"$units/buildkit.service\"\n\
             if [ -z \"$root\" ]; then systemctl --user daemon-reload; fi\n\
             echo \"installed; start it with: systemctl --user enable --now buildkit.service\"\n",
        );
    } else {
        s.push_str(
            "units=\"$root/etc/systemd/system\"\n\
             install -d -m 0755 \"$units\"\n\
             install -m 0644 \"$here/system/buildkit.socket\" \"$units/buildkit.socket\"\n\
             install -m 0644 \"$here/system/buildkit.service\" \"$units/buildkit.service\"\n\
             if [ -z \"$root\" ]; then systemctl daemon-reload; fi\n\
             echo \"installed; start it with: systemctl enable --now buildkit.socket buildkit.service\"\n",
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_words_double_specifiers_and_refuse_splitting() {
        assert_eq!(
            unit_word("/opt/100%/bk").ok().as_deref(),
            Some("/opt/100%%/bk")
        );
        for bad in ["a b", "a\nb", "\"x\"", "a\\b", ""] {
            assert!(unit_word(bad).is_err(), "{bad:?}");
        }
    }
}
