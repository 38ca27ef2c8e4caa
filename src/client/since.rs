//! `--since` as people write it: `10m` (ago), `14:05` (today), an RFC 3339
//! time, or any form the wire accepts, all read in the user's own zone;
//! turned into the seed's wire form (a local time) and, for huddle's
//! servers, the same instant in UTC, which is right whatever zone the
//! server keeps.

use crate::protocol::timestamp::{self, BadTimestamp};
use chrono::{DateTime, Local, TimeZone, Utc};
use std::time::Duration;

/// Where a history read starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Since {
    /// The seed's `timestamp`: a local time, as the server reads it.
    pub timestamp: String,
    /// huddle's `since_utc`: the instant meant, when the user's zone is known.
    pub utc: Option<String>,
}

impl Since {
    /// A timestamp given in the seed's own form (`get_messages IP:PORT
    /// TIMESTAMP`), meant in the server's local time, as the seed meant it.
    pub fn wire(text: &str) -> Result<Since, BadTimestamp> {
        Ok(Since { timestamp: timestamp::normalize(text)?, utc: None })
    }

    fn at(at: DateTime<Local>) -> Since {
        let timestamp = at.naive_local().format("%Y-%m-%dT%H:%M:%S").to_string();
        Since { timestamp, utc: Some(timestamp::render_utc(at.with_timezone(&Utc).timestamp_micros())) }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "--since {0:?} is not understood: use a duration ago (30s, 10m, 2h, 1d), a time today (14:05), \
     an RFC 3339 time (2026-11-25T14:05:00Z) or YYYY-MM-DDTHH:MM:SS"
)]
pub struct BadSince(pub String);

/// Where `text` starts, relative to `now`, read in the user's zone.
pub fn parse(text: &str, now: DateTime<Local>) -> Result<Since, BadSince> {
    let text = text.trim();
    let bad = || BadSince(text.to_owned());
    if let Some(ago) = duration_ago(text) {
        return Ok(Since::at(now - chrono::Duration::from_std(ago).map_err(|_| bad())?));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Since::at(at.with_timezone(&Local)));
    }
    let with_seconds =
        if text.len() == 5 && text.as_bytes().get(2) == Some(&b':') { format!("{text}:00") } else { text.to_owned() };
    let local = timestamp::normalize(&with_seconds).map_err(|_| bad())?;
    let naive = chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad())?;
    let at = Local.from_local_datetime(&naive).earliest().ok_or_else(bad)?;
    Ok(Since::at(at))
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
        let wire = |text| parse(text, now).unwrap().timestamp;
        assert_eq!(wire("10m"), "2026-11-25T11:50:00");
        assert_eq!(wire("1d"), "2026-11-24T12:00:00");
        let today = Local::now().date_naive().format("%Y-%m-%d");
        assert_eq!(wire("14:05"), format!("{today}T14:05:00"));
        assert_eq!(wire("2026-11-25 10:00:00"), "2026-11-25T10:00:00");
        assert_eq!(wire("2026-11-25T10:00:00Z").len(), "YYYY-MM-DDTHH:MM:SS".len());
        let utc = parse("2026-11-25T10:00:00+09:00", now).unwrap().utc.unwrap();
        assert_eq!(utc, "2026-11-25T01:00:00.000000Z", "the instant meant, in UTC");
        assert!(parse("yesterday", now).unwrap_err().to_string().contains("10m"));
        assert!(parse("10x", now).is_err());
    }
}
