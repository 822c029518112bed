//! BK4xx (daemon side): registry credentials handed to buildkitd. The daemon never reads
//! a Docker config or credential variables: every registry credential reaches it from
//! the client (buildctl, buildx) through the session's auth provider, per request. Only
//! buildctl (`cmd/buildctl`) and the auth provider (`session/auth/authprovider`) load
//! `config.json` in BuildKit's source.

use super::Ctx;
use crate::diag::Finding;
use crate::doctor::view::{ServiceView, compose_loc, env_loc};

crate::diag::checks! {
    BK421 {
        slug: "credentials-given-to-daemon",
        severity: Warning,
        fixable: false,
        title: "Registry credentials are given to buildkitd, which never reads them: the client supplies them",
        prevents: "failed to push registry:5000/app:1: unexpected status: 401 Unauthorized",
    }
}

/// Whether a variable name reads as a registry credential (never its value: the
/// value is a secret and is not looked at).
fn credential_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    let words: Vec<&str> = n.split('_').collect();
    let secret = words
        .iter()
        .any(|w| matches!(*w, "PASSWORD" | "PASSWD" | "PASS" | "TOKEN"));
    let registry_user = words.iter().any(|w| matches!(*w, "REGISTRY" | "DOCKER"))
        && words.iter().any(|w| matches!(*w, "USER" | "USERNAME"));
    !n.starts_with("BUILDKIT_") && (n == "DOCKER_AUTH_CONFIG" || secret || registry_user)
}

/// A service running the buildkit image as a client (`buildctl`,
/// `buildctl-daemonless.sh`): its credentials are the client's, and right there.
fn runs_client(svc: &ServiceView) -> bool {
    svc.args.iter().any(|a| a.contains("buildctl"))
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for svc in ctx.view.buildkit_services().filter(|s| !runs_client(s)) {
        let client = "registry credentials belong where buildctl or buildx runs (`docker login`, or `$DOCKER_CONFIG/config.json`): the client sends them to buildkitd for each registry";
        let names = svc
            .env
            .iter()
            .map(|(k, _)| k.as_str())
            .chain(svc.env_from_host.iter().map(String::as_str));
        for name in names {
            let what = if name == "DOCKER_CONFIG" {
                "`DOCKER_CONFIG` is set, but buildkitd never reads a Docker config"
            } else if credential_name(name) {
                "the variable looks like a registry credential, but buildkitd never reads credentials from its environment"
            } else {
                continue;
            };
            let Some(at) = env_loc(ctx.snap, svc, name) else {
                continue;
            };
            out.push(
                Finding::new(
                    &BK421,
                    format!("service `{}` is given `{name}`: {what}", svc.name),
                )
                .at(at)
                .prevents("failed to push REGISTRY/IMAGE: unexpected status: 401 Unauthorized (when the client has no credentials of its own)")
                .help(format!("remove it from the service; {client}")),
            );
        }
        for m in &svc.mounts {
            let docker_dir = m.container.rsplit('/').next().is_some_and(|last| {
                last == ".docker" || last == "config.json" || last == ".dockerconfigjson"
            });
            let holds_config = m.host.as_ref().is_some_and(|h| {
                ctx.snap
                    .docker_configs
                    .iter()
                    .any(|c| c.src.path.starts_with(h))
            });
            if !(docker_dir || holds_config) {
                continue;
            }
            let Some(at) = compose_loc(ctx.snap, m.file, m.line) else {
                continue;
            };
            out.push(
                Finding::new(
                    &BK421,
                    format!(
                        "service `{}` mounts a Docker config at `{}`, which buildkitd never reads",
                        svc.name, m.container
                    ),
                )
                .at(at)
                .prevents("failed to push REGISTRY/IMAGE: unexpected status: 401 Unauthorized (when the client has no credentials of its own)")
                .help(format!("remove the mount: the file only puts the secrets in the daemon's container; {client}")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::credential_name;

    #[test]
    fn credential_names() {
        for n in [
            "REGISTRY_PASSWORD",
            "registry_password",
            "DOCKER_PASS",
            "CI_REGISTRY_TOKEN",
            "DOCKER_AUTH_CONFIG",
            "REGISTRY_USERNAME",
            "HARBOR_PASSWD",
        ] {
            assert!(credential_name(n), "{n}");
        }
        for n in [
            "HTTPS_PROXY",
            "BUILDKIT_STEP_LOG_MAX_SIZE",
            "TZ",
            "PASSAGE",
            "BUILDKIT_TOKEN_FILE",
        ] {
            assert!(!credential_name(n), "{n}");
        }
    }
}
