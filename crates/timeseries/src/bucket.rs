//! Rollup buckets: which intervals can be buckets, the SQL that puts a
//! timestamp in its bucket in a time zone, and which buckets a coarser
//! rollup can be built from.
//!
//! Buckets follow the wall clock of their zone, as the people reading a
//! dashboard do: a day is a local day (23 or 25 hours when DST changes), a
//! 6-hour bucket starts at local 00:00, 06:00, ... Buckets of an hour or
//! less keep the UTC offset of the instant they hold, so the two 01:00 hours
//! of a fall-back night stay two buckets, and a zone at +05:30 gets its
//! hours at :30 UTC. The SQL uses PostgreSQL's own time-zone rules
//! (`date_trunc(unit, ts, zone)`, `timezone(zone, ...)`), never an offset
//! of ours.

use std::fmt;

const MICROS_PER_MINUTE: i64 = 60_000_000;
const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// A bucket width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// N minutes, N dividing an hour.
    Minutes(u32),
    /// N hours, N dividing a day.
    Hours(u32),
    Day,
    /// An ISO week, from Monday.
    Week,
    /// N calendar months, N dividing a year.
    Months(u32),
}

/// An interval that is not a bucket width (the caller names the interval:
/// only it knows how PostgreSQL prints it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a bucket width; use N minutes (N dividing 60), N hours (N dividing 24), 1 day, 1 week, or N months (N dividing 12)")]
pub struct BucketError;

impl Bucket {
    /// The bucket of a PostgreSQL interval (months, days, microseconds).
    pub fn from_interval(months: i32, days: i32, micros: i64) -> Result<Bucket, BucketError> {
        let bad = || BucketError;
        if months != 0 {
            if days != 0 || micros != 0 || months < 0 || 12 % months != 0 {
                return Err(bad());
            }
            return Ok(Bucket::Months(months as u32));
        }
        match (days, micros) {
            (1, 0) => Ok(Bucket::Day),
            (7, 0) => Ok(Bucket::Week),
            (0, m) if m > 0 && m % MICROS_PER_HOUR == 0 && MICROS_PER_DAY % m == 0 => {
                let hours = (m / MICROS_PER_HOUR) as u32;
                Ok(if hours == 24 { Bucket::Day } else { Bucket::Hours(hours) })
            }
            (0, m) if m > 0 && m % MICROS_PER_MINUTE == 0 && MICROS_PER_HOUR % m == 0 => {
                Ok(Bucket::Minutes((m / MICROS_PER_MINUTE) as u32))
            }
            _ => Err(bad()),
        }
    }

    /// The width as a SQL interval literal.
    pub fn interval_sql(self) -> String {
        format!("interval '{}'", self.width())
    }

    fn width(self) -> String {
        match self {
            Bucket::Minutes(n) => format!("{n} minutes"),
            Bucket::Hours(n) => format!("{n} hours"),
            Bucket::Day => "1 day".into(),
            Bucket::Week => "7 days".into(),
            Bucket::Months(n) => format!("{n} months"),
        }
    }

    /// Whether buckets keep the offset of the instant they hold (an hour or
    /// less) rather than following the wall clock.
    fn absolute(self) -> bool {
        matches!(self, Bucket::Minutes(_) | Bucket::Hours(1))
    }

    /// SQL for the start of the bucket holding `ts` (SQL of a timestamptz)
    /// in `zone` (SQL of a text).
    pub fn start_sql(self, ts: &str, zone: &str) -> String {
        let trunc = |unit: &str| format!("pg_catalog.date_trunc('{unit}', {ts}, {zone})");
        match self {
            Bucket::Minutes(1) => trunc("minute"),
            Bucket::Minutes(n) => format!("pg_catalog.date_bin(interval '{n} minutes', {ts}, {})", trunc("hour")),
            Bucket::Hours(1) => trunc("hour"),
            Bucket::Day => trunc("day"),
            Bucket::Week => trunc("week"),
            Bucket::Months(1) => trunc("month"),
            Bucket::Months(3) => trunc("quarter"),
            Bucket::Months(12) => trunc("year"),
            Bucket::Hours(_) | Bucket::Months(_) => {
                format!("pg_catalog.timezone({zone}, {})", self.label_sql(ts, zone))
            }
        }
    }

    /// SQL for the start of the bucket holding `ts` when the zone is UTC:
    /// plain arithmetic from a fixed origin (`date_bin`), which gives the
    /// same instants as `start_sql` in UTC for every width but months and
    /// costs a third of its per-row time-zone conversions. `None` for
    /// months. Infinite times stay themselves, as `date_trunc` leaves them.
    pub fn start_sql_utc(self, ts: &str) -> Option<String> {
        let (width, origin) = match self {
            Bucket::Minutes(_) | Bucket::Hours(_) | Bucket::Day => (self.interval_sql(), "2000-01-01 00:00+00"),
            // A Monday, as ISO weeks start.
            Bucket::Week => (self.interval_sql(), "2000-01-03 00:00+00"),
            Bucket::Months(_) => return None,
        };
        Some(format!(
            "CASE WHEN pg_catalog.isfinite({ts}) THEN pg_catalog.date_bin({width}, {ts}, timestamptz '{origin}') ELSE {ts} END"
        ))
    }

