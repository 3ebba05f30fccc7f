//! Exact sums of floating-point values, equal to PostgreSQL's
//! `sum(v::numeric)` and `sum(v::numeric * v::numeric)` digit for digit and
//! scale for scale, without building a `numeric` per row.
//!
//! A rollup keeps its sums as `numeric` so that daily-from-hourly equals
//! daily-from-raw exactly. PostgreSQL converts a `float8` to `numeric` by
//! printing it with 15 significant digits (`%.15g`; 6 for `real`) and
//! parsing the text; that conversion costs more than the rest of the
//! aggregate. Here the same rounding is done with integer arithmetic and
//! the rounded values are added in a 128-bit fixed-point accumulator. The
//! rare value that does not fit (beyond about 1e20, or with more than 38
//! fractional digits in the sum) is kept aside as an exact decimal term for
//! the caller to add with `numeric`.

/// A decimal `(-1)^negative * digits * 10^exponent` with no trailing zeros
/// in `digits` (zero is `digits == 0, exponent == 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    pub negative: bool,
    pub digits: u128,
    pub exponent: i32,
}

/// Significant digits of PostgreSQL's `float8::numeric` (`DBL_DIG`).
pub const FLOAT8_DIGITS: u32 = 15;
/// Significant digits of PostgreSQL's `float4::numeric` (`FLT_DIG`).
pub const FLOAT4_DIGITS: u32 = 6;

