//! `--fix`: applies the edits that fixable findings carry. Checks make the edits where
//! they find the problem; this module only groups them by file, applies them to the text
//! that was read, and checks the result, so no fix is dispatched on a code here.
//!
//! Only [`Applicability::Safe`] fixes are applied. Two fixes that touch the same bytes are
//! never applied together: the first (in report order) is, the other is left for the next
//! pass, which starts from a fresh diagnosis of the edited files. A file that does not
//! parse is never touched, and a TOML or JSON file is parsed again before it is written.

use super::snapshot::Snapshot;
use super::source::SourceFile;
use crate::diag::{Applicability, Change, Edit, Finding, Fix};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// What one pass of `--fix` changes.
#[derive(Debug, Default)]
pub struct FixPlan {
    /// At most one text write and one mode change per file, in path order.
    pub edits: Vec<FileEdit>,
    /// Safe fixes left for the next pass because they touch what an applied fix changed.
    pub deferred: usize,
}

/// How a file's rewritten text is checked before it is written.
#[derive(Clone, Copy)]
enum Syntax {
    Toml,
    Json,
    Yaml,
    Text,
}

/// The file at `path` as the environments read it, if it parsed (or has no syntax).
fn source<'a>(environments: &'a [Snapshot], path: &Path) -> Option<(&'a SourceFile, Syntax)> {
    environments.iter().find_map(|env| {
        if let Some(t) = env.buildkitd.iter().find(|t| t.src.path == path) {
            return t.doc.is_ok().then_some((&t.src, Syntax::Toml));
        }
        if let Some(c) = env.docker_configs.iter().find(|c| c.src.path == path) {
            return c.doc.is_ok().then_some((&c.src, Syntax::Json));
        }
        if let Some(c) = env.compose.iter().find(|c| c.src.path == path) {
            return c.doc.is_ok().then_some((&c.src, Syntax::Yaml));
        }
        if let Some(c) = env.registry_configs.iter().find(|c| c.src.path == path) {
            return c.doc.is_ok().then_some((&c.src, Syntax::Yaml));
        }
        env.sources()
            .find(|s| s.path == path)
            .map(|s| (s, Syntax::Text))
    })
}

fn parses(syntax: Syntax, text: &str) -> bool {
    match syntax {
        Syntax::Toml => toml_edit::Document::parse(text.to_string()).is_ok(),
        Syntax::Json => serde_json::from_str::<serde_json::Value>(text).is_ok(),
        Syntax::Yaml => serde_saphyr::from_str::<serde_json::Value>(text).is_ok(),
        Syntax::Text => true,
    }
}

