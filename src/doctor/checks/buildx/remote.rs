//! Remote-driver builders against the environment's buildkitd (BK801-BK807).

use super::super::trust::{san_covers, san_list, trusted_by};
use super::{
    BK801, BK802, BK803, BK804, BK805, BK806, BK807, Daemon, PATH_OPTS, endpoint_host,
    endpoint_port, opt_loc,
};
use crate::diag::Finding;
use crate::doctor::parsed::{BuildxInstanceFile, BuildxNode, Named, PemFile};
use crate::doctor::source::SourceFile;
use crate::pki::{CertFacts, key_matches_cert};
use std::collections::BTreeMap;

pub(super) fn remote(
    inst: &BuildxInstanceFile,
    builder: &str,
    node: &BuildxNode,
    daemon: Option<&Daemon<'_>>,
    out: &mut Vec<Finding>,
) {
    let empty = BTreeMap::new();
    let opts = node.driver_opts.as_ref().unwrap_or(&empty);
    let src = &inst.src;
    let ep = &node.endpoint;
    let mut usable = true;
    for k in PATH_OPTS {
        let Some(v) = opts.get(*k) else { continue };
        if !v.starts_with('/') {
            usable = false;
            out.push(
                Finding::new(&BK801, format!("builder `{builder}`: `{k}={v}` is a relative path"))
                    .at(opt_loc(src, k))
                    .prevents(format!("non-absolute path '{v}' provided for {k}"))
                    .help(format!("recreate the builder with an absolute path: `docker buildx rm {builder}`, then `--driver-opt {k}=$PWD/{v}` (bkenv's buildx/create-remote.sh writes them)")),
            );
            continue;
        }
        match inst.named.get(v) {
            Some(Named::Missing) => {
                usable = false;
                out.push(
                    Finding::new(&BK802, format!("builder `{builder}`: `{k}` names {v}, which does not exist"))
                        .at(opt_loc(src, k))
                        .prevents(format!("ERROR: failed to build: context deadline exceeded (buildx re-reads `{k}` at every connection; the environment was moved or its files removed)"))
                        .help(format!("recreate the builder with the paths where the files are now: `docker buildx rm {builder}`, then the environment's buildx/create-remote.sh")),
                );
            }
            Some(Named::Unreadable(why)) => {
                usable = false;
                out.push(
                    Finding::new(&BK802, format!("builder `{builder}`: `{k}` names {v}, which cannot be read: {why}"))
                        .at(opt_loc(src, k))
                        .help("make the file readable by the user who runs buildx, or recreate the builder with one that is"),
                );
            }
            _ => {}
        }
    }
    // Only TCP listeners carry TLS (buildkitd serves unix sockets in the clear), and a
    // builder is this environment's when it dials one of the daemon's ports.
    let Some(daemon) = daemon.filter(|d| endpoint_port(ep).is_some_and(|p| d.ports.contains(&p)))
    else {
        return;
    };
    let tls_on = ["cacert", "cert", "key", "servername"]
        .iter()
        .any(|k| opts.contains_key(*k));
    if !tls_on {
        out.push(
            Finding::new(&BK807, format!("builder `{builder}` dials {ep} without TLS, but buildkitd serves TLS there"))
                .at(opt_loc(src, "Endpoint"))
                .note("buildx's gRPC client waits for a plain HTTP/2 answer that a TLS server never gives")
                .help(format!("recreate it with `--driver-opt cacert=ABSOLUTE_PATH` (and `cert=`/`key=` under mutual TLS): `docker buildx rm {builder}`, then the environment's buildx/create-remote.sh")),
        );
        return;
    }
    let pem = |k: &str| match opts.get(k).and_then(|v| inst.named.get(v)) {
        Some(Named::Pem(p)) => Some(p.as_ref()),
        _ => None,
    };
    if let Some(cert) = daemon.cert {
        let name = opts
            .get("servername")
            .map(String::as_str)
            .or_else(|| endpoint_host(ep));
        if let Some(name) = name.filter(|n| !san_covers(cert, n)) {
            let from = if opts.contains_key("servername") {
                "`servername`"
            } else {
                "the endpoint's host (buildx's default server name)"
            };
            out.push(
                Finding::new(&BK803, format!("builder `{builder}` verifies buildkitd as `{name}` ({from}), but its certificate is valid for {}", san_list(cert)))
                    .at(opt_loc(src, if opts.contains_key("servername") { "servername" } else { "Endpoint" }))
                    .prevents(format!("ERROR: failed to build: context deadline exceeded (underneath: x509: certificate is valid for {}, not {name})", san_list(cert)))
                    .help("recreate the builder with `servername=` one of the certificate's names, or add the name to buildkitd's certificate (`buildkitd.names` in bkenv.toml)"),
            );
        }
        if let Some(ca) = pem("cacert") {
            let cas: Vec<&CertFacts> = ca.facts.iter().collect();
            if !cas.is_empty() && !trusted_by(cert, &cas) {
                out.push(
                    Finding::new(&BK806, format!("builder `{builder}`: `cacert` ({}) did not sign buildkitd's certificate ({})", ca.src.path.display(), cert.issuer))
                        .at(opt_loc(src, "cacert"))
                        .prevents("ERROR: failed to build: context deadline exceeded (underneath: x509: certificate signed by unknown authority)")
                        .help("recreate the builder with `cacert=` the CA of this environment (its client/ca.crt)"),
                );
            }
        }
    }
    if !usable {
        return;
    }
    pair(builder, src, opts, daemon, &pem, out);
}