const POW10: [u128; 39] = {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `n / d` rounded half to even (how C's printf rounds an exact binary
/// value to decimal digits in the default rounding mode).
fn div_half_even(n: u128, d: u128) -> u128 {
    let (q, r) = (n / d, n % d);
    round_half_even(q, r, d)
}

/// `n / 2^shift` rounded half to even, by shifts (the common case: a value
/// with a binary fraction).
fn shr_half_even(n: u128, shift: u32) -> u128 {
    let q = n >> shift;
    let r = n & ((1u128 << shift) - 1);
    round_half_even(q, r, 1u128 << shift)
}

fn round_half_even(q: u128, r: u128, d: u128) -> u128 {
    // r < d, so d - r cannot underflow; compare r with d - r rather than 2r
    // with d, which could overflow.
    match r.cmp(&(d - r)) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
        std::cmp::Ordering::Less => q,
    }
}

impl Decimal {
    /// The value with all its digits: an integer `digits` and the power of
    /// ten it is scaled by.
    fn new(negative: bool, mut digits: u128, mut exponent: i32) -> Decimal {
        if digits == 0 {
            return Decimal { negative: false, digits: 0, exponent: 0 };
        }
        if let Ok(mut small) = u64::try_from(digits) {
            // Rounded values have at most 17 digits: strip zeros in 64 bits,
            // where division by a constant is one multiplication.
            while small.is_multiple_of(10) {
                small /= 10;
                exponent += 1;
            }
            digits = small as u128;
        } else {
            while digits.is_multiple_of(10) {
                digits /= 10;
                exponent += 1;
            }
        }
        Decimal { negative, digits, exponent }
    }

    /// `v` rounded to `significant` digits exactly as PostgreSQL's
    /// `float8::numeric` (15 digits) or `float4::numeric` (6) rounds it.
    /// `None` for NaN and the infinities.
    pub fn rounded(v: f64, significant: u32) -> Option<Decimal> {
        if !v.is_finite() {
            return None;
        }
        if v == 0.0 {
            return Some(Decimal::new(false, 0, 0));
        }
        debug_assert!((1..=17).contains(&significant));
        let p = significant as i32;
        let negative = v < 0.0;
        // The decimal exponent estimated from the binary one (floor of
        // e2 * log10(2)); it can be one off, and the loop corrects it.
        let e2 = ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023;
        let mut e10 = if e2 == -1023 { v.abs().log10().floor() as i32 } else { (e2 * 78913) >> 18 };
        for _ in 0..4 {
            let Some(n) = scaled_rounded(v.abs(), p - 1 - e10) else {
                return Self::rounded_by_formatting(v, significant);
            };
            if n < POW10[(p - 1) as usize] {
                e10 -= 1;
            } else if n > POW10[p as usize] {
                e10 += 1;
            } else if n == POW10[p as usize] {
                // Rounding carried into a new digit: 9.99...95 -> 10.0.
                return Some(Decimal::new(negative, POW10[(p - 1) as usize], e10 + 1 - (p - 1)));
            } else {
                return Some(Decimal::new(negative, n, e10 - (p - 1)));
            }
        }
        Self::rounded_by_formatting(v, significant)
    }

    /// The slow path for magnitudes whose scaled value does not fit 128
    /// bits (below about 1e-8 or above about 1e38): Rust's exact decimal
    /// formatting, which also rounds half to even.
    fn rounded_by_formatting(v: f64, significant: u32) -> Option<Decimal> {
        let text = format!("{:.*e}", (significant - 1) as usize, v.abs());
        let (mantissa, exp) = text.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
        let n: u128 = digits.parse().ok()?;
        Some(Decimal::new(v < 0.0, n, exp - (significant as i32 - 1)))
    }

    /// The number of fractional digits `numeric` shows for this value.
    pub fn dscale(&self) -> u32 {
        (-self.exponent).max(0) as u32
    }

    /// The exact square (`v::numeric * v::numeric`), if its digits fit.
    pub fn squared(&self) -> Option<Decimal> {
        Some(Decimal {
            negative: false,
            digits: self.digits.checked_mul(self.digits)?,
            exponent: self.exponent.checked_mul(2)?,
        })
    }

    /// Text `numeric_in` parses to this value with scale `dscale()`:
    /// `-123e-5`.
    pub fn to_numeric_text(&self) -> String {
        format!("{}{}e{}", if self.negative { "-" } else { "" }, self.digits, self.exponent)
    }
}

/// `v * 10^k` rounded half to even, if it fits 128 bits on the way.
fn scaled_rounded(v: f64, k: i32) -> Option<u128> {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = (bits & ((1u64 << 52) - 1)) as u128;
    // v = m * 2^e exactly.
    let (m, e) = if biased == 0 { (fraction, -1074) } else { (fraction | (1u128 << 52), biased - 1075) };
    let pow10 = |k: i32| POW10.get(k as usize).copied();
    match (e >= 0, k >= 0) {
        (true, true) => m.checked_shl(e as u32).filter(|x| x >> e == m)?.checked_mul(pow10(k)?),
        (true, false) => {
            let x = m.checked_shl(e as u32).filter(|x| x >> e == m)?;
            Some(div_half_even(x, pow10(-k)?))
        }
        (false, true) => {
            let n = m.checked_mul(pow10(k)?)?;
            let shift = (-e) as u32;
            if shift >= 128 {
                return None;
            }
            Some(shr_half_even(n, shift))
        }
        (false, false) => {
            let shift = (-e) as u32;
            if shift >= 128 {
                return None;
            }
            let d = (1u128 << shift).checked_mul(pow10(-k)?)?;
            Some(div_half_even(m, d))
        }
    }
}

/// Special values `numeric` keeps apart from the digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Specials {
    pub nan: bool,
    pub positive_infinity: bool,
    pub negative_infinity: bool,
}

/// What a sum comes to when it is not a finite decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    NaN,
    Infinity,
    NegativeInfinity,
}

/// A running exact sum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExactSum {
    /// The sum of the terms that fit, times `10^scale`.
    accumulated: i128,
    /// The largest `dscale` of the terms that fit.
    scale: u32,
    /// Terms that did not fit the accumulator, exact.
    pub overflow: Vec<Decimal>,
    pub specials: Specials,
    /// Whether any value was added (an empty sum is NULL).
    pub any: bool,
}

impl ExactSum {
    /// Adds `v` as `v::numeric` (`significant` digits), or its square as
    /// `v::numeric * v::numeric` when `square` is set.
    pub fn add_float(&mut self, v: f64, significant: u32, square: bool) {
        self.any = true;
        let Some(d) = Decimal::rounded(v, significant) else {
            if v.is_nan() {
                self.specials.nan = true;
            } else if v > 0.0 || square {
                self.specials.positive_infinity = true;
            } else {
                self.specials.negative_infinity = true;
            }
            return;
        };
        match if square { d.squared() } else { Some(d) } {
            Some(term) => self.add(term),
            // Not reached: rounded digits are below 10^17, their square
            // below 10^34.
            None => self.specials.nan = true,
        }
    }

