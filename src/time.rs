//! Instants and durations as bedkey reads and prints them.
//!
//! Instants are whole seconds since the Unix epoch (`i64`): keys carry second
//! precision, and plain integers keep the metadata file and JSON output simple.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};

use crate::error::{Error, Result};

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `2025-07-15T05:00:00Z`
pub fn rfc3339(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// An instant as a user or a file gives it: RFC 3339 in UTC (`2026-12-31T12:00:00Z`)
/// or a bare date (`2026-12-31`, meaning its start in UTC).
pub fn parse_instant(text: &str) -> Result<i64> {
    let text = text.trim();
    let full = if text.len() == 10 && text.as_bytes().get(4) == Some(&b'-') {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    // Years 1 to 9999: what RFC 3339 can write back.
    const RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;
    DateTime::from_str(&full, Format::DateTime)
        .map(|d| d.secs())
        .ok()
        .filter(|s| RANGE.contains(s))
        .ok_or_else(|| {
            Error::usage(format!(
                "'{text}' is not a date: use YYYY-MM-DD or RFC 3339 (2026-12-31T12:00:00Z)"
            ))
        })
}

/// SigV4's basic ISO 8601 form, `20250715T050000Z`, as found in `X-Amz-Date`.
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    if !text[..8]
        .bytes()
        .chain(text[9..15].bytes())
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    DateTime::from_str(&rfc, Format::DateTime)
        .ok()
        .map(|d| d.secs())
}

/// A lifetime as the contract writes it: `900` (seconds), `900s`, `15m`, `2h`, or any
/// compound humantime accepts (`1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let bad = || {
        Error::usage(format!(
            "'{text}' is not a duration: use seconds (900) or a unit (900s, 15m, 2h)"
        ))
    };
    if text.is_empty() {
        return Err(bad());
    }
    if text.bytes().all(|c| c.is_ascii_digit()) {
        return text.parse().map(Duration::from_secs).map_err(|_| bad());
    }
    humantime::parse_duration(text).map_err(|_| bad())
}

/// A duration for people, to the two largest units: `11h 59m`, `4m 10s`, `3d 2h`.
pub fn human(secs: i64) -> String {
    let secs = secs.unsigned_abs();
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, unit) in units {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 || (!parts.is_empty() && rest == 0) {
            break;
        }
    }
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

/// The first `n` characters of an RFC 3339 time (`..10`: the date), or all of it.
pub fn prefix(text: &str, n: usize) -> &str {
    text.get(..n).unwrap_or(text)
}

/// "in 3h 2m" or "3h 2m ago".
pub fn relative(at: i64, now: i64) -> String {
    if at == now {
        "just now".to_string()
    } else if at > now {
        format!("in {}", human(at.saturating_sub(now)))
    } else {
        format!("{} ago", human(now.saturating_sub(at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_contract_form() {
        assert_eq!(parse_duration("900").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("900s").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43200));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
    }

    #[test]
    fn malformed_durations_are_usage_errors() {
        for bad in ["", "abc", "-5", "5x", "h", "12 parsecs"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::Kind::Usage, "{bad}");
        }
    }

    #[test]
    fn amz_dates_parse_and_reject_garbage() {
        assert_eq!(parse_amz_date("20250715T050000Z"), Some(1_752_555_600));
        assert_eq!(rfc3339(1_752_555_600), "2025-07-15T05:00:00Z");
        assert_eq!(parse_amz_date("2025-07-15T05:00:00Z"), None);
        assert_eq!(parse_amz_date("20251315T050000Z"), None);
        assert_eq!(parse_amz_date("2025071XT050000Z"), None);
    }

    #[test]
    fn instants_accept_dates_and_rfc3339() {
        assert_eq!(parse_instant("2025-07-15").unwrap(), 1_752_537_600);
        assert_eq!(
            parse_instant("2025-07-15T05:00:00Z").unwrap(),
            1_752_555_600
        );
        assert!(parse_instant("15/07/2025").is_err());
        assert!(parse_instant("0000-01-01").is_err());
        assert_eq!(prefix(&rfc3339(0), 10), "1970-01-01");
        assert_eq!(prefix("short", 10), "short");
    }

    #[test]
    fn human_durations_keep_two_units() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(59), "59s");
        assert_eq!(human(3600), "1h");
        assert_eq!(human(43_199), "11h 59m");
        assert_eq!(human(86_400 * 3 + 7_200 + 5), "3d 2h");
        assert_eq!(relative(100, 40), "in 1m");
        assert_eq!(relative(40, 100), "1m ago");
    }
}
