//! "Did you mean": the one place bkenv guesses what a mistyped name meant, for spec keys,
//! buildkitd.toml keys, and check codes or slugs on the command line.

/// The closest candidate to `input`, if it is close enough to be a plausible typo, or a
/// candidate the input abbreviates (`addr` for `address`). Case-insensitive equality
/// wins outright, since BuildKit versions disagree on case.
pub(crate) fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(input)) {
        return Some(exact);
    }
    let typo = candidates
        .iter()
        .map(|c| (distance(input, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    typo.or_else(|| {
        let lower = input.to_ascii_lowercase();
        candidates
            .iter()
            .find(|c| lower.len() >= 3 && c.to_ascii_lowercase().starts_with(&lower))
            .copied()
    })
}

/// The labels whose names are closest to `given` (up to three, ties in the order
/// given), when within a third of its length (at least 2 edits). Each candidate is a
/// label and the names it answers to, e.g. `("BK201 (registry-ca-not-trusted)",
/// ["BK201", "registry-ca-not-trusted"])`.
pub(crate) fn closest<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = (String, Vec<&'a str>)>,
) -> Vec<String> {
    let limit = (given.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .filter_map(|(label, names)| {
            let d = names.iter().map(|n| distance(given, n)).min()?;
            (d <= limit).then_some((d, label))
        })
        .collect();
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

/// `did you mean `A`?` or `did you mean `A`, `B` or `C`?`; `None` when nothing is close.
pub(crate) fn phrase(close: &[String]) -> Option<String> {
    match close {
        [] => None,
        [one] => Some(format!("did you mean `{one}`?")),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|s| format!("`{s}`")).collect();
            Some(format!("did you mean {} or `{last}`?", init.join(", ")))
        }
    }
}

/// Case-insensitive edit distance (Levenshtein).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a = a.to_lowercase();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["address", "debugAddress", "uid", "gid", "tls"];
        assert_eq!(did_you_mean("adress", &keys), Some("address"));
        assert_eq!(did_you_mean("Address", &keys), Some("address"));
        assert_eq!(did_you_mean("debugaddress", &keys), Some("debugAddress"));
        assert_eq!(did_you_mean("addr", &keys), Some("address"));
        assert_eq!(did_you_mean("something", &keys), None);
        assert_eq!(did_you_mean("zzz", &keys), None);
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("BK900", "bk900"), 0);
        assert_eq!(distance("BK90", "BK900"), 1);
        assert_eq!(distance("check-fialed", "check-failed"), 2);
    }

    #[test]
    fn closest_keeps_only_the_best_ties() {
        let c = || {
            [
                ("BK201 (a)".to_string(), vec!["BK201", "a"]),
                ("BK202 (b)".to_string(), vec!["BK202", "b"]),
                ("warnings".to_string(), vec!["warnings"]),
            ]
        };
        assert_eq!(closest("BK2O1", c()), ["BK201 (a)"]);
        assert_eq!(closest("BK20", c()), ["BK201 (a)", "BK202 (b)"]);
        assert_eq!(closest("warning", c()), ["warnings"]);
        assert!(closest("zzzzzzzzzzzz", c()).is_empty());
        assert_eq!(
            phrase(&["A".into(), "B".into(), "C".into()]).unwrap(),
            "did you mean `A`, `B` or `C`?"
        );
    }
}
