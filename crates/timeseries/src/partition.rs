//! Partition arithmetic: where partitions of a time-series table start
//! and end, and what they are called.
//!
//! A partition step is either fixed (a whole number of minutes, hours, days
//! or weeks) or calendar months. Fixed steps are aligned to 2000-01-01, and
//! steps of whole weeks to Monday 2000-01-03, so a partition never straddles
//! the boundary a user would expect (midnight, the top of the hour, Monday);
//! month steps are aligned to January 2000, so quarterly and yearly steps
//! start in January. All in UTC: partitions cut on UTC boundaries, whatever
//! the session's time zone.

const MICROS_PER_MINUTE: i64 = 60_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Monday 2000-01-03, two days after PostgreSQL's epoch (a Saturday).
const FIRST_MONDAY: i64 = 2 * MICROS_PER_DAY;

/// How far apart partition boundaries are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A fixed length in microseconds (a whole number of minutes).
    Fixed(i64),
    /// A whole number of calendar months.
    Months(i32),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("the partition interval must be positive")]
    NotPositive,
    #[error("the partition interval must be whole minutes, hours, days or weeks, or whole months, not a mix of months and days")]
    Mixed,
    #[error("the partition interval must be a whole number of minutes")]
    NotWholeMinutes,
    #[error("the partition interval must be at least 1 minute and at most 1 year of days")]
    OutOfRange,
}

impl Step {
    /// The step of a PostgreSQL interval (months, days, microseconds).
    pub fn from_interval(months: i32, days: i32, micros: i64) -> Result<Step, StepError> {
        if months != 0 {
            if days != 0 || micros != 0 {
                return Err(StepError::Mixed);
            }
            return if months > 0 { Ok(Step::Months(months)) } else { Err(StepError::NotPositive) };
        }
        let total = i64::from(days) * MICROS_PER_DAY + micros;
        if total <= 0 {
            return Err(StepError::NotPositive);
        }
        if total % MICROS_PER_MINUTE != 0 {
            return Err(StepError::NotWholeMinutes);
        }
        if total > 366 * MICROS_PER_DAY {
            return Err(StepError::OutOfRange);
        }
        Ok(Step::Fixed(total))
    }

    /// The start of the partition holding `ts`.
    pub fn start(self, ts: i64) -> i64 {
        match self {
            Step::Fixed(len) => {
                let origin = if len % (7 * MICROS_PER_DAY) == 0 { FIRST_MONDAY } else { 0 };
                origin + (ts - origin).div_euclid(len) * len
            }
            Step::Months(n) => {
                let (y, m, _) = civil_from_days(ts.div_euclid(MICROS_PER_DAY));
                let index = (y - 2000) * 12 + (m - 1);
                let start = index.div_euclid(i64::from(n)) * i64::from(n);
                days_from_civil(2000 + start.div_euclid(12), start.rem_euclid(12) + 1, 1) * MICROS_PER_DAY
            }
        }
    }

    /// The start of the partition after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        match self {
            Step::Fixed(len) => start + len,
            Step::Months(n) => {
                let (y, m, _) = civil_from_days(start.div_euclid(MICROS_PER_DAY));
                let index = (y - 2000) * 12 + (m - 1) + i64::from(n);
                days_from_civil(2000 + index.div_euclid(12), index.rem_euclid(12) + 1, 1) * MICROS_PER_DAY
            }
        }
    }

    /// A name suffix for the partition starting at `start`, sortable and as
    /// short as the step allows: `p2026`..., `p202611`, `p20261123`,
    /// `p20261123_1400`.
    pub fn suffix(self, start: i64) -> String {
        let day = start.div_euclid(MICROS_PER_DAY);
        let (y, m, d) = civil_from_days(day);
        let minute = start.rem_euclid(MICROS_PER_DAY) / MICROS_PER_MINUTE;
        match self {
            Step::Months(n) if n % 12 == 0 => format!("p{y:04}"),
            Step::Months(_) => format!("p{y:04}{m:02}"),
            Step::Fixed(len) if len % MICROS_PER_DAY == 0 => format!("p{y:04}{m:02}{d:02}"),
            Step::Fixed(_) => format!("p{y:04}{m:02}{d:02}_{:02}{:02}", minute / 60, minute % 60),
        }
    }
}

