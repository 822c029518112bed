//! "Did you mean" suggestions for misspelled keys, shared by the spec loader and doctor.

/// The closest candidate to `input`, if it is close enough to be a plausible typo.
/// Case-insensitive equality wins outright, since BuildKit versions disagree on case.
pub fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(input)) {
        return Some(exact);
    }
    let lower = input.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (levenshtein(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
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
