//! The encoder alone, on demo geometries already in WKB: what one tile costs
//! in Rust once PostgreSQL has handed over the rows.
//!
//! cargo bench -p gridkit-mvt

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gridkit_demo::Demo;
use gridkit_mvt::{AttrValue, Budget, LayerEncoder, SourceCrs, TileCoord, TileSpace};

fn point_wkb(lon: f64, lat: f64) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend(1u32.to_le_bytes());
    b.extend(lon.to_le_bytes());
    b.extend(lat.to_le_bytes());
    b
}

fn encode(rows: &[(i64, Vec<u8>)], tile: TileCoord) -> usize {
    let budget = Budget { max_features: 200_000, max_bytes: 500 * 1024 };
    let mut e = LayerEncoder::new("bench", tile, TileSpace::DEFAULT, SourceCrs::LonLat, budget);
    let k = e.key("id_mod");
    for (id, wkb) in rows {
        e.add_wkb(Some(*id), Some(wkb), &[(k, AttrValue::Int(id % 100))]);
    }
    e.finish().bytes.len()
}

fn benches(c: &mut Criterion) {
    let demo = Demo::new(100.0, 42);
    let points: Vec<(i64, Vec<u8>)> = demo.data_centers().iter().map(|d| (d.id, point_wkb(d.lon, d.lat))).collect();
    let lines: Vec<(i64, Vec<u8>)> = demo.transmission_lines().into_iter().map(|l| (l.id, l.wkb)).collect();
    let zones: Vec<(i64, Vec<u8>)> = demo.zones().into_iter().map(|z| (i64::from(z.id), z.wkb)).collect();
    let world = TileCoord::new(0, 0, 0).unwrap();
    let east = TileCoord::new(4, 4, 6).unwrap();

    let mut g = c.benchmark_group("encode");
    g.sample_size(10);
    g.throughput(Throughput::Elements(points.len() as u64));
    g.bench_function("117900 points, z0", |b| b.iter(|| encode(&points, world)));
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("transmission lines (scale 100), z4", |b| b.iter(|| encode(&lines, east)));
    g.throughput(Throughput::Elements(zones.len() as u64));
    g.bench_function("48 zones, z0", |b| b.iter(|| encode(&zones, world)));
    g.bench_function("48 zones, z4", |b| b.iter(|| encode(&zones, east)));
    g.finish();
}

criterion_group!(encode_benches, benches);
criterion_main!(encode_benches);
