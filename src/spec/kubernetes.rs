//! `[kubernetes]` of the spec: the namespace and cluster domain, checked against
//! Kubernetes' own name grammars, and the Service DNS names they add to the certificates.

use crate::error::{Error, Result};
use crate::hostport::{Host, HostPort};
use crate::model::{Buildkitd, Kubernetes, Reach, Registry, RegistryName, push_unique};

use super::KubernetesSpec;

/// The longest DNS label (RFC 1123), which Kubernetes enforces for namespaces and
/// Service names.
const MAX_LABEL: usize = 63;

/// Validates `[kubernetes]` and adds every Service DNS form of buildkitd and of each
/// local registry to what their certificates carry.
pub(super) fn apply(
    k: &KubernetesSpec,
    buildkitd: &mut Buildkitd,
    registries: &mut [Registry],
) -> Result<Kubernetes> {
    // apimachinery's IsDNS1123Label: namespaces.
    dns_label("kubernetes.namespace", &k.namespace, false)?;
    cluster_domain(&k.cluster_domain)?;
    let kube = Kubernetes {
        namespace: k.namespace.clone(),
        cluster_domain: k.cluster_domain.clone(),
    };
    // IsDNS1035Label: Service names, which start with a letter.
    dns_label("buildkitd.service", &buildkitd.service, true)?;
    if kube_listen_port(buildkitd).is_none() {
        return Err(Error::invalid(
            "buildkitd.listen",
            "the Kubernetes Service needs a `tcp://0.0.0.0:PORT` address to forward to",
        ));
    }
    if probe_socket(buildkitd).is_none() {
        return Err(Error::invalid(
            "buildkitd.listen",
            "the pod's readiness and liveness probes run `buildctl debug workers` on buildkitd's unix socket: \
             add one (rootless: unix:///run/user/1000/buildkit/buildkitd.sock)",
        ));
    }
    for name in kube.service_names(&buildkitd.service) {
        push_unique(&mut buildkitd.sans, Host::Dns(name));
    }
    for reg in registries.iter_mut() {
        let Some(local) = reg.local() else { continue };
        dns_label("registry.service", &local.service, true)?;
        let port = local.port;
        for name in kube.service_names(&local.service) {
            let name = HostPort {
                host: Host::Dns(name),
                port: Some(port),
            };
            if !reg.names.iter().any(|n| n.name == name) {
                reg.names.push(RegistryName {
                    name,
                    reach: Reach::Network,
                });
            }
        }
    }
    Ok(kube)
}

/// The port of buildkitd's first `tcp://` address: the Service's target port.
pub(crate) fn kube_listen_port(b: &Buildkitd) -> Option<u16> {
    b.listen
        .iter()
        .filter_map(|a| crate::hostport::tcp_dialled(a))
        .find_map(|hp| crate::hostport::host_and_port(hp).1)
}

/// The unix socket the in-pod `buildctl` probes dial.
pub(crate) fn probe_socket(b: &Buildkitd) -> Option<&str> {
    b.listen
        .iter()
        .map(String::as_str)
        .find(|a| a.starts_with("unix://"))
}

/// RFC 1123 label (lower-case letters, digits, `-`, alphanumeric at both ends); with
/// `letter_first`, RFC 1035 (Service names must start with a letter).
fn dns_label(field: &str, s: &str, letter_first: bool) -> Result<()> {
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let first_ok = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || (!letter_first && b.is_ascii_digit()));
    let last_ok = s
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if s.len() <= MAX_LABEL && ok_chars && first_ok && last_ok {
        return Ok(());
    }
    let what = if letter_first {
        "a Kubernetes Service name (RFC 1035 label: lower-case letters, digits and `-`, starting with a letter, \
         ending with a letter or digit, at most 63 characters)"
    } else {
        "a Kubernetes namespace (RFC 1123 label: lower-case letters, digits and `-`, alphanumeric at both ends, \
         at most 63 characters)"
    };
    Err(Error::invalid(
        field,
        format!("`{}` is not {what}", s.escape_debug()),
    ))
}

/// The cluster's DNS domain: dot-separated RFC 1123 labels, no trailing dot.
fn cluster_domain(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 253 {
        return Err(Error::invalid(
            "kubernetes.cluster_domain",
            "must be a DNS domain such as cluster.local",
        ));
    }
    for label in s.split('.') {
        dns_label("kubernetes.cluster_domain", label, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_kubernetes_grammar() {
        for ok in ["buildkit", "b-1", "a"] {
            dns_label("f", ok, true).unwrap();
        }
        dns_label("f", "1ns", false).unwrap();
        for bad in [
            "",
            "Build",
            "1svc",
            "a_b",
            "a-",
            "a.b",
            "x\n- y",
            &"a".repeat(64),
        ] {
            assert!(dns_label("f", bad, true).is_err(), "{bad:?}");
        }
        cluster_domain("cluster.local").unwrap();
        for bad in ["", "cluster.local.", "Cluster.local", "a..b", "a\"b"] {
            assert!(cluster_domain(bad).is_err(), "{bad:?}");
        }
    }
}
