//! BK0xx: buildkitd.toml syntax and schema, checked strictly because BuildKit never is.

use super::Ctx;
mod types;

use crate::diag::{Edit, Finding, Fix};
use crate::doctor::parsed::TomlFile;
use toml_edit::{Item, Table, Value};
use types::{expect_str, keys, string_vs_array, wrong_type};

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
        title: "A key BuildKit does not know; it is silently ignored",
        prevents: "",
    }
    BK005 {
        slug: "wrong-case-key",
        severity: Warning,
        fixable: false,
        title: "A key spelled with the wrong case; ignored by BuildKit v0.10 to v0.27",
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
        title: "A registry key is not the exact host[:port] BuildKit looks up",
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
        title: "A value has the wrong TOML type",
        prevents: "failed to parse config",
    }
    BK011 {
        slug: "grpc-address-without-scheme",
        severity: Error,
        fixable: false,
        title: "A gRPC address has no scheme",
        prevents: "address does not contain proto",
    }
}

const TOP: &[&str] = &[
    "debug",
    "trace",
    "root",
    "insecure-entitlements",
    "grpc",
    "worker",
    "registry",
    "dns",
    "history",
    "log",
    "otel",
    "frontend",
    "system",
    "cdi",
    "provenanceEnvDir",
    "cache",
    "proxyNetwork",
    "entitlements",
];
const GRPC: &[&str] = &[
    "address",
    "debugAddress",
    "uid",
    "gid",
    "securityDescriptor",
    "tls",
];
const TLS: &[&str] = &["cert", "key", "ca"];
const REGISTRY: &[&str] = &[
    "mirrors",
    "http",
    "insecure",
    "ca",
    "keypair",
    "tlsconfigdir",
];
const KEYPAIR: &[&str] = &["key", "cert"];

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let v2 = ctx.buildkit_version().is_some_and(|v| v >= (0, 28, 0));
    for file in &ctx.snap.buildkitd {
        let header_hits = unquoted_headers(file, out);
        match &file.doc {
            Err(e) => {
                let range = e.range.clone().unwrap_or(0..0);
                let (line, col) = file.src.line_col(range.start);
                if header_hits.contains(&line) {
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
            Ok(doc) => schema(file, doc.as_table(), v2, out),
        }
    }
}

/// `[registry.host:5000]` and `[registry.my.reg.io]` headers, found on the raw text so
/// they are reported even when the file does not parse. Returns their lines.
fn unquoted_headers(file: &TomlFile, out: &mut Vec<Finding>) -> Vec<usize> {
    let mut lines = Vec::new();
    for (i, raw) in file.src.text.lines().enumerate() {
        let t = raw.trim();
        let inner = t.trim_start_matches('[');
        let Some(rest) = inner.strip_prefix("registry.") else {
            continue;
        };
        // The header's key ends at its first `]`; a comment may follow.
        let key = rest.split(']').next().unwrap_or(rest);
        let key = key.strip_suffix(".keypair").unwrap_or(key);
        if key.starts_with('"')
            || key.starts_with('\'')
            || !(key.contains(':') || key.contains('.'))
        {
            continue;
        }
        let parses = !key.contains(':');
        let mut f = Finding::new(
            &BK006,
            format!(
                "registry key `{key}` is not quoted; BuildKit reads `[registry.{key}]` as {}",
                if parses {
                    format!(
                        "registry `{}` with nested tables, which it ignores",
                        key.split('.').next().unwrap_or(key)
                    )
                } else {
                    "a syntax error".to_string()
                }
            ),
        )
        .at(file.src.loc_line(i + 1))
        .help(format!("quote the key: `[registry.\"{key}\"]`"));
        if parses {
            // The key starts right after `registry.`, past the indent and the brackets.
            let start = file.src.line_start(i + 1).map(|line| {
                line + (raw.len() - raw.trim_start().len())
                    + (t.len() - inner.len())
                    + "registry.".len()
            });
            let fix = start.map(|s| {
                Fix::safe([Edit::replace(
                    &file.src.path,
                    s..s + key.len(),
                    format!("\"{key}\""),
                )])
            });
            f = f
                .fix(fix)
                .prevents("no error: the settings are silently not applied");
        } else {
            f = f.prevents(
                "failed to parse config: invalid table array key: invalid bare key character: :",
            );
        }
        out.push(f);
        lines.push(i + 1);
    }
    lines
}

fn schema(file: &TomlFile, root: &Table, v2: bool, out: &mut Vec<Finding>) {
    keys(file, root, TOP, "", out);
    if let Some(grpc) = root.get("grpc").and_then(Item::as_table_like) {
        if let Some(g) = root.get("grpc").and_then(Item::as_table) {
            keys(file, g, GRPC, "grpc.", out);
            if let Some(tls) = g.get("tls").and_then(Item::as_table) {
                keys(file, tls, TLS, "grpc.tls.", out);
                for k in ["cert", "key"] {
                    expect_str(file, tls, k, "grpc.tls.", out);
                }
                if let Some(item) = tls.get("ca") {
                    if let Some(arr) = item.as_array() {
                        let mut f = Finding::new(&BK003, format!("`grpc.tls.ca` is an array of {} path(s); BuildKit reads one CA file path", arr.len()))
                            .at(file.src.loc_opt(item.span()))
                            .prevents(if v2 { "failed to parse config: toml: cannot decode TOML array into struct field config.TLSConfig.CA of type string".to_string() } else { format!("failed to parse config: Can't convert {:?}([]interface {{}}) to a slice", arr.iter().filter_map(Value::as_str).collect::<Vec<_>>()) })
                            .help("write `ca = \"/path/ca.crt\"` (a single string); concatenate several CAs into one PEM file");
                        // One path: the array becomes its only element, as written.
                        if let (1, Some(span), Some(one)) =
                            (arr.len(), item.span(), arr.get(0).and_then(Value::span))
                            && let Some(raw) = file.src.text.get(one)
                        {
                            f = f.fix(Fix::safe([Edit::replace(&file.src.path, span, raw)]));
                        }
                        out.push(f);
                    } else {
                        expect_str(file, tls, "ca", "grpc.tls.", out);
                    }
                }
            }
            string_vs_array(file, g, "address", "grpc.", "GRPCConfig.Address", v2, out);
            for k in ["uid", "gid"] {
                if let Some(item) = g.get(k).filter(|i| i.as_integer().is_none()) {
                    out.push(wrong_type(file, item, &format!("grpc.{k}"), "an integer"));
                }
            }
            if let Some(arr) = g.get("address").and_then(Item::as_array) {
                for v in arr.iter() {
                    if let Some(a) = v.as_str().filter(|a| !a.contains("://")) {
                        out.push(Finding::new(&BK011, format!("gRPC address `{a}` has no scheme"))
                            .at(file.src.loc_opt(v.span()))
                            .prevents(format!("address {a} does not contain proto, you meant unix://{a} ?"))
                            .help(format!("write `tcp://{a}` for a TCP listener or `unix://{a}` for a socket")));
                    }
                }
            }
        }
        let _ = grpc;
    }
    let Some(reg) = root.get("registry").and_then(Item::as_table) else {
        return;
    };
    for (host, item) in reg.iter() {
        let key_span = reg.key(host).and_then(|k| k.span());
        let raw = key_span
            .clone()
            .and_then(|s| file.src.text.get(s))
            .unwrap_or(host);
        let quoted = raw.starts_with('"') || raw.starts_with('\'');
        if host.contains("://")
            || host.contains('/')
            || host == "registry-1.docker.io"
            || host == "index.docker.io"
        {
            let exact = host
                .split("://")
                .last()
                .unwrap_or(host)
                .split('/')
                .next()
                .unwrap_or(host);
            let exact = if exact == "registry-1.docker.io" || exact == "index.docker.io" {
                "docker.io"
            } else {
                exact
            };
            out.push(Finding::new(&BK007, format!("registry key `{host}` never matches: BuildKit looks up the bare `host[:port]` of the image reference"))
                .at(file.src.loc_opt(key_span.clone()))
                .prevents("no error: the table is silently unused, then `x509: certificate signed by unknown authority` or `http: server gave HTTP response to HTTPS client`")
                .help(format!("use `[registry.\"{exact}\"]`")));
        }
        let Some(t) = item.as_table() else {
            if item.is_inline_table() {
                continue;
            }
            out.push(wrong_type(
                file,
                item,
                &format!("registry.{host}"),
                "a table",
            ));
            continue;
        };
        if !quoted && t.iter().any(|(k, v)| k != "keypair" && v.is_table()) {
            // Reported by the header scan (BK006).
            continue;
        }
        keys(file, t, REGISTRY, &format!("registry.\"{host}\"."), out);
        let field = |f: &str| format!("RegistryConfig.{f}");
        string_vs_array(file, t, "ca", "", &field("RootCAs"), v2, out);
        string_vs_array(file, t, "mirrors", "", &field("Mirrors"), v2, out);
        string_vs_array(file, t, "tlsconfigdir", "", &field("TLSConfigDir"), v2, out);
        for k in ["http", "insecure"] {
            if let Some(item) = t.get(k).filter(|i| i.as_bool().is_none()) {
                out.push(wrong_type(
                    file,
                    item,
                    k,
                    "a boolean (`true`/`false`, unquoted)",
                ));
            }
        }
        if let Some(kp) = t.get("keypair") {
            let span = t.key("keypair").and_then(|k| k.span());
            if kp.is_table() || kp.is_inline_table() {
                out.push(
                    Finding::new(
                        &BK008,
                        format!("`keypair` of registry `{host}` is a single table"),
                    )
                    .at(file.src.loc_opt(span))
                    .prevents(if v2 {
                        "failed to parse config: toml: cannot store a table in a slice"
                    } else {
                        "failed to parse config: Can't convert ... (*toml.Tree) to a tree"
                    })
                    .help(format!(
                        "write it as an array of tables: `[[registry.\"{host}\".keypair]]`"
                    )),
                );
            } else if let Some(aot) = kp.as_array_of_tables() {
                for kt in aot.iter() {
                    keys(file, kt, KEYPAIR, "keypair.", out);
                }
            }
        }
    }
}
