//! `--since` as people write it: `10m` (ago), `14:05` (today), an RFC 3339
//! time, or any form the wire accepts; turned into the seed's wire form, in
//! this machine's local time.

use crate::protocol::timestamp;
use chrono::{DateTime, Local};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "--since {0:?} is not understood: use a duration ago (30s, 10m, 2h, 1d), a time today (14:05), \
     an RFC 3339 time (2026-11-25T14:05:00Z) or YYYY-MM-DDTHH:MM:SS"
)]
pub struct BadSince(pub String);

/// The wire timestamp for `text`, relative to `now`.
pub fn parse(text: &str, now: DateTime<Local>) -> Result<String, BadSince> {
    let text = text.trim();
    let bad = || BadSince(text.to_owned());
    if let Some(ago) = duration_ago(text) {
        let at = now - chrono::Duration::from_std(ago).map_err(|_| bad())?;
        return Ok(at.naive_local().format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Local).naive_local().format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    let with_seconds =
        if text.len() == 5 && text.as_bytes().get(2) == Some(&b':') { format!("{text}:00") } else { text.to_owned() };
    timestamp::normalize(&with_seconds).map_err(|_| bad())
}

fn duration_ago(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(number * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_form_becomes_the_wire_form() {
        let now = Local.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        assert_eq!(parse("10m", now).unwrap(), "2026-11-25T11:50:00");
        assert_eq!(parse("1d", now).unwrap(), "2026-11-24T12:00:00");
        let today = Local::now().date_naive().format("%Y-%m-%d");
        assert_eq!(parse("14:05", now).unwrap(), format!("{today}T14:05:00"));
        assert_eq!(parse("2026-11-25 10:00:00", now).unwrap(), "2026-11-25T10:00:00");
        let rfc = parse("2026-11-25T10:00:00Z", now).unwrap();
        assert_eq!(rfc.len(), "YYYY-MM-DDTHH:MM:SS".len());
        assert!(parse("yesterday", now).unwrap_err().to_string().contains("10m"));
        assert!(parse("10x", now).is_err());
    }
}
