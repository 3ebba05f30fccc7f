//! Deterministic, realistic-looking power-grid data for gridkit's demo and
//! benchmarks: ISOs, zones, pricing nodes, data centres, substations,
//! transmission lines, feeders and distributed energy resources.
//!
//! Points gather around real metro areas (by population, or by data-centre
//! market), lines join nearby substations, and zones tile each ISO exactly
//! (see [`world`]). The same `(scale, seed)` always gives the same rows, and
//! each table has its own random stream, so generating one table does not
//! change another.

pub mod places;
pub mod wkb;
pub mod world;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rstar::primitives::GeomWithData;
use rstar::RTree;

use places::{Metro, ISOS, METROS};
pub use world::World;

/// Rows per unit of scale. Scale 1 is the size of the dashboards gridkit was
/// first built for; the target is scale 1000.
pub const PNODES_PER_SCALE: f64 = 565.0;
pub const DATA_CENTERS_PER_SCALE: f64 = 1179.0;
pub const SUBSTATIONS_PER_SCALE: f64 = 100.0;
pub const FEEDERS_PER_SCALE: f64 = 200.0;
pub const DERS_PER_SCALE: f64 = 800.0;

/// Transmission towers are about this far apart; a line gets a vertex per tower.
const TOWER_SPACING_KM: f64 = 0.25;
const KM_PER_DEGREE: f64 = 111.32;

pub struct IsoRow {
    pub id: i32,
    pub code: &'static str,
    pub name: &'static str,
    pub wkb: Vec<u8>,
}

pub struct ZoneRow {
    pub id: i32,
    pub code: &'static str,
    pub iso_id: &'static str,
    pub congestion_level: f64,
    pub wkb: Vec<u8>,
}

pub struct PnodeRow {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub name: String,
    pub iso_id: &'static str,
    pub zone_id: i32,
    pub node_type: &'static str,
    pub severity_score: f64,
    pub tier: &'static str,
}

pub struct DataCenterRow {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub name: String,
    pub operator: &'static str,
    pub capacity_mw: f64,
    pub status: &'static str,
    pub iso_id: Option<&'static str>,
    pub zone_id: Option<i32>,
}

pub struct SubstationRow {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub name: String,
    pub voltage_kv: i32,
    pub iso_id: Option<&'static str>,
    pub zone_id: Option<i32>,
}

pub struct LineRow {
    pub id: i64,
    pub voltage_kv: i32,
    pub circuits: i32,
    pub length_km: f64,
    pub owner: &'static str,
    pub iso_id: Option<&'static str>,
    pub from_substation: i64,
    pub to_substation: i64,
    pub wkb: Vec<u8>,
}

pub struct FeederRow {
    pub id: i64,
    pub substation_id: i64,
    pub voltage_kv: f64,
    pub phases: i32,
    pub customers: i32,
    pub length_km: f64,
    pub wkb: Vec<u8>,
}

pub struct DerRow {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub der_type: &'static str,
    pub capacity_kw: f64,
    pub interconnection_year: i32,
    pub iso_id: Option<&'static str>,
    pub zone_id: Option<i32>,
}

/// The tier of a severity score (docs/INDICES.md).
pub fn tier(score: f64) -> &'static str {
    match score {
        s if s >= 0.75 => "critical",
        s if s >= 0.50 => "elevated",
        s if s >= 0.25 => "moderate",
        _ => "low",
    }
}

/// A demo data set of a given scale and seed.
pub struct Demo {
    pub scale: f64,
    pub seed: u64,
    pub world: World,
}

fn count(per_scale: f64, scale: f64) -> usize {
    ((per_scale * scale).round() as usize).max(1)
}