    /// Adds an exact decimal term, to the accumulator if it fits.
    fn add(&mut self, term: Decimal) {
        if !self.try_add(term) {
            self.overflow.push(term);
        }
    }

    /// Raises the accumulator's scale to `dscale` (a numeric sum shows the
    /// largest scale of its terms); false when that would not fit.
    fn raise_scale(&mut self, dscale: u32) -> bool {
        if dscale <= self.scale {
            return true;
        }
        if dscale > 38 {
            return false;
        }
        match self.accumulated.checked_mul(POW10[(dscale - self.scale) as usize] as i128) {
            Some(rescaled) => {
                self.accumulated = rescaled;
                self.scale = dscale;
                true
            }
            None => false,
        }
    }

    fn try_add(&mut self, term: Decimal) -> bool {
        if !self.raise_scale(term.dscale()) {
            return false;
        }
        let shift = term.exponent + self.scale as i32; // >= 0 since scale >= dscale
        let Some(magnitude) =
            POW10.get(shift as usize).and_then(|p| term.digits.checked_mul(*p)).and_then(|m| i128::try_from(m).ok())
        else {
            return false;
        };
        let signed = if term.negative { -magnitude } else { magnitude };
        match self.accumulated.checked_add(signed) {
            Some(sum) => {
                self.accumulated = sum;
                true
            }
            None => false,
        }
    }

    /// Merges another partial sum into this one.
    pub fn merge(&mut self, other: &ExactSum) {
        self.any |= other.any;
        self.specials.nan |= other.specials.nan;
        self.specials.positive_infinity |= other.specials.positive_infinity;
        self.specials.negative_infinity |= other.specials.negative_infinity;
        self.overflow.extend_from_slice(&other.overflow);
        self.add(Decimal::new(other.accumulated < 0, other.accumulated.unsigned_abs(), -(other.scale as i32)));
        // The partial sum's scale is part of the result even when its
        // digits end in zeros (0.5 + 0.50 shows as 1.00): a zero at that
        // scale carries it when the accumulator cannot.
        if !self.raise_scale(other.scale) {
            self.overflow.push(Decimal { negative: false, digits: 0, exponent: -(other.scale as i32) });
        }
    }

    /// The sum when it is NaN or infinite (numeric's rules: NaN wins,
    /// opposite infinities make NaN).
    pub fn special(&self) -> Option<Special> {
        let s = self.specials;
        if s.nan || (s.positive_infinity && s.negative_infinity) {
            Some(Special::NaN)
        } else if s.positive_infinity {
            Some(Special::Infinity)
        } else if s.negative_infinity {
            Some(Special::NegativeInfinity)
        } else {
            None
        }
    }

    /// The accumulated part as `numeric` text with exactly `scale`
    /// fractional digits (the overflow terms are the caller's to add).
    pub fn accumulated_text(&self) -> String {
        let digits = self.accumulated.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let sign = if self.accumulated < 0 { "-" } else { "" };
        if scale == 0 {
            return format!("{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{sign}{int}.{frac}")
    }

    /// The state as bytes (for parallel aggregation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.overflow.len() * 21);
        out.extend_from_slice(&self.accumulated.to_le_bytes());
        out.extend_from_slice(&self.scale.to_le_bytes());
        let s = self.specials;
        out.push(
            self.any as u8 | (s.nan as u8) << 1 | (s.positive_infinity as u8) << 2 | (s.negative_infinity as u8) << 3,
        );
        for d in &self.overflow {
            out.push(d.negative as u8);
            out.extend_from_slice(&d.digits.to_le_bytes());
            out.extend_from_slice(&d.exponent.to_le_bytes());
        }
        out
    }