/// A timestamp (microseconds since 2000-01-01 UTC) as a `timestamptz`
/// literal in UTC, `'2026-11-23 20:00:00.000000+00'::timestamptz`;
/// `None` outside years 1 to 9999 (which need BC or more digits).
pub fn utc_literal(micros: i64) -> Option<String> {
    let day = micros.div_euclid(MICROS_PER_DAY);
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(day);
    if !(1..=9999).contains(&y) {
        return None;
    }
    let (secs, frac) = (of_day / 1_000_000, of_day % 1_000_000);
    Some(format!(
        "'{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{frac:06}+00'::timestamptz",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// (year, month, day) of a day number counted from 2000-01-01.
pub fn civil_from_days(day: i64) -> (i64, i64, i64) {
    // Howard Hinnant's civil_from_days, shifted from 1970 to 2000.
    let z = day + 10_957 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The day number (from 2000-01-01) of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - 10_957
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, m: i64, d: i64, h: i64, min: i64) -> i64 {
        days_from_civil(y, m, d) * MICROS_PER_DAY + (h * 60 + min) * MICROS_PER_MINUTE
    }

    #[test]
    fn utc_literals() {
        assert_eq!(utc_literal(0).unwrap(), "'2000-01-01 00:00:00.000000+00'::timestamptz");
        assert_eq!(
            utc_literal(at(2026, 11, 23, 20, 7) + 5_000_001).unwrap(),
            "'2026-11-23 20:07:05.000001+00'::timestamptz"
        );
        assert_eq!(utc_literal(at(1969, 12, 31, 23, 59)).unwrap(), "'1969-12-31 23:59:00.000000+00'::timestamptz");
        assert_eq!(utc_literal(at(0, 12, 31, 0, 0)), None);
        assert_eq!(utc_literal(i64::MAX), None);
    }

    #[test]
    fn calendar_round_trips() {
        for day in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(civil_from_days(0), (2000, 1, 1));
        assert_eq!(civil_from_days(59), (2000, 2, 29));
        assert_eq!(days_from_civil(2026, 11, 23), 9823);
        assert_eq!(days_from_civil(1970, 1, 1), -10_957);
    }

    #[test]
    fn steps_from_intervals() {
        assert_eq!(Step::from_interval(0, 1, 0), Ok(Step::Fixed(MICROS_PER_DAY)));
        assert_eq!(Step::from_interval(0, 0, 3_600_000_000), Ok(Step::Fixed(3_600_000_000)));
        assert_eq!(Step::from_interval(1, 0, 0), Ok(Step::Months(1)));
        assert_eq!(Step::from_interval(1, 2, 0), Err(StepError::Mixed));
        assert_eq!(Step::from_interval(0, 0, 1_000_000), Err(StepError::NotWholeMinutes));
        assert_eq!(Step::from_interval(0, -1, 0), Err(StepError::NotPositive));
        assert_eq!(Step::from_interval(-3, 0, 0), Err(StepError::NotPositive));
        assert_eq!(Step::from_interval(0, 400, 0), Err(StepError::OutOfRange));
    }

    #[test]
    fn partitions_start_where_a_user_expects() {
        let day = Step::Fixed(MICROS_PER_DAY);
        assert_eq!(day.start(at(2026, 11, 23, 14, 37)), at(2026, 11, 23, 0, 0));
        assert_eq!(day.next(at(2026, 11, 23, 0, 0)), at(2026, 11, 24, 0, 0));
        // Before the epoch too.
        assert_eq!(day.start(at(1999, 12, 31, 23, 59)), at(1999, 12, 31, 0, 0));
        let hour = Step::Fixed(60 * MICROS_PER_MINUTE);
        assert_eq!(hour.start(at(2026, 11, 23, 14, 37)), at(2026, 11, 23, 14, 0));
        assert_eq!(hour.suffix(at(2026, 11, 23, 14, 0)), "p20261123_1400");
        let week = Step::Fixed(7 * MICROS_PER_DAY);
        // 2026-11-23 is a Monday; the 29th a Sunday.
        assert_eq!(week.start(at(2026, 11, 29, 12, 0)), at(2026, 11, 23, 0, 0));
        assert_eq!(week.start(at(2026, 11, 23, 0, 0)), at(2026, 11, 23, 0, 0));
        let month = Step::Months(1);
        assert_eq!(month.start(at(2026, 2, 28, 23, 0)), at(2026, 2, 1, 0, 0));
        assert_eq!(month.next(at(2026, 12, 1, 0, 0)), at(2027, 1, 1, 0, 0));
        assert_eq!(month.suffix(at(2026, 2, 1, 0, 0)), "p202602");
        let quarter = Step::Months(3);
        assert_eq!(quarter.start(at(2026, 5, 17, 0, 0)), at(2026, 4, 1, 0, 0));
        assert_eq!(quarter.start(at(1999, 11, 17, 0, 0)), at(1999, 10, 1, 0, 0));
        let year = Step::Months(12);
        assert_eq!(year.start(at(2026, 5, 17, 0, 0)), at(2026, 1, 1, 0, 0));
        assert_eq!(year.suffix(at(2026, 1, 1, 0, 0)), "p2026");
        assert_eq!(day.suffix(at(2026, 11, 23, 0, 0)), "p20261123");
    }

    #[test]
    fn every_instant_falls_in_exactly_its_partition() {
        for step in [Step::Fixed(15 * MICROS_PER_MINUTE), Step::Fixed(MICROS_PER_DAY), Step::Months(1), Step::Months(3)]
        {
            let mut ts = at(1998, 1, 1, 0, 0);
            while ts < at(2003, 1, 1, 0, 0) {
                let s = step.start(ts);
                assert!(s <= ts && ts < step.next(s), "{step:?} {ts}");
                assert_eq!(step.start(s), s);
                ts += 7 * MICROS_PER_DAY + 13 * MICROS_PER_MINUTE;
            }
        }
    }
}
