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
    group.finish();
}

criterion_group!(benches, build);
criterion_main!(benches);
