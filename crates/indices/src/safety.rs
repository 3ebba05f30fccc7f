//! The safety index of one intersection-minute (docs/INDICES.md, "Safety").
//!
//! Each input is normalized by a system-wide constant (its maximum over a
//! reference window, or the 85th percentile of speed) into [0, 1]; the VRU
//! and vehicle indices are weighted sums of those terms times 100, and the
//! combined index is 0.6 VRU + 0.4 vehicle. Two adjustments pull a noisy
//! minute toward what is expected of it: a credibility blend with the
//! intersection's baseline, and an empirical-Bayes (gamma–Poisson) estimate
//! of its event counts.

use std::collections::HashMap;
use std::hash::Hash;

/// Weights of the VRU index: VRU events, hard braking, speeding, volume.
pub const VRU_WEIGHTS: [f64; 4] = [0.50, 0.20, 0.20, 0.10];
/// Weights of the vehicle index: vehicle events, hard braking, speed
/// variance, speeding.
pub const VEHICLE_WEIGHTS: [f64; 4] = [0.40, 0.25, 0.20, 0.15];
/// Share of the VRU index in the combined index (the rest is vehicle).
pub const VRU_SHARE: f64 = 0.6;
/// The blend's default k: the volume at which a minute counts as much as
/// its baseline.
pub const DEFAULT_K: f64 = 50.0;

/// System-wide normalization constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constants {
    pub vru_events_max: f64,
    pub vehicle_events_max: f64,
    pub volume_max: f64,
    pub speed_variance_max: f64,
    pub hard_braking_max: f64,
    pub speed_p85: f64,
}

/// One intersection-minute of inputs. Speeds are absent when no vehicle
/// was measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Minute {
    pub vru_events: f64,
    pub vehicle_events: f64,
    pub volume: f64,
    pub avg_speed: Option<f64>,
    pub speed_variance: Option<f64>,
    pub hard_braking: f64,
}

/// The three indices, each in [0, 100].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Indices {
    pub vru: f64,
    pub vehicle: f64,
    pub combined: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("{0} must be a finite number >= 0, not {1}")]
    Negative(&'static str, f64),
    #[error("constant {0} must be a finite number >= 0, not {1}")]
    BadConstant(&'static str, f64),
    #[error("k must be a finite number > 0, not {0}")]
    BadK(f64),
}

fn non_negative(name: &'static str, x: f64) -> Result<f64, InputError> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(InputError::Negative(name, x))
    }
}

impl Minute {
    /// Refuses negative, NaN and infinite inputs, naming the first.
    pub fn check(&self) -> Result<(), InputError> {
        non_negative("vru_events", self.vru_events)?;
        non_negative("vehicle_events", self.vehicle_events)?;
        non_negative("volume", self.volume)?;
        if let Some(s) = self.avg_speed {
            non_negative("avg_speed", s)?;
        }
        if let Some(v) = self.speed_variance {
            non_negative("speed_variance", v)?;
        }
        non_negative("hard_braking", self.hard_braking)?;
        Ok(())
    }
}

impl Constants {
    pub fn check(&self) -> Result<(), InputError> {
        for (name, x) in [
            ("vru_events_max", self.vru_events_max),
            ("vehicle_events_max", self.vehicle_events_max),
            ("volume_max", self.volume_max),
            ("speed_variance_max", self.speed_variance_max),
            ("hard_braking_max", self.hard_braking_max),
            ("speed_p85", self.speed_p85),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                return Err(InputError::BadConstant(name, x));
            }
        }
        Ok(())
    }
}

