//! What registries serve and who trusts it: served certificates, CA files seen through
//! a service's mounts, SAN coverage and signatures.

use super::{ActiveConfig, Ctx};
use crate::doctor::parsed::PemFile;
use crate::doctor::registry_tables::RegTable;
use crate::doctor::view::{RegistryView, ServiceView};
use crate::hostport::strip_port;
use crate::pki::CertFacts;
use std::path::PathBuf;

/// The certificates a registry serves, with the host file they come from.
pub(crate) fn served<'a>(ctx: &'a Ctx<'_>, r: &RegistryView) -> Option<(PathBuf, &'a [CertFacts])> {
    let svc = ctx.view.service(r)?;
    let (host, _) = svc.resolve(r.tls_cert.as_deref()?)?;
    let pem = ctx.snap.pem_at(&host)?;
    Some((host, pem.facts.as_slice()))
}

/// The host file a daemon-side path resolves to, through the service's mounts.
pub(crate) fn host_file<'a>(
    ctx: &'a Ctx<'_>,
    svc: Option<&ServiceView>,
    path: &str,
) -> Option<&'a PemFile> {
    let (host, _) = svc?.resolve(path)?;
    ctx.snap.pem_at(&host)
}

/// Whether `name` is covered by a certificate's SANs (one-label wildcards allowed).
pub(crate) fn san_covers(cert: &CertFacts, name: &str) -> bool {
    let name = strip_port(name)
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return cert.ip_sans.contains(&ip);
    }
    cert.dns_sans.iter().any(|san| {
        let san = san.to_ascii_lowercase();
        match san.strip_prefix("*.") {
            Some(rest) => name.split_once('.').is_some_and(|(_, r)| r == rest),
            None => san == name,
        }
    })
}

/// The names a certificate is valid for, for messages.
pub(crate) fn san_list(cert: &CertFacts) -> String {
    let mut v: Vec<String> = cert.dns_sans.clone();
    v.extend(cert.ip_sans.iter().map(ToString::to_string));
    if v.is_empty() {
        "no SANs".to_string()
    } else {
        v.join(", ")
    }
}

/// Whether any certificate in `cas` signs `leaf` (or is `leaf`, for self-signed).
pub(crate) fn trusted_by(leaf: &CertFacts, cas: &[&CertFacts]) -> bool {
    cas.iter()
        .any(|ca| ca.der == leaf.der || crate::pki::signed_by(leaf, ca))
}

/// The CA certificates a table trusts, from its `ca` files inside the service.
pub(crate) fn table_cas<'a>(
    ctx: &'a Ctx<'_>,
    cfg: &ActiveConfig<'_>,
    t: &RegTable,
) -> Vec<&'a CertFacts> {
    t.ca.iter()
        .filter_map(|(p, _)| host_file(ctx, cfg.service, p))
        .flat_map(|pem| pem.facts.iter())
        .collect()
}
