//! Words for POSIX shell commands bkenv prints to be pasted.

/// `text` as one POSIX shell word: as is when it holds only characters no shell treats
/// specially, else single-quoted.
pub(crate) fn quote(text: &str) -> String {
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-:+@%,=".contains(&b));
    if plain && !text.is_empty() {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("/tmp/env-1"), "/tmp/env-1");
        assert_eq!(quote("my env"), "'my env'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote(""), "''");
    }
}
