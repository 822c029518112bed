//! UTC timestamps in the two forms bkenv writes: readable (lock holders) and compact
//! (backup directory names), and durations as users type them (`--within 30d`). The
//! time is always passed in; nothing here reads a clock.

use time::OffsetDateTime;

/// `2026-11-23T12:00:00Z`.
pub fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `20261123T120000Z`: sorts by time, and is a valid file name everywhere.
pub fn compact(t: OffsetDateTime) -> String {
    iso(t).replace(['-', ':'], "")
}

/// A duration as users type it: a whole number with `d` (days), `w` (weeks) or `h`
/// (hours), e.g. `30d`, `2w`, `36h`. At most 100 years.
pub fn parse_duration(text: &str) -> Result<time::Duration, String> {
    let bad = || format!("`{text}` is not a duration like 30d, 2w or 12h");
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let hours = match unit {
        "h" => 1,
        "d" => 24,
        "w" => 24 * 7,
        _ => return Err(bad()),
    };
    let total = n
        .checked_mul(hours)
        .filter(|h| *h <= 100 * 366 * 24)
        .ok_or_else(|| format!("`{text}` is longer than 100 years"))?;
    Ok(time::Duration::hours(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_users_type_them() {
        assert_eq!(parse_duration("30d"), Ok(time::Duration::days(30)));
        assert_eq!(parse_duration("2w"), Ok(time::Duration::days(14)));
        assert_eq!(parse_duration("36h"), Ok(time::Duration::hours(36)));
        assert_eq!(parse_duration("0d"), Ok(time::Duration::ZERO));
        for bad in [
            "",
            "30",
            "d",
            "-3d",
            "3.5d",
            "30 days",
            "1y",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("40000d").is_err());
    }

    #[test]
    fn formats_in_utc() {
        let t = time::macros::datetime!(2026-11-23 13:04:05 +01:00);
        assert_eq!(iso(t), "2026-11-23T12:04:05Z");
        assert_eq!(compact(t), "20261123T120405Z");
    }
}