/// Picks an index with probability proportional to its weight.
fn pick_weighted(rng: &mut ChaCha8Rng, cumulative: &[f64]) -> usize {
    let r = rng.random::<f64>() * cumulative.last().copied().unwrap_or(0.0);
    cumulative.partition_point(|&c| c <= r).min(cumulative.len() - 1)
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    weights
        .scan(0.0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

/// Every metro, weighted by population (plus a floor, so small places get some).
fn by_population() -> (Vec<&'static Metro>, Vec<f64>) {
    let metros: Vec<&Metro> = METROS.iter().collect();
    let weights = cumulative(metros.iter().map(|m| 0.2 + m.pop));
    (metros, weights)
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn choose<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|i| i.1).sum();
    let mut r = rng.random::<f64>() * total;
    for &(item, w) in items {
        if r < w {
            return item;
        }
        r -= w;
    }
    items[items.len() - 1].0
}

/// Great-circle distance in km.
pub fn haversine_km(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (la1, la2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = la2 - la1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

fn path_length_km(pts: &[[f64; 2]]) -> f64 {
    pts.windows(2).map(|w| haversine_km(w[0], w[1])).sum()
}

fn round_to(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

const OPERATORS: &[(&str, f64)] = &[
    ("Equinix", 10.0),
    ("Digital Realty", 10.0),
    ("QTS", 6.0),
    ("CyrusOne", 6.0),
    ("Vantage", 5.0),
    ("Aligned", 4.0),
    ("Switch", 3.0),
    ("STACK", 4.0),
    ("CoreSite", 4.0),
    ("Microsoft", 6.0),
    ("Google", 5.0),
    ("Amazon", 8.0),
    ("Meta", 4.0),
    ("Iron Mountain", 3.0),
    ("Flexential", 3.0),
];

const LINE_OWNERS: &[(&str, f64)] = &[
    ("AEP", 5.0),
    ("Exelon", 4.0),
    ("Dominion", 3.0),
    ("FirstEnergy", 3.0),
    ("Xcel", 3.0),
    ("Entergy", 3.0),
    ("Ameren", 2.0),
    ("Oncor", 4.0),
    ("CenterPoint", 2.0),
    ("PG&E", 3.0),
    ("SCE", 3.0),
    ("Evergy", 2.0),
    ("ITC", 3.0),
    ("Duke", 3.0),
    ("PacifiCorp", 2.0),
];

impl Demo {
    /// `scale` multiplies row counts (1 = 565 pricing nodes); larger scales
    /// also draw zone borders in finer detail (lattice 0.0125° at scale 1,
    /// 0.006° from scale 40 on).
    pub fn new(scale: f64, seed: u64) -> Demo {
        let detail = scale.max(1.0).powf(0.2).min(2.08);
        Demo { scale, seed, world: World::new(0.0125 / detail, seed) }
    }

    fn rng(&self, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        rng
    }

    pub fn isos(&self) -> Vec<IsoRow> {
        ISOS.iter()
            .enumerate()
            .map(|(k, &(id, code, name))| IsoRow { id, code, name, wkb: self.world.iso_polygon(k as u16 + 1) })
            .collect()
    }

    pub fn zones(&self) -> Vec<ZoneRow> {
        let mut rng = self.rng(1);
        self.world
            .zones
            .iter()
            .map(|z| ZoneRow {
                id: z.id,
                code: z.code,
                iso_id: z.iso,
                congestion_level: round_to(rng.random::<f64>().powf(1.6), 4),
                wkb: self.world.zone_polygon(z.id),
            })
            .collect()
    }

    /// A point near a metro, drawn with a spread that grows with the metro's
    /// size, that satisfies `accept`.
    fn near_metro(
        &self,
        rng: &mut ChaCha8Rng,
        metros: &[&Metro],
        cumulative: &[f64],
        spread: f64,
        accept: impl Fn(f64, f64) -> bool,
    ) -> [f64; 2] {
        loop {
            let m = metros[pick_weighted(rng, cumulative)];
            let sigma = spread * (0.05 + 0.12 * m.pop.sqrt());
            let lat = m.lat + sigma * gauss(rng);
            let lon = m.lon + sigma * gauss(rng) / lat.to_radians().cos();
            if accept(lon, lat) {
                return [lon, lat];
            }
        }
    }

    /// Near a metro (see `near_metro`) when `urban`, else anywhere on land.
    fn place(
        &self,
        rng: &mut ChaCha8Rng,
        urban: bool,
        (metros, cumulative): (&[&Metro], &[f64]),
        spread: f64,
        accept: impl Fn(f64, f64) -> bool,
    ) -> [f64; 2] {
        if urban {
            self.near_metro(rng, metros, cumulative, spread, accept)
        } else {
            self.anywhere(rng, accept)
        }
    }

    /// A point spread over land that satisfies `accept`.
    fn anywhere(&self, rng: &mut ChaCha8Rng, accept: impl Fn(f64, f64) -> bool) -> [f64; 2] {
        loop {
            let lon = -125.0 + 58.5 * rng.random::<f64>();
            let lat = 24.5 + 25.0 * rng.random::<f64>();
            if self.world.on_land(lon, lat) && accept(lon, lat) {
                return [lon, lat];
            }
        }
    }

    pub fn pnodes(&self) -> Vec<PnodeRow> {
        let mut rng = self.rng(2);
        let zones = self.zones();
        let metros: Vec<&Metro> = METROS.iter().filter(|m| self.world.zone_at(m.lon, m.lat).is_some()).collect();
        let weights = cumulative(metros.iter().map(|m| 0.3 + m.pop));
        let in_iso = |lon: f64, lat: f64| self.world.zone_at(lon, lat).is_some();
        (0..count(PNODES_PER_SCALE, self.scale))
            .map(|k| {
                let urban = rng.random::<f64>() < 0.7;
                let p = self.place(&mut rng, urban, (&metros, &weights), 1.0, in_iso);
                let (zone_id, iso_id) = self.world.zone_at(p[0], p[1]).expect("accepted inside an ISO");
                let zone = &zones[zone_id as usize - 1];
                let node_type = choose(
                    &mut rng,
                    &[("LOAD", 60.0), ("GEN", 30.0), ("AGGREGATE", 5.0), ("INTERFACE", 3.0), ("HUB", 2.0)],
                );
                let score = round_to((zone.congestion_level + 0.22 * gauss(&mut rng)).clamp(0.0, 1.0), 4);
                let id = k as i64 + 1;
                PnodeRow {
                    id,
                    lon: p[0],
                    lat: p[1],
                    name: format!("{} {} {:06}", zone.code, node_type, id),
                    iso_id,
                    zone_id,
                    node_type,
                    severity_score: score,
                    tier: tier(score),
                }
            })
            .collect()
    }

    pub fn data_centers(&self) -> Vec<DataCenterRow> {
        let mut rng = self.rng(3);
        let metros: Vec<&Metro> = METROS.iter().filter(|m| m.dc_weight > 0.0).collect();
        let weights = cumulative(metros.iter().map(|m| m.dc_weight));
        let land = |lon: f64, lat: f64| self.world.on_land(lon, lat);
        (0..count(DATA_CENTERS_PER_SCALE, self.scale))
            .map(|k| {
                let urban = rng.random::<f64>() < 0.9;
                let p = self.place(&mut rng, urban, (&metros, &weights), 0.6, land);
                let zone = self.world.zone_at(p[0], p[1]);
                let operator = choose(&mut rng, OPERATORS);
                let capacity = (12.0 * (1.1 * gauss(&mut rng)).exp()).clamp(0.5, 1500.0);
                let status = choose(&mut rng, &[("operating", 70.0), ("under_construction", 15.0), ("planned", 15.0)]);
                let id = k as i64 + 1;
                DataCenterRow {
                    id,
                    lon: p[0],
                    lat: p[1],
                    name: format!("{operator} {:06}", id),
                    operator,
                    capacity_mw: round_to(capacity, 1),
                    status,
                    iso_id: zone.map(|z| z.1),
                    zone_id: zone.map(|z| z.0),
                }
            })
            .collect()
    }

    pub fn substations(&self) -> Vec<SubstationRow> {
        let mut rng = self.rng(4);
        let (metros, weights) = by_population();
        let land = |lon: f64, lat: f64| self.world.on_land(lon, lat);
        (0..count(SUBSTATIONS_PER_SCALE, self.scale))
            .map(|k| {
                let urban = rng.random::<f64>() < 0.55;
                let p = self.place(&mut rng, urban, (&metros, &weights), 2.0, land);
                let zone = self.world.zone_at(p[0], p[1]);
                let voltage_kv = choose(
                    &mut rng,
                    &[(69, 20.0), (115, 25.0), (138, 25.0), (230, 15.0), (345, 10.0), (500, 4.0), (765, 1.0)],
                );
                let id = k as i64 + 1;
                SubstationRow {
                    id,
                    lon: p[0],
                    lat: p[1],
                    name: format!("SUB {:06} {} kV", id, voltage_kv),
                    voltage_kv,
                    iso_id: zone.map(|z| z.1),
                    zone_id: zone.map(|z| z.0),
                }
            })
            .collect()
    }

    /// Transmission lines: each substation to its two nearest neighbours (and
    /// sometimes its third), and every 345 kV+ substation to the nearest
    /// other 345 kV+ one, which forms the high-voltage backbone.
    pub fn transmission_lines(&self) -> Vec<LineRow> {
        let subs = self.substations();
        let mut rng = self.rng(5);
        let flat = |s: &SubstationRow| [s.lon * 38.5f64.to_radians().cos(), s.lat];
        let all: RTree<GeomWithData<[f64; 2], usize>> =
            RTree::bulk_load(subs.iter().enumerate().map(|(k, s)| GeomWithData::new(flat(s), k)).collect());
        let hv: RTree<GeomWithData<[f64; 2], usize>> = RTree::bulk_load(
            subs.iter()
                .enumerate()
                .filter(|(_, s)| s.voltage_kv >= 345)
                .map(|(k, s)| GeomWithData::new(flat(s), k))
                .collect(),
        );
        let mut pairs = std::collections::BTreeSet::new();
        for (k, s) in subs.iter().enumerate() {
            let take = if rng.random::<f64>() < 0.35 { 3 } else { 2 };
            for n in all.nearest_neighbor_iter(&flat(s)).filter(|n| n.data != k).take(take) {
                pairs.insert((k.min(n.data), k.max(n.data)));
            }
            if s.voltage_kv >= 345 {
                if let Some(n) = hv.nearest_neighbor_iter(&flat(s)).find(|n| n.data != k) {
                    pairs.insert((k.min(n.data), k.max(n.data)));
                }
            }
        }
        pairs
            .into_iter()
            .enumerate()
            .map(|(id, (a, b))| {
                let (sa, sb) = (&subs[a], &subs[b]);
                let pts = meander(&mut rng, [sa.lon, sa.lat], [sb.lon, sb.lat], TOWER_SPACING_KM, 0.04);
                LineRow {
                    id: id as i64 + 1,
                    voltage_kv: sa.voltage_kv.min(sb.voltage_kv),
                    circuits: if rng.random::<f64>() < 0.3 { 2 } else { 1 },
                    length_km: round_to(path_length_km(&pts), 3),
                    owner: choose(&mut rng, LINE_OWNERS),
                    iso_id: sa.iso_id.or(sb.iso_id),
                    from_substation: sa.id,
                    to_substation: sb.id,
                    wkb: wkb::linestring(&pts),
                }
            })
            .collect()
    }

    /// Distribution feeders: short wandering lines out of substations.
    pub fn feeders(&self) -> Vec<FeederRow> {
        let subs = self.substations();
        let mut rng = self.rng(6);
        (0..count(FEEDERS_PER_SCALE, self.scale))
            .map(|k| {
                let s = &subs[rng.random_range(0..subs.len())];
                let n = rng.random_range(12..32);
                let mut heading: f64 = rng.random::<f64>() * std::f64::consts::TAU;
                let mut p = [s.lon, s.lat];
                let mut pts = vec![p];
                for _ in 1..n {
                    heading += 0.45 * gauss(&mut rng);
                    let step_km = 0.15 + 0.35 * rng.random::<f64>();
                    let dlat = step_km / KM_PER_DEGREE * heading.sin();
                    let dlon = step_km / (KM_PER_DEGREE * p[1].to_radians().cos()) * heading.cos();
                    p = [p[0] + dlon, p[1] + dlat];
                    pts.push(p);
                }
                FeederRow {
                    id: k as i64 + 1,
                    substation_id: s.id,
                    voltage_kv: choose(
                        &mut rng,
                        &[(12.47, 40.0), (13.2, 15.0), (13.8, 20.0), (24.94, 15.0), (34.5, 10.0)],
                    ),
                    phases: if rng.random::<f64>() < 0.75 { 3 } else { 1 },
                    customers: (150.0 * (0.8 * gauss(&mut rng)).exp()).round() as i32 + 1,
                    length_km: round_to(path_length_km(&pts), 3),
                    wkb: wkb::linestring(&pts),
                }
            })
            .collect()
    }

    pub fn der_locations(&self) -> Vec<DerRow> {
        let mut rng = self.rng(7);
        let (metros, weights) = by_population();
        let land = |lon: f64, lat: f64| self.world.on_land(lon, lat);
        (0..count(DERS_PER_SCALE, self.scale))
            .map(|k| {
                let urban = rng.random::<f64>() < 0.65;
                let p = self.place(&mut rng, urban, (&metros, &weights), 1.5, land);
                let der_type = if urban {
                    choose(
                        &mut rng,
                        &[("solar", 55.0), ("storage", 20.0), ("ev_charging", 15.0), ("chp", 5.0), ("fuel_cell", 5.0)],
                    )
                } else {
                    choose(&mut rng, &[("solar", 50.0), ("wind", 30.0), ("storage", 20.0)])
                };
                let median_kw = match der_type {
                    "solar" if urban => 12.0,
                    "solar" => 5000.0,
                    "wind" => 20000.0,
                    "storage" => 500.0,
                    "ev_charging" => 350.0,
                    _ => 800.0,
                };
                let zone = self.world.zone_at(p[0], p[1]);
                DerRow {
                    id: k as i64 + 1,
                    lon: p[0],
                    lat: p[1],
                    der_type,
                    capacity_kw: round_to(median_kw * (0.7 * gauss(&mut rng)).exp(), 1),
                    interconnection_year: rng.random_range(2010..=2026),
                    iso_id: zone.map(|z| z.1),
                    zone_id: zone.map(|z| z.0),
                }
            })
            .collect()
    }
}

/// A line from `a` to `b` that wanders like a real right-of-way: a gentle
/// bend of up to `bend` times its length, plus a little noise per vertex, with
/// a vertex every `spacing_km`.
fn meander(rng: &mut ChaCha8Rng, a: [f64; 2], b: [f64; 2], spacing_km: f64, bend: f64) -> Vec<[f64; 2]> {
    let length = haversine_km(a, b);
    let n = ((length / spacing_km).ceil() as usize).clamp(1, 20_000);
    let (b1, b2) = (bend * (2.0 * rng.random::<f64>() - 1.0), 0.4 * bend * (2.0 * rng.random::<f64>() - 1.0));
    let coslat = ((a[1] + b[1]) / 2.0).to_radians().cos();
    // Perpendicular in a locally isotropic frame, back to degrees.
    let (dx, dy) = ((b[0] - a[0]) * coslat, b[1] - a[1]);
    let (px, py) = (-dy / coslat, dx);
    let jitter = 0.02 / KM_PER_DEGREE;
    (0..=n)
        .map(|k| {
            let t = k as f64 / n as f64;
            let off = b1 * (std::f64::consts::PI * t).sin() + b2 * (2.0 * std::f64::consts::PI * t).sin();
            let (jx, jy) = if k == 0 || k == n { (0.0, 0.0) } else { (jitter * gauss(rng), jitter * gauss(rng)) };
            [a[0] + t * (b[0] - a[0]) + off * px + jx, a[1] + t * (b[1] - a[1]) + off * py + jy]
        })
        .collect()
}

#[cfg(test)]
mod tests;
