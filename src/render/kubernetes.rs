//! The environment as Kubernetes manifests under `kubernetes/` (`[kubernetes]` of the
//! spec), for `kubectl apply -k kubernetes`:
//!
//! - `kustomization.yaml`: the namespace, and generators that make the Secrets
//!   (`kubernetes.io/tls` pairs, htpasswd) from `secrets/` (0600, gitignored) and the
//!   ConfigMaps (CA certificates, buildkitd.toml, registry config) from `files/`, so no
//!   key is ever written into a manifest and no key reaches a ConfigMap;
//! - `namespace.yaml`, `buildkitd.yaml` (Deployment + Service), one `<registry>.yaml` per
//!   local registry (Deployment + Service);
//! - `containerd/certs.d/<host:port>/{hosts.toml,ca.crt}` for the nodes that pull what
//!   was pushed.
//!
//! The containers see exactly the paths the compose form mounts (`model::layout`), so
//! `buildkitd.toml` is the same file in both.

use super::Material;
use super::files::render_template;
use crate::error::Result;
use crate::model::{Environment, Kubernetes, Reach, Role, layout};
use crate::output::PlannedFile;
use crate::spec::kubernetes::{kube_listen_port, probe_socket};
use minijinja::{Value, context};
use toml_edit::{DocumentMut, Item, Table, value};

const KUSTOMIZATION: &str = include_str!("../../templates/kubernetes/kustomization.yaml.j2");
const NAMESPACE: &str = include_str!("../../templates/kubernetes/namespace.yaml.j2");
const BUILDKITD: &str = include_str!("../../templates/kubernetes/buildkitd.yaml.j2");
const REGISTRY: &str = include_str!("../../templates/kubernetes/registry.yaml.j2");

/// The mode of buildkitd's projected TLS files: rootless, the files belong to root with
/// group `fsGroup` (1000), so 0440 lets the daemon's user read its key and nobody else;
/// rootful, root reads them whatever the mode, so 0400.
fn certs_mode(rootless: bool) -> (u32, &'static str) {
    if rootless {
        (0o440, "0440")
    } else {
        (0o400, "0400")
    }
}

/// buildkitd's state directory in its image: the rootless image's `VOLUME`, or root's.
fn state_dir(rootless: bool) -> &'static str {
    if rootless {
        "/home/user/.local/share/buildkit"
    } else {
        "/var/lib/buildkit"
    }
}

