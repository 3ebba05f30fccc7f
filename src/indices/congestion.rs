//! Grid congestion indices in SQL: zones classified and pricing nodes
//! scored from hourly LMP components in a table the caller names. The
//! per-zone and per-node metrics are one aggregate query each; the
//! normalization and rules are `gridkit_indices::congestion`
//! (docs/INDICES.md, "Congestion").

use std::collections::BTreeMap;

use gridkit_indices::congestion::{self, ratio, ZoneMetrics};
use gridkit_sqltext::quote_ident;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::*;
use crate::layers::registry::Source as Relation;

fn check_threshold(threshold: f64) -> SqlResult<()> {
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(SqlError::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("threshold must be a finite number >= 0, not {threshold}"),
        ));
    }
    Ok(())
}

/// SQL of the ISO key: the column as text, or '' when there is none.
fn iso_sql(iso_column: Option<&str>) -> String {
    iso_column.map_or("''".to_string(), |c| format!("coalesce({}::text, '')", quote_ident(c)))
}

/// A row of zone_classify (columns named in the signature).
type ZoneRow = (Option<String>, String, i64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, String);

/// Classifies every zone of `source` over [`from`, `to`) against the other
/// zones of its ISO.
#[pg_extern(schema = "gridkit", name = "_zone_classify")]
#[allow(clippy::too_many_arguments)]
fn zone_classify(
    source: pg_sys::Oid,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    zone_column: &str,
    iso_column: Option<&str>,
    time_column: &str,
    lmp_column: &str,
    energy_column: &str,
    congestion_column: &str,
    loss_column: &str,
    threshold: f64,
    timezone: &str,
) -> TableIterator<
    'static,
    (
        name!(iso, Option<String>),
        name!(zone, String),
        name!(hours, i64),
        name!(congestion_ratio, f64),
        name!(congestion_volatility, f64),
        name!(congested_share, f64),
        name!(peak_share, f64),
        name!(energy_deviation, f64),
        name!(energy_volatility, f64),
        name!(loss_ratio, f64),
        name!(high_energy_share, f64),
        name!(transmission_score, f64),
        name!(generation_score, f64),
        name!(classification, String),
    ),
