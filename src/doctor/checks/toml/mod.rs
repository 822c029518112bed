//! BK0xx: buildkitd.toml syntax and schema, checked strictly because BuildKit never is.
//!
//! [`schema`] is BuildKit's schema per release; [`walk`] checks every key of a parsed
//! file against it for the release in play ([`Ctx::in_play`]). The header scan
//! (BK006) and the registry-key rules (BK007) work on the raw text and the keys.

use super::{Ctx, InPlay};
mod golang;
pub(crate) mod schema;
mod walk;

use crate::diag::{Edit, Finding, Fix};
use crate::doctor::parsed::TomlFile;
use crate::doctor::registry_tables::{Never, never_matches, reg_tables};
use toml_edit::Item;

crate::diag::checks! {
    BK001 {
        slug: "toml-syntax-error",
        severity: Error,
        fixable: false,
        title: "buildkitd.toml is not valid TOML",
        prevents: "failed to parse config",
    }
    BK002 {
        slug: "string-instead-of-array",
        severity: Error,
        fixable: true,
        title: "A key BuildKit reads as an array holds a string",
        prevents: "failed to parse config: Can't convert ...(string) to []string(slice)",
    }
    BK003 {
        slug: "array-instead-of-string",
        severity: Error,
        fixable: true,
        title: "`grpc.tls.ca` holds an array; BuildKit wants one file path",
        prevents: "failed to parse config: toml: cannot decode TOML array into struct field config.TLSConfig.CA of type string",
    }
    BK004 {
        slug: "unknown-key",
        severity: Warning,
        fixable: false,
        title: "A key no BuildKit release reads; it is silently ignored",
        prevents: "",
    }
    BK005 {
        slug: "wrong-case-key",
        severity: Warning,
        fixable: false,
        title: "A key spelled with a case go-toml v1 (BuildKit v0.10 to v0.27) does not match; it is ignored",
        prevents: "",
    }
    BK006 {
        slug: "unquoted-registry-key",
        severity: Error,
        fixable: true,
        title: "A registry key with `.` or `:` is not quoted",
        prevents: "",
    }
    BK007 {
        slug: "registry-key-not-host",
        severity: Error,
        fixable: false,
        title: "A registry key can never match: BuildKit looks tables up by the exact host[:port]",
        prevents: "",
    }
    BK008 {
        slug: "keypair-not-array-of-tables",
        severity: Error,
        fixable: false,
        title: "`keypair` is a table; BuildKit wants an array of tables",
        prevents: "failed to parse config: toml: cannot store a table in a slice",
    }
    BK009 {
        slug: "duplicate-table",
        severity: Error,
        fixable: false,
        title: "The same table is defined twice",
        prevents: "failed to parse config: duplicated tables",
    }
    BK010 {
        slug: "wrong-value-type",
        severity: Error,
        fixable: false,
        title: "A value has a TOML type BuildKit cannot decode into the key",
        prevents: "failed to parse config",
    }
    BK011 {
        slug: "grpc-address-without-scheme",
        severity: Error,
        fixable: false,
        title: "A gRPC address has no scheme",
        prevents: "address does not contain proto",
    }
    BK012 {
        slug: "key-not-in-version",
        severity: Warning,
        fixable: false,
        title: "A key the BuildKit release in play does not read yet; it is silently ignored",
        prevents: "",
    }
    BK013 {
        slug: "invalid-size-or-duration",
        severity: Error,
        fixable: false,
        title: "A size or duration BuildKit cannot parse",
        prevents: "failed to parse config: unmarshal text: invalid disk space",
    }
    BK014 {
        slug: "gc-unit-mistake",
        severity: Warning,
        fixable: false,
        title: "A GC size or duration whose unit is almost surely not what was meant",
        prevents: "",
    }
    BK015 {
        slug: "key-case-only-go-toml-v2",
        severity: Note,
        fixable: false,
        title: "A key spelled with a case only go-toml v2 (BuildKit v0.28 and later) matches",
        prevents: "",
    }
    BK016 {
        slug: "gc-size-beside-gcpolicy",
        severity: Warning,
        fixable: false,
        title: "A worker GC size that `gcpolicy` rules make unused",
        prevents: "",
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for file in &ctx.snap.buildkitd {
        let plays = plays(ctx, file);
        let first = plays.first().cloned().unwrap_or_else(|| ctx.in_play(None));
        let headers = unquoted_headers(file, &first, out);
        match &file.doc {
            Err(e) => {
                let range = e.range.clone().unwrap_or(0..0);
                let (line, col) = file.src.line_col(range.start);
                if headers.iter().any(|h| h.line == line) {
                    continue;
                }
                let text = file.src.line_text(line).unwrap_or_default().trim_start();
                let (code, prevents) =
                    if e.message.contains("duplicate key") && text.starts_with('[') {
                        (
                            &BK009,
                            format!("failed to parse config: ({line}, {col}): duplicated tables"),
                        )
                    } else {
                        (
                            &BK001,
                            format!("failed to parse config: ({line}, {col}): {}", e.message),
                        )
                    };
                out.push(
                    Finding::new(
                        code,
                        format!(
                            "{}: {} at line {line}, column {col}",
                            file.src.path.display(),
                            e.message
                        ),
                    )
                    .at(file.src.loc(range))
                    .prevents(prevents)
                    .help("fix the TOML syntax; BuildKit refuses to start with this file"),
                );
            }
            Ok(doc) => {
                let skip: Vec<String> = headers.into_iter().map(|h| h.registry).collect();
                for play in &plays {
                    walk::check(file, doc.as_table(), play, &skip, out);
                }
                registry_keys(ctx, file, doc, &skip, out);
                grpc_addresses(file, doc, out);
            }
        }
    }
}

/// The releases a file is read by: the versions of the services that mount it, or the
/// environment's one when no service reads it.
fn plays(ctx: &Ctx<'_>, file: &TomlFile) -> Vec<InPlay> {
    let mut plays: Vec<InPlay> = Vec::new();
    for cfg in ctx.active_configs() {
        if cfg.file.src.path == file.src.path && cfg.service.is_some() {
            let p = ctx.in_play(cfg.service);
            if !plays.iter().any(|q| q.v == p.v) {
                plays.push(p);
            }
        }
    }
    if plays.is_empty() {
        plays.push(ctx.in_play(None));
    }
    plays
}

/// A `[registry.host...]` header BK006 reported: its line and the registry name TOML
/// reads from it (the first dotted part), whose table BK006 speaks for.
struct Header {
    line: usize,
    registry: String,
}

/// `[registry.host:5000]` and `[registry.my.reg.io]` headers, found on the raw text so
/// they are reported even when the file does not parse. A header with a quote anywhere
/// in its key is someone's deliberate TOML (`[registry.configs."r:5000".tls]`), left to
/// the schema walk.
fn unquoted_headers(file: &TomlFile, play: &InPlay, out: &mut Vec<Finding>) -> Vec<Header> {
    let mut found = Vec::new();
    for (i, raw) in file.src.text.lines().enumerate() {
        let indent = raw.len() - raw.trim_start().len();
        let t = raw.trim();
        let inner = t.trim_start_matches('[');
        let brackets = t.len() - inner.len();
        if !(1..=2).contains(&brackets) {
            continue;
        }
        let Some(rest) = inner.strip_prefix("registry.") else {
            continue;
        };
        // The header's key ends at its first `]`; a comment may follow.
        let key = rest.split(']').next().unwrap_or(rest);
        let key = key.strip_suffix(".keypair").unwrap_or(key);
        let bare = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if key.is_empty() || !key.chars().all(bare) || !(key.contains(':') || key.contains('.')) {
            continue;
        }
        let parses = !key.contains(':');
        let line = i + 1;
        let start = file
            .src
            .line_start(line)
            .map(|l| l + indent + brackets + "registry.".len());
        let fix = start.map(|s| {
            Fix::safe([Edit::replace(
                &file.src.path,
                s..s + key.len(),
                format!("\"{key}\""),
            )])
        });
        let registry = key.split('.').next().unwrap_or(key).to_string();
        let (what, prevents) = if parses {
            (
                format!("registry `{registry}` with nested tables, which it ignores"),
                "no error: the settings are silently not applied".to_string(),
            )
        } else if play.go_toml_v2() {
            (
                "a syntax error".to_string(),
                "failed to parse config: toml: expected character ]".to_string(),
            )
        } else {
            (
                "a syntax error".to_string(),
                format!(
                    "failed to parse config: ({line}, {}): invalid table array key: invalid bare key character: :",
                    indent + brackets + 1
                ),
            )
        };
        out.push(
            Finding::new(
                &BK006,
                format!("registry key `{key}` is not quoted; BuildKit reads `[registry.{key}]` as {what}"),
            )
            .at(file.src.loc_line(line))
            .prevents(prevents)
            .help(format!("quote the key: `[registry.\"{key}\"]`"))
            .fix(fix),
        );
        found.push(Header { line, registry });
    }
    found
}

/// BK007: registry keys no image reference can produce, and a port-less loopback key
/// when the environment uses that host with a port.
fn registry_keys(
    ctx: &Ctx<'_>,
    file: &TomlFile,
    doc: &toml_edit::Document<String>,
    skip: &[String],
    out: &mut Vec<Finding>,
) {
    let tables = reg_tables(doc);
    for t in tables.iter().filter(|t| !skip.contains(&t.host)) {
        let at = file.src.loc_opt(t.key_span.clone());
        let h = &t.host;
        // What the unused table costs: its transport and trust settings, else only its
        // mirrors (pulls then go to the registry itself and still work).
        let transport = t.http.is_some()
            || t.insecure.is_some()
            || !t.ca.is_empty()
            || !t.tlsconfigdir.is_empty()
            || !t.keypairs.is_empty();
        let never = if transport || t.mirrors.is_empty() {
            "no error: the table is silently unused, then `x509: certificate signed by unknown authority` or `http: server gave HTTP response to HTTPS client`"
        } else {
            "no error: the table is silently unused, so its mirrors are never tried and pulls go to the registry itself"
        };
        let Some(why) = never_matches(h) else {
            port_less_loopback(ctx, file, &tables, t, out);
            continue;
        };
        let (message, help) = match why {
            Never::Exact(exact) => (
                format!("registry key `{h}` never matches: BuildKit looks up the bare `host[:port]` of the image reference"),
                format!("use `[registry.\"{exact}\"]`"),
            ),
            Never::Pattern => (
                format!("registry key `{h}` never matches: BuildKit has no wildcards, it looks up the exact `host[:port]` of each image reference"),
                "write one table per registry, keyed exactly as image references name it (`[registry.\"registry.example.com:5000\"]`)".to_string(),
            ),
            Never::Ipv6(exact) => (
                format!("registry key `{h}` never matches: image references bracket IPv6 addresses"),
                format!("use `[registry.\"{exact}\"]`"),
            ),
            Never::NotAHost(why) => (
                format!("registry key `{h}` never matches: {why}"),
                "key the table by the `host[:port]` of the image references".to_string(),
            ),
            // A table that sets only defaults loses nothing by never matching.
            Never::HubNamespace if !sets_something(t, false) => continue,
            Never::HubNamespace => (
                format!("registry key `{h}` never matches: an image reference `{h}/app` is Docker Hub's `docker.io/{h}/app`, so `{h}` is never the registry's host"),
                format!("image references name a registry by a host with a dot or a port (`{h}:5000/app`); key the table the same way (`[registry.\"{h}:5000\"]`)"),
            ),
        };
        out.push(
            Finding::new(&BK007, message)
                .at(at)
                .prevents(never)
                .help(help),
        );
    }
}

/// Whether a table sets anything a registry without a table lacks: HTTPS verified
/// against the system roots and no mirrors, or for a loopback host, plain HTTP.
fn sets_something(t: &crate::doctor::registry_tables::RegTable, loopback: bool) -> bool {
    let transport = if loopback {
        t.http == Some(false) || t.insecure.is_some()
    } else {
        t.http == Some(true) || t.insecure == Some(true)
    };
    transport
        || !t.ca.is_empty()
        || !t.tlsconfigdir.is_empty()
        || !t.keypairs.is_empty()
        || !t.mirrors.is_empty()
}

/// `[registry."localhost"]` meant for `localhost:5000`: a table only applies to the
/// exact `host:port`. Reported when the environment uses the host with a port that has
/// no table, and the table sets something the loopback default (plain HTTP) lacks.
fn port_less_loopback(
    ctx: &Ctx<'_>,
    file: &TomlFile,
    tables: &[crate::doctor::registry_tables::RegTable],
    t: &crate::doctor::registry_tables::RegTable,
    out: &mut Vec<Finding>,
) {
    let h = &t.host;
    if crate::hostport::split(h).1.is_some() || !crate::hostport::is_loopback(h) {
        return;
    }
    if !sets_something(t, true) {
        return;
    }
    let mut used: Vec<(String, crate::diag::Location)> = super::registry_uses::usages(ctx)
        .into_iter()
        .map(|u| (u.host, u.location))
        .collect();
    for r in &ctx.view.registries {
        if let Some(s) = ctx.view.service(r)
            && let Some(at) = crate::doctor::view::compose_loc(ctx.snap, s.file, s.line)
        {
            for p in s.ports.iter().filter(|p| p.target == r.port) {
                if let Some(port) = p.published {
                    used.push((format!("{h}:{port}"), at.clone()));
                }
            }
        }
    }
    let Some((with_port, at)) = used.into_iter().find(|(u, _)| {
        crate::hostport::strip_port(u) == h.as_str()
            && crate::hostport::split(u).1.is_some()
            && tables.iter().all(|x| x.host != *u)
    }) else {
        return;
    };
    out.push(
        Finding::new(
            &BK007,
            format!("registry key `{h}` does not apply to `{with_port}`: BuildKit looks up the exact `host:port`, and a key without a port matches only references without one"),
        )
        .at(file.src.loc_opt(t.key_span.clone()))
        .note(format!("`{with_port}` is used at {}", at.path.display()))
        .prevents(format!("no error: `{with_port}` gets the loopback default (plain HTTP) instead of this table"))
        .help(format!("key the table as `[registry.\"{with_port}\"]` (one table per port)")),
    );
}

/// BK011: gRPC addresses without a scheme.
fn grpc_addresses(file: &TomlFile, doc: &toml_edit::Document<String>, out: &mut Vec<Finding>) {
    let Some(arr) = doc
        .get("grpc")
        .and_then(|g| g.get("address"))
        .and_then(Item::as_array)
    else {
        return;
    };
    for v in arr.iter() {
        if let Some(a) = v.as_str().filter(|a| !a.contains("://")) {
            out.push(
                Finding::new(&BK011, format!("gRPC address `{a}` has no scheme"))
                    .at(file.src.loc_opt(v.span()))
                    .prevents(format!(
                        "address {a} does not contain proto, you meant unix://{a} ?"
                    ))
                    .help(format!(
                        "write `tcp://{a}` for a TCP listener or `unix://{a}` for a socket"
                    )),
            );
        }
    }
}
