//! `docker buildx bake` files: the `cache-to` and `cache-from` of each `target`, in HCL
//! (`docker-bake.hcl`, read with hcl-edit for its spans) or JSON (`docker-bake.json`,
//! read with jsonc-parser for the same reason). An entry is the option string buildx
//! passes on (`type=registry,ref=...,mode=max`), or an object of the same keys, which
//! buildx v0.18 and later accept and is turned into that string here. Values built from
//! variables (`"${REGISTRY}/app:cache"`) keep their `${...}` text: their references are
//! skipped, their options are still checked.

use super::parsed::{CacheExport, ImageRef};
use super::refs::option_refs;
use super::source::SourceFile;
use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};

/// What a bake file contributes: references, and cache exports with their options.
pub(crate) type Found = (Vec<ImageRef>, Vec<CacheExport>);

/// The attributes read, with the role of their entries.
const ATTRS: [(&str, &str); 2] = [("cache-to", "export-cache"), ("cache-from", "import-cache")];

fn add(found: &mut Found, opts: String, line: usize, role: &'static str) {
    if role == "export-cache" {
        found.1.push(CacheExport {
            line,
            options: opts.clone(),
        });
    }
    found.0.extend(option_refs(&opts, line, role));
}

/// `docker-bake.hcl`; a file that does not parse contributes nothing (buildx reports it).
pub(crate) fn hcl(src: &SourceFile) -> Found {
    let mut found = (Vec::new(), Vec::new());
    let Ok(body) = hcl_edit::parser::parse_body(&src.text) else {
        return found;
    };
    let line = |span: Option<std::ops::Range<usize>>| span.map_or(1, |s| src.line_col(s.start).0);
    for block in body.get_blocks("target") {
        for (name, role) in ATTRS {
            let Some(attr) = block.body.get_attribute(name) else {
                continue;
            };
            let Expression::Array(items) = &attr.value else {
                continue;
            };
            for item in items.iter() {
                let opts = match item {
                    Expression::String(s) => Some(s.value().clone()),
                    // `"type=registry,ref=${REG}/app"`: the template's own text.
                    Expression::StringTemplate(_) => item
                        .span()
                        .and_then(|s| src.text.get(s))
                        .map(|t| t.trim_matches('"').to_string()),
                    Expression::Object(o) => Some(
                        o.iter()
                            .filter_map(|(k, v)| {
                                let key = match k {
                                    ObjectKey::Ident(i) => i.as_str().to_string(),
                                    ObjectKey::Expression(Expression::String(s)) => {
                                        s.value().clone()
                                    }
                                    ObjectKey::Expression(_) => return None,
                                };
                                let value = match v.expr() {
                                    Expression::String(s) => s.value().clone(),
                                    Expression::Bool(b) => b.value().to_string(),
                                    other => other
                                        .span()
                                        .and_then(|s| src.text.get(s))?
                                        .trim_matches('"')
                                        .to_string(),
                                };
                                Some(format!("{key}={value}"))
                            })
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    _ => None,
                };
                if let Some(opts) = opts {
                    add(&mut found, opts, line(item.span()), role);
                }
            }
        }
    }
    found
}

/// `docker-bake.json`: `{"target": {"name": {"cache-to": [...]}}}`.
pub(crate) fn json(src: &SourceFile) -> Found {
    use jsonc_parser::ast::Value;
    let mut found = (Vec::new(), Vec::new());
    let Ok(parsed) = jsonc_parser::parse_to_ast(
        &src.text,
        &jsonc_parser::CollectOptions::default(),
        &jsonc_parser::ParseOptions::default(),
    ) else {
        return found;
    };
    let Some(root) = parsed.value.as_ref().and_then(Value::as_object) else {
        return found;
    };
    let targets = root
        .properties
        .iter()
        .filter(|p| p.name.as_str() == "target")
        .filter_map(|p| p.value.as_object());
    for targets in targets {
        for target in targets
            .properties
            .iter()
            .filter_map(|t| t.value.as_object())
        {
            for (name, role) in ATTRS {
                let items = target
                    .properties
                    .iter()
                    .filter(|p| p.name.as_str() == name)
                    .filter_map(|p| p.value.as_array());
                for item in items.flat_map(|a| a.elements.iter()) {
                    let opts = match item {
                        Value::StringLit(s) => Some(s.value.to_string()),
                        Value::Object(o) => Some(
                            o.properties
                                .iter()
                                .filter_map(|p| {
                                    let v = match &p.value {
                                        Value::StringLit(s) => s.value.to_string(),
                                        Value::BooleanLit(b) => b.value.to_string(),
                                        _ => return None,
                                    };
                                    Some(format!("{}={v}", p.name.as_str()))
                                })
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                        _ => None,
                    };
                    if let Some(opts) = opts {
                        let start = jsonc_parser::common::Ranged::start(item);
                        add(&mut found, opts, src.line_col(start).0, role);
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(name: &str, text: &str) -> SourceFile {
        SourceFile::new(name, text.to_string(), false)
    }

    #[test]
    fn hcl_targets() {
        let text = r#"variable "REG" { default = "registry:5000" }
group "default" { targets = ["app"] }
target "app" {
  tags = ["${REG}/app:1"]
  cache-from = ["type=registry,ref=registry:5000/app:cache"]
  cache-to = [
    "type=registry,ref=registry:5000/app:cache,mode=max",
    "type=registry,ref=${REG}/app:cache2,oci-mediatypes=false",
    { type = "registry", ref = "registry:5000/app:c3", image-manifest = true },
  ]
}
"#;
        let (refs, exports) = hcl(&src("docker-bake.hcl", text));
        let got: Vec<(&str, usize, &str)> = refs
            .iter()
            .map(|r| (r.reference.as_str(), r.line, r.role))
            .collect();
        assert_eq!(
            got,
            vec![
                ("registry:5000/app:cache", 7, "export-cache"),
                ("registry:5000/app:c3", 9, "export-cache"),
                ("registry:5000/app:cache", 5, "import-cache"),
            ]
        );
        let opts: Vec<(&str, usize)> = exports
            .iter()
            .map(|e| (e.options.as_str(), e.line))
            .collect();
        assert_eq!(
            opts,
            vec![
                ("type=registry,ref=registry:5000/app:cache,mode=max", 7),
                (
                    "type=registry,ref=${REG}/app:cache2,oci-mediatypes=false",
                    8
                ),
                (
                    "type=registry,ref=registry:5000/app:c3,image-manifest=true",
                    9
                ),
            ]
        );
        let (refs, exports) = hcl(&src("x.hcl", "target {{{"));
        assert!(refs.is_empty() && exports.is_empty());
    }

    #[test]
    fn json_targets() {
        let text = r#"{
  "target": {
    "app": {
      "cache-to": ["type=registry,ref=registry:5000/app:cache,image-manifest=true,oci-mediatypes=false"],
      "cache-from": [{"type": "registry", "ref": "registry:5000/app:cache"}]
    }
  }
}"#;
        let (refs, exports) = json(&src("docker-bake.json", text));
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].role, "import-cache");
        assert_eq!(refs[1].line, 5);
        assert_eq!(exports.len(), 1);
        assert_eq!(exports[0].line, 4);
    }
}