> {
    let rows = Spi::connect(|client| -> SqlResult<Vec<ZoneRow>> {
        crate::timeseries::partitions::check_window(from, to)?;
        check_threshold(threshold)?;
        client.select("SELECT pg_catalog.timezone($1, pg_catalog.now())", None, &[timezone.into()])?;
        let iso = iso_sql(iso_column);
        let zone = quote_ident(zone_column);
        let energy = quote_ident(energy_column);
        let ts = quote_ident(time_column);
        let source = Relation::require(client, source)?.qualified_name;
        let window = format!("{ts} >= $1 AND {ts} < $2 AND {zone} IS NOT NULL");
        // The 90th percentile of energy per ISO first, then one pass over
        // the rows with it joined in (a shared subquery would be written out
        // in full to be read twice).
        let p90: Vec<(String, f64)> = client
            .select(
                &format!(
                    "SELECT {iso}, percentile_cont(0.9) WITHIN GROUP (ORDER BY {energy}::float8)
                       FROM {source} WHERE {window} GROUP BY 1"
                ),
                None,
                &[from.into(), to.into()],
            )?
            .map(|r| Ok((r.get::<String>(1)?.unwrap_or_default(), r.get::<f64>(2)?.unwrap_or(0.0))))
            .collect::<SqlResult<_>>()?;
        if p90.is_empty() {
            return Ok(Vec::new());
        }
        let p90_values: Vec<String> =
            p90.iter().map(|(iso, p)| format!("({}, {p:?}::float8)", gridkit_sqltext::quote_literal(iso))).collect();
        let tz = gridkit_sqltext::quote_literal(timezone);
        // The row subquery is pulled up into the aggregate: Citus then
        // aggregates on the workers and combines per zone on the
        // coordinator (a fenced subquery, OFFSET 0, brought every row
        // there), and locally it is 30% faster too.
        let sql = format!(
            "WITH z AS (
                SELECT r.iso, r.zone, count(*) AS hours,
                       avg(abs(cong)) AS mean_abs_cong, avg(abs(lmp)) AS mean_abs_lmp,
                       coalesce(stddev_pop(cong), 0) AS cong_sd, avg((abs(cong) > $3)::int) AS congested,
                       coalesce(avg(abs(cong)) FILTER (WHERE peak), 0) AS peak_cong,
                       coalesce(avg(abs(cong)) FILTER (WHERE NOT peak), 0) AS off_cong,
                       avg(energy) AS mean_energy, coalesce(stddev_pop(energy), 0) AS energy_sd,
                       avg(abs(loss)) AS mean_abs_loss, avg((energy > p90.p)::int) AS high_energy
                  FROM (SELECT {iso} AS iso, {zone}::text AS zone, {lmp}::float8 AS lmp, {energy}::float8 AS energy,
                               {cong}::float8 AS cong, {loss}::float8 AS loss,
                               pg_catalog.date_part('isodow', pg_catalog.timezone({tz}, {ts})) <= 5
                               AND pg_catalog.date_part('hour', pg_catalog.timezone({tz}, {ts})) BETWEEN 7 AND 22 AS peak
                          FROM {source} WHERE {window}) r
                  JOIN (VALUES {values}) AS p90(iso, p) ON p90.iso = r.iso
                 GROUP BY r.iso, r.zone
             )
             SELECT iso, zone, hours, coalesce(mean_abs_cong, 0), coalesce(mean_abs_lmp, 0), cong_sd,
                    coalesce(congested, 0)::float8, peak_cong, off_cong,
                    coalesce(abs(mean_energy - avg(mean_energy) OVER (PARTITION BY iso)), 0), energy_sd,
                    coalesce(mean_abs_loss, 0), coalesce(high_energy, 0)::float8
               FROM z ORDER BY iso, zone",
            lmp = quote_ident(lmp_column),
            cong = quote_ident(congestion_column),
            loss = quote_ident(loss_column),
            values = p90_values.join(", "),
        );
        let result = client.select(&sql, None, &[from.into(), to.into(), threshold.into()])?;
        let mut by_iso: BTreeMap<String, Vec<(String, i64, ZoneMetrics)>> = BTreeMap::new();
        for row in result {
            let f = |i: usize| -> SqlResult<f64> { Ok(row.get::<f64>(i)?.unwrap_or(0.0)) };
            let (mean_abs_cong, mean_abs_lmp, peak, off) = (f(4)?, f(5)?, f(8)?, f(9)?);
            let metrics = ZoneMetrics {
                congestion_ratio: ratio(mean_abs_cong, mean_abs_lmp),
                congestion_volatility: f(6)?,
                congested_share: f(7)?,
                peak_share: ratio(peak, peak + off),
                energy_deviation: f(10)?,
                energy_volatility: f(11)?,
                loss_ratio: ratio(f(12)?, mean_abs_lmp),
                high_energy_share: f(13)?,
            };
            by_iso.entry(row.get::<String>(1)?.unwrap_or_default()).or_default().push((
                row.get::<String>(2)?.unwrap_or_default(),
                row.get::<i64>(3)?.unwrap_or(0),
                metrics,
            ));
        }
        let mut out = Vec::new();
        for (iso, zones) in by_iso {
            let metrics: Vec<ZoneMetrics> = zones.iter().map(|z| z.2).collect();
            for ((zone, hours, m), c) in zones.into_iter().zip(congestion::classify(&metrics)) {
                out.push((
                    iso_column.map(|_| iso.clone()),
                    zone,
                    hours,
                    m.congestion_ratio,
                    m.congestion_volatility,
                    m.congested_share,
                    m.peak_share,
                    m.energy_deviation,
                    m.energy_volatility,
                    m.loss_ratio,
                    m.high_energy_share,
                    c.transmission_score,
                    c.generation_score,
                    c.classification.to_string(),
                ));
            }
        }
        Ok(out)
    })
    .or_raise();
    TableIterator::new(rows)
}

