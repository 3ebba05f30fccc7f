//! `gridkit.generalize_refresh`: simplifies a line or polygon layer for each
//! zoom band and swaps the result in (see `crate::derived` for the rules
//! every build follows).
//!
//! Band z holds, for each feature that shows at zoom z (`min_zoom`, the zoom
//! rule of z), its geometry simplified at the layer's pixel tolerance for z,
//! in Web Mercator, and its attributes pre-encoded. Polygon borders shared by
//! neighbours are simplified once (`crates/generalize`), so the bands keep
//! the neighbours' common edges identical.

use std::time::Instant;

use gridkit_attrs::props;
use gridkit_generalize::thin::{self, Candidate, TileBudget};
use gridkit_generalize::{tolerance_m, wkb, Generalizer};
use gridkit_mvt::reader::{read_wkb, Dimension, SourceGeometry};
use gridkit_mvt::{AttrValue, SourceCrs, TileCoord, TileTransform};
use gridkit_options::SimplifyOptions;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use super::layout;
use crate::derived::{self, Kind};
use crate::error::*;
use crate::layers::plan::{AttrKind, GeneralizationPlan, LayerPlan};
use crate::pg::copy_in::copy_rows;
use crate::pg::rows::{varlena_bytes, Col};
use crate::tiles::render::decode_attributes;

/// Bytes of geometry per INSERT while writing bands.
const WRITE_BYTES: usize = 32 << 20;
/// Without `simplify.max_zoom`, bands stop at the last zoom that keeps at
/// most this share of the source's vertices (past it, tiles are small and
/// the source serves them as cheaply), and never go past `AUTO_MAX_ZOOM`.
const AUTO_KEEP_SHARE: f64 = 0.5;
const AUTO_MAX_ZOOM: u8 = 16;
/// Each tile of a band keeps up to this many times the tile budget (sizes
/// are estimates; the exact budget applies when the tile is made).
const THIN_SLACK: f64 = 1.5;
/// Tiles of zooms up to this one are rendered by the build and stored: at
/// most 341 tiles, and the ones that cost most to make (the most rows per
/// tile, cut to the byte budget).
const STORED_TILES_MAX_ZOOM: u8 = 4;

/// The layer's features as read for generalization.
struct Features {
    ids: Vec<Option<i64>>,
    geometries: Vec<SourceGeometry>,
    props: Vec<Vec<u8>>,
    /// Bit i set: zoom rule i holds for the feature.
    rules: Vec<i64>,
    /// The tile budget's rank of each feature (see `gridkit_mvt::rank`), and
    /// how many attributes it has: what band thinning needs at every zoom.
    ranks: Vec<f64>,
    attr_counts: Vec<u8>,
    /// Rows without a line or polygon (NULL, empty, invalid or points).
    skipped: usize,
    points: usize,
}