    /// The start of the bucket holding `ts` (PostgreSQL microseconds) in
    /// UTC: what `start_sql_utc` computes, floor division from the same
    /// origin. `None` for months; infinite times stay themselves.
    pub fn start_utc(self, ts: i64) -> Option<i64> {
        let (width, origin) = match self {
            Bucket::Minutes(n) => (i64::from(n) * MICROS_PER_MINUTE, 0),
            Bucket::Hours(n) => (i64::from(n) * MICROS_PER_HOUR, 0),
            Bucket::Day => (MICROS_PER_DAY, 0),
            Bucket::Week => (7 * MICROS_PER_DAY, 2 * MICROS_PER_DAY),
            Bucket::Months(_) => return None,
        };
        if ts == i64::MIN || ts == i64::MAX {
            return Some(ts);
        }
        let since = i128::from(ts) - i128::from(origin);
        Some((since.div_euclid(i128::from(width)) * i128::from(width) + i128::from(origin)) as i64)
    }

    /// Whether `zone` names UTC (PostgreSQL reads zone names case-blind).
    pub fn is_utc(zone: &str) -> bool {
        let z = zone.to_ascii_lowercase();
        let z = z.strip_prefix("etc/").unwrap_or(&z);
        matches!(z, "utc" | "uct" | "gmt" | "gmt0" | "gmt+0" | "gmt-0" | "greenwich" | "universal" | "zulu")
    }

    /// SQL for the start of the bucket after the one starting at `start`.
    pub fn next_sql(self, start: &str, zone: &str) -> String {
        if self.absolute() {
            format!("({start} + {})", self.interval_sql())
        } else {
            // From the wall-clock label: a bucket that starts in a
            // spring-forward gap starts at the end of the gap, and adding to
            // that instant would overshoot the next label.
            format!("pg_catalog.timezone({zone}, {} + {})", self.label_sql(start, zone), self.interval_sql())
        }
    }

    /// SQL for the wall-clock start (a timestamp without zone) of the bucket
    /// holding `ts`.
    fn label_sql(self, ts: &str, zone: &str) -> String {
        let local = format!("pg_catalog.timezone({zone}, {ts})");
        let part = |field: &str| format!("pg_catalog.date_part('{field}', {local})::integer");
        match self {
            Bucket::Minutes(n) => format!(
                "(pg_catalog.date_trunc('hour', {local}) + ({} / {n} * {n}) * interval '1 minute')",
                part("minute")
            ),
            Bucket::Hours(n) => {
                format!("(pg_catalog.date_trunc('day', {local}) + ({} / {n} * {n}) * interval '1 hour')", part("hour"))
            }
            Bucket::Day => format!("pg_catalog.date_trunc('day', {local})"),
            Bucket::Week => format!("pg_catalog.date_trunc('week', {local})"),
            Bucket::Months(n) => format!(
                "(pg_catalog.date_trunc('year', {local}) + (({} - 1) / {n} * {n}) * interval '1 month')",
                part("month")
            ),
        }
    }

    /// Whether every bucket of `self` is a whole number of `finer` buckets
    /// (in the same zone), so a rollup of `self` can merge a rollup of
    /// `finer`.
    pub fn is_made_of(self, finer: Bucket) -> bool {
        use Bucket::*;
        match (finer, self) {
            (Minutes(a), Minutes(b)) => b % a == 0,
            (Minutes(_), _) => true,
            (Hours(a), Hours(b)) => b % a == 0,
            (Hours(_), Day | Week | Months(_)) => true,
            (Day, Day | Week | Months(_)) => true,
            (Week, Week) => true,
            (Months(a), Months(b)) => b % a == 0,
            _ => false,
        }
    }

    /// The partition interval of a rollup table of these buckets: about a
    /// thousand to a few thousand buckets per key and partition, so
    /// retention drops whole partitions at a useful grain.
    pub fn partition_interval(self) -> &'static str {
        match self {
            Bucket::Minutes(_) => "1 day",
            Bucket::Hours(_) => "7 days",
            Bucket::Day | Bucket::Week => "3 months",
            Bucket::Months(_) => "12 months",
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.width())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn utc_names_and_the_utc_path() {
        for z in ["UTC", "utc", "Etc/UTC", "GMT", "Etc/GMT", "Zulu", "Universal", "GMT0"] {
            assert!(Bucket::is_utc(z), "{z}");
        }
        for z in ["Europe/London", "America/New_York", "Etc/GMT+5", "UTC+1", "Asia/Kolkata"] {
            assert!(!Bucket::is_utc(z), "{z}");
        }
        assert!(Bucket::Months(1).start_sql_utc("ts").is_none());
        let week = Bucket::Week.start_sql_utc("ts").unwrap();
        assert!(week.contains("interval '7 days'") && week.contains("2000-01-03"), "{week}");
    }
    use super::*;

