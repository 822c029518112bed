//! Words for POSIX shell commands bkenv prints to be pasted.

use std::borrow::Cow;

/// `text` as one POSIX shell word: as is when no shell treats any of its characters
/// specially, else quoted (shlex). A path cannot hold the one character, NUL, that
/// cannot be quoted; such text is still single-quoted, never left bare.
pub(crate) fn quote(text: &str) -> String {
    // try_quote refuses only a NUL, which no sh word can hold: single quotes then, so
    // the rest is never read as syntax (sh stops the word at the NUL).
    shlex::try_quote(text).map_or_else(
        |_| format!("'{}'", text.replace('\'', r"'\''")),
        Cow::into_owned,
    )
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("/tmp/env-1"), "/tmp/env-1");
        assert_eq!(quote("my env"), "'my env'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a\0;b"), "'a\0;b'");
        // Whatever the quoting, sh reads it back as the one word it was.
        for word in ["it's", "a \"b\" c", "x;rm -rf /", "`id`", "tab\there"] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", quote(word))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
        }
    }
}