/// Rebuilds the bands of `layer`; returns the number of features read.
pub fn refresh(layer: &str) -> SqlResult<i64> {
    let started = Instant::now();
    Spi::connect_mut(|client| -> SqlResult<i64> {
        let plan = derived::begin(client, Kind::Generalization, layer)?;
        if plan.cluster.is_some() {
            return Err(SqlError::new(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("layer \"{layer}\" is clustered: its low zooms come from gridkit.cluster_refresh"),
            ));
        }
        let mut phases = derived::Phases::start(format!("generalize_refresh('{layer}')"));
        let (mut features, version) = read_features(&plan)?;
        phases.mark("read");
        if features.ids.is_empty() && features.points > 0 {
            return Err(SqlError::new(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("layer \"{layer}\" holds points; generalization is for lines and polygons"),
            )
            .hint("Cluster point layers instead: options => '{\"cluster\": {}}'."));
        }
        let generalizer = Generalizer::new(features.geometries.iter());
        let source_vertices = generalizer.source_vertices;
        let shared_arcs = generalizer.ring_arcs().shared();
        drop(std::mem::take(&mut features.geometries));
        phases.mark("arcs");

        let zoom = &plan.options.zoom;
        let simplify = &plan.options.simplify;
        let visible =
            |z: u8, i: usize| zoom.visible(z) && zoom.rule_at(z).is_none_or(|r| features.rules[i] & (1 << r) != 0);
        let tolerance = |z: u8| tolerance_m(simplify.tolerance_px, z, SimplifyOptions::TILE_PX);
        // Features under half the tolerance (half a pixel by default) draw
        // as a dot at most; lines just above it still show as short strokes.
        let min_size = |z: u8| tolerance(z) / 2.0;

        let build = derived::next_build(client)?;
        let storage = format!("gridkit.generalized_{build}");
        let postgis = &plan.postgis_schema;
        client.update(&layout::create_sql(&storage, postgis), None, &[])?;
        let relid = derived::created_table(client, &storage)?;
        let mut rows = Rows::default();
        let (mut total_rows, mut total_vertices) = (0i64, 0i64);
        // The tile budget in force now (the layer's, or the settings'), with
        // room to spare: see `thin`.
        let tile_budget = plan.budget();
        let budget = TileBudget {
            zoom: 0,
            margin: plan.space().margin(),
            max_bytes: tile_budget.max_bytes,
            max_features: tile_budget.max_features,
            slack: THIN_SLACK,
        };
        let mut max_zoom = 0u8;
        let last = simplify.max_zoom.unwrap_or(AUTO_MAX_ZOOM);
        for z in 0..=last {
            // A zoom the layer does not show needs no band, but counts as built.
            if zoom.visible(z) {
                // (feature, WKB, vertices)
                let mut band: Vec<(usize, Vec<u8>, usize)> = Vec::new();
                let mut candidates: Vec<Candidate> = Vec::new();
                let stats = generalizer.band(
                    tolerance(z),
                    min_size(z),
                    |i| visible(z, i),
                    |i, shape| {
                        // Two doubles a vertex and a header per part, at most.
                        let mut bytes = Vec::with_capacity(16 * shape.vertices() + 64);
                        wkb::write(shape, &mut bytes);
                        candidates.push(Candidate::of(
                            shape,
                            z,
                            plan.options.extent,
                            usize::from(features.attr_counts[i]),
                            features.ranks[i],
                            features.ids[i].unwrap_or(i64::MAX),
                        ));
                        band.push((i, bytes, shape.vertices()));
                    },
                );
                let auto_done = simplify.max_zoom.is_none()
                    && stats.vertices as f64 > AUTO_KEEP_SHARE * source_vertices as f64
                    && z > 0;
                if auto_done {
                    // This band keeps too much to be worth storing.
                    break;
                }
                let keep = thin::select(&candidates, TileBudget { zoom: z, ..budget });
                derived::create_zoom_partition(client, &storage, z)?;
                for ((i, bytes, vertices), _) in band.into_iter().zip(&keep).filter(|(_, &kept)| kept) {
                    rows.push(z, i, bytes);
                    total_rows += 1;
                    total_vertices += vertices as i64;
                }
                if rows.bytes >= WRITE_BYTES {
                    rows.write(relid, &features)?;
                }
            }
            max_zoom = z;
        }
        rows.write(relid, &features)?;
        phases.mark("simplify and write");

        client.update(&layout::index_sql(&storage, build), None, &[])?;
        phases.mark("index");

        let tiles = format!("gridkit.generalized_{build}_tiles");
        let tiles_max_zoom = max_zoom.min(STORED_TILES_MAX_ZOOM);
        let stored = store_tiles(client, &plan, &storage, max_zoom, tiles_max_zoom, &tiles)?;
        phases.mark("store tiles");
        derived::adopt_tables(
            client,
            &[&storage, &tiles],
            &format!("gridkit: generalized bands of layer {layer} (build {build})"),
        )?;

        derived::retire(client, Kind::Generalization, layer)?;
        let build_ms = started.elapsed().as_secs_f64() * 1e3;
        client.update(
            "INSERT INTO gridkit.generalization AS g
                    (layer, build, storage, max_zoom, settings, data_version, built_at, build_ms, features,
                     source_vertices, rows, vertices, shared_arcs, skipped,
                     tiles, tiles_max_zoom, tiles_max_features, tiles_max_bytes)
             VALUES ($1, $2, $3::regclass, $4, gridkit._generalization_settings($1), $5,
                     pg_catalog.clock_timestamp(), $6, $7, $8, $9, $10, $11, $12,
                     $13::regclass, $14, $15, $16)
             ON CONFLICT (layer) DO UPDATE SET
                 build = EXCLUDED.build, storage = EXCLUDED.storage, max_zoom = EXCLUDED.max_zoom,
                 settings = EXCLUDED.settings, data_version = EXCLUDED.data_version, built_at = EXCLUDED.built_at,
                 build_ms = EXCLUDED.build_ms, features = EXCLUDED.features,
                 source_vertices = EXCLUDED.source_vertices, rows = EXCLUDED.rows, vertices = EXCLUDED.vertices,
                 shared_arcs = EXCLUDED.shared_arcs, skipped = EXCLUDED.skipped, tiles = EXCLUDED.tiles,
                 tiles_max_zoom = EXCLUDED.tiles_max_zoom, tiles_max_features = EXCLUDED.tiles_max_features,
                 tiles_max_bytes = EXCLUDED.tiles_max_bytes",
            None,
            &[
                layer.into(),
                build.into(),
                storage.as_str().into(),
                i16::from(max_zoom).into(),
                version.into(),
                build_ms.into(),
                (generalizer.len() as i64).into(),
                (source_vertices as i64).into(),
                total_rows.into(),
                total_vertices.into(),
                (shared_arcs as i64).into(),
                (features.skipped as i64).into(),
                tiles.as_str().into(),
                i16::from(tiles_max_zoom).into(),
                i32::try_from(tile_budget.max_features).unwrap_or(i32::MAX).into(),
                i32::try_from(tile_budget.max_bytes).unwrap_or(i32::MAX).into(),
            ],
        )?;
        derived::finish(client)?;
        phases.mark("swap");
        pgrx::debug1!("gridkit: generalize_refresh('{layer}'): {stored} tiles stored");
        phases.report();
        Ok(generalizer.len() as i64)
    })
}

