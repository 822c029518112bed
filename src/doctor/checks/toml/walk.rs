//! The schema walk: every key of a buildkitd.toml against [`schema`] for the BuildKit
//! release in play, the way that release's go-toml matches and decodes it.

use super::golang::{self, DiskSpace};
use super::schema::{self, Key, Table, Ty};
use super::{BK002, BK003, BK004, BK005, BK008, BK010, BK012, BK013, BK014, BK015, BK016};
use crate::diag::{Edit, Finding, Fix};
use crate::doctor::checks::InPlay;
use crate::doctor::parsed::TomlFile;
use crate::suggest::did_you_mean;
use std::ops::Range;
use toml_edit::{Item, TableLike, Value};

/// Names people write for a key, and the key BuildKit reads (when it is in the table).
const ALIASES: &[(&str, &str)] = &[
    ("numCPU", "max-parallelism"),
    ("cpus", "max-parallelism"),
    ("parallelism", "max-parallelism"),
    ("net", "networkMode"),
    ("network", "networkMode"),
    ("network-mode", "networkMode"),
    ("network_mode", "networkMode"),
    ("entitlements", "insecure-entitlements"),
    ("allow-insecure-entitlement", "insecure-entitlements"),
    ("cgroupParent", "defaultCgroupParent"),
    ("cgroup-parent", "defaultCgroupParent"),
    ("keepStorage", "gckeepstorage"),
    ("keep-storage", "gckeepstorage"),
    ("endpoint", "mirrors"),
    ("endpoints", "mirrors"),
    ("registry-mirrors", "mirrors"),
    ("plainHTTP", "http"),
    ("plain-http", "http"),
    ("plain_http", "http"),
    ("rootCAs", "ca"),
    ("cacert", "ca"),
    ("ca_file", "ca"),
    ("ca-file", "ca"),
];

/// Walks one parsed buildkitd.toml. Registry tables whose unquoted key BK006 reported
/// (`skip_hosts`) are left to it.
pub(super) fn check(
    file: &TomlFile,
    root: &toml_edit::Table,
    play: &InPlay,
    skip_hosts: &[String],
    out: &mut Vec<Finding>,
) {
    let mut w = Walk {
        file,
        play,
        skip_hosts,
        out,
    };
    w.table(root, &schema::ROOT, &[]);
}

struct Walk<'a> {
    file: &'a TomlFile,
    play: &'a InPlay,
    skip_hosts: &'a [String],
    out: &'a mut Vec<Finding>,
}

