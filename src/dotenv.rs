//! `.env` values that every reader of the file takes literally.
//!
//! `.env` is read by POSIX `sh` (`set -a; . ./.env`), by Compose v1 (python-dotenv) and
//! by Compose v2 (compose-go). No quoting means the same thing to all three for every
//! character: sh expands `$` and backquotes outside single quotes and ends a single-quoted
//! string at the next `'`; python-dotenv unescapes `\\` and `\'` inside single quotes;
//! Compose v2 interpolates `$` in unquoted and double-quoted values. So bkenv writes every
//! value single-quoted and accepts only characters that read identically inside single
//! quotes in all three: printable ASCII (space to `~`) except `'`, `\` and `$` (refused
//! although single quotes protect it in Compose v2, so that a value edited out of its
//! quotes still cannot interpolate), and backquote (command substitution should the
//! quotes be lost). Anything else is refused with the character named.

/// Checks that `value` reads the same in every `.env` reader; `Err` says why not, in a
/// form that follows "the value" or "the password".
pub fn check_value(value: &str) -> Result<(), String> {
    match value.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "contains {}, which `.env` cannot carry safely: `sh`, Compose v1 and Compose v2 read it differently \
             (allowed: printable ASCII except ' \\ $ and `)",
            describe_char(c)
        )),
    }
}

fn allowed(c: char) -> bool {
    (' '..='~').contains(&c) && !matches!(c, '\'' | '\\' | '$' | '`')
}

/// `KEY='value'`; `value` must have passed [`check_value`].
pub fn assignment(key: &str, value: &str) -> String {
    format!("{key}='{value}'\n")
}

/// A character for an error message, never echoing control characters raw.
pub fn describe_char(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        c if c.is_ascii() => format!("`{c}`"),
        c => format!("the non-ASCII character U+{:04X}", u32::from(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_a_reader_would_change() {
        for bad in ["$(touch x)", "a'b", "a\\b", "a\nB=c", "`id`", "é", "\u{7f}"] {
            assert!(check_value(bad).is_err(), "{bad:?}");
        }
        for good in ["", "Xy7kQ2mN", "a b#c\"d!e&f;g|h<i>j(k)l*m?n[o]p{q}r~s%t^u"] {
            check_value(good).unwrap();
        }
        assert!(check_value("a\nb").unwrap_err().contains("a newline"));
    }
}