/// Every line or polygon feature of the layer, in Web Mercator metres, with
/// its encoded attributes and which zoom rules it meets; and the data
/// version, in one snapshot.
fn read_features(plan: &LayerPlan) -> SqlResult<(Features, i64)> {
    let kinds: Vec<AttrKind> = plan.attributes.iter().map(|a| a.kind).collect();
    // One bit per rule, computed by PostgreSQL with the same SQL the tiles use.
    let mask: Vec<String> = plan
        .rule_sql
        .iter()
        .enumerate()
        .map(|(i, sql)| format!("CASE WHEN {sql} THEN {} ELSE 0 END", 1i64 << i))
        .collect();
    let mask_sql = if mask.is_empty() { ", 0::int8".to_string() } else { format!(", ({})::int8", mask.join(" + ")) };
    let transform = TileTransform::to_mercator(plan.crs.unwrap_or(SourceCrs::WebMercator));
    let mut out = Features {
        ids: Vec::new(),
        geometries: Vec::new(),
        props: Vec::new(),
        rules: Vec::new(),
        ranks: Vec::new(),
        attr_counts: Vec::new(),
        skipped: 0,
        points: 0,
    };
    let mut attrs: Vec<(u32, AttrValue<'_>)> = Vec::with_capacity(kinds.len());
    let mut geometry = SourceGeometry::default();
    let columns: Vec<Col> = [Col::Int8, Col::Varlena]
        .into_iter()
        .chain(kinds.iter().map(|k| crate::layers::plan::read_as(*k)))
        .chain([Col::Int8])
        .collect();
    let version = derived::read_source(plan, &plan.select_list, &mask_sql, &columns, |values, nulls| {
        // SAFETY: columns are int8 (id), bytea, the attributes by kind, int8
        // (checked at start).
        unsafe {
            let Some(wkb) = (!nulls[1]).then(|| varlena_bytes(values[1])) else {
                out.skipped += 1;
                return;
            };
            if read_wkb(wkb, &transform, &mut geometry).is_err() {
                out.skipped += 1;
                return;
            }
            match geometry.dimension() {
                None => {
                    out.skipped += 1;
                    return;
                }
                Some(Dimension::Point) => {
                    out.skipped += 1;
                    out.points += 1;
                    return;
                }
                Some(_) => {}
            }
            decode_attributes(&kinds, &values[2..2 + kinds.len()], &nulls[2..2 + kinds.len()], &mut attrs);
            let mut encoded = Vec::new();
            props::encode(&attrs, &mut encoded);
            out.ids.push((!nulls[0]).then(|| values[0].value() as i64));
            out.geometries.push(std::mem::take(&mut geometry));
            out.props.push(encoded);
            out.rules.push(values[columns.len() - 1].value() as i64);
            out.ranks
                .push(plan.rank.map_or(0.0, |(key, descending)| gridkit_mvt::rank(&attrs, key as u32, descending)));
            out.attr_counts.push(attrs.len().min(255) as u8);
        }
    })?;
    Ok((out, version))
}

/// Renders the tiles of zooms 0 to `max_zoom` that the bands in `storage`
/// reach and writes the non-empty ones into a new table `tiles`: the tiles
/// that cost most to make are then one lookup. Rendered as `grid_tile`
/// renders them from the bands, with the budget in force now; returns how
/// many were stored.
fn store_tiles(
    client: &mut SpiClient<'_>,
    plan: &LayerPlan,
    storage: &str,
    bands_max_zoom: u8,
    max_zoom: u8,
    tiles: &str,
) -> SqlResult<i64> {
    client.update(&layout::create_tiles_sql(tiles), None, &[])?;
    let p = &plan.postgis_schema;
    let extent = client
        .select(
            &format!(
                "SELECT {p}.st_xmin(e), {p}.st_ymin(e), {p}.st_xmax(e), {p}.st_ymax(e)
                   FROM (SELECT {p}.st_extent(geom)::{p}.box3d AS e FROM {storage}) s WHERE e IS NOT NULL"
            ),
            Some(1),
            &[],
        )?
        .first();
    if extent.is_empty() {
        return Ok(0);
    }
    let b = gridkit_mvt::tile::Bounds {
        xmin: extent.get::<f64>(1)?.unwrap_or(0.0),
        ymin: extent.get::<f64>(2)?.unwrap_or(0.0),
        xmax: extent.get::<f64>(3)?.unwrap_or(0.0),
        ymax: extent.get::<f64>(4)?.unwrap_or(0.0),
    };
    let bands = GeneralizationPlan::of_build(storage.to_string(), bands_max_zoom);
    let mut batch = TileRows::default();
    let mut stored = 0i64;
    for zoom in 0..=max_zoom {
        if !plan.options.zoom.visible(zoom) {
            continue;
        }
        for tile in TileCoord::covering(zoom, &b, plan.space().margin()) {
            let r = crate::generalize::tile::render(plan, &bands, tile)?;
            if r.finished.bytes.is_empty() {
                continue;
            }
            batch.push(tile, r.finished);
            stored += 1;
            if batch.bytes >= WRITE_BYTES {
                batch.write(client, tiles)?;
            }
            pg_sys::check_for_interrupts!();
        }
    }
    batch.write(client, tiles)?;
    Ok(stored)
}

/// Stored tiles gathered column by column, written in chunks.
#[derive(Default)]
struct TileRows {
    z: Vec<i32>,
    x: Vec<i32>,
    y: Vec<i32>,
    tile: Vec<Vec<u8>>,
    features: Vec<i32>,
    dropped_max_features: Vec<i32>,
    dropped_max_bytes: Vec<i32>,
    bytes: usize,
}

impl TileRows {
    fn push(&mut self, tile: TileCoord, finished: gridkit_mvt::FinishedLayer) {
        self.z.push(i32::from(tile.z));
        self.x.push(tile.x as i32);
        self.y.push(tile.y as i32);
        self.bytes += finished.bytes.len();
        self.tile.push(finished.bytes);
        self.features.push(finished.features as i32);
        self.dropped_max_features.push(finished.dropped_max_features as i32);
        self.dropped_max_bytes.push(finished.dropped_max_bytes as i32);
    }

    fn write(&mut self, client: &mut SpiClient<'_>, tiles: &str) -> SqlResult<()> {
        if self.z.is_empty() {
            return Ok(());
        }
        let t = std::mem::take(self);
        client.update(
            &layout::tiles_insert_sql(tiles),
            None,
            &[
                t.z.into(),
                t.x.into(),
                t.y.into(),
                t.tile.into(),
                t.features.into(),
                t.dropped_max_features.into(),
                t.dropped_max_bytes.into(),
            ],
        )?;
        Ok(())
    }
}

/// Band rows waiting to be written: (zoom, feature, WKB).
#[derive(Default)]
struct Rows {
    rows: Vec<(u8, usize, Vec<u8>)>,
    /// WKB bytes held.
    bytes: usize,
}

impl Rows {
    fn push(&mut self, zoom: u8, feature: usize, wkb: Vec<u8>) {
        self.bytes += wkb.len();
        self.rows.push((zoom, feature, wkb));
    }

    /// Writes the rows held into the bands table `relid` by COPY.
    fn write(&mut self, relid: pg_sys::Oid, features: &Features) -> SqlResult<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(self);
        copy_rows(relid, &layout::COLUMNS, rows.rows.len(), &mut |k, row| {
            let (zoom, i, wkb) = &rows.rows[k];
            row.int2(i16::from(*zoom));
            match features.ids[*i] {
                Some(id) => row.int8(id),
                None => row.null(),
            }
            row.bytes(&features.props[*i]);
            row.ewkb(wkb, 3857);
        })?;
        Ok(())
    }
}
