//! `--fix`: mechanical, format-preserving edits. Returns edits; never writes files.
//!
//! Edits are recomputed from the snapshot for the fixable findings given, so a finding
//! filtered out by `-A` is not fixed. A file that does not parse is never touched, and
//! every rewritten TOML/JSON file is parsed again before it is returned.

use super::checks::{Ctx, registry::ca_candidate};
use super::snapshot::Snapshot;
use crate::diag::Finding;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use toml_edit::{Array, DocumentMut, Item, Value};

/// One change to one file, relative to the environment root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEdit {
    /// Replace the file's contents.
    Write { path: PathBuf, new_contents: String },
    /// Change the file's Unix permission bits.
    Chmod { path: PathBuf, mode: u32 },
}

impl FileEdit {
    pub fn path(&self) -> &Path {
        match self {
            FileEdit::Write { path, .. } | FileEdit::Chmod { path, .. } => path,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("{0} does not parse after fixing; no edit made")]
    WouldBreak(PathBuf),
}

/// The edits that repair the fixable `findings`, each made in the environment that
/// holds the finding's file (once, when two environments share the file).
pub fn fix(
    environments: &[Snapshot],
    findings: &[Finding],
    now: OffsetDateTime,
) -> Result<Vec<FileEdit>, FixError> {
    let mut edits: Vec<FileEdit> = Vec::new();
    for env in environments {
        let own: Vec<Finding> = findings
            .iter()
            .filter(|f| f.location.as_ref().is_some_and(|l| env.holds(&l.path)))
            .cloned()
            .collect();
        for edit in fix_env(env, &own, now)? {
            if !edits.iter().any(|e| e.path() == edit.path()) {
                edits.push(edit);
            }
        }
    }
    Ok(edits)
}

fn fix_env(
    snap: &Snapshot,
    findings: &[Finding],
    now: OffsetDateTime,
) -> Result<Vec<FileEdit>, FixError> {
    let ctx = Ctx::new(snap, now);
    // Registry-table fixes go to the config the daemon reads, wherever the usage was.
    let daemon_config = ctx
        .active_configs()
        .first()
        .map(|c| c.file.src.path.clone());
    let mut by_file: BTreeMap<PathBuf, Vec<&Finding>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.fixable) {
        let path = match (f.code(), &daemon_config) {
            ("BK201" | "BK204", Some(p)) => Some(p.clone()),
            _ => f.location.as_ref().map(|l| l.path.clone()),
        };
        if let Some(p) = path {
            by_file.entry(p).or_default().push(f);
        }
    }
    let mut edits = Vec::new();
    for (path, fs) in by_file {
        if let Some(t) = snap.buildkitd.iter().find(|t| t.src.path == path) {
            if t.doc.is_err() {
                continue;
            }
            if let Some(text) = fix_toml(&ctx, &path, &t.src.text, &fs)? {
                edits.push(FileEdit::Write {
                    path: path.clone(),
                    new_contents: text,
                });
            }
        } else if let Some(c) = snap.docker_configs.iter().find(|c| c.src.path == path) {
            if c.doc.is_err() {
                continue;
            }
            let mut text = c.src.text.clone();
            for f in fs.iter().filter(|f| f.code() == "BK403") {
                if let [old, new] = f.fix_args.as_slice() {
                    text = rekey_json(&text, old, new);
                }
            }
            if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                return Err(FixError::WouldBreak(path));
            }
            if text != c.src.text {
                edits.push(FileEdit::Write {
                    path: path.clone(),
                    new_contents: text,
                });
            }
        } else if fs.iter().any(|f| f.code() == "BK511") {
            edits.push(FileEdit::Chmod {
                path: path.clone(),
                mode: 0o600,
            });
        }
    }
    Ok(edits)
}

