fn main() {
    let scale: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let t = std::time::Instant::now();
    let d = gridkit_demo::Demo::new(scale, 42);
    let built = t.elapsed();
    let zones = d.zones();
    let mut counts: Vec<(usize, &str)> = zones.iter().map(|z| ((z.wkb.len() - 9) / 16, z.code)).collect();
    counts.sort();
    println!("cell {:.4} built in {:?}, zones traced in {:?}", d.world.lattice.cell, built, t.elapsed() - built);
    println!("fewest vertices: {:?}", &counts[..5]);
    println!("most vertices: {:?}", &counts[counts.len() - 3..]);
}