/// The file changes that apply the safe fixes of `findings` (those the caller kept after
/// `-A/-W/-D`), against the text the `environments` hold.
pub fn plan(environments: &[Snapshot], findings: &[Finding]) -> Result<FixPlan, FixError> {
    let mut accepted: Vec<&Edit> = Vec::new();
    let mut deferred = 0;
    let fixes = findings
        .iter()
        .filter_map(|f| f.fix.as_ref())
        .filter(|fix| fix.applicability == Applicability::Safe);
    for Fix { edits, .. } in fixes {
        // A finding two environments share carries the same edits twice: apply them once.
        let new: Vec<&Edit> = edits.iter().filter(|e| !accepted.contains(e)).collect();
        if new.is_empty() {
            continue;
        }
        let editable = new.iter().all(|e| match e.change {
            Change::Replace { .. } => source(environments, &e.path).is_some(),
            Change::Mode(_) => true,
        });
        if !editable {
            continue;
        }
        if new.iter().any(|e| accepted.iter().any(|a| a.overlaps(e))) {
            deferred += 1;
            continue;
        }
        accepted.extend(new);
    }
    let mut by_file: BTreeMap<&Path, Vec<&Edit>> = BTreeMap::new();
    for e in accepted {
        by_file.entry(&e.path).or_default().push(e);
    }
    let mut out = Vec::new();
    for (path, edits) in by_file {
        if let Some((src, syntax)) = source(environments, path)
            && edits
                .iter()
                .any(|e| matches!(e.change, Change::Replace { .. }))
        {
            let text = crate::diag::apply(&src.text, &edits)
                .filter(|t| parses(syntax, t))
                .ok_or_else(|| FixError::WouldBreak(path.to_path_buf()))?;
            if text != src.text {
                out.push(FileEdit::Write {
                    path: path.to_path_buf(),
                    new_contents: text,
                });
            }
        }
        if let Some(mode) = edits.iter().rev().find_map(|e| match e.change {
            Change::Mode(m) => Some(m),
            Change::Replace { .. } => None,
        }) {
            out.push(FileEdit::Chmod {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(FixPlan {
        edits: out,
        deferred,
    })
}

/// Passes `--fix` makes at most; each applies the fixes that do not overlap, so this
/// bounds how many fixes may touch the same place in one file.
const MAX_PASSES: usize = 8;

/// Fixes the tree at `root`: diagnoses it statically, applies the safe fixes of the
/// findings `select` keeps (`-A/-W/-D`) through `writer`, and goes again while fixes were
/// deferred. Returns the changed files (as findings name them), each once, in the order
/// they were first changed. A rewritten file keeps its mode (config.json stays 0600).
pub fn apply(
    root: &Path,
    inputs: &super::DoctorInputs,
    now: time::OffsetDateTime,
    select: &dyn Fn(Vec<Finding>) -> Vec<Finding>,
    writer: &mut crate::output::Writer,
) -> Result<Vec<PathBuf>, crate::error::Error> {
    use std::os::unix::fs::PermissionsExt;
    let mut changed: Vec<PathBuf> = Vec::new();
    for _ in 0..MAX_PASSES {
        let environments = super::load::load(root, inputs);
        let findings = select(super::check_all(&environments, now));
        let plan = plan(&environments, &findings)?;
        for edit in &plan.edits {
            let path = root.join(edit.path());
            match edit {
                FileEdit::Write { new_contents, .. } => {
                    let mode = std::fs::metadata(&path).map_or(crate::output::MODE_PUBLIC, |m| {
                        m.permissions().mode() & 0o777
                    });
                    // An explicit input may be a link (`--docker-config` to a dotfiles
                    // repository): the file it points at is fixed and the link stays.
                    writer.write_through(&path, new_contents.as_bytes(), mode)?;
                }
                FileEdit::Chmod { mode, .. } => writer.restrict_mode(&path, *mode)?,
            }
            if !changed.iter().any(|p| p == edit.path()) {
                changed.push(edit.path().to_path_buf());
            }
        }
        if plan.deferred == 0 || plan.edits.is_empty() {
            break;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::discover::FileKind;
    use crate::doctor::load::add_file;

    fn finding(fix: Fix) -> Finding {
        Finding::new(&crate::doctor::checks::meta::BK900, "m").fix(fix)
    }

    #[test]
    fn overlapping_fixes_wait_and_unsafe_ones_are_not_applied() {
        let mut snap = Snapshot::default();
        let text = "[grpc]\naddress = \"tcp://0.0.0.0:1234\"\n";
        add_file(
            &mut snap,
            "b.toml".into(),
            FileKind::BuildkitdToml,
            text.into(),
            None,
        );
        let path = Path::new("b.toml");
        let wrap = |with: &str| Fix::safe([Edit::replace(path, 17..37, with)]);
        let mut unsafe_fix = Fix::safe([Edit::replace(path, 0..6, "[grpc] # x")]);
        unsafe_fix.applicability = Applicability::Unsafe;
        let findings = [
            finding(wrap("[\"tcp://0.0.0.0:1234\"]")),
            finding(wrap("[\"other\"]")),
            finding(unsafe_fix),
        ];
        let plan = plan(std::slice::from_ref(&snap), &findings).unwrap();
        assert_eq!(plan.deferred, 1);
        assert_eq!(
            plan.edits,
            [FileEdit::Write {
                path: path.into(),
                new_contents: "[grpc]\naddress = [\"tcp://0.0.0.0:1234\"]\n".into(),
            }]
        );
        let broken = [finding(Fix::safe([Edit::replace(path, 0..1, "")]))];
        assert!(matches!(
            super::plan(std::slice::from_ref(&snap), &broken),
            Err(FixError::WouldBreak(_))
        ));
    }
}
