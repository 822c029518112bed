//! What `docker buildx` needs to build on the environment:
//!
//! - `buildx/create-remote.sh`: a builder on this environment's buildkitd (remote driver),
//!   with the absolute `cacert`/`cert`/`key` paths buildx insists on (it refuses relative
//!   ones: `non-absolute path ... provided for cacert`) and re-reads at every connection;
//! - `buildx/builder.toml` and `buildx/create-container.sh`: a docker-container builder
//!   (buildx's default driver). buildx copies the registry `ca`/`keypair` files a
//!   `--config` names from the HOST into the builder and rewrites the paths
//!   (`util/confutil/container.go`), so the config names host paths; the builder joins
//!   the compose network so that the registry's service name resolves inside it.
//!
//! Every value is validated, then escaped for buildx's CSV option parser and for `sh`.

use crate::error::{Error, Result};
use crate::model::{Environment, layout};
use crate::output::PlannedFile;
use crate::shell::quote as sh_quote;
use toml_edit::{DocumentMut, Item, Value};

/// Files are scripts a person runs: executable, no secrets in them (paths only).
const MODE_SCRIPT: u32 = 0o755;

/// The buildx files of an environment rooted at the absolute directory `root`;
/// `buildkitd_toml` is the environment's rendered `buildkitd.toml`.
pub(crate) fn plan(
    env: &Environment,
    site: &Site<'_>,
    buildkitd_toml: &str,
) -> Result<Vec<PlannedFile>> {
    let (root, project) = (site.root, site.project.clone());
    let mut remote = PlannedFile::public(layout::BUILDX_REMOTE, remote_script(env, root, &project));
    remote.mode = MODE_SCRIPT;
    let mut container =
        PlannedFile::public(layout::BUILDX_CONTAINER, container_script(root, &project));
    container.mode = MODE_SCRIPT;
    Ok(vec![
        remote,
        PlannedFile::public(layout::BUILDX_CONFIG, builder_config(buildkitd_toml, root)?),
        container,
    ])
}

/// Where the environment lives as buildx and Compose see it: its absolute directory and
/// the compose project its services run in (which names their network, `PROJECT_default`).
#[derive(Debug, Clone)]
pub struct Site<'a> {
    pub root: &'a str,
    pub project: String,
}

impl<'a> Site<'a> {
    /// `root` with the project Compose derives from the directory name.
    pub fn at(root: &'a str) -> Self {
        Site {
            root,
            project: compose_project(root),
        }
    }

    /// `root` with the project `COMPOSE_PROJECT_NAME` sets, when it is set and valid
    /// (Compose refuses an invalid one, so a builder could never join its network).
    pub fn named(root: &'a str, explicit: Option<&str>) -> Self {
        match explicit.filter(|n| valid_project_name(n)) {
            Some(name) => Site {
                root,
                project: name.to_string(),
            },
            None => Site::at(root),
        }
    }
}

/// Compose's project name grammar (compose-go `loader.ValidateProjectName`): lower-case
/// letters, digits, `-` and `_`, starting with a letter or a digit.
pub fn valid_project_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The builder's name: buildx accepts `^[a-zA-Z][a-zA-Z0-9._-]*$` (`store/util.go`);
/// the compose project name is `[a-z0-9_-]*`, so the prefix makes it valid.
pub fn builder_name(project: &str) -> String {
    if project.is_empty() {
        "bkenv".to_string()
    } else {
        format!("bkenv-{project}")
    }
}

/// The compose project of a directory, as Compose v1 and v2 both derive it (unless
/// `COMPOSE_PROJECT_NAME` or `-p` says otherwise): the base name, lower-cased, without
/// characters outside `[a-z0-9_-]`.
pub fn compose_project(root: &str) -> String {
    let base = root.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let name: String = base
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    // Compose v2 also drops leading characters that are not letters or digits.
    name.trim_start_matches(['_', '-']).to_string()
}

