//! Grid congestion indices (docs/INDICES.md, "Congestion"): zones scored
//! and classified from per-zone metrics of their LMP components, pricing
//! nodes scored within their zone. The per-zone and per-node metrics are
//! SQL aggregates; what is here is the normalization and the rules.

/// A score at or above this makes a zone constrained on that side.
pub const CONSTRAINED: f64 = 0.5;
/// Tier thresholds of a pricing node's severity score.
pub const TIERS: [(f64, &str); 3] = [(0.75, "critical"), (0.50, "elevated"), (0.25, "moderate")];
/// Weights of a node's severity: mean |congestion|, share of congested hours.
pub const SEVERITY_WEIGHTS: [f64; 2] = [0.6, 0.4];

/// Metrics of one zone over the analysed hours.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ZoneMetrics {
    /// mean |congestion| / mean |LMP|.
    pub congestion_ratio: f64,
    /// Population standard deviation of congestion.
    pub congestion_volatility: f64,
    /// Share of hours with |congestion| above the threshold.
    pub congested_share: f64,
    /// Peak mean |congestion| / (peak + off-peak mean |congestion|): 0.5 when
    /// equal, toward 1 when congestion is a peak-hour thing.
    pub peak_share: f64,
    /// |zone mean energy − mean over the zones of their mean energy|.
    pub energy_deviation: f64,
    /// Population standard deviation of the energy component.
    pub energy_volatility: f64,
    /// mean |loss| / mean |LMP|.
    pub loss_ratio: f64,
    /// Share of hours with energy above the 90th percentile of all zones'.
    pub high_energy_share: f64,
}

/// Scores and class of one zone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoneClass {
    pub transmission_score: f64,
    pub generation_score: f64,
    pub classification: &'static str,
}

/// Spreads below this, relative to the values (at least 1), count as no
/// spread: metrics equal but for rounding (sums taken in another order)
/// would otherwise normalize to arbitrary values in [0, 1].
pub const TIE: f64 = 1e-9;

/// Min–max normalization to [0, 1]; all equal (within [`TIE`]), or one
/// value, gives 0. NaN values count as 0.
pub fn min_max(values: &[f64]) -> Vec<f64> {
    let clean: Vec<f64> = values.iter().map(|v| if v.is_nan() { 0.0 } else { *v }).collect();
    let lo = clean.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = clean.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Written so that a NaN spread (infinite inputs) also counts as a tie.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(hi - lo > TIE * hi.abs().max(lo.abs()).max(1.0)) {
        return vec![0.0; clean.len()];
    }
    clean.iter().map(|v| (v - lo) / (hi - lo)).collect()
}

/// `num / den`, 0 when the denominator is 0.
pub fn ratio(num: f64, den: f64) -> f64 {
    if den != 0.0 {
        num / den
    } else {
        0.0
    }
}

/// The classification of scores.
pub fn classification(transmission: f64, generation: f64) -> &'static str {
    match (transmission >= CONSTRAINED, generation >= CONSTRAINED) {
        (true, true) => "both",
        (true, false) => "transmission-constrained",
        (false, true) => "generation-constrained",
        (false, false) => "unconstrained",
    }
}

/// Classifies zones compared with each other: each metric is min–max
/// normalized across `zones`; the transmission score is the mean of the
/// four congestion metrics, the generation score the mean of the four
/// energy and loss metrics.
pub fn classify(zones: &[ZoneMetrics]) -> Vec<ZoneClass> {
    let column = |f: fn(&ZoneMetrics) -> f64| min_max(&zones.iter().map(f).collect::<Vec<_>>());
    let t = [
        column(|z| z.congestion_ratio),
        column(|z| z.congestion_volatility),
        column(|z| z.congested_share),
        column(|z| z.peak_share),
    ];
    let g = [
        column(|z| z.energy_deviation),
        column(|z| z.energy_volatility),
        column(|z| z.loss_ratio),
        column(|z| z.high_energy_share),
    ];
    (0..zones.len())
        .map(|i| {
            let transmission = t.iter().map(|c| c[i]).sum::<f64>() / 4.0;
            let generation = g.iter().map(|c| c[i]).sum::<f64>() / 4.0;
            ZoneClass {
                transmission_score: transmission,
                generation_score: generation,
                classification: classification(transmission, generation),
            }
        })
        .collect()
}