/// BK804/BK805: the client pair, against what buildkitd's `[grpc.tls] ca` asks for.
fn pair<'a>(
    builder: &str,
    src: &SourceFile,
    opts: &BTreeMap<String, String>,
    daemon: &Daemon<'_>,
    pem: &dyn Fn(&str) -> Option<&'a PemFile>,
    out: &mut Vec<Finding>,
) {
    let (has_cert, has_key) = (opts.contains_key("cert"), opts.contains_key("key"));
    if has_cert != has_key {
        let (set, unset) = if has_cert {
            ("cert", "key")
        } else {
            ("key", "cert")
        };
        out.push(
            Finding::new(
                &BK804,
                format!("builder `{builder}` sets `{set}` without `{unset}`"),
            )
            .at(opt_loc(src, set))
            .prevents(format!("tls enabled, but missing keys {unset}"))
            .help("recreate the builder with both `cert=` and `key=` (absolute paths)"),
        );
        return;
    }
    let Some(client_cas) = &daemon.client_cas else {
        return;
    };
    if !has_cert {
        out.push(
            Finding::new(&BK804, format!("buildkitd requires a client certificate (`[grpc.tls] ca`), but builder `{builder}` has no `cert`/`key`"))
                .at(opt_loc(src, "cacert"))
                .prevents("ERROR: failed to build: context deadline exceeded (underneath: remote error: tls: certificate required)")
                .help("recreate the builder with `--driver-opt cert=ABS/client/client.crt,key=ABS/client/client.key` (bkenv's buildx/create-remote.sh does)"),
        );
        return;
    }
    let (Some(cert_file), Some(key_file)) = (pem("cert"), pem("key")) else {
        return;
    };
    let Some(cert) = cert_file.facts.first() else {
        return;
    };
    if let Some(info) = &key_file.key_info
        && !key_matches_cert(info, cert)
    {
        out.push(
            Finding::new(&BK805, format!("builder `{builder}`: `key` ({}) is not the key of `cert` ({})", key_file.src.path.display(), cert_file.src.path.display()))
                .at(opt_loc(src, "key"))
                .prevents("ERROR: failed to build: context deadline exceeded (underneath: tls: private key does not match public key)")
                .help("point `cert=` and `key=` at one pair (buildx accepts any two files at create time)"),
        );
        return;
    }
    if !client_cas.is_empty() && !trusted_by(cert, client_cas) {
        out.push(
            Finding::new(&BK805, format!("builder `{builder}`: `cert` ({}) is not signed by the CA buildkitd trusts for clients (`[grpc.tls] ca`)", cert_file.src.path.display()))
                .at(opt_loc(src, "cert"))
                .prevents("ERROR: failed to build: context deadline exceeded (underneath: remote error: tls: bad certificate)")
                .help("use a client certificate issued by the environment's CA (its client/client.crt)"),
        );
    }
}