    /// The state from [`ExactSum::to_bytes`]; `None` if malformed.
    pub fn from_bytes(bytes: &[u8]) -> Option<ExactSum> {
        let (acc, rest) = bytes.split_first_chunk::<16>()?;
        let (scale, rest) = rest.split_first_chunk::<4>()?;
        let (flags, mut rest) = rest.split_first()?;
        let mut sum = ExactSum {
            accumulated: i128::from_le_bytes(*acc),
            scale: u32::from_le_bytes(*scale),
            overflow: Vec::new(),
            specials: Specials {
                nan: flags & 2 != 0,
                positive_infinity: flags & 4 != 0,
                negative_infinity: flags & 8 != 0,
            },
            any: flags & 1 != 0,
        };
        while !rest.is_empty() {
            let (negative, r) = rest.split_first()?;
            let (digits, r) = r.split_first_chunk::<16>()?;
            let (exponent, r) = r.split_first_chunk::<4>()?;
            sum.overflow.push(Decimal {
                negative: *negative == 1,
                digits: u128::from_le_bytes(*digits),
                exponent: i32::from_le_bytes(*exponent),
            });
            rest = r;
        }
        Some(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `numeric` text of `v::numeric` in PostgreSQL, by the route
    /// PostgreSQL takes (printf `%.{p}g`, here Rust's exact `{:e}`), for
    /// comparison.
    fn by_formatting(v: f64, p: u32) -> Decimal {
        Decimal::rounded_by_formatting(v, p).unwrap()
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn rounds_like_printf_over_all_magnitudes() {
        let mut s = 0x9e3779b97f4a7c15u64;
        for i in 0..400_000 {
            let bits = xorshift(&mut s);
            // Random bit patterns cover every exponent; every fourth value
            // is a "measurement" (a few decimals, as sensors write them).
            let v = if i % 4 == 0 { (bits % 2_000_000) as f64 / 1000.0 - 1000.0 } else { f64::from_bits(bits) };
            if !v.is_finite() {
                continue;
            }
            for p in [FLOAT8_DIGITS, FLOAT4_DIGITS] {
                let v = if p == FLOAT4_DIGITS { v as f32 as f64 } else { v };
                if !v.is_finite() {
                    continue;
                }
                assert_eq!(Decimal::rounded(v, p), Some(by_formatting(v, p)), "{v:e} to {p} digits");
            }
        }
    }

    #[test]
    fn ties_round_half_to_even() {
        // Exact binary values with a 5 right after the last kept digit.
        assert_eq!(
            Decimal::rounded(1234567890123455.0, 15),
            Some(Decimal { negative: false, digits: 123456789012346, exponent: 1 })
        );
        assert_eq!(
            Decimal::rounded(1234567890123445.0, 15),
            Some(Decimal { negative: false, digits: 123456789012344, exponent: 1 })
        );
        assert_eq!(Decimal::rounded(0.5, 1), Some(Decimal { negative: false, digits: 5, exponent: -1 }));
        assert_eq!(Decimal::rounded(2.5, 1), Some(Decimal { negative: false, digits: 2, exponent: 0 }));
        assert_eq!(Decimal::rounded(3.5, 1), Some(Decimal { negative: false, digits: 4, exponent: 0 }));
        assert_eq!(Decimal::rounded(-1234565.0, 6), Some(Decimal { negative: true, digits: 123456, exponent: 1 }));
    }

    #[test]
    fn scale_is_what_numeric_shows() {
        // PostgreSQL: 0.1::float8::numeric = 0.1, 1e-5 -> 0.00001, 1e20 -> 100000000000000000000,
        // 123.456::real::numeric = 123.456, 0.3::real -> 0.3 (float4 0.3 is 0.300000011920929).
        let d = |v: f64, p| Decimal::rounded(v, p).unwrap();
        assert_eq!((d(0.1, 15).digits, d(0.1, 15).dscale()), (1, 1));
        assert_eq!(d(1e-5, 15).dscale(), 5);
        assert_eq!((d(1e20, 15).digits, d(1e20, 15).exponent, d(1e20, 15).dscale()), (1, 20, 0));
        assert_eq!((d(123.456f32 as f64, 6).digits, d(123.456f32 as f64, 6).dscale()), (123456, 3));
        assert_eq!((d(0.3f32 as f64, 6).digits, d(0.3f32 as f64, 6).dscale()), (3, 1));
        assert_eq!(d(99999.96, 6), Decimal { negative: false, digits: 1, exponent: 5 });
        assert_eq!(d(0.0, 15), Decimal { negative: false, digits: 0, exponent: 0 });
        assert_eq!(d(-0.0, 15), Decimal { negative: false, digits: 0, exponent: 0 });
    }

    fn sum_of(values: &[f64], square: bool) -> ExactSum {
        let mut s = ExactSum::default();
        for &v in values {
            s.add_float(v, FLOAT8_DIGITS, square);
        }
        s
    }

    #[test]
    fn sums_keep_numeric_scale() {
        // SELECT sum(v::numeric) FROM unnest('{0.5, 0.25, -0.75}'::float8[]) v  -> 0.00
        assert_eq!(sum_of(&[0.5, 0.25, -0.75], false).accumulated_text(), "0.00");
        // 0.1 + 0.2 is 0.3 in numeric (each value rounded first), not 0.30000000000000004.
        assert_eq!(sum_of(&[0.1, 0.2], false).accumulated_text(), "0.3");
        assert_eq!(sum_of(&[1.0, 2.0, 1e15], false).accumulated_text(), "1000000000000003");
        assert_eq!(sum_of(&[-0.001, 0.0001], false).accumulated_text(), "-0.0009");
        // Squares: 1.5^2 + 0.1^2 = 2.26 with scale 2 (numeric_mul adds the scales).
        assert_eq!(sum_of(&[1.5, 0.1], true).accumulated_text(), "2.26");
        assert_eq!(sum_of(&[-3.0], true).accumulated_text(), "9");
        assert!(!ExactSum::default().any);
    }

    #[test]
    fn terms_beyond_128_bits_are_kept_exact() {
        let s = sum_of(&[1e30, 1.0, 1e-30, 0.5], false);
        // 1e30 at scale 1 needs 10^31 (fits); 1e-30 needs scale 30: 1e30 * 10^30 does not fit.
        let kept: Vec<String> = s.overflow.iter().map(Decimal::to_numeric_text).collect();
        assert_eq!(kept, ["1e-30"]);
        assert_eq!(s.accumulated_text(), "1000000000000000000000000000001.5");
        let big = sum_of(&[1e300, 1e300], true);
        assert_eq!(big.overflow.iter().map(Decimal::to_numeric_text).collect::<Vec<_>>(), ["1e600", "1e600"]);
    }

    #[test]
    fn specials_follow_numeric() {
        assert_eq!(sum_of(&[1.0, f64::NAN], false).special(), Some(Special::NaN));
        assert_eq!(sum_of(&[f64::INFINITY, f64::NEG_INFINITY], false).special(), Some(Special::NaN));
        assert_eq!(sum_of(&[f64::NEG_INFINITY, 3.0], false).special(), Some(Special::NegativeInfinity));
        assert_eq!(sum_of(&[f64::NEG_INFINITY], true).special(), Some(Special::Infinity));
        assert_eq!(sum_of(&[1.0], false).special(), None);
    }

    #[test]
    fn merged_and_serialized_states_sum_the_same() {
        let values = [0.5, 0.125, 1e30, 1e-30, -7.25, f64::INFINITY];
        let whole = sum_of(&values, false);
        let mut left = sum_of(&values[..2], false);
        let right = sum_of(&values[2..], false);
        left.merge(&ExactSum::from_bytes(&right.to_bytes()).unwrap());
        assert_eq!(left.special(), whole.special());
        let mut a = sum_of(&[0.5], false);
        a.merge(&sum_of(&[0.25], false));
        assert_eq!(a.accumulated_text(), "0.75");
        let mut b = sum_of(&[0.5], false);
        b.merge(&sum_of(&[0.5, 0.25, -0.25], false));
        assert_eq!(b.accumulated_text(), "1.00");
        assert_eq!(ExactSum::from_bytes(&whole.to_bytes()), Some(whole));
        assert_eq!(ExactSum::from_bytes(&[1, 2, 3]), None);
    }
}