/// Severity scores of the nodes of one zone from their mean |congestion|
/// and share of congested hours, each min–max normalized within the zone.
pub fn severity(mean_abs: &[f64], congested_share: &[f64]) -> Vec<f64> {
    let a = min_max(mean_abs);
    let s = min_max(congested_share);
    a.iter().zip(&s).map(|(a, s)| SEVERITY_WEIGHTS[0] * a + SEVERITY_WEIGHTS[1] * s).collect()
}

/// The tier of a severity score.
pub fn tier(score: f64) -> &'static str {
    TIERS.iter().find(|(t, _)| score >= *t).map_or("low", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn normalization_handles_ties_and_single_zones() {
        assert_eq!(min_max(&[2.0, 4.0, 3.0]), vec![0.0, 1.0, 0.5]);
        assert_eq!(min_max(&[7.0]), vec![0.0]);
        assert_eq!(min_max(&[1.0, 1.0]), vec![0.0, 0.0]);
        assert_eq!(min_max(&[]), Vec::<f64>::new());
        assert_eq!(min_max(&[f64::NAN, 2.0]), vec![0.0, 1.0]);
        // Equal but for rounding: no spread.
        assert_eq!(min_max(&[7.062431681108746, 7.062431681108753, 7.06243168110875]), vec![0.0; 3]);
        assert_eq!(ratio(1.0, 0.0), 0.0);
    }

    // Example 5 of docs/INDICES.md.
    #[test]
    fn example_5_three_zones() {
        let zones = [
            ZoneMetrics {
                congestion_ratio: 0.30,
                congestion_volatility: 12.0,
                congested_share: 0.40,
                peak_share: 0.80,
                energy_deviation: 2.0,
                energy_volatility: 8.0,
                loss_ratio: 0.02,
                high_energy_share: 0.05,
            },
            ZoneMetrics {
                congestion_ratio: 0.05,
                congestion_volatility: 2.0,
                congested_share: 0.05,
                peak_share: 0.50,
                energy_deviation: 10.0,
                energy_volatility: 20.0,
                loss_ratio: 0.06,
                high_energy_share: 0.25,
            },
            ZoneMetrics {
                congestion_ratio: 0.10,
                congestion_volatility: 4.0,
                congested_share: 0.10,
                peak_share: 0.60,
                energy_deviation: 4.0,
                energy_volatility: 11.0,
                loss_ratio: 0.03,
                high_energy_share: 0.10,
            },
        ];
        let c = classify(&zones);
        close(c[0].transmission_score, 1.0);
        close(c[0].generation_score, 0.0);
        assert_eq!(c[0].classification, "transmission-constrained");
        close(c[1].transmission_score, 0.0);
        close(c[1].generation_score, 1.0);
        assert_eq!(c[1].classification, "generation-constrained");
        // (0.2 + 0.2 + 1/7 + 1/3) / 4 and (0.25 + 0.25 + 0.25 + 0.25) / 4.
        close(c[2].transmission_score, (0.2 + 0.2 + 1.0 / 7.0 + 1.0 / 3.0) / 4.0);
        close(c[2].generation_score, 0.25);
        assert_eq!(c[2].classification, "unconstrained");
        assert_eq!(classification(0.5, 0.5), "both");
    }

    #[test]
    fn example_6_node_severity_and_tiers() {
        let s = severity(&[10.0, 2.0, 6.0], &[0.5, 0.1, 0.1]);
        close(s[0], 1.0);
        close(s[1], 0.0);
        close(s[2], 0.3);
        assert_eq!(tier(s[0]), "critical");
        assert_eq!(tier(0.5), "elevated");
        assert_eq!(tier(s[2]), "moderate");
        assert_eq!(tier(s[1]), "low");
        // A zone with one node: nothing to compare with.
        assert_eq!(severity(&[9.0], &[0.9]), vec![0.0]);
    }
}