/// The `--driver-opt` values of the remote builder: the CA that signs buildkitd, and the
/// client pair under mutual TLS. No `servername`: buildx verifies the endpoint's host
/// by default, and `BUILDKIT_HOST` is always `tcp://HOST:PORT` with HOST in buildkitd's
/// certificate (the spec's validation and `init`'s SANs see to it).
pub fn remote_driver_opts(env: &Environment, root: &str) -> Vec<(&'static str, String)> {
    let client = format!("{root}/{}", layout::CLIENT_DIR);
    let mut opts = vec![("cacert", format!("{client}/ca.crt"))];
    if env.buildkitd.mtls {
        opts.push(("cert", format!("{client}/client.crt")));
        opts.push(("key", format!("{client}/client.key")));
    }
    opts
}

fn remote_script(env: &Environment, root: &str, project: &str) -> String {
    let mut s = String::from(
        "#!/bin/sh\n\
         # Generated by bkenv: a buildx builder on this environment's buildkitd (remote driver).\n\
         # buildx stores these absolute paths and reads the files at every connection: after\n\
         # moving the environment, re-run `bkenv init` and this script (`docker buildx rm` first).\n\
         # Extra arguments go to `docker buildx create` (e.g. --use, --bootstrap).\n\
         set -eu\n\
         exec docker buildx create \\\n",
    );
    s.push_str(&format!(
        "  --name {} --driver remote \\\n",
        sh_quote(&builder_name(project))
    ));
    for (k, v) in remote_driver_opts(env, root) {
        s.push_str(&format!(
            "  --driver-opt {} \\\n",
            sh_quote(&csv_field(&format!("{k}={v}")))
        ));
    }
    s.push_str(&format!("  \"$@\" {}\n", sh_quote(&env.buildkitd.host)));
    s
}

fn container_script(root: &str, project: &str) -> String {
    let config = format!("{root}/{}", layout::BUILDX_CONFIG);
    let network = format!("network={project}_default");
    format!(
        "#!/bin/sh\n\
         # Generated by bkenv: a docker-container builder (buildx's default driver) that trusts\n\
         # this environment's registries. buildx copies the files builder.toml names into the\n\
         # builder when it is created and never reads them again: after `bkenv init` changes\n\
         # them, recreate the builder (`docker buildx rm {name}`, then this script).\n\
         # The builder joins the compose network `{project}_default` (the project is\n\
         # COMPOSE_PROJECT_NAME when `bkenv init` ran, else the directory name; re-run init\n\
         # after changing it), so it reaches the registry by its service name; `localhost`\n\
         # inside the builder is the builder itself.\n\
         set -eu\n\
         exec docker buildx create \\\n  --name {qname} --driver docker-container \\\n  --driver-opt {net} \\\n  --config {cfg} \\\n  \"$@\"\n",
        name = builder_name(project),
        qname = sh_quote(&builder_name(project)),
        net = sh_quote(&csv_field(&network)),
        cfg = sh_quote(&config),
    )
}

/// The environment's buildkitd.toml for a docker-container builder: without `[grpc]`
/// (the builder's own listener is buildx's business, and the container paths of the
/// environment's server certificate do not exist in it), with every file under the
/// buildkitd container's certs directory named by its host path.
fn builder_config(buildkitd_toml: &str, root: &str) -> Result<String> {
    let mut doc = parse_generated(buildkitd_toml)?;
    doc.remove("grpc");
    rewrite_registry_paths(&mut doc, &format!("{root}/{}", layout::BUILDKIT_CERTS));
    doc.decor_mut().clear();
    Ok(format!(
        "# Generated by bkenv for `docker buildx create --config` (see create-container.sh):\n\
         # the registry tables of buildkit/buildkitd.toml with host paths, which buildx copies\n\
         # into the builder when it is created. Edit buildkit/buildkitd.toml, not this file.\n{doc}"
    ))
}

/// The environment's generated buildkitd.toml, parsed for a copy with other paths.
pub(crate) fn parse_generated(buildkitd_toml: &str) -> Result<DocumentMut> {
    buildkitd_toml
        .parse()
        .map_err(|e: toml_edit::TomlError| Error::Refused {
            path: layout::BUILDKITD_TOML.into(),
            message: format!("not valid TOML ({})", e.to_string().trim()),
        })
}

/// [`rewrite_paths`] on every `[registry."host"]` table of `doc`.
pub(crate) fn rewrite_registry_paths(doc: &mut DocumentMut, host_certs: &str) {
    if let Some(regs) = doc.get_mut("registry").and_then(Item::as_table_like_mut) {
        for (_, reg) in regs.iter_mut() {
            rewrite_paths(reg, host_certs);
        }
    }
}

