//! Key and type checks of buildkitd.toml (BK002 to BK005, BK010), used by `toml`.

use super::{BK002, BK004, BK005, BK010};
use crate::diag::{Edit, Finding, Fix};
use crate::doctor::parsed::TomlFile;
use crate::suggest::did_you_mean;
use toml_edit::{Item, Table};

/// Flags keys not in `known`: wrong case (BK005) or unknown (BK004).
pub(super) fn keys(
    file: &TomlFile,
    t: &Table,
    known: &[&str],
    prefix: &str,
    out: &mut Vec<Finding>,
) {
    for (k, item) in t.iter() {
        if known.contains(&k) {
            continue;
        }
        let span = t.key(k).and_then(|key| key.span()).or_else(|| item.span());
        let loc = file.src.loc_opt(span);
        if let Some(exact) = known.iter().find(|c| c.eq_ignore_ascii_case(k)) {
            out.push(
                Finding::new(&BK005, format!("`{prefix}{k}` should be spelled `{exact}`"))
                    .at(loc)
                    .help(format!(
                        "rename it to `{exact}`: BuildKit v0.10 to v0.27 (go-toml v1) ignores `{k}`"
                    )),
            );
            continue;
        }
        let mut f = Finding::new(
            &BK004,
            format!("unknown key `{prefix}{k}`; BuildKit ignores it"),
        )
        .at(loc)
        .prevents("no error: the setting has no effect");
        f = match (k, did_you_mean(k, known)) {
            ("credentials" | "auth" | "username" | "password", _) => f.help("buildkitd.toml has no credentials; use the client's Docker config.json (`docker login`)"),
            ("insecure_skip_verify" | "skip_verify" | "tls_verify", _) if known.contains(&"insecure") => f.help("did you mean `insecure`? Prefer `ca = [\"/path/ca.crt\"]`"),
            (_, Some(s)) => f.help(format!("did you mean `{s}`?")),
            (_, None) => f.help(format!("known keys here: {}", known.join(", "))),
        };
        out.push(f);
    }
}

pub(super) fn string_vs_array(
    file: &TomlFile,
    t: &Table,
    key: &str,
    prefix: &str,
    field: &str,
    v2: bool,
    out: &mut Vec<Finding>,
) {
    let Some(item) = t.get(key) else { return };
    if let Some(s) = item.as_str() {
        // Wrap the value as written (quotes, escapes and all) in brackets.
        let fix = item.span().and_then(|span| {
            let raw = file.src.text.get(span.clone())?;
            Some(Fix::safe([Edit::replace(
                &file.src.path,
                span,
                format!("[{raw}]"),
            )]))
        });
        let kspan = t.key(key).and_then(|k| k.span());
        let (line, col) = kspan.clone().map_or((0, 0), |s| file.src.line_col(s.start));
        let prevents = if v2 {
            format!(
                "failed to parse config: toml: cannot decode TOML string into struct field config.{field} of type []string"
            )
        } else {
            format!(
                "failed to parse config: ({line}, {col}): Can't convert {s}(string) to []string(slice)"
            )
        };
        out.push(
            Finding::new(
                &BK002,
                format!("`{prefix}{key}` is the string \"{s}\"; BuildKit wants an array"),
            )
            .at(file.src.loc_opt(item.span()))
            .prevents(prevents)
            .help(format!("write `{key} = [\"{s}\"]`"))
            .fix(fix),
        );
    } else if !item.is_array() {
        out.push(wrong_type(
            file,
            item,
            &format!("{prefix}{key}"),
            "an array of strings",
        ));
    }
}

pub(super) fn expect_str(
    file: &TomlFile,
    t: &Table,
    key: &str,
    prefix: &str,
    out: &mut Vec<Finding>,
) {
    if let Some(item) = t.get(key).filter(|i| i.as_str().is_none() && !i.is_array()) {
        out.push(wrong_type(
            file,
            item,
            &format!("{prefix}{key}"),
            "a string",
        ));
    }
}

pub(super) fn wrong_type(file: &TomlFile, item: &Item, key: &str, want: &str) -> Finding {
    let got = item.type_name();
    Finding::new(&BK010, format!("`{key}` is {got}; BuildKit wants {want}"))
        .at(file.src.loc_opt(item.span()))
        .prevents(format!(
            "failed to parse config: Can't convert ({got}) for `{key}`"
        ))
        .help(format!("make `{key}` {want}"))
}
