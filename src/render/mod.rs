//! Model + key material → the list of files an environment consists of. Renders only;
//! [`crate::output`] decides what to write.

pub mod buildkitd;
pub mod buildx;
mod files;
mod host;
mod kubernetes;

pub use crate::htpasswd::line as htpasswd_line;
pub use files::{compose, config_json, dotenv, primary_registry, registry_config, yaml_quote};

use crate::error::Result;
use crate::model::{Environment, Role, layout};
use crate::output::PlannedFile;
use crate::pki::IssuedCert;
use std::collections::BTreeMap;

/// Everything secret or issued that the files are rendered with.
#[derive(Debug)]
pub struct Material {
    pub ca_cert: String,
    /// What every trust file holds: the CA, and during a rotation the other CA of it
    /// (see [`crate::model::Environment::trust_files`]).
    pub trust: String,
    pub ca_key: String,
    pub buildkitd: IssuedCert,
    pub client: Option<IssuedCert>,
    /// Local registry service → its server certificate.
    pub servers: BTreeMap<String, IssuedCert>,
    /// Registry index → the CA an external registry is trusted with.
    pub external_cas: BTreeMap<usize, String>,
    /// Registry index → password.
    pub passwords: BTreeMap<usize, String>,
    /// Local registry service → htpasswd file contents.
    pub htpasswd: BTreeMap<String, String>,
}

/// Every file of the environment, CA key first so an interrupted first run leaves a key
/// from which the CA certificate can be re-derived (see `init`). `site` is the
/// environment's absolute directory and compose project, for the buildx files (`None`: not written, since
/// buildx wants absolute paths and the directory has none bkenv can write down).
pub fn plan(
    env: &Environment,
    m: &Material,
    existing_buildkitd: Option<&str>,
    site: Option<&buildx::Site<'_>>,
) -> Result<Vec<PlannedFile>> {
    let mut files = vec![
        PlannedFile::private(layout::CA_KEY, m.ca_key.as_str()),
        PlannedFile::public(layout::CA_CERT, m.ca_cert.as_str()),
    ];
    let certs = layout::BUILDKIT_CERTS;
    files.push(PlannedFile::public(
        format!("{certs}/ca.crt"),
        m.trust.as_str(),
    ));
    files.push(PlannedFile::public(
        format!("{certs}/server.crt"),
        m.buildkitd.cert_pem.as_str(),
    ));
    files.push(PlannedFile::private(
        format!("{certs}/server.key"),
        m.buildkitd.key_pem.as_str(),
    ));
    for (i, ca) in &m.external_cas {
        files.push(PlannedFile::public(
            format!("{certs}/{}", buildkitd::external_ca_name(*i)),
            ca.as_str(),
        ));
    }
    let bk_text = buildkitd::render(env, existing_buildkitd)?;
    let buildx_files = match site {
        Some(site) => buildx::plan(env, site, &bk_text)?,
        None => Vec::new(),
    };
    let kube_files = match &env.kubernetes {
        Some(k) => kubernetes::plan(env, k, m, &bk_text)?,
        None => Vec::new(),
    };
    let host_files = host::plan(env, &bk_text)?;
    let mut bk_toml = PlannedFile::public(layout::BUILDKITD_TOML, bk_text);
    bk_toml.policy = crate::output::Policy::Merged;
    files.push(bk_toml);

    let client = layout::CLIENT_DIR;
    files.push(PlannedFile::public(
        format!("{client}/ca.crt"),
        m.trust.as_str(),
    ));
    if let Some(c) = &m.client {
        files.push(PlannedFile::public(
            format!("{client}/client.crt"),
            c.cert_pem.as_str(),
        ));
        files.push(PlannedFile::private(
            format!("{client}/client.key"),
            c.key_pem.as_str(),
        ));
    }

    for (i, reg) in env.registries.iter().enumerate() {
        let ca = match &reg.role {
            Role::External { .. } => m.external_cas.get(&i),
            _ => Some(&m.trust),
        };
        if let Some(ca) = ca {
            for n in &reg.names {
                files.push(PlannedFile::public(
                    format!("{}/{}/ca.crt", layout::CERTS_D, n.name),
                    ca.as_str(),
                ));
            }
        }
        let Some(local) = reg.local() else { continue };
        let dir = &local.service;
        if let Some(server) = m.servers.get(dir) {
            files.push(PlannedFile::public(
                format!("{dir}/certs/registry.crt"),
                server.cert_pem.as_str(),
            ));
            files.push(PlannedFile::private(
                format!("{dir}/certs/registry.key"),
                server.key_pem.as_str(),
            ));
        }
        let upstream = match &reg.role {
            Role::Mirror { upstream, .. } => Some(upstream.as_str()),
            _ => None,
        };
        files.push(PlannedFile::public(
            format!("{dir}/config.yml"),
            registry_config(local, reg.auth.is_some(), upstream)?,
        ));
        if let Some(h) = m.htpasswd.get(dir) {
            files.push(PlannedFile::private(
                format!("{dir}/auth/htpasswd"),
                h.as_str(),
            ));
        }
    }

    files.push(PlannedFile::private(
        layout::DOCKER_CONFIG,
        config_json(env, &m.passwords),
    ));
    files.push(PlannedFile::public(layout::COMPOSE, compose(env)?));
    files.push(PlannedFile::private(
        layout::DOTENV,
        dotenv(env, &m.passwords)?,
    ));
    files.extend(buildx_files);
    files.extend(kube_files);
    files.extend(host_files);
    files.push(PlannedFile::public(layout::GITIGNORE, gitignore(env)));
    if primary_registry(env).is_some() {
        let hello = layout::HELLO_DIR;
        files.push(PlannedFile::public(
            format!("{hello}/Dockerfile"),
            HELLO_DOCKERFILE,
        ));
        files.push(PlannedFile::public(format!("{hello}/hello.txt"), HELLO_TXT));
    }
    Ok(files)
}

/// The smoke test `init` prints: `FROM scratch` needs no base image (works offline and
/// with no mirror), and the context is this directory alone.
const HELLO_DOCKERFILE: &str = "# Generated by bkenv: the smoke test in the next steps `bkenv init` prints.\n\
# Its build context is this directory alone, so no key or password of the environment\n\
# reaches the daemon. Build your own project from its own directory.\n\
FROM scratch\n\
COPY hello.txt /hello.txt\n";

const HELLO_TXT: &str = "hello from a bkenv environment\n";

const GITIGNORE: &str = "# Generated by bkenv: keys, passwords and state stay out of version control.\n\
*.key\n\
.env\n\
*/auth/htpasswd\n\
docker/config.json\n\
docker/buildx/\n\
.bkenv/\n\
ca/backup-*/\n";

/// `.gitignore`; with the Kubernetes form, also the secretGenerator's sources.
fn gitignore(env: &Environment) -> String {
    let mut s = GITIGNORE.to_string();
    if env.kubernetes.is_some() {
        s.push_str(layout::KUBE_SECRETS);
        s.push_str("/\n");
    }
    s
}
