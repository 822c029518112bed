//! htpasswd entries: what a username may contain, writing an entry, and verifying one
//! within a bounded time.

use crate::error::{Error, Result};

/// The highest bcrypt cost bkenv verifies. Each step doubles the work: cost 14 takes
/// about a second, cost 31 would take days. An entry above the cap is not verified, and
/// doctor reports it (BK409): the registry spends as long on every request it checks.
pub const MAX_VERIFY_COST: u32 = 14;

/// The costs Go's `golang.org/x/crypto/bcrypt` accepts (`MinCost`, `MaxCost`): the
/// registry (distribution's htpasswd) rejects every password against a hash outside them.
pub const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// Outcome of [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    Match,
    NoMatch,
    /// Not a bcrypt hash bkenv can read.
    Unreadable,
    /// A bcrypt hash whose cost is above [`MAX_VERIFY_COST`]; not verified.
    TooCostly(u32),
    /// A bcrypt hash whose cost is outside [`BCRYPT_COSTS`]: no password verifies.
    OutOfRange(u32),
}

/// Verifies `password` against a bcrypt `hash` unless its cost is above the cap.
pub fn verify(password: &str, hash: &str) -> Verify {
    let Some(cost) = cost(hash) else {
        return Verify::Unreadable;
    };
    if !BCRYPT_COSTS.contains(&cost) {
        return Verify::OutOfRange(cost);
    }
    if cost > MAX_VERIFY_COST {
        return Verify::TooCostly(cost);
    }
    match bcrypt::verify(password, hash) {
        Ok(true) => Verify::Match,
        Ok(false) => Verify::NoMatch,
        Err(_) => Verify::Unreadable,
    }
}

/// The cost of a `$2a$`/`$2b$`/`$2x$`/`$2y$` hash.
pub fn cost(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    let (Some(""), Some(version), Some(cost)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if !matches!(version, "2a" | "2b" | "2x" | "2y") || cost.len() != 2 {
        return None;
    }
    cost.parse().ok()
}

/// One htpasswd line; the registry accepts only bcrypt (`$2y$`), any other hash is
/// ignored. The username must have passed [`check_username`].
pub fn line(username: &str, password: &str, cost: u32) -> Result<String> {
    let hash = bcrypt::hash_with_result(password, cost)
        .map_err(Error::Bcrypt)?
        .format_for_version(bcrypt::Version::TwoY);
    Ok(format!("{username}:{hash}\n"))
}

/// A username lands in htpasswd (`user:hash`, one per line), `config.json` and `.env`:
/// it must be a value `.env` carries safely ([`crate::dotenv::check_value`]), and must
/// not contain `:` (the htpasswd separator), whitespace, or start with `#` (a comment
/// line for htpasswd readers).
pub fn check_username(field: &str, username: &str) -> Result<()> {
    let bad = |why: String| Error::invalid(field, why);
    if username.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    crate::dotenv::check_value(username).map_err(|why| bad(format!("the username {why}")))?;
    if let Some(c) = username.chars().find(|c| *c == ':' || c.is_whitespace()) {
        return Err(bad(format!(
            "the username contains {}; htpasswd separates user and hash with `:`, one entry per line",
            crate::dotenv::describe_char(c)
        )));
    }
    if username.starts_with('#') {
        return Err(bad(
            "the username starts with `#`, which htpasswd reads as a comment".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_above_the_cap_are_not_verified() {
        // Cost 31 would take days; the answer must come at once.
        let hash = "$2y$31$abcdefghijklmnopqrstuu5lIfbEBX7Txfg.vBQHeH8DmLZS3KbA.";
        assert_eq!(cost(hash), Some(31));
        assert_eq!(verify("x", hash), Verify::TooCostly(31));
        let (over, under) = (hash.replace("$31$", "$32$"), hash.replace("$31$", "$03$"));
        assert_eq!(verify("x", &over), Verify::OutOfRange(32));
        assert_eq!(verify("x", &under), Verify::OutOfRange(3));
        let ok = line("u", "pw", 4).unwrap();
        let h = ok.trim_end().split_once(':').unwrap().1;
        assert_eq!(verify("pw", h), Verify::Match);
        assert_eq!(verify("no", h), Verify::NoMatch);
        assert_eq!(verify("pw", "{SHA}x"), Verify::Unreadable);
    }

    #[test]
    fn usernames_that_would_split_or_comment_an_entry_are_refused() {
        for bad in ["a:b", "a\nb", "a b", "#a", "", "a'b", "a$b"] {
            assert!(check_username("u", bad).is_err(), "{bad:?}");
        }
        for good in ["bkenv", "ci-bot", "user@example.com", "a.b_c+d"] {
            check_username("u", good).unwrap();
        }
    }
}
