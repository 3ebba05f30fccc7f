fn main() {
    let scale: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let d = gridkit_demo::Demo::new(scale, 42);
    let t = std::time::Instant::now();
    let lines = d.transmission_lines();
    let vertices: usize = lines.iter().map(|l| (l.wkb.len() - 9) / 16).sum();
    println!("{} lines, {} vertices, {:?}", lines.len(), vertices, t.elapsed());
}