/// A dotted path as TOML writes it: `frontend."dockerfile.v0".enabled`.
fn dotted(path: &[&str]) -> String {
    path.iter()
        .map(|p| {
            if !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                p.to_string()
            } else {
                format!("\"{p}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

use schema::v1_matches as v1_accepts;

impl Walk<'_> {
    fn v(&self) -> String {
        let (a, b, c) = self.play.v;
        format!("v{a}.{b}.{c}")
    }

    fn key_span(t: &dyn TableLike, k: &str, item: &Item) -> Option<Range<usize>> {
        t.key(k).and_then(|key| key.span()).or_else(|| item.span())
    }

    /// go-toml v1's position of a key: its table header, else the key itself.
    fn v1_pos(&self, t: &dyn TableLike, k: &str, item: &Item) -> (usize, usize) {
        let span = match item {
            Item::Table(tb) if !tb.is_implicit() && !tb.is_dotted() => item.span(),
            _ => None,
        }
        .or_else(|| Self::key_span(t, k, item));
        span.map_or((1, 1), |s| self.file.src.line_col(s.start))
    }

    fn table(&mut self, t: &dyn TableLike, sch: &'static Table, path: &[&str]) {
        for (k, item) in t.iter() {
            let span = Self::key_span(t, k, item);
            let exact = sch.key(k);
            let folded = exact.or_else(|| {
                sch.keys
                    .iter()
                    .find(|s| s.name.to_lowercase() == k.to_lowercase())
            });
            let Some(key) = folded else {
                self.unknown(k, item, sch, path, span);
                continue;
            };
            let mut full = path.to_vec();
            full.push(k);
            if !key.read_by(self.play.v) {
                self.too_new(key, item, &full, span);
                continue;
            }
            if k != key.name {
                let v1 = v1_accepts(key.name, k);
                if !self.play.go_toml_v2() && !v1 {
                    self.out.push(
                        Finding::new(
                            &BK005,
                            format!("`{}` should be spelled `{}`", dotted(&full), key.name),
                        )
                        .at(self.file.src.loc_opt(span))
                        .note(self.play.source_note())
                        .prevents("no error: the setting has no effect")
                        .help(format!(
                            "rename it to `{}`: BuildKit {} decodes with go-toml v1, which ignores `{k}`",
                            key.name,
                            self.v()
                        )),
                    );
                    continue;
                }
                if !v1 {
                    self.out.push(
                        Finding::new(
                            &BK015,
                            format!(
                                "`{}` works on BuildKit {} only because go-toml v2 ignores case; v0.27 and older ignore it",
                                dotted(&full),
                                self.v()
                            ),
                        )
                        .at(self.file.src.loc_opt(span))
                        .note(self.play.source_note())
                        .help(format!("spell it `{}`, which every release reads", key.name)),
                    );
                }
            }
            self.value(Field {
                t,
                k,
                item,
                key,
                sch,
                full: &full,
            });
        }
        if std::ptr::eq(sch, &schema::OCI) || std::ptr::eq(sch, &schema::CONTAINERD) {
            self.sizes_beside_policy(t, path);
        }
    }

    /// BK012 for a key the release in play does not read yet. A table is first walked as
    /// the newest release reads it: keys no release reads are reported (BK004), and a
    /// table holding nothing else is not worth an upgrade, so it gets no BK012.
    fn too_new(&mut self, key: &Key, item: &Item, full: &[&str], span: Option<Range<usize>>) {
        if let (Ty::Table(sub), Some(tb)) = (key.ty, item.as_table_like()) {
            let newest = InPlay {
                v: schema::NEWEST,
                ..self.play.clone()
            };
            let mut inner = Vec::new();
            Walk {
                file: self.file,
                play: &newest,
                skip_hosts: self.skip_hosts,
                out: &mut inner,
            }
            .table(tb, sub, full);
            let mut unknown: Vec<Finding> =
                inner.into_iter().filter(|f| f.check == &BK004).collect();
            let useful = tb.len() > unknown.len();
            // `[cache] exports` on v0.23.2: the table itself is not read either.
            if let Some((a, b, c)) = key.since.filter(|_| !key.read_by(self.play.v)) {
                for f in &mut unknown {
                    f.notes.push(format!(
                        "`[{}]` itself is read from BuildKit v{a}.{b}.{c} on; {} ignores the whole table",
                        dotted(full),
                        self.v()
                    ));
                }
            }
            self.out.extend(unknown);
            if !useful {
                return;
            }
        }
        let (a, b, c) = key.since.unwrap_or(schema::OLDEST);
        self.out.push(
            Finding::new(
                &BK012,
                format!(
                    "`{}` is read from BuildKit v{a}.{b}.{c} on; {} ignores it",
                    dotted(full),
                    self.v()
                ),
            )
            .at(self.file.src.loc_opt(span))
            .note(self.play.source_note())
            .prevents("no error: the setting has no effect")
            .help(format!(
                "pin moby/buildkit v{a}.{b}.{c} or later, or remove the setting"
            )),
        );
    }

    fn unknown(
        &mut self,
        k: &str,
        item: &Item,
        sch: &'static Table,
        path: &[&str],
        span: Option<Range<usize>>,
    ) {
        let mut full = path.to_vec();
        full.push(k);
        let what = if item.is_table_like() && !item.is_inline_table() {
            "table"
        } else {
            "key"
        };
        let names: Vec<&str> = sch.keys.iter().map(|s| s.name).collect();
        let alias = ALIASES
            .iter()
            .find(|(wrong, _)| wrong.eq_ignore_ascii_case(k))
            .map(|(_, right)| *right)
            .filter(|right| names.contains(right));
        let mut f = Finding::new(
            &BK004,
            format!("unknown {what} `{}`; BuildKit ignores it", dotted(&full)),
        )
        .at(self.file.src.loc_opt(span))
        .prevents("no error: the setting has no effect");
        let elsewhere = || -> Vec<String> {
            schema::tables()
                .into_iter()
                .filter(|(p, tb)| {
                    !std::ptr::eq(*tb, sch)
                        && !p.is_empty()
                        && tb.keys.iter().any(|s| s.name.eq_ignore_ascii_case(k))
                })
                .map(|(p, _)| format!("`[{p}]`"))
                .collect()
        };
        // `[frontend.dockerfile.v0]`: an unquoted dot split a key that has one.
        let split = item.as_table_like().and_then(|inner| {
            inner
                .iter()
                .map(|(child, _)| format!("{k}.{child}"))
                .find(|joined| names.contains(&joined.as_str()))
        });
        let quoted = split.map(|joined| {
            let at = if path.is_empty() {
                String::new()
            } else {
                format!("{}.", dotted(path))
            };
            format!("quote the key: `[{at}\"{joined}\"]`; unquoted, its dot makes two tables")
        });
        let help = match (k, alias.or_else(|| did_you_mean(k, &names))) {
            // BuildKit's own docs/buildkitd.toml.md (v0.27 on) spells the table so.
            ("ghacache", _) if path.is_empty() => {
                "the table is `[cache.gha]` (`[cache.gha.sign]`, `[cache.gha.verify]`), read from BuildKit v0.27.0 on; BuildKit's docs/buildkitd.toml.md writes `[ghacache]`, which no release reads".to_string()
            }
            ("credentials" | "auth" | "username" | "password", _) => {
                "buildkitd.toml has no credentials; use the client's Docker config.json (`docker login`)".to_string()
            }
            ("insecure_skip_verify" | "skip_verify" | "tls_verify", _)
                if names.contains(&"insecure") =>
            {
                "did you mean `insecure`? Prefer `ca = [\"/path/ca.crt\"]`".to_string()
            }
            ("maxRecvMsgSize" | "maxSendMsgSize" | "max_recv_message_size" | "max_send_message_size", _)
                if std::ptr::eq(sch, &schema::GRPC) =>
            {
                "no BuildKit release reads it: the message size fields are commented out in BuildKit's GRPCConfig".to_string()
            }
            (_, Some(s)) => {
                let since = sch
                    .key(s)
                    .and_then(|key| key.since.filter(|_| !key.read_by(self.play.v)));
                match since {
                    Some((a, b, c)) => {
                        format!("did you mean `{s}`? (read from BuildKit v{a}.{b}.{c} on)")
                    }
                    None => format!("did you mean `{s}`?"),
                }
            }
            (_, None) => {
                let other = elsewhere();
                if other.is_empty() {
                    let here = if path.is_empty() {
                        "the top level".to_string()
                    } else {
                        format!("`[{}]`", dotted(path))
                    };
                    format!("the keys of {here} are: {}", names.join(", "))
                } else {
                    format!("`{k}` is a key of {}", other.join(" and "))
                }
            }
        };
        f = f.help(quoted.unwrap_or(help));
        self.out.push(f);
    }

    /// Checks a value against its type, the way go-toml decodes it into the Go field.
    fn value(&mut self, f: Field<'_>) {
        let item = f.item;
        match f.key.ty {
            Ty::Any => {}
            Ty::Bool => {
                if item.as_bool().is_none() {
                    self.mismatch(f, None);
                }
            }
            Ty::Int => {
                if item.as_integer().is_none() {
                    self.mismatch(f, None);
                }
            }
            Ty::Str => {
                if item.as_str().is_some() {
                    return;
                }
                if std::ptr::eq(f.sch, &schema::TLS)
                    && f.key.name == "ca"
                    && let Some(arr) = item.as_array()
                {
                    self.tls_ca_array(item, arr);
                    return;
                }
                self.mismatch(f, None);
            }
            Ty::Strs => self.strings(f),
            Ty::Size | Ty::Duration => self.unit_value(f),
            Ty::StrMap => match item.as_table_like() {
                Some(m) => {
                    for (mk, mv) in m.iter() {
                        if mv.as_str().is_none() {
                            let mut p = f.full.to_vec();
                            p.push(mk);
                            self.element(Field {
                                full: &p,
                                ..f.with(mv)
                            });
                        }
                    }
                }
                None => self.mismatch(f, None),
            },
            Ty::Table(sub) => match item.as_table_like() {
                Some(tb) => self.table(tb, sub, f.full),
                None => self.mismatch(f, None),
            },
            Ty::Tables(sub) => self.tables(f, sub),
            Ty::Named(sub) => match item.as_table_like() {
                Some(tb) => self.named(tb, sub, f.full),
                None => self.mismatch(f, None),
            },
        }
    }

    fn tables(&mut self, f: Field<'_>, sub: &'static Table) {
        let (t, k, item, full) = (f.t, f.k, f.item, f.full);
        if let Some(aot) = item.as_array_of_tables() {
            for tb in aot.iter() {
                self.table(tb, sub, full);
            }
            return;
        }
        if let Some(arr) = item.as_array() {
            for v in arr.iter() {
                match v.as_inline_table() {
                    Some(tb) => self.table(tb, sub, full),
                    None => self.element(f.with(&Item::Value(v.clone()))),
                }
            }
            return;
        }
        if item.is_table_like() {
            let (line, col) = self.v1_pos(t, k, item);
            let v2 = if item.is_inline_table() {
                "toml: cannot store inline table in Go type slice"
            } else {
                "toml: cannot store a table in a slice"
            };
            let prevents = if self.play.go_toml_v2() {
                format!("failed to parse config: {v2}")
            } else {
                format!(
                    "failed to parse config: ({line}, {col}): Can't convert ... (*toml.Tree) to a tree"
                )
            };
            let header = format!("[[{}]]", dotted(full));
            if std::ptr::eq(sub, &schema::KEYPAIR) {
                let host = full.get(1).copied().unwrap_or_default();
                self.out.push(
                    Finding::new(
                        &BK008,
                        format!("`keypair` of registry `{host}` is a single table"),
                    )
                    .at(self.file.src.loc_opt(Self::key_span(t, k, item)))
                    .prevents(prevents)
                    .help(format!("write it as an array of tables: `{header}`")),
                );
            } else {
                self.out.push(
                    Finding::new(
                        &BK010,
                        format!(
                            "`{}` is a single table; BuildKit wants an array of tables",
                            dotted(full)
                        ),
                    )
                    .at(self.file.src.loc_opt(Self::key_span(t, k, item)))
                    .prevents(prevents)
                    .help(format!("write each rule as `{header}` (double brackets)")),
                );
            }
            return;
        }
        self.mismatch(f, None);
    }

    /// `[registry."host"]` entries: the keys are names, the values tables.
    fn named(&mut self, t: &dyn TableLike, sub: &'static Table, path: &[&str]) {
        for (host, item) in t.iter() {
            if self.skip_hosts.iter().any(|h| h == host) {
                continue;
            }
            let span = Self::key_span(t, host, item);
            let mut full = path.to_vec();
            full.push(host);
            let Some(tb) = item.as_table_like() else {
                let got = item.type_name();
                self.out.push(
                    Finding::new(
                        &BK010,
                        format!("`{}` is {got}; BuildKit wants a table", dotted(&full)),
                    )
                    .at(self.file.src.loc_opt(item.span()))
                    .prevents("failed to parse config")
                    .help(format!("write it as a table: `[{}]`", dotted(&full))),
                );
                continue;
            };
            // containerd's CRI layout (`[registry.configs."host".tls]`,
            // `[registry.mirrors."docker.io"] endpoint = [...]`) read by BuildKit as a
            // registry named `configs` or `mirrors`.
            if matches!(host, "configs" | "mirrors" | "auths")
                && tb.iter().any(|(_, v)| v.is_table_like())
            {
                let inner: Vec<&str> = tb.iter().map(|(h, _)| h).collect();
                let first = inner.first().copied().unwrap_or("host:port");
                self.out.push(
                    Finding::new(
                        &BK004,
                        format!(
                            "`[{}.\"{first}\"...]` is containerd's layout; BuildKit reads it as a registry named `{host}` and ignores it",
                            dotted(&full)
                        ),
                    )
                    .at(self.file.src.loc_opt(span))
                    .prevents("no error: the settings are silently not applied")
                    .help(format!(
                        "write one table per registry: `[registry.\"{first}\"]` with `http`, `insecure`, `ca` or `mirrors`"
                    )),
                );
                continue;
            }
            self.table(tb, sub, &full);
        }
    }

    /// `[]string` keys: a lone string is BK002 (with the brackets as its fix).
    fn strings(&mut self, f: Field<'_>) {
        let (k, item, full) = (f.k, f.item, f.full);
        if let Some(s) = item.as_str() {
            let fix = item.span().and_then(|span| {
                let raw = self.file.src.text.get(span.clone())?;
                Some(Fix::safe([Edit::replace(
                    &self.file.src.path,
                    span,
                    format!("[{raw}]"),
                )]))
            });
            let prevents = self.type_error(f);
            self.out.push(
                Finding::new(
                    &BK002,
                    format!(
                        "`{}` is the string \"{s}\"; BuildKit wants an array",
                        dotted(full)
                    ),
                )
                .at(self.file.src.loc_opt(item.span()))
                .prevents(prevents)
                .help(format!("write `{k} = [\"{s}\"]`"))
                .fix(fix),
            );
            return;
        }
        let Some(arr) = item.as_array() else {
            self.mismatch(f, None);
            return;
        };
        for v in arr.iter().filter(|v| v.as_str().is_none()) {
            self.element(f.with(&Item::Value(v.clone())));
        }
    }

    /// An element of an array (or a map value) that is not a string.
    fn element(&mut self, f: Field<'_>) {
        let (line, col) =
            Self::key_span(f.t, f.k, f.item).map_or((1, 1), |s| self.file.src.line_col(s.start));
        let (gv, gt) = go_value(f.item);
        let v1 = format!("({line}, {col}): Can't convert {gv}({gt}) to string");
        self.mismatch(f, Some(v1));
    }

    /// BK003: `grpc.tls.ca` holds an array; one path is rewritten to the string.
    fn tls_ca_array(&mut self, item: &Item, arr: &toml_edit::Array) {
        let prevents = if self.play.go_toml_v2() {
            "failed to parse config: toml: cannot decode TOML array into struct field config.TLSConfig.CA of type string".to_string()
        } else {
            format!(
                "failed to parse config: Can't convert {:?}([]interface {{}}) to a slice",
                arr.iter().filter_map(Value::as_str).collect::<Vec<_>>()
            )
        };
        let mut f = Finding::new(
            &BK003,
            format!(
                "`grpc.tls.ca` is an array of {} path(s); BuildKit reads one CA file path",
                arr.len()
            ),
        )
        .at(self.file.src.loc_opt(item.span()))
        .prevents(prevents)
        .help("write `ca = \"/path/ca.crt\"` (a single string); concatenate several CAs into one PEM file");
        if let (1, Some(span), Some(one)) =
            (arr.len(), item.span(), arr.get(0).and_then(Value::span))
            && let Some(raw) = self.file.src.text.get(one)
        {
            f = f.fix(Fix::safe([Edit::replace(&self.file.src.path, span, raw)]));
        }
        self.out.push(f);
    }

    /// The error go-toml gives for a value of the wrong type in this field.
    fn type_error(&self, f: Field<'_>) -> String {
        let (t, k, item, key, sch) = (f.t, f.k, f.item, f.key, f.sch);
        let field = format!("{}.{}", sch.go, key.field);
        if self.play.go_toml_v2() {
            let kind = match item {
                Item::Value(Value::String(_)) => Some("string"),
                Item::Value(Value::Integer(_)) => Some("integer"),
                Item::Value(Value::Array(_)) => Some("array"),
                _ => None,
            };
            let deref = key.go_ty.trim_start_matches('*');
            let reflect_kind = if deref.starts_with("[]") {
                "slice"
            } else if deref.starts_with("map[") {
                "map"
            } else if deref.contains('.') || deref == "struct" {
                "struct"
            } else {
                deref
            };
            let cause = match (kind, item) {
                (Some(kind), _) => format!(
                    "toml: cannot decode TOML {kind} into struct field {field} of type {}",
                    key.go_ty
                ),
                (None, Item::Value(Value::Boolean(b))) => {
                    format!("toml: cannot assign boolean to a {}", b.value())
                }
                (None, Item::Value(Value::Float(_))) => {
                    format!("toml: float cannot be assigned to {reflect_kind}")
                }
                _ => return "failed to parse config".to_string(),
            };
            return format!("failed to parse config: {cause}");
        }
        let (line, col) = self.v1_pos(t, k, item);
        let (gv, gt) = go_value(item);
        let target = key.go_ty.trim_start_matches('*');
        let to = match item {
            Item::Value(Value::Array(_)) => "a slice".to_string(),
            Item::Table(_) | Item::Value(Value::InlineTable(_)) => "a tree".to_string(),
            Item::ArrayOfTables(_) => "trees".to_string(),
            _ if target.starts_with("[]") => format!("{target}(slice)"),
            _ if target.starts_with("map[") => format!("{target}(map)"),
            _ => target.to_string(),
        };
        format!("failed to parse config: ({line}, {col}): Can't convert {gv}({gt}) to {to}")
    }

    fn mismatch(&mut self, f: Field<'_>, v1_cause: Option<String>) {
        let (item, key, full) = (f.item, f.key, f.full);
        let mut prevents = self.type_error(f);
        if let (Some(cause), false) = (v1_cause, self.play.go_toml_v2()) {
            prevents = format!("failed to parse config: {cause}");
        }
        let want = match key.ty {
            Ty::Bool => "a boolean (`true`/`false`, unquoted)",
            Ty::Int => "an integer",
            Ty::Str => "a string",
            Ty::Strs => "an array of strings",
            Ty::Size => "a size (`\"10GB\"`, `\"20%\"` or a number of bytes)",
            Ty::Duration => "a duration (`\"48h\"` or a number of seconds)",
            Ty::StrMap => "a table of strings",
            Ty::Table(_) | Ty::Named(_) => "a table",
            Ty::Tables(_) => "an array of tables",
            Ty::Any => "a value",
        };
        let name = dotted(full);
        self.out.push(
            Finding::new(
                &BK010,
                format!("`{name}` is {}; BuildKit wants {want}", item.type_name()),
            )
            .at(self.file.src.loc_opt(item.span()))
            .prevents(prevents)
            .help(format!("make `{name}` {want}")),
        );
    }

    /// Sizes and durations: BuildKit's grammar (BK013) and units that are almost surely
    /// not what was meant (BK014).
    fn unit_value(&mut self, f: Field<'_>) {
        let (t, k, item, key, full) = (f.t, f.k, f.item, f.key, f.full);
        // Before v0.12 these were plain integers; the schema starts at v0.12.
        if self.play.v < schema::OLDEST {
            return;
        }
        let v2 = self.play.go_toml_v2();
        let raw = item
            .span()
            .and_then(|s| self.file.src.text.get(s))
            .unwrap_or_default();
        // What UnmarshalText receives: v1 prints the decoded value (`%v`), v2 passes
        // the string's contents or the number as written.
        let text = match item {
            Item::Value(Value::String(s)) => s.value().clone(),
            Item::Value(Value::Integer(i)) if !v2 => i.value().to_string(),
            Item::Value(Value::Float(f)) if !v2 => golang::go_float(*f.value()),
            Item::Value(Value::Boolean(b)) => b.value().to_string(),
            Item::Value(Value::Integer(_) | Value::Float(_)) => raw.trim().to_string(),
            Item::Value(Value::Array(_)) => {
                self.mismatch(f, None);
                return;
            }
            // A table decodes field by field into the struct; nothing to check here.
            _ => return,
        };
        let name = dotted(full);
        let parsed = match key.ty {
            Ty::Size => golang::disk_space(&text).map(Parsed::Size),
            _ => golang::duration(&text).map(Parsed::Duration),
        };
        let at = self.file.src.loc_opt(item.span());
        let parsed = match parsed {
            Ok(p) => p,
            Err(cause) => {
                let (line, col) = self.v1_pos(t, k, item);
                let prevents = if v2 {
                    format!("failed to parse config: toml: {cause}")
                } else {
                    format!("failed to parse config: ({line}, {col}): unmarshal text: {cause}")
                };
                let help = if matches!(key.ty, Ty::Size) {
                    "write bytes as a number, or a string with a unit BuildKit reads (`\"512MB\"`, `\"10GB\"`, `\"10GiB\"`; all binary) or a whole percentage of the disk (`\"20%\"`)"
                } else {
                    "write a Go duration (`\"48h\"`, `\"168h\"`, `\"30m\"`; there is no `d` unit) or a number of seconds"
                };
                self.out.push(
                    Finding::new(
                        &BK013,
                        format!("`{name} = {raw}` is not a {} BuildKit reads", kind(key)),
                    )
                    .at(at)
                    .prevents(prevents)
                    .help(help),
                );
                return;
            }
        };
        // A worker size next to `gcpolicy` rules is unused (BK016), whatever its unit.
        if schema::WORKER_GC_SIZES.contains(&key.name)
            && (std::ptr::eq(f.sch, &schema::OCI) || std::ptr::eq(f.sch, &schema::CONTAINERD))
            && has_rules(t)
        {
            return;
        }
        match parsed {
            Parsed::Size(DiskSpace::Bytes(b)) if b > 0 && b < 1_000_000 => {
                let meant = if b >= 1024 && b % 1024 == 0 {
                    format!("\"{}GB\"", b / 1024)
                } else {
                    format!("\"{b}MB\"")
                };
                self.out.push(
                    Finding::new(
                        &BK014,
                        format!(
                            "`{name} = {raw}` is {}: BuildKit reads a size without a unit as bytes",
                            golang::human_bytes(b)
                        ),
                    )
                    .at(at)
                    .prevents(format!(
                        "no error: the GC policy keeps {} of cache, so GC prunes almost everything it may",
                        golang::human_bytes(b)
                    ))
                    .help(format!(
                        "write the unit: {meant} if megabytes were meant (BuildKit reads `MB` and `GB` as binary units)"
                    )),
                );
            }
            Parsed::Duration(Some((ns, Some(secs)))) => {
                let overflow = secs.checked_mul(1_000_000_000).is_none();
                let (message, help) = if overflow || secs >= 2 * 365 * 86_400 {
                    let as_read = if overflow {
                        format!(
                            "{secs} seconds, which overflows BuildKit's int64 nanoseconds and wraps to about {}",
                            golang::human_duration(ns)
                        )
                    } else {
                        format!("about {}", golang::human_duration(ns))
                    };
                    (
                        format!(
                            "`{name} = {raw}` is read as {as_read}: BuildKit reads a duration without a unit as seconds"
                        ),
                        "write a duration with its unit, e.g. `\"168h\"` for 7 days (nanoseconds and milliseconds are not understood)".to_string(),
                    )
                } else if secs > 0 && secs < 1000 {
                    (
                        format!(
                            "`{name} = {raw}` is {secs} seconds: BuildKit reads a duration without a unit as seconds"
                        ),
                        format!(
                            "write the unit: `\"{secs}h\"` for {secs} hours, `\"{}h\"` for {secs} days",
                            secs * 24
                        ),
                    )
                } else {
                    return;
                };
                self.out.push(
                    Finding::new(&BK014, message)
                        .at(at)
                        .prevents(if name.starts_with("history.") {
                            "no error: build history is kept for a time nobody meant"
                        } else {
                            "no error: the GC policy keeps cache for a time nobody meant"
                        })
                        .help(help),
                );
            }
            _ => {}
        }
    }

    /// BK016: worker-level GC sizes next to `gcpolicy` rules, which replace the default
    /// policy those sizes feed (`getGCPolicy` uses the rules as written).
    fn sizes_beside_policy(&mut self, t: &dyn TableLike, path: &[&str]) {
        if !has_rules(t) {
            return;
        }
        // One finding per worker table, at the first unused size: the cause is the
        // rules, and three warnings for it would be noise.
        let mut unused: Vec<(&str, &Item)> = Vec::new();
        for size in schema::WORKER_GC_SIZES {
            let Some((k, item)) = t.iter().find(|(k, _)| {
                *k == *size
                    || (v1_accepts(size, k) || self.play.go_toml_v2())
                        && k.eq_ignore_ascii_case(size)
            }) else {
                continue;
            };
            if schema::OCI
                .key(size)
                .is_some_and(|key| key.read_by(self.play.v))
            {
                unused.push((k, item));
            }
        }
        let Some(&(k, item)) = unused.first() else {
            return;
        };
        let names: Vec<String> = unused
            .iter()
            .map(|(k, _)| {
                let mut full = path.to_vec();
                full.push(k);
                format!("`{}`", dotted(&full))
            })
            .collect();
        let (what, verb) = if names.len() == 1 {
            (names[0].clone(), "has")
        } else {
            (names.join(", "), "have")
        };
        let mut f = Finding::new(
            &BK016,
            format!(
                "{what} {verb} no effect: the `gcpolicy` rules of `[{}]` replace the default policy {}",
                dotted(path),
                if names.len() == 1 { "it sizes" } else { "they size" }
            ),
        )
        .at(self.file.src.loc_opt(Self::key_span(t, k, item)))
        .prevents("no error: the setting has no effect")
        .help(format!("put the size in each `[[{}.gcpolicy]]` rule (`reservedSpace`, `maxUsedSpace`, `minFreeSpace`, or `keepBytes` before v0.17), or remove the rules to use the default policy with this size", dotted(path)));
        for (k, item) in unused.iter().skip(1) {
            if let Some(span) = self.file.src.loc_opt(Self::key_span(t, k, item)).span {
                f = f.note(format!("`{k}` is at line {}", span.line));
            }
        }
        self.out.push(f);
    }
}

/// A key being decoded: the table it sits in, its name as written, its value, the
/// schema key it matched and the struct that holds it, and its dotted path.
#[derive(Clone, Copy)]
struct Field<'f> {
    t: &'f dyn TableLike,
    k: &'f str,
    item: &'f Item,
    key: &'static Key,
    sch: &'static Table,
    full: &'f [&'f str],
}

impl<'f> Field<'f> {
    /// The same field with another value (an array element or a map value).
    fn with(self, item: &'f Item) -> Self {
        Field { item, ..self }
    }
}

/// Whether a worker table has `gcpolicy` rules and GC on: its worker-level sizes are
/// then unused.
fn has_rules(t: &dyn TableLike) -> bool {
    let rules = t.get("gcpolicy").is_some_and(|p| {
        p.as_array_of_tables().is_some_and(|a| !a.is_empty())
            || p.as_array().is_some_and(|a| !a.is_empty())
    });
    rules && t.get("gc").and_then(Item::as_bool) != Some(false)
}

enum Parsed {
    Size(DiskSpace),
    Duration(Option<(i64, Option<i64>)>),
}

fn kind(key: &Key) -> &'static str {
    match key.ty {
        Ty::Size => "size",
        _ => "duration",
    }
}

