//! The text forms of dates and timestamps (the proleptic Gregorian
//! calendar PostgreSQL uses; the day arithmetic is the partitions').

use std::fmt::Write;

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// (year, month, day) of a day counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // gridkit_timeseries counts from 2000-01-01, as PostgreSQL does.
    let (y, m, d) = gridkit_timeseries::partition::civil_from_days(days - 10_957);
    (y, m as u32, d as u32)
}

/// A date as PostgreSQL writes it in ISO style: `2026-12-08`, or
/// `0044-03-15 BC` (year 0 is 1 BC).
pub fn write_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    let _ = write!(out, "{year:04}-{m:02}-{d:02}");
    if bc {
        out.push_str(" BC");
    }
}

/// A timestamp (microseconds from 1970-01-01 00:00) as
/// `2026-12-08 01:02:03.456789`; with `zone`, followed by `+00`. `t`
/// joins date and time (ISO 8601 for JSON) instead of a space.
pub fn write_timestamp(out: &mut String, micros: i64, zone: bool, t: bool) {
    let days = micros.div_euclid(DAY_MICROS);
    let of_day = micros.rem_euclid(DAY_MICROS);
    let (y, m, d) = civil_from_days(days);
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    let secs = of_day / 1_000_000;
    let frac = of_day % 1_000_000;
    let sep = if t { 'T' } else { ' ' };
    let _ = write!(out, "{year:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let _ = write!(out, ".{frac:06}");
    }
    if zone {
        out.push_str(if t { "+00:00" } else { "+00" });
    }
    if bc {
        out.push_str(" BC");
    }
}

/// An instant (microseconds from 1970-01-01 UTC) for a file name:
/// `20261208T010203Z` (seconds; partition bounds have no fractions).
pub fn file_stamp(micros: i64) -> String {
    let days = micros.div_euclid(DAY_MICROS);
    let secs = micros.rem_euclid(DAY_MICROS) / 1_000_000;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_map_to_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_795), (2026, 12, 8));
        // 1 BC (year 0) was a leap year.
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn text_forms_are_postgresqls() {
        let mut s = String::new();
        write_timestamp(&mut s, 1_796_691_723_456_789, true, false);
        assert_eq!(s, "2026-12-08 01:02:03.456789+00");
        s.clear();
        write_timestamp(&mut s, -1, false, false);
        assert_eq!(s, "1969-12-31 23:59:59.999999");
        s.clear();
        write_timestamp(&mut s, 0, true, true);
        assert_eq!(s, "1970-01-01T00:00:00+00:00");
        s.clear();
        write_date(&mut s, -719_163);
        assert_eq!(s, "0001-12-31 BC");
        s.clear();
        write_date(&mut s, -719_528);
        assert_eq!(s, "0001-01-01 BC");
        assert_eq!(file_stamp(1_796_691_723_456_789), "20261208T010203Z");
    }
}
