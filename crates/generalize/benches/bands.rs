//! Generalizing the demo zones and transmission lines at every band.

use criterion::{criterion_group, criterion_main, Criterion};
use gridkit_demo::Demo;
use gridkit_generalize::{tolerance_m, Generalizer};
use gridkit_mvt::reader::{read_wkb, SourceGeometry};
use gridkit_mvt::{SourceCrs, TileTransform};

fn read(wkb: &[u8]) -> SourceGeometry {
    let mut g = SourceGeometry::default();
    read_wkb(wkb, &TileTransform::to_mercator(SourceCrs::LonLat), &mut g).unwrap();
    g
}

fn bands(c: &mut Criterion) {
    let demo = Demo::new(100.0, 42);
    let zones: Vec<SourceGeometry> = demo.zones().iter().map(|z| read(&z.wkb)).collect();
    let lines: Vec<SourceGeometry> = demo.transmission_lines().iter().map(|l| read(&l.wkb)).collect();
    for (name, layer) in [("zones", &zones), ("transmission_lines", &lines)] {
        c.bench_function(&format!("{name}: prepare"), |b| b.iter(|| Generalizer::new(layer.iter())));
        let g = Generalizer::new(layer.iter());
        c.bench_function(&format!("{name}: bands z0-z10"), |b| {
            b.iter(|| {
                (0..=10u8)
                    .map(|z| {
                        g.band(tolerance_m(1.0, z, 512.0), tolerance_m(1.0, z, 512.0) / 8.0, |_| true, |_, _| {})
                            .vertices
                    })
                    .sum::<usize>()
            })
        });
    }
}

criterion_group! { name = benches; config = Criterion::default().sample_size(10); targets = bands }
criterion_main!(benches);
