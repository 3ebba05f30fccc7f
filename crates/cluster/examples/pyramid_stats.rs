//! Builds the pyramid over the demo's data centres and pnodes and prints the
//! build time and the number of items per zoom:
//! `cargo run --release -p gridkit-cluster --example pyramid_stats -- 1000`

use std::time::Instant;

use gridkit_cluster::{mercator_to_world, Params, Pyramid};

fn world(lon: f64, lat: f64) -> [f64; 2] {
    let x = lon.to_radians() * 6378137.0;
    let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln() * 6378137.0;
    let (wx, wy) = mercator_to_world(x, y);
    [wx, wy]
}

fn main() {
    let scale: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100.0);
    let demo = gridkit_demo::Demo::new(scale, 42);
    let sets = [
        ("data_centers", demo.data_centers().iter().map(|p| world(p.lon, p.lat)).collect::<Vec<_>>()),
        ("pnodes", demo.pnodes().iter().map(|p| world(p.lon, p.lat)).collect::<Vec<_>>()),
    ];
    for (name, points) in sets {
        let params = Params { max_zoom: 9, ..Params::default() };
        let t = Instant::now();
        let p = Pyramid::build(&points, None, params).unwrap();
        let elapsed = t.elapsed();
        let sizes: Vec<usize> = (0..=9).map(|z| p.level(z).len()).collect();
        println!(
            "{name}: {} points, {} clusters, built in {:.0} ms; items per zoom 0..9: {sizes:?} (sum {})",
            points.len(),
            p.cluster_count(),
            elapsed.as_secs_f64() * 1e3,
            sizes.iter().sum::<usize>()
        );
    }
}
