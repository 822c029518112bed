//! Fixes as data: a fixable finding carries the edits that repair it, made by the check
//! that found the problem (as ruff's `Fix`/`Edit`). Nothing here touches the disk;
//! `doctor::fix` plans the edits of many findings and `output` writes them.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// Whether `doctor --fix` may apply a fix without a person reviewing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Applicability {
    /// Changes only what the finding names, in the form BuildKit reads; the rest of the
    /// file is kept byte for byte. `doctor --fix` applies it.
    Safe,
    /// Repairs the finding but may change what something else relies on. Reported as
    /// fixable, never applied by `doctor --fix`.
    Unsafe,
}

/// The edits that repair one finding; applied all together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub applicability: Applicability,
    pub edits: Vec<Edit>,
}

impl Fix {
    /// Whether `doctor --fix` applies it.
    pub fn is_safe(&self) -> bool {
        self.applicability == Applicability::Safe
    }

    /// A safe fix made of `edits`.
    pub fn safe(edits: impl IntoIterator<Item = Edit>) -> Self {
        Fix {
            applicability: Applicability::Safe,
            edits: edits.into_iter().collect(),
        }
    }
}

/// One change to one file, with the path relative to the environment root (as in
/// [`super::Location`]) and byte offsets into the text the check read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub path: PathBuf,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Replace the bytes in `range` with `with` (an empty range inserts).
    Replace { range: Range<usize>, with: String },
    /// Set the file's Unix permission bits.
    Mode(u32),
}

impl Edit {
    pub fn replace(path: impl Into<PathBuf>, range: Range<usize>, with: impl Into<String>) -> Self {
        Edit {
            path: path.into(),
            change: Change::Replace {
                range,
                with: with.into(),
            },
        }
    }

    pub fn mode(path: impl Into<PathBuf>, mode: u32) -> Self {
        Edit {
            path: path.into(),
            change: Change::Mode(mode),
        }
    }

    /// The smallest replacement that turns `old` into `new` (their common prefix and suffix
    /// are kept), for fixes computed by rewriting a whole document; `None` if equal.
    pub fn rewrite(path: &Path, old: &str, new: &str) -> Option<Self> {
        if old == new {
            return None;
        }
        let prefix = common_prefix(old, new);
        let suffix = common_suffix(&old[prefix..], &new[prefix..]);
        Some(Edit::replace(
            path,
            prefix..old.len() - suffix,
            &new[prefix..new.len() - suffix],
        ))
    }

    /// Whether two edits touch the same bytes (or insert at the same place), so that
    /// applying both would make the result depend on their order.
    pub(crate) fn overlaps(&self, other: &Edit) -> bool {
        if self.path != other.path {
            return false;
        }
        match (&self.change, &other.change) {
            (Change::Replace { range: a, .. }, Change::Replace { range: b, .. }) => {
                a.start == b.start || (a.start < b.end && b.start < a.end)
            }
            (Change::Mode(a), Change::Mode(b)) => a != b,
            _ => false,
        }
    }
}

/// Byte length of the common prefix, on a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i)
}

/// Byte length of the common suffix, on a character boundary.
fn common_suffix(a: &str, b: &str) -> usize {
    a.chars()
        .rev()
        .zip(b.chars().rev())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum()
}

/// Applies non-overlapping replacements to `text`; `None` when a range falls outside
/// the text or off a character boundary, or two ranges overlap.
pub(crate) fn apply(text: &str, edits: &[&Edit]) -> Option<String> {
    let mut replaces: Vec<(&Range<usize>, &str)> = edits
        .iter()
        .filter_map(|e| match &e.change {
            Change::Replace { range, with } => Some((range, with.as_str())),
            Change::Mode(_) => None,
        })
        .collect();
    replaces.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, with) in replaces {
        if range.start < at || range.end < range.start {
            return None;
        }
        out.push_str(text.get(at..range.start)?);
        out.push_str(with);
        text.get(range.start..range.end)?;
        at = range.end;
    }
    out.push_str(text.get(at..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_is_the_minimal_replacement() {
        let p = Path::new("a.toml");
        let e = Edit::rewrite(p, "a = 1\nb = 2\n", "a = 1\nx = 0\nb = 2\n").unwrap();
        assert_eq!(
            apply("a = 1\nb = 2\n", &[&e]).unwrap(),
            "a = 1\nx = 0\nb = 2\n"
        );
        let Change::Replace { range, with } = &e.change else {
            panic!("{e:?}")
        };
        assert!(range.len() <= 1 && with.len() <= 7, "{e:?}");
        assert!(Edit::rewrite(p, "same", "same").is_none());
        let e = Edit::rewrite(p, "é = 1", "è = 1").unwrap();
        assert_eq!(apply("é = 1", &[&e]).unwrap(), "è = 1");
    }

    #[test]
    fn edits_apply_in_offset_order_and_refuse_overlaps() {
        let a = Edit::replace("f", 0..1, "X");
        let b = Edit::replace("f", 2..3, "Y");
        assert_eq!(apply("abc", &[&b, &a]).unwrap(), "XbY");
        let c = Edit::replace("f", 0..2, "Z");
        assert!(a.overlaps(&c) && apply("abc", &[&a, &c]).is_none());
        let (i1, i2) = (Edit::replace("f", 1..1, "1"), Edit::replace("f", 1..1, "2"));
        assert!(i1.overlaps(&i2), "two insertions at one place");
        assert!(!a.overlaps(&Edit::replace("g", 0..1, "X")));
        assert!(apply("abc", &[&Edit::replace("f", 2..9, "")]).is_none());
    }
}