/// A TOML value as go-toml v1 prints it with `%v` and `%T`.
fn go_value(item: &Item) -> (String, &'static str) {
    fn scalar(v: &Value) -> (String, &'static str) {
        match v {
            Value::String(s) => (s.value().clone(), "string"),
            Value::Integer(i) => (i.value().to_string(), "int64"),
            Value::Float(f) => (golang::go_float(*f.value()), "float64"),
            Value::Boolean(b) => (b.value().to_string(), "bool"),
            Value::Datetime(d) => (d.value().to_string(), "toml.LocalDateTime"),
            Value::Array(a) => {
                let parts: Vec<String> = a.iter().map(|e| scalar(e).0).collect();
                (format!("[{}]", parts.join(" ")), "[]interface {}")
            }
            Value::InlineTable(_) => ("...".to_string(), "*toml.Tree"),
        }
    }
    match item {
        Item::Value(v) => scalar(v),
        Item::ArrayOfTables(_) => ("...".to_string(), "[]*toml.Tree"),
        _ => ("...".to_string(), "*toml.Tree"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_toml_v1_tries_four_spellings() {
        assert!(v1_accepts("noProcessSandbox", "noprocesssandbox"));
        assert!(v1_accepts("http", "HTTP"));
        assert!(v1_accepts("GCKeepStorage", "gCKeepStorage"));
        assert!(!v1_accepts("reservedSpace", "ReservedSpace"));
        assert!(!v1_accepts("insecure", "Insecure"));
        assert_eq!(
            dotted(&["frontend", "dockerfile.v0"]),
            "frontend.\"dockerfile.v0\""
        );
        assert_eq!(
            dotted(&["registry", "r:5000", "ca"]),
            "registry.\"r:5000\".ca"
        );
    }
}
