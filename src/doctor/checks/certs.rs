//! BK5xx: certificates and keys: validity, names, usages, chains and key files.

use super::Ctx;
use super::grpc::grpc_tls;
use super::trust::served;
use crate::diag::{Edit, Finding, Fix, Location};
use crate::doctor::parsed::PemFile;
use crate::doctor::view::normalize;
use crate::pki::{CertFacts, PublicKeyKind, SanName, key_matches_cert, permitted_by, signed_by};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use time::Duration;

crate::diag::checks! {
    BK501 {
        slug: "key-does-not-match-cert",
        severity: Error,
        fixable: false,
        title: "A certificate and the key configured with it do not match",
        prevents: "tls: private key does not match public key",
    }
    BK502 {
        slug: "cert-expired",
        severity: Error,
        fixable: false,
        title: "A certificate has expired",
        prevents: "x509: certificate has expired or is not yet valid",
    }
    BK503 {
        slug: "cert-not-yet-valid",
        severity: Error,
        fixable: false,
        title: "A certificate is not valid yet",
        prevents: "x509: certificate has expired or is not yet valid",
    }
    BK504 {
        slug: "cert-expiring-soon",
        severity: Warning,
        fixable: false,
        title: "A certificate expires within 30 days",
        prevents: "",
    }
    BK505 {
        slug: "cert-cn-only",
        severity: Error,
        fixable: false,
        title: "A server certificate has no SAN extension (CN only)",
        prevents: "x509: certificate relies on legacy Common Name field, use SANs instead",
    }
    BK506 {
        slug: "cert-missing-server-auth",
        severity: Error,
        fixable: false,
        title: "A served certificate lacks the serverAuth extended key usage",
        prevents: "x509: certificate specifies an incompatible key usage",
    }
    BK507 {
        slug: "issuer-not-a-ca",
        severity: Error,
        fixable: false,
        title: "A certificate that signs others is not a CA (no CA:TRUE or keyCertSign)",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK508 {
        slug: "chain-does-not-verify",
        severity: Error,
        fixable: false,
        title: "A certificate is not signed by the CA it names",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK509 {
        slug: "name-outside-constraints",
        severity: Error,
        fixable: false,
        title: "A certificate names a host outside its CA's name constraints",
        prevents: "x509: a root or intermediate certificate is not authorized to sign for this name",
    }
    BK510 {
        slug: "weak-key-or-signature",
        severity: Error,
        fixable: false,
        title: "RSA key under 2048 bits or a SHA-1 signature",
        prevents: "tls: failed to verify certificate: x509: cannot verify signature: insecure algorithm SHA1-RSA",
    }
    BK511 {
        slug: "key-file-too-permissive",
        severity: Warning,
        fixable: true,
        title: "A private key file is readable by group or others",
        prevents: "",
    }
    BK512 {
        slug: "pem-unparseable",
        severity: Error,
        fixable: false,
        title: "A certificate file holds no parseable PEM certificate",
        prevents: "failed to append ca cert",
    }
    BK513 {
        slug: "old-ca-still-trusted",
        severity: Warning,
        fixable: false,
        title: "A CA rotation finished long ago and trust files still hold the old CA",
        prevents: "",
    }
}

fn cert_loc(p: &PemFile, i: usize) -> Location {
    let line = p
        .src
        .text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("-----BEGIN CERTIFICATE"))
        .nth(i)
        .map(|(n, _)| n + 1);
    line.map_or_else(|| p.src.file_loc(), |l| p.src.loc_line(l))
}

/// After `rotate-ca --finish` every leaf comes from the new CA, and the old one stays in
/// the trust files only so clients can move over. Left there for long, it keeps
/// trusting a CA whose key nothing needs any more: whoever holds that key can
/// impersonate the registry and buildkitd to every client.
fn old_ca_checks(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    use crate::rotation::state::{OLD_CA_GRACE_DAYS, Phase};
    for st in &ctx.snap.bkenv_state {
        let Some(r) = st.rotation.as_ref().filter(|r| r.phase == Phase::Finished) else {
            continue;
        };
        let Some(finished) = r
            .finished
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        else {
            continue;
        };
        let days = (ctx.now - finished).whole_days();
        if days < OLD_CA_GRACE_DAYS {
            continue;
        }
        let Some(old) = crate::pki::read_certs(r.old_ca.as_bytes())
            .ok()
            .and_then(|c| c.into_iter().next())
        else {
            continue;
        };
        // Its archive (`ca/backup-*`) is where it belongs; every other file trusts it.
        let holders: Vec<String> = ctx
            .snap
            .pem
            .iter()
            .filter(|p| p.facts.iter().any(|c| c.der == old.der))
            .filter(|p| {
                !p.src
                    .path
                    .components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with("backup-"))
            })
            .map(|p| p.src.path.display().to_string())
            .collect();
        if holders.is_empty() {
            continue;
        }
        let line = st
            .src
            .text
            .lines()
            .position(|l| l.trim_start().starts_with("\"finished\""))
            .map(|i| i + 1);
        out.push(
            Finding::new(
                &BK513,
                format!(
                    "the CA rotation finished {days} days ago, and {} the old CA: {}",
                    if holders.len() == 1 {
                        "one file still trusts"
                    } else {
                        "these files still trust"
                    },
                    holders.join(", ")
                ),
            )
            .at(line.map_or_else(|| st.src.file_loc(), |l| st.src.loc_line(l)))
            .note(format!(
                "old CA: {} (sha256 {})",
                old.subject,
                old.fingerprint()
            ))
            .help(
                "once every client has the new CA, run `bkenv rotate-ca --drop-old` (it takes the old CA out of the \
                 trust files and keeps it archived in ca/backup-*), then restart buildkitd",
            ),
        );
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    old_ca_checks(ctx, out);
    let served_paths = served_certs(ctx);
    let all: Vec<(&PemFile, usize, &CertFacts)> = ctx
        .snap
        .pem
        .iter()
        .flat_map(|p| p.facts.iter().enumerate().map(move |(i, c)| (p, i, c)))
        .collect();
    let client = ctx
        .snap
        .env_var("BUILDKIT_TLS_CERT")
        .map(|(e, v, _)| normalize(&e.src.path.parent().unwrap_or(Path::new("")).join(v)));
    for p in &ctx.snap.pem {
        let role = if served_paths.contains(&p.src.path) {
            CertRole::Served
        } else if client.as_ref() == Some(&p.src.path) {
            CertRole::Client
        } else {
            CertRole::Other
        };
        file_checks(ctx, p, role, out);
    }
    // Issuers: anything signing another certificate must be a CA; constraints must hold.
    let mut flagged = BTreeSet::new();
    for (lp, li, leaf) in &all {
        if leaf.is_self_issued() {
            continue;
        }
        let named: Vec<_> = all
            .iter()
            .filter(|(_, _, c)| c.subject == leaf.issuer && c.der != leaf.der)
            .collect();
        let signers: Vec<_> = named
            .iter()
            .filter(|(_, _, c)| signed_by(leaf, c))
            .collect();
        if !named.is_empty() && signers.is_empty() {
            out.push(
                Finding::new(
                    &BK508,
                    format!(
                        "{} names issuer `{}`, but no certificate of that name here signed it",
                        lp.src.path.display(),
                        leaf.issuer
                    ),
                )
                .at(cert_loc(lp, *li))
                .help(
                    "the CA was probably regenerated: reissue this certificate from the current CA",
                ),
            );
        }
        for (cp, ci, ca) in signers {
            let can_sign = ca.is_ca && ca.key_usage.as_ref().is_none_or(|k| k.key_cert_sign);
            if !can_sign && flagged.insert(cp.src.path.clone()) {
                out.push(Finding::new(&BK507, format!("{} signs {} but is not a CA (CA:TRUE and keyCertSign required)", cp.src.path.display(), lp.src.path.display()))
                    .at(cert_loc(cp, *ci))
                    .help("issue certificates from a real CA certificate (basicConstraints CA:TRUE, keyUsage keyCertSign)"));
            }
            if let Some(nc) = &ca.name_constraints {
                let names = leaf
                    .dns_sans
                    .iter()
                    .map(|d| SanName::Dns(d.to_ascii_lowercase()))
                    .chain(leaf.ip_sans.iter().map(|ip| SanName::Ip(*ip)));
                let bad: Vec<String> = names
                    .filter(|n| !permitted_by(nc, n))
                    .map(|n| n.to_string())
                    .collect();
                if !bad.is_empty() {
                    out.push(Finding::new(&BK509, format!("{} names {} outside the name constraints of {}", lp.src.path.display(), bad.join(", "), cp.src.path.display()))
                        .at(cert_loc(lp, *li))
                        .help("reissue the CA with these names permitted, or use names inside its constraints"));
                }
            }
        }
    }
    for (cert, key) in pairs(ctx) {
        let (Some(c), Some(k)) = (ctx.snap.pem_at(&cert), ctx.snap.pem_at(&key)) else {
            continue;
        };
        let (Some(leaf), Some(info)) =
            (c.facts.first(), c.key_info.as_ref().or(k.key_info.as_ref()))
        else {
            continue;
        };
        if !key_matches_cert(info, leaf) {
            out.push(Finding::new(&BK501, format!("{} does not match the key {}", cert.display(), key.display()))
                .at(cert_loc(c, 0))
                .help("use the key the certificate was issued for, or reissue the certificate for this key"));
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CertRole {
    Served,
    Client,
    Other,
}

fn file_checks(ctx: &Ctx<'_>, p: &PemFile, role: CertRole, out: &mut Vec<Finding>) {
    let is_served = role == CertRole::Served;
    let path = p.src.path.display();
    if p.is_key() && p.mode.is_some_and(|m| m & 0o077 != 0) {
        out.push(
            Finding::new(
                &BK511,
                format!(
                    "private key {path} has mode {:04o}; group or others can read it",
                    p.mode.unwrap_or(0)
                ),
            )
            .at(p.src.file_loc())
            .help(format!("chmod 600 {path}"))
            .fix(Fix::safe([Edit::mode(&p.src.path, 0o600)])),
        );
    }
    let ext = p
        .src
        .path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if !p.is_key() && p.facts.is_empty() && ext != "key" {
        out.push(Finding::new(&BK512, format!("{path} holds no parseable PEM certificate{}", p.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()))
            .at(p.src.file_loc())
            .help("replace it with the PEM certificate (`-----BEGIN CERTIFICATE-----`); convert DER with `openssl x509 -inform der`"));
    }
    for (i, c) in p.facts.iter().enumerate() {
        let at = cert_loc(p, i);
        if ctx.now > c.not_after {
            out.push(
                Finding::new(&BK502, format!("{path} expired on {}", c.not_after.date()))
                    .at(at.clone())
                    .help("reissue the certificate (`bkenv init` renews expired leaves)"),
            );
        } else if ctx.now < c.not_before {
            out.push(
                Finding::new(
                    &BK503,
                    format!("{path} is not valid before {}", c.not_before.date()),
                )
                .at(at.clone())
                .help("check the clock of the machine that issued it, or reissue it"),
            );
        } else if c.not_after - ctx.now < Duration::days(30) {
            out.push(
                Finding::new(&BK504, format!("{path} expires on {}", c.not_after.date()))
                    .at(at.clone())
                    .help("reissue it before it expires"),
            );
        }
        let weak_rsa = matches!(c.public_key, PublicKeyKind::Rsa { bits } if bits < 2048);
        if weak_rsa || c.uses_sha1() {
            out.push(
                Finding::new(
                    &BK510,
                    format!(
                        "{path} uses {}",
                        if weak_rsa {
                            "an RSA key under 2048 bits"
                        } else {
                            "a SHA-1 signature"
                        }
                    ),
                )
                .at(at.clone())
                .help("reissue with ECDSA P-256 or RSA 2048+ and SHA-256"),
            );
        }
        if i > 0 || c.is_ca {
            continue;
        }
        let server_like = c.ekus.as_ref().is_some_and(|e| e.server_auth);
        if !c.has_san_extension && (is_served || (server_like && role != CertRole::Client)) {
            out.push(
                Finding::new(
                    &BK505,
                    format!(
                        "{path} has no subjectAltName; Go ignores the CN `{}`",
                        c.subject_cn.as_deref().unwrap_or("")
                    ),
                )
                .at(at.clone())
                .help("reissue the certificate with every name clients dial as a SAN"),
            );
        }
        if is_served && c.ekus.as_ref().is_some_and(|e| !e.server_auth && !e.any) {
            out.push(
                Finding::new(
                    &BK506,
                    format!(
                        "{path} is served over TLS but its extended key usage lacks serverAuth"
                    ),
                )
                .at(at)
                .help("reissue it with extendedKeyUsage serverAuth"),
            );
        }
    }
}

/// Host paths of the certificates services present (registry TLS, buildkitd gRPC).
fn served_certs(ctx: &Ctx<'_>) -> BTreeSet<PathBuf> {
    let mut s: BTreeSet<PathBuf> = ctx
        .view
        .registries
        .iter()
        .filter_map(|r| served(ctx, r).map(|(p, _)| p))
        .collect();
    for cfg in ctx.active_configs() {
        if let (Some(svc), Some((c, _))) = (cfg.service, grpc_tls(cfg.doc).cert) {
            s.extend(svc.resolve(c).map(|(h, _)| h));
        }
    }
    s
}

/// (certificate, key) host paths configured together, plus same-stem siblings.
fn pairs(ctx: &Ctx<'_>) -> BTreeSet<(PathBuf, PathBuf)> {
    let mut out = BTreeSet::new();
    for r in &ctx.view.registries {
        if let (Some(svc), Some(c), Some(k)) = (ctx.view.service(r), &r.tls_cert, &r.tls_key)
            && let (Some((c, _)), Some((k, _))) = (svc.resolve(c), svc.resolve(k))
        {
            out.insert((c, k));
        }
    }
    for cfg in ctx.active_configs() {
        let tls = grpc_tls(cfg.doc);
        if let (Some(svc), Some((c, _)), Some((k, _))) = (cfg.service, tls.cert, tls.key)
            && let (Some((c, _)), Some((k, _))) = (svc.resolve(c), svc.resolve(k))
        {
            out.insert((c, k));
        }
    }
    if let (Some((e, c, _)), Some((_, k, _))) = (
        ctx.snap.env_var("BUILDKIT_TLS_CERT"),
        ctx.snap.env_var("BUILDKIT_TLS_KEY"),
    ) {
        let base = e.src.path.parent().unwrap_or(Path::new(""));
        out.insert((normalize(&base.join(c)), normalize(&base.join(k))));
    }
    for p in ctx.snap.pem.iter().filter(|p| !p.facts.is_empty()) {
        let key = p.src.path.with_extension("key");
        if key != p.src.path && ctx.snap.pem_at(&key).is_some_and(PemFile::is_key) {
            out.insert((p.src.path.clone(), key));
        }
    }
    out
}
