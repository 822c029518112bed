//! How BuildKit reads sizes and durations, and how go-toml prints values, reproduced
//! from the Go code at the release tags (`cmd/buildkitd/config/gcpolicy.go`: `DiskSpace`
//! and `Duration` `UnmarshalText`; docker/go-units v0.5.0 `RAMInBytes`; Go's
//! `time.ParseDuration`, `strconv.ParseInt` and `fmt`'s `%v`).

/// A `DiskSpace` as BuildKit stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiskSpace {
    Bytes(i64),
    Percent(i64),
    /// An empty string: the field stays unset.
    Unset,
}

/// `DiskSpace.UnmarshalText`: `"N%"`, else `units.RAMInBytes` (binary units, `b`
/// optional), else `invalid disk space TEXT`. Errs with the cause text BuildKit prints.
pub(crate) fn disk_space(text: &str) -> Result<DiskSpace, String> {
    let text = strip_quotes(text);
    if text.is_empty() {
        return Ok(DiskSpace::Unset);
    }
    if let Some(num) = text.strip_suffix('%') {
        return parse_int(num).map(DiskSpace::Percent);
    }
    ram_in_bytes(text)
        .map(DiskSpace::Bytes)
        .ok_or_else(|| format!("invalid disk space {text}"))
}

/// `Duration.UnmarshalText`: `time.ParseDuration`, else an integer number of seconds
/// (multiplied in int64 nanoseconds, so large numbers wrap), else `invalid duration`.
/// `Ok(None)` is an empty string (unset); `Ok(Some((ns, seconds)))` tells whether the
/// value was read as a bare number of seconds.
pub(crate) fn duration(text: &str) -> Result<Option<(i64, Option<i64>)>, String> {
    let text = strip_quotes(text);
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(ns) = parse_duration(text) {
        return Ok(Some((ns, None)));
    }
    match parse_int(text) {
        Ok(s) => Ok(Some((s.wrapping_mul(1_000_000_000), Some(s)))),
        Err(_) => Err(format!("invalid duration {text}")),
    }
}

