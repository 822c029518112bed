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

    /// A location for `span`, with its line text (secret values redacted) unless the
    /// whole file holds secrets.
    pub(crate) fn location(&self, span: Span) -> Location {
        let line_text = if self.secret {
            None
        } else {
            self.line_text(span.line).map(redact_secrets)
        };
        Location {
            path: self.path.clone(),
            span: Some(span),
            line_text,
        }
    }
}

/// What a redacted value shows instead.
const REDACTED: &str = "<redacted>";

/// Whether a key's name says its value is a secret: it contains an unambiguous name
/// (`registryPassword`, `CI_JOB_TOKEN`, `api_key`), or one of its words (split at `_`,
/// `-`, `.` and lower-to-upper case changes) is a short one (`auth`, but not `author`).
fn is_secret_key(key: &str) -> bool {
    const WORDS: &[&str] = &["auth", "authorization", "pass", "passphrase", "pwd"];
    const ANYWHERE: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "apikey",
    ];
    let compact: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if ANYWHERE.iter().any(|w| compact.contains(w)) {
        return true;
    }
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() || (c.is_ascii_uppercase() && prev_lower) {
            words.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
        prev_lower = c.is_ascii_lowercase();
    }
    words.push(word);
    words.iter().any(|w| WORDS.contains(&w.as_str()))
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Where the value at the start of `text` is: `(start, end)` byte offsets of what to
/// redact. A quoted string is redacted inside its quotes; a bare value runs to `,`, `}`,
/// `]`, ` #` or the end of the line (or the next space, for a flag's value). `None` for
/// no value, or for a table or list, whose own keys are redacted one by one.
fn value_span(text: &str, space_ends: bool) -> Option<(usize, usize)> {
    let mut chars = text.char_indices();
    let (_, first) = chars.next()?;
    if first == '"' || first == '\'' {
        let mut escaped = false;
        for (i, c) in chars {
            match c {
                '\\' if first == '"' && !escaped => escaped = true,
                c if c == first && !escaped => return Some((1, i)),
                _ => escaped = false,
            }
        }
        return Some((1, text.len()));
    }
    if matches!(first, '{' | '[') {
        return None;
    }
    let end = text
        .char_indices()
        .find(|(i, c)| {
            matches!(c, ',' | '}' | ']')
                || (space_ends && c.is_whitespace())
                || text[*i..].starts_with(" #")
        })
        .map_or(text.len(), |(i, _)| i);
    let end = text[..end].trim_end().len();
    (end > 0).then_some((0, end))
}

/// `line` with the value of every key whose name denotes a secret replaced, in the forms
/// bkenv shows lines of: `key = "v"` (TOML), `key: v` (YAML), `KEY=v` (.env, Dockerfile
/// `ENV`/`ARG`), `"key": "v"` (JSON), and command-line flags `--key=v` / `--key v`.
/// Quotes are kept; everything else on the line is shown as it is.
pub(crate) fn redact_secrets(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(c) = line.get(i..).and_then(|r| r.chars().next()) {
        let starts_key = is_key_char(c)
            && line[..i]
                .chars()
                .next_back()
                .is_none_or(|p| !is_key_char(p));
        if !starts_key {
            i += c.len_utf8();
            continue;
        }
        let key_end = line[i..]
            .find(|c: char| !is_key_char(c))
            .map_or(line.len(), |n| i + n);
        let key = &line[i..key_end];
        // After the key: an optional closing quote, spaces, then `=` or `:` (not `==`,
        // `::` or `://`); or, after a `--flag`, spaces and a separate value.
        let after = line[key_end..].trim_start_matches(['"', '\'']);
        let sep_at = line.len() - after.trim_start().len();
        let rest = &line[sep_at..];
        let value_at = if (rest.starts_with('=') && !rest.starts_with("=="))
            || (rest.starts_with(':') && !rest.starts_with("::") && !rest.starts_with(":/"))
        {
            let v = &rest[1..];
            Some((
                sep_at + 1 + (v.len() - v.trim_start().len()),
                key.starts_with("--"),
            ))
        } else if key.starts_with("--") && sep_at > key_end && !rest.starts_with('-') {
            Some((sep_at, true))
        } else {
            None
        };
        if let Some((at, flag)) = value_at
            && is_secret_key(key.trim_start_matches('-'))
            && let Some((start, end)) = value_span(&line[at..], flag)
        {
            out.push_str(&line[copied..at + start]);
            out.push_str(REDACTED);
            copied = at + end;
            i = copied;
            continue;
        }
        i = key_end;
    }
    out.push_str(&line[copied..]);
    out
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
    fn secret_values_are_redacted_by_key() {
        let f = SourceFile::new(".env", "A=1\nREGISTRY_PASSWORD=x y\n".to_string(), false);
        assert_eq!(f.loc_line(1).line_text.as_deref(), Some("A=1"));
        assert_eq!(
            f.loc_line(2).line_text.as_deref(),
            Some("REGISTRY_PASSWORD=<redacted>")
        );
        let s = SourceFile::new("config.json", "{}".to_string(), true);
        assert!(s.loc_line(1).line_text.is_none());
        for (line, shown) in [
            (r#"auth = "dXNlcjpwYXNz""#, r#"auth = "<redacted>""#),
            (
                "  credentials = 'u:p' # old",
                "  credentials = '<redacted>' # old",
            ),
            (
                r#"identitytoken = "t\"x""#,
                r#"identitytoken = "<redacted>""#,
            ),
            (
                r#"{ auth = "a", ca = "/c" }"#,
                r#"{ auth = "<redacted>", ca = "/c" }"#,
            ),
            (r#""auth": "abc","#, r#""auth": "<redacted>","#),
            (
                "      password: hunter2 # x",
                "      password: <redacted> # x",
            ),
            (
                "- REGISTRY_HTTP_SECRET=s3",
                "- REGISTRY_HTTP_SECRET=<redacted>",
            ),
            (
                "docker login --password s3 reg",
                "docker login --password <redacted> reg",
            ),
            (
                "--registry-token=t1 --x=1",
                "--registry-token=<redacted> --x=1",
            ),
            ("ENV apiKey=k1", "ENV apiKey=<redacted>"),
            ("Authorization: Basic dTpw", "Authorization: <redacted>"),
            // Not secrets: paths named `key`, words like `author`, a bare `auth:` table.
            (r#"ca = ["/etc/ca.crt"]"#, r#"ca = ["/etc/ca.crt"]"#),
            (
                r#"key = "/etc/buildkit/certs/server.key""#,
                r#"key = "/etc/buildkit/certs/server.key""#,
            ),
            (
                "image: registry:5000/author/app:1",
                "image: registry:5000/author/app:1",
            ),
            ("auth:", "auth:"),
            (
                "realm: https://token.example/auth",
                "realm: https://token.example/auth",
            ),
        ] {
            assert_eq!(redact_secrets(line), shown, "{line}");
        }
    }
}