/// Every file of the Kubernetes form. `buildkitd_toml` is the rendered (merged)
/// `buildkitd.toml`: the ConfigMap carries the same file compose mounts.
pub(crate) fn plan(
    env: &Environment,
    k: &Kubernetes,
    m: &Material,
    buildkitd_toml: &str,
) -> Result<Vec<PlannedFile>> {
    let dir = layout::KUBE_DIR;
    let (secrets, files_dir) = (layout::KUBE_SECRETS, layout::KUBE_FILES);
    let bk = &env.buildkitd;
    let external_cas: Vec<String> = m
        .external_cas
        .keys()
        .map(|i| super::buildkitd::external_ca_name(*i))
        .collect();
    let mut out = vec![
        PlannedFile::public(format!("{files_dir}/ca.crt"), m.ca_cert.as_str()),
        PlannedFile::public(format!("{files_dir}/buildkitd.toml"), buildkitd_toml),
        PlannedFile::public(
            format!("{secrets}/{}/tls.crt", bk.service),
            m.buildkitd.cert_pem.as_str(),
        ),
        PlannedFile::private(
            format!("{secrets}/{}/tls.key", bk.service),
            m.buildkitd.key_pem.as_str(),
        ),
    ];
    for (i, ca) in &m.external_cas {
        out.push(PlannedFile::public(
            format!("{files_dir}/{}", super::buildkitd::external_ca_name(*i)),
            ca.as_str(),
        ));
    }
    if let Some(c) = &m.client {
        out.push(PlannedFile::public(
            format!("{secrets}/{}-client/tls.crt", bk.service),
            c.cert_pem.as_str(),
        ));
        out.push(PlannedFile::private(
            format!("{secrets}/{}-client/tls.key", bk.service),
            c.key_pem.as_str(),
        ));
    }
    let mut registries = Vec::new();
    for reg in &env.registries {
        let Some(local) = reg.local() else { continue };
        let svc = &local.service;
        if let Some(server) = m.servers.get(svc) {
            out.push(PlannedFile::public(
                format!("{secrets}/{svc}/tls.crt"),
                server.cert_pem.as_str(),
            ));
            out.push(PlannedFile::private(
                format!("{secrets}/{svc}/tls.key"),
                server.key_pem.as_str(),
            ));
        }
        if let Some(h) = m.htpasswd.get(svc) {
            out.push(PlannedFile::private(
                format!("{secrets}/{svc}/htpasswd"),
                h.as_str(),
            ));
        }
        let upstream = match &reg.role {
            Role::Mirror { upstream, .. } => Some(upstream.as_str()),
            _ => None,
        };
        out.push(PlannedFile::public(
            format!("{files_dir}/{svc}/config.yml"),
            super::registry_config(local, reg.auth.is_some(), upstream)?,
        ));
        let r = context! {
            service => svc,
            image => &local.image,
            port => local.port,
            auth => reg.auth.is_some(),
        };
        out.push(PlannedFile::public(
            format!("{dir}/{svc}.yaml"),
            render_template(
                "registry.yaml",
                REGISTRY,
                context! { r => r.clone(), names => names_comment(k, svc) },
            )?,
        ));
        registries.push(r);
    }
    let (mode, mode_octal) = certs_mode(bk.rootless);
    let bk_ctx = context! {
        service => &bk.service,
        image => &bk.image,
        rootless => bk.rootless,
        mtls => bk.mtls,
        listen => &bk.listen,
        config_in => bk.config_path_in_container(),
        certs_in => layout::BK_CERTS_IN,
        state_dir => state_dir(bk.rootless),
        // Validation guarantees both (`spec::kubernetes::apply`).
        port => kube_listen_port(bk).unwrap_or(1234),
        probe_socket => probe_socket(bk).unwrap_or(layout::BK_SOCKET_ROOTLESS),
        mode => mode,
        mode_octal => Value::from_safe_string(mode_octal.to_string()),
    };
    out.push(PlannedFile::public(
        format!("{dir}/kustomization.yaml"),
        render_template(
            "kustomization.yaml",
            KUSTOMIZATION,
            context! {
                namespace => &k.namespace,
                bk => bk_ctx.clone(),
                registries => registries,
                external_cas => external_cas.clone(),
            },
        )?,
    ));
    out.push(PlannedFile::public(
        format!("{dir}/namespace.yaml"),
        render_template(
            "namespace.yaml",
            NAMESPACE,
            context! { namespace => &k.namespace },
        )?,
    ));
    out.push(PlannedFile::public(
        format!("{dir}/buildkitd.yaml"),
        render_template(
            "buildkitd.yaml",
            BUILDKITD,
            context! {
                bk => bk_ctx,
                external_cas => external_cas,
                names => names_comment(k, &bk.service),
            },
        )?,
    ));
    out.extend(containerd_hosts(env, m)?);
    Ok(out)
}

/// The Service's DNS names for a comment line: validated labels (no quote, no line
/// break: `spec::kubernetes`), so they are printed as they are.
fn names_comment(k: &Kubernetes, service: &str) -> Value {
    Value::from_safe_string(k.service_names(service).join(", "))
}

/// containerd's registry host configuration for every name of a registry the nodes can
/// dial (not a loopback name: on a node that is the node itself): `hosts.toml` naming
/// the CA by the path it has once the directory is copied to `/etc/containerd/certs.d`,
/// and the CA beside it. IPv6 literals are bracketed (`[fd00::1]:5000`), as containerd
/// looks the directory up by the reference's host.
fn containerd_hosts(env: &Environment, m: &Material) -> Result<Vec<PlannedFile>> {
    let mut out = Vec::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let ca = match &reg.role {
            Role::External { .. } => m.external_cas.get(&i),
            _ => Some(&m.ca_cert),
        };
        for n in reg.names.iter().filter(|n| n.reach != Reach::HostOnly) {
            let host = n.name.to_string();
            let server = format!("https://{host}");
            let mut doc = DocumentMut::new();
            doc.insert("server", value(server.as_str()));
            let mut t = Table::new();
            t.insert(
                "capabilities",
                value(toml_edit::Array::from_iter(["pull", "resolve", "push"])),
            );
            if ca.is_some() {
                t.insert(
                    "ca",
                    value(format!("{}/{host}/ca.crt", layout::CONTAINERD_CERTS_D)),
                );
            }
            let mut hosts = Table::new();
            hosts.set_implicit(true);
            hosts.insert(&server, Item::Table(t));
            doc.insert("host", Item::Table(hosts));
            let text = format!(
                "# Generated by bkenv: containerd's configuration for {host}. Copy this directory to\n\
                 # {}/{host}/ on each node (containerd's `config_path`).\n{doc}",
                layout::CONTAINERD_CERTS_D
            );
            out.push(PlannedFile::public(
                format!("{}/{host}/hosts.toml", layout::KUBE_CONTAINERD),
                text,
            ));
            if let Some(ca) = ca {
                out.push(PlannedFile::public(
                    format!("{}/{host}/ca.crt", layout::KUBE_CONTAINERD),
                    ca.as_str(),
                ));
            }
        }
    }
    Ok(out)
}
