//! UTC timestamps in the two forms bkenv writes: readable (lock holders) and compact
//! (backup directory names). The time is always passed in; nothing here reads a clock.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_utc() {
        let t = time::macros::datetime!(2026-11-23 13:04:05 +01:00);
        assert_eq!(iso(t), "2026-11-23T12:04:05Z");
        assert_eq!(compact(t), "20261123T120405Z");
    }
}
