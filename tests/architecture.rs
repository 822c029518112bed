//! Layering of the source tree: no import circle between source files.
//!
//! An edge `a.rs -> b.rs` is a `crate::...` or `super::...` path in `a.rs` (outside its
//! `#[cfg(test)] mod tests` and comments) that names module `b` or an item in it. A
//! parent's references to its own children (`checks::run_all` in `doctor/mod.rs`) carry
//! no prefix and are not edges: a child is part of its parent. Everything else must form
//! a directed acyclic graph, so low-level data (findings, check codes, parsed files)
//! never depends on the engines that use it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["doctor", "checks"]`) of a file relative to `src/`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::a::b::c` and `super::super::x` paths, as segment lists.
fn paths(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    for (start, kw) in ["crate::", "super::"]
        .iter()
        .flat_map(|kw| code.match_indices(kw).map(move |(i, _)| (i, *kw)))
    {
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[start + kw.len()..];
        let mut segs: Vec<String> = Vec::new();
        let mut s = rest;
        loop {
            let end = s
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            if end == 0 {
                break;
            }
            segs.push(s[..end].to_string());
            match s[end..].strip_prefix("::") {
                Some(next) => s = next,
                None => break,
            }
        }
        out.push((kw == "crate::", segs));
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap();
            (module_of(rel), rel.display().to_string())
        })
        .collect();
    let resolve = |path: &[String]| -> Option<&String> {
        (0..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let me = module_of(rel);
        let name = rel.display().to_string();
        let entry = edges.entry(name.clone()).or_default();
        for (absolute, segs) in paths(&code(&std::fs::read_to_string(f).unwrap())) {
            let target = if absolute {
                segs
            } else {
                // `super::` is the parent of this module; more `super`s climb further.
                let mut base = me[..me.len().saturating_sub(1)].to_vec();
                let mut segs = segs.as_slice();
                while segs.first().is_some_and(|s| s == "super") {
                    base.pop();
                    segs = &segs[1..];
                }
                base.extend(segs.iter().cloned());
                base
            };
            if let Some(t) = resolve(&target).filter(|t| **t != name) {
                entry.insert(t.clone());
            }
        }
    }
    edges
}

/// A cycle through `start`, if any (depth-first search).
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn source_files_import_each_other_without_a_circle() {
    let edges = graph();
    assert!(edges.len() > 50, "found only {} files", edges.len());
    if let Some(c) = cycle(&edges) {
        panic!("import circle: {}", c.join(" -> "));
    }
}

#[test]
fn findings_and_codes_depend_on_nothing_above_them() {
    let edges = graph();
    for base in ["diag/mod.rs", "diag/check.rs", "diag/fix.rs"] {
        for dep in edges.get(base).into_iter().flatten() {
            assert!(dep.starts_with("diag/"), "{base} depends on {dep}");
        }
    }
}

#[test]
fn the_analysis_sees_a_planted_circle() {
    let mut edges = graph();
    edges
        .entry("diag/mod.rs".into())
        .or_default()
        .insert("catalog/mod.rs".into());
    let c = cycle(&edges).expect("diag -> catalog -> checks -> diag");
    assert!(c.contains(&"diag/mod.rs".to_string()), "{c:?}");
}
