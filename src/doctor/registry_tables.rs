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

pub(crate) fn reg_tables(doc: &toml_edit::Document<String>) -> Vec<RegTable> {
    let Some(reg) = doc.get("registry").and_then(Item::as_table) else {
        return Vec::new();
    };
    reg.iter()
        .filter_map(|(host, item)| {
            let t = item.as_table()?;
            let kps: Vec<&toml_edit::Table> = t
                .get("keypair")
                .and_then(Item::as_array_of_tables)
                .map_or(Vec::new(), |a| a.iter().collect());
            let field = |t: &toml_edit::Table, k: &str| -> Option<Spanned> {
                let v = t.get(k).and_then(Item::as_value)?;
                Some((v.as_str()?.to_string(), v.span()))
            };
            Some(RegTable {
                host: host.to_string(),
                key_span: reg.key(host).and_then(|k| k.span()),
                http: t.get("http").and_then(Item::as_bool),
                insecure: t.get("insecure").and_then(Item::as_bool),
                http_span: t.get("http").and_then(Item::span),
                insecure_span: t.get("insecure").and_then(Item::span),
                ca: strings(t.get("ca")),
                tlsconfigdir: strings(t.get("tlsconfigdir")),
                mirrors: strings(t.get("mirrors")),
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