/// Renames the object key `"old"` to `"new"`, leaving every other byte alone.
fn rekey_json(text: &str, old: &str, new: &str) -> String {
    let needle = format!("\"{old}\"");
    let mut from = 0;
    while let Some(i) = text.get(from..).and_then(|t| t.find(&needle)) {
        let at = from + i;
        let after = &text[at + needle.len()..];
        if after.trim_start().starts_with(':') {
            return format!("{}\"{new}\"{}", &text[..at], after);
        }
        from = at + needle.len();
    }
    text.to_string()
}

fn fix_toml(
    ctx: &Ctx<'_>,
    path: &Path,
    original: &str,
    fs: &[&Finding],
) -> Result<Option<String>, FixError> {
    let mut text = original.to_string();
    // Text-level: quote dotted registry keys on their header lines.
    for f in fs.iter().filter(|f| f.code() == "BK006") {
        if let Some(key) = f.fix_args.first() {
            text = text.replace(&format!("registry.{key}]"), &format!("registry.\"{key}\"]"));
        }
    }
    let Ok(mut doc) = text.parse::<DocumentMut>() else {
        return Err(FixError::WouldBreak(path.to_path_buf()));
    };
    for f in fs {
        match f.code() {
            "BK002" => string_to_array(&mut doc),
            "BK003" => {
                if let Some(item) = doc
                    .get_mut("grpc")
                    .and_then(|g| g.get_mut("tls"))
                    .and_then(|t| t.get_mut("ca"))
                {
                    let one = item
                        .as_array()
                        .filter(|a| a.len() == 1)
                        .and_then(|a| a.get(0))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    if let Some(s) = one {
                        let decor = item.as_value().map(|v| v.decor().clone());
                        let mut v = Value::from(s);
                        if let Some(d) = decor {
                            *v.decor_mut() = d;
                        }
                        *item = Item::Value(v);
                    }
                }
            }
            "BK204" => {
                if let Some(host) = f.fix_args.first() {
                    table_mut(&mut doc, host)["http"] = toml_edit::value(false);
                }
            }
            "BK201" => {
                let Some(host) = f.fix_args.first().cloned() else {
                    continue;
                };
                let cand = ctx
                    .active_configs()
                    .iter()
                    .find(|c| c.file.src.path == path)
                    .and_then(|cfg| {
                        ctx.view
                            .registry_for(&host)
                            .and_then(|(r, _)| ca_candidate(ctx, cfg, r))
                    });
                if let Some(ca) = cand {
                    let mut arr = Array::new();
                    arr.push(ca);
                    table_mut(&mut doc, &host)["ca"] = toml_edit::value(arr);
                }
            }
            _ => {}
        }
    }
    let out = doc.to_string();
    if toml_edit::Document::parse(out.clone()).is_err() {
        return Err(FixError::WouldBreak(path.to_path_buf()));
    }
    Ok((out != original).then_some(out))
}

fn table_mut<'d>(doc: &'d mut DocumentMut, host: &str) -> &'d mut Item {
    let reg = doc.entry("registry").or_insert_with(|| {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let t = &mut reg[host];
    if t.is_none() {
        *t = Item::Table(toml_edit::Table::new());
    }
    t
}

/// Wraps strings in arrays where BuildKit wants arrays, keeping each value's decor.
fn string_to_array(doc: &mut DocumentMut) {
    let wrap = |item: &mut Item| {
        if let Some(v) = item.as_value()
            && let Some(s) = v.as_str()
        {
            let decor = v.decor().clone();
            let mut arr = Array::new();
            arr.push(s);
            let mut nv = Value::Array(arr);
            *nv.decor_mut() = decor;
            *item = Item::Value(nv);
        }
    };
    if let Some(a) = doc.get_mut("grpc").and_then(|g| g.get_mut("address")) {
        wrap(a);
    }
    if let Some(reg) = doc.get_mut("registry").and_then(Item::as_table_mut) {
        for (_, t) in reg.iter_mut() {
            for k in ["ca", "mirrors", "tlsconfigdir"] {
                if let Some(i) = t.get_mut(k) {
                    wrap(i);
                }
            }
        }
    }
}