/// `x / max` clipped to [0, 1]; 0 when the constant is 0 (nothing in the
/// reference window to compare with).
pub fn normalized(x: f64, max: f64) -> f64 {
    if max > 0.0 {
        (x / max).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Speeding: how far the average speed is above the 85th percentile,
/// relative to it, clipped to [0, 1] (twice the percentile scores 1); 0
/// without a speed or a percentile.
pub fn speeding(avg_speed: Option<f64>, p85: f64) -> f64 {
    match avg_speed {
        Some(s) if p85 > 0.0 => (s / p85 - 1.0).clamp(0.0, 1.0),
        _ => 0.0,
    }
}

/// The indices of one minute. Inputs are assumed checked.
pub fn indices(m: &Minute, c: &Constants) -> Indices {
    let braking = normalized(m.hard_braking, c.hard_braking_max);
    let speed = speeding(m.avg_speed, c.speed_p85);
    let volume = normalized(m.volume, c.volume_max);
    let variance = m.speed_variance.map_or(0.0, |v| normalized(v, c.speed_variance_max));
    let [a, b, s, u] = VRU_WEIGHTS;
    let vru =
        100.0 * (a * normalized(m.vru_events, c.vru_events_max) + b * braking + s * speed + u * volume).clamp(0.0, 1.0);
    let [a, b, v, s] = VEHICLE_WEIGHTS;
    let vehicle = 100.0
        * (a * normalized(m.vehicle_events, c.vehicle_events_max) + b * braking + v * variance + s * speed)
            .clamp(0.0, 1.0);
    Indices { vru, vehicle, combined: combine(vru, vehicle) }
}

/// The combined index of a VRU and a vehicle index.
pub fn combine(vru: f64, vehicle: f64) -> f64 {
    VRU_SHARE * vru + (1.0 - VRU_SHARE) * vehicle
}

/// The credibility weight of a minute: λ = N / (N + k), N = volume + 1.
pub fn credibility(volume: f64, k: f64) -> f64 {
    let n = volume + 1.0;
    n / (n + k)
}

/// The blend λ·x + (1 − λ)·baseline.
pub fn blend(x: f64, baseline: f64, volume: f64, k: f64) -> f64 {
    let l = credibility(volume, k);
    l * x + (1.0 - l) * baseline
}

/// A gamma prior on an event rate per unit of exposure (vehicles), by the
/// method of moments over groups (intersections) of (events, exposure).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaPrior {
    /// Pooled rate μ = Σ events / Σ exposure.
    pub mean: f64,
    /// Between-group variance of the rate τ² (what remains of the
    /// exposure-weighted variance after the Poisson part μ / Ē); 0 when
    /// the groups vary no more than Poisson noise explains.
    pub variance: f64,
}

impl GammaPrior {
    pub fn from_groups(groups: &[(f64, f64)]) -> GammaPrior {
        let exposure: f64 = groups.iter().map(|g| g.1).sum();
        let events: f64 = groups.iter().map(|g| g.0).sum();
        let with_exposure = groups.iter().filter(|g| g.1 > 0.0).count();
        if exposure <= 0.0 || with_exposure == 0 {
            return GammaPrior { mean: 0.0, variance: 0.0 };
        }
        let mean = events / exposure;
        let spread: f64 =
            groups.iter().filter(|g| g.1 > 0.0).map(|&(y, e)| e * (y / e - mean).powi(2)).sum::<f64>() / exposure;
        let mean_exposure = exposure / with_exposure as f64;
        GammaPrior { mean, variance: (spread - mean / mean_exposure).max(0.0) }
    }

    /// The posterior mean count of a minute with `events` at `exposure`:
    /// e·(α + y)/(β + e) with α = μ²/τ², β = μ/τ², i.e. the weight
    /// w = β/(β + e) on the expected count μ·e and 1 − w on the observed.
    /// With no overdispersion (τ² = 0) the expected count itself.
    pub fn estimate(&self, events: f64, exposure: f64) -> f64 {
        if self.mean <= 0.0 {
            return 0.0;
        }
        if self.variance <= 0.0 {
            return self.mean * exposure;
        }
        let beta = self.mean / self.variance;
        let w = beta / (beta + exposure);
        w * self.mean * exposure + (1.0 - w) * events
    }
}

/// Every minute's indices blended with its group's baseline: the mean of
/// the group's raw indices over the minutes given (`safety_compute` groups
/// by intersection and hour of day). `groups`, `minutes` and `raw` are
/// parallel.
pub fn blend_with_group_means<G: Hash + Eq + Copy>(
    groups: &[G],
    minutes: &[Minute],
    raw: &[Indices],
    k: f64,
) -> Vec<Indices> {
    let mut sums: HashMap<G, (f64, f64, usize)> = HashMap::new();
    for (g, x) in groups.iter().zip(raw) {
        let e = sums.entry(*g).or_default();
        e.0 += x.vru;
        e.1 += x.vehicle;
        e.2 += 1;
    }
    groups
        .iter()
        .zip(minutes.iter().zip(raw))
        .map(|(g, (m, x))| {
            let (vru_sum, vehicle_sum, n) = sums[g];
            let vru = blend(x.vru, vru_sum / n as f64, m.volume, k);
            let vehicle = blend(x.vehicle, vehicle_sum / n as f64, m.volume, k);
            Indices { vru, vehicle, combined: combine(vru, vehicle) }
        })
        .collect()
}

/// Every minute's indices from empirical-Bayes estimates of its event
/// counts, with gamma priors fitted to the groups' (intersections') totals
/// of events and volume over the minutes given. `groups` and `minutes` are
/// parallel.
pub fn empirical_bayes<G: Hash + Eq + Copy>(groups: &[G], minutes: &[Minute], c: &Constants) -> Vec<Indices> {
    let mut totals: HashMap<G, (f64, f64, f64)> = HashMap::new();
    for (g, m) in groups.iter().zip(minutes) {
        let t = totals.entry(*g).or_default();
        t.0 += m.vru_events;
        t.1 += m.vehicle_events;
        t.2 += m.volume;
    }
    let vru_prior = GammaPrior::from_groups(&totals.values().map(|t| (t.0, t.2)).collect::<Vec<_>>());
    let vehicle_prior = GammaPrior::from_groups(&totals.values().map(|t| (t.1, t.2)).collect::<Vec<_>>());
    minutes
        .iter()
        .map(|m| {
            let estimated = Minute {
                vru_events: vru_prior.estimate(m.vru_events, m.volume),
                vehicle_events: vehicle_prior.estimate(m.vehicle_events, m.volume),
                ..*m
            };
            indices(&estimated, c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked examples of docs/INDICES.md.
    const C: Constants = Constants {
        vru_events_max: 4.0,
        vehicle_events_max: 10.0,
        volume_max: 100.0,
        speed_variance_max: 50.0,
        hard_braking_max: 5.0,
        speed_p85: 40.0,
    };

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn example_1_a_busy_minute() {
        let m = Minute {
            vru_events: 1.0,
            vehicle_events: 3.0,
            volume: 40.0,
            avg_speed: Some(44.0),
            speed_variance: Some(20.0),
            hard_braking: 2.0,
        };
        let i = indices(&m, &C);
        close(i.vru, 26.5);
        close(i.vehicle, 31.5);
        close(i.combined, 28.5);
    }

    #[test]
    fn example_2_no_traffic_no_speed_and_counts_above_the_maximum() {
        let m = Minute {
            vru_events: 6.0,
            vehicle_events: 0.0,
            volume: 0.0,
            avg_speed: None,
            speed_variance: None,
            hard_braking: 0.0,
        };
        let i = indices(&m, &C);
        close(i.vru, 50.0);
        close(i.vehicle, 0.0);
        close(i.combined, 30.0);
        // Zero constants normalize to 0, never divide by zero.
        let zero = Constants { vru_events_max: 0.0, speed_p85: 0.0, ..C };
        close(indices(&m, &zero).vru, 0.0);
    }

    #[test]
    fn example_3_the_blend() {
        close(credibility(40.0, 50.0), 41.0 / 91.0);
        close(blend(28.5, 20.0, 40.0, 50.0), 2168.5 / 91.0);
        // No traffic: mostly the baseline; heavy traffic: mostly the minute.
        assert!(blend(80.0, 20.0, 0.0, 50.0) < 22.0);
        assert!(blend(80.0, 20.0, 5000.0, 50.0) > 79.0);
    }

    #[test]
    fn example_4_empirical_bayes() {
        let prior = GammaPrior::from_groups(&[(2.0, 100.0), (0.0, 50.0), (8.0, 150.0)]);
        close(prior.mean, 1.0 / 30.0);
        close(prior.variance, 1.0 / 9000.0);
        // α = 10, β = 300: a minute with 1 event at 40 vehicles.
        close(prior.estimate(1.0, 40.0), 40.0 * 11.0 / 340.0);
        // No events anywhere, or no overdispersion.
        assert_eq!(GammaPrior::from_groups(&[(0.0, 10.0)]).estimate(0.0, 10.0), 0.0);
        let flat = GammaPrior::from_groups(&[(1.0, 100.0), (1.0, 100.0)]);
        assert_eq!(flat.variance, 0.0);
        close(flat.estimate(5.0, 100.0), 1.0);
        assert_eq!(GammaPrior::from_groups(&[]), GammaPrior { mean: 0.0, variance: 0.0 });
    }

    #[test]
    fn indices_stay_in_range_and_bad_inputs_are_named() {
        let big = Minute {
            vru_events: 1e9,
            vehicle_events: 1e9,
            volume: 1e9,
            avg_speed: Some(1e9),
            speed_variance: Some(1e9),
            hard_braking: 1e9,
        };
        let i = indices(&big, &C);
        close(i.vru, 100.0);
        close(i.vehicle, 100.0);
        assert_eq!(Minute { volume: -1.0, ..big }.check(), Err(InputError::Negative("volume", -1.0)));
        assert!(Minute { avg_speed: Some(f64::NAN), ..big }.check().is_err());
        assert!(Constants { speed_p85: f64::INFINITY, ..C }.check().is_err());
        assert!((VRU_WEIGHTS.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((VEHICLE_WEIGHTS.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    fn quiet(vru_events: f64, vehicle_events: f64, volume: f64) -> Minute {
        Minute { vru_events, vehicle_events, volume, avg_speed: None, speed_variance: None, hard_braking: 0.0 }
    }

    #[test]
    fn blend_pulls_each_minute_toward_its_own_group_mean() {
        let minutes = [quiet(4.0, 0.0, 0.0), quiet(0.0, 0.0, 0.0), quiet(0.0, 10.0, 99.0)];
        let raw: Vec<Indices> = minutes.iter().map(|m| indices(m, &C)).collect();
        let out = blend_with_group_means(&[1, 1, 2], &minutes, &raw, 50.0);
        // Group 1: VRU indices 50 and 0 (volume 0: term 0), mean 25.
        let l = credibility(0.0, 50.0);
        close(out[0].vru, l * 50.0 + (1.0 - l) * 25.0);
        close(out[1].vru, (1.0 - l) * 25.0);
        close(out[0].combined, combine(out[0].vru, out[0].vehicle));
        // A group of one is its own baseline: the blend leaves it as it is.
        close(out[2].vru, raw[2].vru);
        close(out[2].vehicle, raw[2].vehicle);
    }

    #[test]
    fn empirical_bayes_fits_priors_to_the_groups_totals() {
        // The groups of example 4, each as one or two minutes.
        let minutes = [quiet(2.0, 0.0, 60.0), quiet(0.0, 0.0, 40.0), quiet(0.0, 0.0, 50.0), quiet(8.0, 0.0, 150.0)];
        let out = empirical_bayes(&["a", "a", "b", "c"], &minutes, &C);
        let prior = GammaPrior::from_groups(&[(2.0, 100.0), (0.0, 50.0), (8.0, 150.0)]);
        close(prior.variance, 1.0 / 9000.0);
        for (m, i) in minutes.iter().zip(&out) {
            let estimated = Minute { vru_events: prior.estimate(m.vru_events, m.volume), ..*m };
            close(i.vru, indices(&estimated, &C).vru);
        }
        // No vehicle events anywhere: the vehicle estimate is 0, not NaN.
        assert!(out.iter().all(|i| i.vehicle == indices(&quiet(0.0, 0.0, 0.0), &C).vehicle));
    }
}