    fn bucket(months: i32, days: i32, micros: i64) -> Result<Bucket, BucketError> {
        Bucket::from_interval(months, days, micros)
    }

    #[test]
    fn widths_a_dashboard_uses_are_buckets() {
        assert_eq!(bucket(0, 0, MICROS_PER_MINUTE), Ok(Bucket::Minutes(1)));
        assert_eq!(bucket(0, 0, 15 * MICROS_PER_MINUTE), Ok(Bucket::Minutes(15)));
        assert_eq!(bucket(0, 0, MICROS_PER_HOUR), Ok(Bucket::Hours(1)));
        assert_eq!(bucket(0, 0, 6 * MICROS_PER_HOUR), Ok(Bucket::Hours(6)));
        assert_eq!(bucket(0, 0, 24 * MICROS_PER_HOUR), Ok(Bucket::Day));
        assert_eq!(bucket(0, 1, 0), Ok(Bucket::Day));
        assert_eq!(bucket(0, 7, 0), Ok(Bucket::Week));
        assert_eq!(bucket(1, 0, 0), Ok(Bucket::Months(1)));
        assert_eq!(bucket(12, 0, 0), Ok(Bucket::Months(12)));
    }

    #[test]
    fn widths_that_do_not_tile_a_clock_are_refused() {
        for (m, d, us) in [
            (0, 0, 7 * MICROS_PER_MINUTE),
            (0, 0, 5 * MICROS_PER_HOUR),
            (0, 0, 90 * MICROS_PER_MINUTE),
            (0, 0, 1_000_000),
            (0, 2, 0),
            (0, 1, MICROS_PER_HOUR),
            (5, 0, 0),
            (1, 1, 0),
            (0, 0, 0),
            (0, 0, -MICROS_PER_HOUR),
            (-1, 0, 0),
        ] {
            assert!(bucket(m, d, us).is_err(), "{m} {d} {us}");
        }
    }

    #[test]
    fn coarser_rollups_merge_only_buckets_that_tile_them() {
        use Bucket::*;
        assert!(Day.is_made_of(Hours(1)));
        assert!(Day.is_made_of(Minutes(15)));
        assert!(Hours(6).is_made_of(Hours(2)));
        assert!(!Hours(6).is_made_of(Hours(4)));
        assert!(Minutes(30).is_made_of(Minutes(15)));
        assert!(!Minutes(15).is_made_of(Minutes(10)));
        assert!(Months(1).is_made_of(Day));
        assert!(Months(3).is_made_of(Months(1)));
        assert!(!Months(1).is_made_of(Week));
        assert!(Week.is_made_of(Day));
        assert!(!Hours(1).is_made_of(Day));
        assert!(Day.is_made_of(Day));
    }

    #[test]
    fn sql_uses_the_zone_for_wall_clock_buckets() {
        let z = "'America/New_York'";
        assert_eq!(Bucket::Hours(1).start_sql("t", z), "pg_catalog.date_trunc('hour', t, 'America/New_York')");
        assert_eq!(Bucket::Hours(1).next_sql("b", z), "(b + interval '1 hours')");
        assert!(Bucket::Day.next_sql("b", z).starts_with("pg_catalog.timezone('America/New_York', "));
        assert!(Bucket::Hours(6).start_sql("t", z).contains("/ 6 * 6"));
        assert!(Bucket::Minutes(15).start_sql("t", z).starts_with("pg_catalog.date_bin(interval '15 minutes'"));
    }

    #[test]
    fn utc_starts_are_floor_divisions_from_the_origin() {
        let h = MICROS_PER_HOUR;
        assert_eq!(Bucket::Hours(1).start_utc(h + 5), Some(h));
        assert_eq!(Bucket::Hours(1).start_utc(-1), Some(-h));
        assert_eq!(Bucket::Hours(1).start_utc(-h), Some(-h));
        assert_eq!(Bucket::Minutes(15).start_utc(16 * MICROS_PER_MINUTE), Some(15 * MICROS_PER_MINUTE));
        assert_eq!(Bucket::Hours(6).start_utc(-1), Some(-6 * h));
        // Weeks start on Monday 2000-01-03.
        assert_eq!(Bucket::Week.start_utc(0), Some(-5 * MICROS_PER_DAY));
        assert_eq!(Bucket::Week.start_utc(2 * MICROS_PER_DAY), Some(2 * MICROS_PER_DAY));
        assert_eq!(Bucket::Day.start_utc(i64::MAX), Some(i64::MAX));
        assert_eq!(Bucket::Day.start_utc(i64::MIN), Some(i64::MIN));
        assert_eq!(Bucket::Months(1).start_utc(0), None);
    }
}
