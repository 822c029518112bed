//! The `[registry."host"]` tables of a buildkitd.toml, read once into plain values with
//! their spans, for the checks and the live probe plan.

use std::ops::Range;
use toml_edit::Item;

pub(crate) type Spanned = (String, Option<Range<usize>>);

/// One `[registry."host"]` table.
#[derive(Debug, Clone)]
pub(crate) struct RegTable {
    pub host: String,
    pub key_span: Option<Range<usize>>,
    pub http: Option<bool>,
    pub insecure: Option<bool>,
    pub http_span: Option<Range<usize>>,
    pub insecure_span: Option<Range<usize>>,
    pub ca: Vec<Spanned>,
    pub tlsconfigdir: Vec<Spanned>,
    pub mirrors: Vec<Spanned>,
    /// `[[registry."h".keypair]]` entries: `(cert, key)`, each when set.
    pub keypairs: Vec<(Option<Spanned>, Option<Spanned>)>,
}

impl RegTable {
    pub(crate) fn trusts(&self) -> bool {
        !self.ca.is_empty() || !self.tlsconfigdir.is_empty() || self.insecure == Some(true)
    }
}

/// The strings of an array. A lone string is read as a one-element array: its type
/// error is BK002's finding, and reading it here keeps the checks that depend on the
/// value (trust, files, mounts) from cascading into findings of their own.
fn strings(item: Option<&Item>) -> Vec<Spanned> {
    if let Some(v) = item.and_then(Item::as_value)
        && let Some(s) = v.as_str()
    {
        return vec![(s.to_string(), v.span())];
    }
    item.and_then(Item::as_array).map_or(Vec::new(), |a| {
        a.iter()
            .filter_map(|v| v.as_str().map(|s| (s.to_string(), v.span())))
            .collect()
    })
}

/// The value of the key every BuildKit release reads as `tag` (`http`, `HTTP`).
fn get<'t>(t: &'t toml_edit::Table, tag: &str) -> Option<&'t Item> {
    t.get(tag).or_else(|| {
        t.iter()
            .find(|(k, _)| crate::doctor::checks::toml::schema::v1_matches(tag, k))
            .map(|(_, v)| v)
    })
}

pub(crate) fn reg_tables(doc: &toml_edit::Document<String>) -> Vec<RegTable> {
    let Some(reg) = doc.get("registry").and_then(Item::as_table) else {
        return Vec::new();
    };
    reg.iter()
        .filter_map(|(host, item)| {
            let t = item.as_table()?;
            let kps: Vec<&toml_edit::Table> = get(t, "keypair")
                .and_then(Item::as_array_of_tables)
                .map_or(Vec::new(), |a| a.iter().collect());
            let field = |t: &toml_edit::Table, k: &str| -> Option<Spanned> {
                let v = get(t, k).and_then(Item::as_value)?;
                Some((v.as_str()?.to_string(), v.span()))
            };
            Some(RegTable {
                host: host.to_string(),
                key_span: reg.key(host).and_then(|k| k.span()),
                http: get(t, "http").and_then(Item::as_bool),
                insecure: get(t, "insecure").and_then(Item::as_bool),
                http_span: get(t, "http").and_then(Item::span),
                insecure_span: get(t, "insecure").and_then(Item::span),
                ca: strings(get(t, "ca")),
                tlsconfigdir: strings(get(t, "tlsconfigdir")),
                mirrors: strings(get(t, "mirrors")),
                keypairs: kps
                    .iter()
                    .map(|t| (field(t, "cert"), field(t, "key")))
                    .collect(),
            })
        })
        .collect()
}

/// The registry table matching `host` exactly, in a config.
pub(crate) fn table_for<'t>(tables: &'t [RegTable], host: &str) -> Option<&'t RegTable> {
    tables.iter().find(|t| t.host == host)
}

/// Why a registry key can never be the `host[:port]` of an image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Never {
    /// A scheme, a path, or a Docker Hub alias: the exact key it should be.
    Exact(String),
    /// `*` or `?`: BuildKit has no wildcards.
    Pattern,
    /// An IPv6 address without brackets: the bracketed key.
    Ipv6(String),
    /// Not a host name an image reference can carry, and why.
    NotAHost(String),
    /// A lower-case name without a dot or a port, other than `localhost`: in an image
    /// reference it is a Docker Hub namespace (`build-cache/app` is
    /// `docker.io/build-cache/app`), never a registry.
    HubNamespace,
}

