//! Source maps: byte offsets to 1-based line/column, and the line text for display.

use crate::diag::{Location, Span};
use std::ops::Range;
use std::path::PathBuf;

/// One text file read by the loader, with its path relative to the environment root.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Files holding secrets (config.json, htpasswd, keys) never show their lines.
    pub secret: bool,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub(crate) fn new(path: impl Into<PathBuf>, text: String, secret: bool) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path: path.into(),
            text,
            secret,
            line_starts,
        }
    }

    /// 1-based (line, column) of a byte offset; columns count characters.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(idx).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (idx + 1, col + 1)
    }

    /// The text of a 1-based line, without its line break.
    pub(crate) fn line_text(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |e| e.saturating_sub(1));
        self.text
            .get(start..end.max(start))
            .map(|s| s.trim_end_matches('\r'))
    }

    /// Byte offset of the start of a 1-based line.
    pub(crate) fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts.get(line.checked_sub(1)?).copied()
    }

    pub(crate) fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// A location for a byte range.
    pub(crate) fn loc(&self, range: Range<usize>) -> Location {
        let (line, column) = self.line_col(range.start);
        let (end_line, end_column) = self.line_col(range.end.max(range.start));
        self.location(Span {
            line,
            column,
            end_line,
            end_column,
        })
    }

    /// A location for an optional byte range (whole file when `None`).
    pub(crate) fn loc_opt(&self, range: Option<Range<usize>>) -> Location {
        match range {
            Some(r) => self.loc(r),
            None => self.file_loc(),
        }
    }

    /// A location for a 1-based line and column (a single point).
    pub(crate) fn loc_line_col(&self, line: usize, column: usize) -> Location {
        let len = self.line_text(line).map_or(0, |t| {
            t.chars().count().saturating_sub(column.saturating_sub(1))
        });
        self.location(Span {
            line,
            column,
            end_line: line,
            end_column: column + len,
        })
    }

    /// A location for the whole of a 1-based line.
    pub(crate) fn loc_line(&self, line: usize) -> Location {
        let indent = self
            .line_text(line)
            .map_or(0, |t| t.chars().take_while(|c| c.is_whitespace()).count());
        self.loc_line_col(line, indent + 1)
    }

    pub(crate) fn file_loc(&self) -> Location {
        Location {
            path: self.path.clone(),
            span: None,
            line_text: None,
        }
    }

    /// A location for `span`, with its line text unless the file holds secrets or the
    /// line looks like it carries one.
    pub(crate) fn location(&self, span: Span) -> Location {
        let line_text = if self.secret {
            None
        } else {
            self.line_text(span.line)
                .filter(|t| !looks_secret(t))
                .map(str::to_string)
        };
        Location {
            path: self.path.clone(),
            span: Some(span),
            line_text,
        }
    }
}

/// Whether a line (of `.env`, YAML, CI files) looks like it holds a secret value.
pub(crate) fn looks_secret(line: &str) -> bool {
    let upper = line.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "\"AUTH\"",
        "PRIVATE KEY",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let f = SourceFile::new("a.toml", "ab\ncdé\nx".to_string(), false);
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(5), (2, 3));
        assert_eq!(f.line_col(8), (3, 1));
        assert_eq!(f.line_text(2), Some("cdé"));
        assert_eq!(f.line_text(4), None);
    }

    #[test]
    fn secret_lines_are_hidden() {
        let f = SourceFile::new(".env", "A=1\nREGISTRY_PASSWORD=x\n".to_string(), false);
        assert!(f.loc_line(1).line_text.is_some());
        assert!(f.loc_line(2).line_text.is_none());
        let s = SourceFile::new("config.json", "{}".to_string(), true);
        assert!(s.loc_line(1).line_text.is_none());
    }
}
