//! "Did you mean": close catalog codes and slugs for a name the user mistyped.

use crate::catalog;
use crate::suggest::distance;

/// Up to three catalog entries whose code or slug is closest to `given` (ties in code order),
/// each as `BK201 (slug)`; `extra` names (such as `warnings`) are candidates too.
pub(crate) fn close_names(given: &str, extra: &[&'static str]) -> Vec<String> {
    let limit = (given.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, String)> = Vec::new();
    for meta in catalog::all() {
        let d = distance(given, meta.code).min(distance(given, meta.slug));
        if d <= limit {
            scored.push((d, format!("{} ({})", meta.code, meta.slug)));
        }
    }
    for name in extra {
        let d = distance(given, name);
        if d <= limit {
            scored.push((d, (*name).to_string()));
        }
    }
    scored.sort();
    // Only the closest: `BK2O1` suggests `BK201`, not every code one more edit away.
    let best = scored.first().map_or(0, |(d, _)| *d);
    scored
        .into_iter()
        .take_while(|(d, _)| *d == best)
        .take(3)
        .map(|(_, s)| s)
        .collect()
}

/// `; did you mean `A` or `B`?`, or a pointer to the full list when nothing is close.
pub(crate) fn did_you_mean(close: &[String]) -> String {
    match close {
        [] => "; run `bkenv explain --all` to list the checks".to_string(),
        [one] => format!("; did you mean `{one}`?"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|s| format!("`{s}`")).collect();
            format!("; did you mean {} or `{last}`?", init.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("BK900", "bk900"), 0);
        assert_eq!(distance("BK90", "BK900"), 1);
        assert_eq!(distance("check-fialed", "check-failed"), 2);
    }

    #[test]
    fn suggests_close_codes_and_slugs() {
        assert_eq!(close_names("BK9O0", &[]), ["BK900 (file-unreadable)"]);
        assert_eq!(
            close_names("file-unreadabl", &[]),
            ["BK900 (file-unreadable)"]
        );
        assert_eq!(close_names("warning", &["warnings"]), ["warnings"]);
        assert!(close_names("zzzzzzzzzzzz", &[]).is_empty());
    }
}