/// Whether the key of `[registry."key"]` can never match: BuildKit looks tables up by
/// the exact domain of the normalized reference (distribution's reference grammar:
/// dot-separated labels of letters, digits and inner `-`, an IPv4 address or a
/// bracketed IPv6 one, and an optional numeric port; Docker Hub is `docker.io`).
pub(crate) fn never_matches(key: &str) -> Option<Never> {
    if key.contains("://") || key.contains('/') {
        let exact = key
            .split("://")
            .last()
            .unwrap_or(key)
            .split('/')
            .next()
            .unwrap_or(key);
        let exact = hub(exact).unwrap_or(exact);
        return Some(Never::Exact(exact.to_string()));
    }
    if let Some(h) = hub(key) {
        return Some(Never::Exact(h.to_string()));
    }
    if key.contains(['*', '?']) {
        return Some(Never::Pattern);
    }
    if let Some(rest) = key.strip_prefix('[') {
        let ok = rest.split_once(']').is_some_and(|(ip, after)| {
            ip.parse::<std::net::Ipv6Addr>().is_ok()
                && (after.is_empty()
                    || after
                        .strip_prefix(':')
                        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        });
        return (!ok)
            .then(|| Never::NotAHost("not a bracketed IPv6 address with an optional port".into()));
    }
    if key.matches(':').count() > 1 {
        let exact = if key.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{key}]")
        } else {
            let (ip, port) = key.rsplit_once(':').unwrap_or((key, ""));
            format!("[{ip}]:{port}")
        };
        return Some(Never::Ipv6(exact));
    }
    let (host, port) = match key.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (key, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(Never::NotAHost(format!("`{p}` is not a port number")));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if let Some(bad) = host.split('.').find(|l| !label_ok(l)) {
        let why = match bad
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            Some(c) => format!("image references cannot name a host with `{c}`"),
            None => format!("`{bad}` is not a host name label"),
        };
        return Some(Never::NotAHost(why));
    }
    // distribution's splitDockerDomain: a first component without `.` or `:` that is
    // not `localhost` and is all lower case is a path under docker.io.
    if port.is_none()
        && !host.contains('.')
        && host != "localhost"
        && host.bytes().all(|b| !b.is_ascii_uppercase())
    {
        return Some(Never::HubNamespace);
    }
    None
}

/// Docker Hub's other names, which references normalize to `docker.io`.
fn hub(key: &str) -> Option<&'static str> {
    matches!(
        key,
        "registry-1.docker.io"
            | "index.docker.io"
            | "registry-1.docker.io:443"
            | "index.docker.io:443"
    )
    .then_some("docker.io")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_no_reference_produces() {
        assert_eq!(never_matches("registry:5000"), None);
        assert_eq!(never_matches("[::1]:5000"), None);
        assert_eq!(never_matches("10.0.0.1:5000"), None);
        assert_eq!(never_matches("configs"), Some(Never::HubNamespace));
        assert_eq!(never_matches("build-cache"), Some(Never::HubNamespace));
        assert_eq!(never_matches("localhost"), None);
        assert_eq!(never_matches("Registry"), None);
        assert_eq!(never_matches("My-Registry.example.com"), None);
        assert_eq!(
            never_matches("https://r.example.com/v2/"),
            Some(Never::Exact("r.example.com".into()))
        );
        assert_eq!(
            never_matches("index.docker.io"),
            Some(Never::Exact("docker.io".into()))
        );
        assert_eq!(never_matches("*"), Some(Never::Pattern));
        assert_eq!(never_matches("*.example.com"), Some(Never::Pattern));
        assert_eq!(never_matches("::1"), Some(Never::Ipv6("[::1]".into())));
        assert_eq!(
            never_matches("fe80::1:5000"),
            Some(Never::Ipv6("[fe80::1:5000]".into()))
        );
        assert!(matches!(
            never_matches("my_registry:5000"),
            Some(Never::NotAHost(_))
        ));
        assert!(matches!(
            never_matches("registry:"),
            Some(Never::NotAHost(_))
        ));
    }
}