fn strip_quotes(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// `strconv.ParseInt(s, 10, 64)` with Go's error text.
fn parse_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// go-units `RAMInBytes`: a number, an optional space, and an optional suffix `b`,
/// `k|m|g|t|p` with an optional `b` or `ib` (case-insensitive, all binary).
fn ram_in_bytes(s: &str) -> Option<i64> {
    let sep = s.rfind(|c: char| "0123456789. ".contains(c))?;
    let (num, sfx) = if s.as_bytes().get(sep) == Some(&b' ') {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size = parse_float(num)?;
    if size < 0.0 {
        return None;
    }
    if sfx.is_empty() {
        return Some(size as i64);
    }
    if sfx.len() > 3 {
        return None;
    }
    let sfx = sfx.to_ascii_lowercase();
    let mut chars = sfx.chars();
    let first = chars.next()?;
    if first == 'b' {
        return (sfx.len() == 1).then_some(size as i64);
    }
    let mul: f64 = match first {
        'k' => 1024.0,
        'm' => 1024.0 * 1024.0,
        'g' => 1024.0 * 1024.0 * 1024.0,
        't' => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        'p' => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let rest: String = chars.collect();
    match rest.as_str() {
        "" | "b" | "ib" => Some((size * mul) as i64),
        _ => None,
    }
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms (hexadecimal floats, which need a
/// `p` exponent, are rare enough to be left out: they read as invalid here).
fn parse_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if lower.starts_with("0x") || lower.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// `time.ParseDuration`, in nanoseconds; `None` where Go returns an error.
fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let first = rest.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return None;
        }
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let whole: u64 = if int_len == 0 {
            0
        } else {
            let v: u64 = rest[..int_len].parse().ok()?;
            if v > 1 << 63 {
                return None;
            }
            v
        };
        rest = &rest[int_len..];
        let mut frac = 0.0f64;
        let mut post = false;
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            post = n > 0;
            if n > 0 {
                frac = format!("0.{}", &after[..n]).parse().unwrap_or(0.0);
            }
            rest = &after[n..];
        }
        if int_len == 0 && !post {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        if unit_len == 0 {
            return None;
        }
        let unit: u64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        if whole > (1u64 << 63) / unit {
            return None;
        }
        let mut v = whole * unit;
        if frac > 0.0 {
            v = v.checked_add((frac * unit as f64) as u64)?;
            if v > 1 << 63 {
                return None;
            }
        }
        total = total.checked_add(v)?;
        if total > 1 << 63 {
            return None;
        }
    }
    if neg {
        return Some((total as i64).wrapping_neg());
    }
    i64::try_from(total).ok()
}

/// A duration in words, for messages: `48h`, `7 days`, `160 years`.
pub(crate) fn human_duration(ns: i64) -> String {
    let s = ns / 1_000_000_000;
    let abs = s.unsigned_abs();
    let sign = if s < 0 { "-" } else { "" };
    let (n, unit) = match abs {
        a if a >= 365 * 86_400 => (a / (365 * 86_400), "year"),
        a if a >= 86_400 => (a / 86_400, "day"),
        a if a >= 3_600 => (a / 3_600, "hour"),
        a if a >= 60 => (a / 60, "minute"),
        a => (a, "second"),
    };
    format!("{sign}{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A byte count in words, as BuildKit's `debug workers` prints it (decimal units).
pub(crate) fn human_bytes(b: i64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{}", UNITS[i])
}

/// Go's `%v` of a float64 (`%g` with the shortest precision: `4`, `1.5`, `1e+06`).
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Shortest digits and decimal exponent, from Rust's shortest round-trip `{:e}`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut eprec = 6;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let sign = if neg { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    if dp <= 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-dp) as usize));
    }
    let dp = dp as usize;
    if dp >= digits.len() {
        format!("{sign}{digits}{}", "0".repeat(dp - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..dp], &digits[dp..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_space_as_buildkit_reads_it() {
        assert_eq!(disk_space("10240"), Ok(DiskSpace::Bytes(10240)));
        assert_eq!(disk_space("10GB"), Ok(DiskSpace::Bytes(10 << 30)));
        assert_eq!(disk_space("10 gib"), Ok(DiskSpace::Bytes(10 << 30)));
        assert_eq!(disk_space("512M"), Ok(DiskSpace::Bytes(512 << 20)));
        assert_eq!(disk_space("1.5"), Ok(DiskSpace::Bytes(1)));
        assert_eq!(disk_space("20%"), Ok(DiskSpace::Percent(20)));
        assert_eq!(disk_space(""), Ok(DiskSpace::Unset));
        assert_eq!(disk_space("10Gi"), Err("invalid disk space 10Gi".into()));
        assert_eq!(disk_space("-5"), Err("invalid disk space -5".into()));
        assert_eq!(disk_space("true"), Err("invalid disk space true".into()));
        assert_eq!(
            disk_space("10.5%"),
            Err("strconv.ParseInt: parsing \"10.5\": invalid syntax".into())
        );
    }

    #[test]
    fn durations_as_buildkit_reads_them() {
        let h = 3_600_000_000_000;
        assert_eq!(duration("48h"), Ok(Some((48 * h, None))));
        assert_eq!(duration("1h30m"), Ok(Some((h + h / 2, None))));
        assert_eq!(duration("1.5h"), Ok(Some((h + h / 2, None))));
        assert_eq!(
            duration("172800"),
            Ok(Some((172_800_000_000_000, Some(172_800))))
        );
        assert_eq!(duration("0"), Ok(Some((0, None))));
        assert_eq!(duration("7d"), Err("invalid duration 7d".into()));
        assert_eq!(duration("1.5"), Err("invalid duration 1.5".into()));
        // The real daemon (v0.23.2) shows 1402444h15m58.640717824s for this value.
        let (ns, secs) = duration("604800000000000").unwrap().unwrap();
        assert_eq!(secs, Some(604_800_000_000_000));
        assert_eq!(ns, 5_048_799_358_640_717_824);
        assert_eq!(human_duration(ns), "160 years");
    }

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(go_float(4.0), "4");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(123456789.0), "1.23456789e+08");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(human_bytes(10240), "10.24kB");
        assert_eq!(human_bytes(10_737_418_240), "10.74GB");
    }
}