/// Maps the `ca`, `cert` and `key` strings of a registry table (and of its `keypair`
/// entries) from the buildkitd container's certs directory to `host_certs`.
pub(crate) fn rewrite_paths(item: &mut Item, host_certs: &str) {
    let map = |v: &mut Value| {
        if let Some(rest) = v
            .as_str()
            .and_then(|s| s.strip_prefix(layout::BK_CERTS_IN))
            .and_then(|r| r.strip_prefix('/'))
        {
            let decor = v.decor().clone();
            *v = Value::from(format!("{host_certs}/{rest}"));
            *v.decor_mut() = decor;
        }
    };
    match item {
        Item::Table(_) | Item::Value(Value::InlineTable(_)) => {
            let Some(t) = item.as_table_like_mut() else {
                return;
            };
            for (k, v) in t.iter_mut() {
                match (k.get(), v) {
                    ("ca" | "cert" | "key", Item::Value(Value::Array(a))) => {
                        a.iter_mut().for_each(map)
                    }
                    ("ca" | "cert" | "key", Item::Value(v)) => map(v),
                    ("keypair", v) => rewrite_paths(v, host_certs),
                    _ => {}
                }
            }
        }
        Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                for (k, v) in t.iter_mut() {
                    if let ("cert" | "key", Item::Value(v)) = (k.get(), v) {
                        map(v);
                    }
                }
            }
        }
        Item::Value(Value::Array(a)) => {
            for v in a.iter_mut() {
                if let Value::InlineTable(t) = v {
                    for (k, v) in t.iter_mut() {
                        if matches!(k.get(), "cert" | "key") {
                            map(v);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// One field for buildx's option parser (`csvvalue.Fields`, RFC 4180): quoted when it
/// holds a comma, a quote, a line break or surrounding space, with quotes doubled.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_compose() {
        assert_eq!(compose_project("/home/me/My Env.2"), "myenv2");
        assert_eq!(Site::named("/x/Dir", Some("ci_42")).project, "ci_42");
        assert_eq!(Site::named("/x/Dir", Some("Bad Name")).project, "dir");
        assert_eq!(Site::named("/x/Dir", Some("")).project, "dir");
        assert!(!valid_project_name("-x") && valid_project_name("0x-_"));
        assert_eq!(compose_project("/tmp/_x-y/"), "x-y");
        assert_eq!(builder_name(&compose_project("/!!!")), "bkenv");
    }

    #[test]
    fn quoting_survives_hostile_paths() {
        assert_eq!(csv_field("cacert=/a,b/\"c\""), "\"cacert=/a,b/\"\"c\"\"\"");
        // What sh reads back is the exact field (shell::quote's own tests run sh).
        assert!(sh_quote("cacert=/a b/ca.crt").starts_with('\''));
    }

    #[test]
    fn builder_config_names_host_paths_and_drops_grpc() {
        let toml = "[grpc]\naddress = [\"tcp://0.0.0.0:1234\"]\n[grpc.tls]\ncert = \"/etc/buildkit/certs/server.crt\"\n\n[registry.\"registry:5000\"]\nca = [\"/etc/buildkit/certs/ca.crt\"]\n[[registry.\"registry:5000\".keypair]]\ncert = \"/etc/buildkit/certs/c.crt\"\nkey = \"/etc/buildkit/certs/c.key\"\n\n[registry.\"other:5000\"]\nca = [\"/opt/mine.crt\"]\n";
        let out = builder_config(toml, "/env").unwrap_or_else(|e| panic!("{e}"));
        let doc: DocumentMut = out.parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(doc.get("grpc").is_none(), "{out}");
        let reg = &doc["registry"]["registry:5000"];
        assert_eq!(reg["ca"][0].as_str(), Some("/env/buildkit/certs/ca.crt"));
        let kp = reg["keypair"]
            .as_array_of_tables()
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(
            kp.get(0).and_then(|t| t["key"].as_str()),
            Some("/env/buildkit/certs/c.key")
        );
        assert_eq!(
            doc["registry"]["other:5000"]["ca"][0].as_str(),
            Some("/opt/mine.crt")
        );
    }
}