/// A row of pnode_severity (columns named in the signature).
type NodeRow = (Option<String>, String, String, i64, f64, f64, Option<f64>, String);

/// Scores every pricing node of `source` over [`from`, `to`) against the
/// other nodes of its zone; nodes with fewer than `min_hours` hours get no
/// score.
#[pg_extern(schema = "gridkit", name = "_pnode_severity")]
#[allow(clippy::too_many_arguments)]
fn pnode_severity(
    source: pg_sys::Oid,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    node_column: &str,
    zone_column: &str,
    iso_column: Option<&str>,
    time_column: &str,
    congestion_column: &str,
    min_hours: i32,
    threshold: f64,
) -> TableIterator<
    'static,
    (
        name!(iso, Option<String>),
        name!(zone, String),
        name!(pnode, String),
        name!(hours, i64),
        name!(avg_abs_congestion, f64),
        name!(congested_share, f64),
        name!(severity_score, Option<f64>),
        name!(tier, String),
    ),
> {
    let rows = Spi::connect(|client| -> SqlResult<Vec<NodeRow>> {
        crate::timeseries::partitions::check_window(from, to)?;
        check_threshold(threshold)?;
        if min_hours < 1 {
            return Err(SqlError::new(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("min_hours must be at least 1, not {min_hours}"),
            ));
        }
        let sql = format!(
            "SELECT {iso}, {zone}::text, {node}::text, count(*), coalesce(avg(abs({cong}::float8)), 0),
                    coalesce(avg((abs({cong}::float8) > $3)::int), 0)::float8
               FROM {source} WHERE {ts} >= $1 AND {ts} < $2 AND {zone} IS NOT NULL AND {node} IS NOT NULL
              GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            iso = iso_sql(iso_column),
            zone = quote_ident(zone_column),
            node = quote_ident(node_column),
            cong = quote_ident(congestion_column),
            ts = quote_ident(time_column),
            source = Relation::require(client, source)?.qualified_name,
        );
        let result = client.select(&sql, None, &[from.into(), to.into(), threshold.into()])?;
        let mut zones: BTreeMap<(String, String), Vec<(String, i64, f64, f64)>> = BTreeMap::new();
        for row in result {
            zones
                .entry((row.get::<String>(1)?.unwrap_or_default(), row.get::<String>(2)?.unwrap_or_default()))
                .or_default()
                .push((
                    row.get::<String>(3)?.unwrap_or_default(),
                    row.get::<i64>(4)?.unwrap_or(0),
                    row.get::<f64>(5)?.unwrap_or(0.0),
                    row.get::<f64>(6)?.unwrap_or(0.0),
                ));
        }
        let mut out = Vec::new();
        for ((iso, zone), nodes) in zones {
            let scored: Vec<&(String, i64, f64, f64)> = nodes.iter().filter(|n| n.1 >= i64::from(min_hours)).collect();
            let scores = congestion::severity(
                &scored.iter().map(|n| n.2).collect::<Vec<_>>(),
                &scored.iter().map(|n| n.3).collect::<Vec<_>>(),
            );
            let mut score_of = scored.iter().map(|n| n.0.as_str()).zip(scores).collect::<BTreeMap<_, _>>();
            for (node, hours, mean_abs, share) in &nodes {
                let score = score_of.remove(node.as_str());
                let tier = score.map_or("insufficient data", congestion::tier);
                out.push((
                    iso_column.map(|_| iso.clone()),
                    zone.clone(),
                    node.clone(),
                    *hours,
                    *mean_abs,
                    *share,
                    score,
                    tier.to_string(),
                ));
            }
        }
        Ok(out)
    })
    .or_raise();
    TableIterator::new(rows)
}
