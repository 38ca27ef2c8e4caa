//! Time on the wire, in one place.
//!
//! huddle keeps time as UTC microseconds since the Unix epoch ([`Micros`]).
//! The seed puts the server's *local* time on the wire in Python's
//! `datetime.isoformat()` form, `YYYY-MM-DDTHH:MM:SS.ffffff` with no zone (the
//! fraction left out when it is zero), and reads the `getMessage` filter the
//! same way. This module converts between the two.

use chrono::{DateTime, Datelike, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};

/// UTC microseconds since the Unix epoch.
pub type Micros = i64;

/// The forms a `getMessage` timestamp may take, for error messages.
pub const ACCEPTED_FORMS: &str = "null, \"YYYY-MM-DDTHH:MM:SS\" (optionally with a fraction \
     \".ffffff\", or a space instead of \"T\"), or \"HH:MM:SS\" for today, all in the server's local time";

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("timestamp {given:?} is not understood: use {ACCEPTED_FORMS}")]
pub struct BadTimestamp {
    pub given: String,
}

/// The current time.
pub fn now() -> Micros {
    Utc::now().timestamp_micros()
}

/// Renders `micros` as the seed does: local time, `isoformat()`.
pub fn render(micros: Micros) -> String {
    // Field by field rather than through a strftime pattern: this runs for
    // every message of every history read.
    let local = Local.from_utc_datetime(&utc(micros).naive_utc()).naive_local();
    let (date, time) = (local.date(), local.time());
    let whole = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        date.month(),
        date.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    match micros.rem_euclid(1_000_000) {
        0 => whole,
        fraction => format!("{whole}.{fraction:06}"),
    }
}

/// `micros` in UTC, RFC 3339 with microseconds: huddle's `utc` field, right
/// whatever zone the server and the reader are in.
pub fn render_utc(micros: Micros) -> String {
    utc(micros).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads an RFC 3339 time (huddle's `since_utc`), in any zone.
pub fn parse_utc(text: &str) -> Result<Micros, BadTimestamp> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc).timestamp_micros())
        .map_err(|_| BadTimestamp { given: text.to_owned() })
}

/// Reads a timestamp in any accepted form (see [`ACCEPTED_FORMS`]) as local
/// time. `HH:MM:SS` means that time today.
pub fn parse(text: &str) -> Result<Micros, BadTimestamp> {
    let naive = parse_local(text).ok_or_else(|| BadTimestamp { given: text.to_owned() })?;
    // A local time that a clock change skipped or repeated: take the earliest.
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|local| local.with_timezone(&Utc).timestamp_micros())
        .ok_or_else(|| BadTimestamp { given: text.to_owned() })
}

/// Rewrites a timestamp in any accepted form into the one form the seed's
/// server can read (`YYYY-MM-DDTHH:MM:SS[.ffffff]`), filling in today's date.
pub fn normalize(text: &str) -> Result<String, BadTimestamp> {
    let naive = parse_local(text).ok_or_else(|| BadTimestamp { given: text.to_owned() })?;
    let fraction = naive.and_utc().timestamp_subsec_micros();
    let whole = naive.format("%Y-%m-%dT%H:%M:%S");
    Ok(if fraction == 0 { whole.to_string() } else { format!("{whole}.{fraction:06}") })
}

fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive);
        }
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M:%S%.f").ok()?;
    let today: NaiveDate = Local::now().date_naive();
    Some(today.and_time(time))
}

fn utc(micros: Micros) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_parse_round_trip() {
        let t = 1_764_000_000_123_456;
        assert_eq!(parse(&render(t)).unwrap(), t);
        let rendered = render(t);
        assert_eq!(rendered.len(), "YYYY-MM-DDTHH:MM:SS.ffffff".len());
    }

    #[test]
    fn render_matches_the_strftime_form() {
        for t in [0, 1_764_000_000_123_456, 1_764_000_000_000_000, 951_782_400_000_001] {
            let local = Local.from_utc_datetime(&utc(t).naive_utc());
            let expected = local.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
            assert_eq!(render(t), expected.trim_end_matches(".000000"));
        }
    }

    #[test]
    fn whole_seconds_render_without_fraction_like_isoformat() {
        assert_eq!(render(1_764_000_000_000_000).len(), "YYYY-MM-DDTHH:MM:SS".len());
    }

    #[test]
    fn accepts_every_documented_form() {
        let t = parse("2026-11-25T10:11:12").unwrap();
        assert_eq!(parse("2026-11-25 10:11:12").unwrap(), t);
        assert_eq!(parse("2026-11-25T10:11:12.000001").unwrap(), t + 1);
        assert_eq!(parse("2026-11-25T10:11:12.5").unwrap(), t + 500_000);
        let today = Local::now().date_naive().format("%Y-%m-%d");
        assert_eq!(parse("10:11:12").unwrap(), parse(&format!("{today}T10:11:12")).unwrap());
    }

    #[test]
    fn refuses_other_forms_with_the_list_of_accepted_ones() {
        for bad in ["", "yesterday", "2026-11-25", "25/11/2026 10:00:00", "10:11"] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(error.contains("HH:MM:SS"), "{error}");
        }
    }

    #[test]
    fn normalize_gives_the_seed_form() {
        assert_eq!(normalize("2026-11-25 10:11:12").unwrap(), "2026-11-25T10:11:12");
        assert_eq!(normalize("2026-11-25T10:11:12.25").unwrap(), "2026-11-25T10:11:12.250000");
        let today = Local::now().date_naive().format("%Y-%m-%d");
        assert_eq!(normalize("10:11:12").unwrap(), format!("{today}T10:11:12"));
    }
}
