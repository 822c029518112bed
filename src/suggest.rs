//! "Did you mean" suggestions for misspelled keys, shared by the spec loader and doctor.

/// The closest candidate to `input`, if it is close enough to be a plausible typo.
/// Case-insensitive equality wins outright, since BuildKit versions disagree on case.
pub fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(input)) {
        return Some(exact);
    }
    candidates
        .iter()
        .map(|c| (distance(input, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Case-insensitive edit distance (Levenshtein).
pub fn distance(a: &str, b: &str) -> usize {
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
    use super::did_you_mean;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["address", "debugAddress", "uid", "gid", "tls"];
        assert_eq!(did_you_mean("adress", &keys), Some("address"));
        assert_eq!(did_you_mean("Address", &keys), Some("address"));
        assert_eq!(did_you_mean("debugaddress", &keys), Some("debugAddress"));
        assert_eq!(did_you_mean("something", &keys), None);
    }
}
