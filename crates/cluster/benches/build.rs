//! Pyramid build time over the demo's data centres (1.18M points at scale 1000).

use criterion::{criterion_group, criterion_main, Criterion};
use gridkit_cluster::{mercator_to_world, Params, Pyramid};

fn demo_points(scale: f64) -> Vec<[f64; 2]> {
    let demo = gridkit_demo::Demo::new(scale, 42);
    demo.data_centers()
        .iter()
        .map(|p| {
            let x = p.lon.to_radians() * 6378137.0;
            let y = (std::f64::consts::FRAC_PI_4 + p.lat.to_radians() / 2.0).tan().ln() * 6378137.0;
            let (wx, wy) = mercator_to_world(x, y);
            [wx, wy]
        })
        .collect()
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("pyramid");
    group.sample_size(10);
    for scale in [10.0, 100.0] {
        let points = demo_points(scale);
        group.bench_function(format!("build {} points, z0-9", points.len()), |b| {
            b.iter(|| Pyramid::build(&points, None, Params { max_zoom: 9, ..Params::default() }).unwrap())
        });
    }
    // The on-the-fly path of a filtered tile: one zoom, the points of one
    // tile plus a radius around it (5/7/12, Dallas, 113K points at scale 1000).
    let points = demo_points(1000.0);
    let (z, tx, ty) = (5u8, 7.0, 12.0);
    let n = f64::from(1u32 << z);
    let pad = 40.0 / 512.0 / n;
    let tile: Vec<[f64; 2]> = points
        .into_iter()
        .filter(|p| {
            p[0] >= tx / n - pad && p[0] <= (tx + 1.0) / n + pad && p[1] >= ty / n - pad && p[1] <= (ty + 1.0) / n + pad
        })
        .collect();
    group.bench_function(format!("build {} points of tile 5/7/12, z5 only", tile.len()), |b| {
        b.iter(|| Pyramid::build(&tile, None, Params { min_zoom: z, max_zoom: z, ..Params::default() }).unwrap())
    });
    group.finish();
}

criterion_group!(benches, build);
criterion_main!(benches);
