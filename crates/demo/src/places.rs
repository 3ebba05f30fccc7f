//! Hand-entered geography the demo is built on: a rough outline of the
//! contiguous United States, approximate centres of real ISO zones, and metro
//! areas with their populations. Approximate on purpose: plausible maps, not
//! survey data.

/// The five ISOs of the demo: (id, code, name).
pub const ISOS: [(i32, &str, &str); 5] = [
    (1, "PJM", "PJM Interconnection"),
    (2, "MISO", "Midcontinent Independent System Operator"),
    (3, "SPP", "Southwest Power Pool"),
    (4, "ERCOT", "Electric Reliability Council of Texas"),
    (5, "CAISO", "California Independent System Operator"),
];

/// A zone seed: its code, ISO (None for land outside the five ISOs), centre
/// (lon, lat) and a size bias in degrees (positive grows the zone).
pub struct Seed {
    pub code: &'static str,
    pub iso: Option<&'static str>,
    pub lon: f64,
    pub lat: f64,
    pub bias: f64,
}

const fn z(code: &'static str, iso: &'static str, lon: f64, lat: f64, bias: f64) -> Seed {
    Seed { code, iso: Some(iso), lon, lat, bias }
}

const fn other(code: &'static str, lon: f64, lat: f64, bias: f64) -> Seed {
    Seed { code, iso: None, lon, lat, bias }
}

pub const SEEDS: &[Seed] = &[
    // PJM transmission zones
    z("COMED", "PJM", -88.3, 41.5, 0.3),
    z("AEP", "PJM", -81.9, 38.9, 0.6),
    z("DAY", "PJM", -84.2, 39.85, -0.1),
    z("DEOK", "PJM", -84.45, 39.1, -0.2),
    z("ATSI", "PJM", -81.6, 41.2, 0.1),
    z("DUQ", "PJM", -80.0, 40.45, -0.3),
    z("APS", "PJM", -79.6, 39.5, 0.0),
    z("PENELEC", "PJM", -78.4, 41.3, 0.0),
    z("PPL", "PJM", -76.1, 41.0, -0.1),
    z("METED", "PJM", -76.4, 40.25, -0.2),
    z("PECO", "PJM", -75.35, 40.05, -0.2),
    z("PSEG", "PJM", -74.3, 40.8, -0.1),
    z("JCPL", "PJM", -74.45, 40.2, 0.0),
    z("AECO", "PJM", -74.85, 39.4, -0.1),
    z("DPL", "PJM", -75.5, 38.7, -0.1),
    z("BGE", "PJM", -76.65, 39.35, -0.2),
    z("PEPCO", "PJM", -77.0, 38.9, -0.3),
    z("DOM", "PJM", -77.9, 37.4, 0.5),
    z("EKPC", "PJM", -84.2, 37.5, -0.1),
    // MISO local resource zones
    z("LRZ1", "MISO", -94.3, 46.3, 0.9),
    z("LRZ2", "MISO", -89.6, 44.6, 0.3),
    z("LRZ3", "MISO", -93.4, 42.0, 0.3),
    z("LRZ4", "MISO", -89.2, 39.6, 0.1),
    z("LRZ5", "MISO", -92.0, 38.4, 0.0),
    z("LRZ6", "MISO", -86.4, 39.7, 0.0),
    z("LRZ7", "MISO", -84.7, 43.7, 0.3),
    z("LRZ8", "MISO", -92.4, 34.9, 0.1),
    z("LRZ9", "MISO", -91.9, 31.0, 0.3),
    z("LRZ10", "MISO", -89.7, 32.6, 0.0),
    // SPP
    z("SPS", "SPP", -102.2, 34.6, 0.4),
    z("OKGE", "SPP", -97.4, 35.6, 0.0),
    z("WFEC", "SPP", -99.3, 35.1, 0.0),
    z("WR", "SPP", -96.6, 38.4, 0.1),
    z("SUNC", "SPP", -100.6, 38.6, 0.2),
    z("KCPL", "SPP", -94.6, 39.0, -0.2),
    z("NPPD", "SPP", -99.2, 41.6, 0.5),
    z("WAUE", "SPP", -101.2, 46.6, 0.8),
    z("CSWS", "SPP", -94.2, 33.0, 0.0),
    // ERCOT load zones
    z("LZ_NORTH", "ERCOT", -97.3, 32.9, 0.4),
    z("LZ_HOUSTON", "ERCOT", -95.4, 29.8, -0.2),
    z("LZ_SOUTH", "ERCOT", -98.3, 27.9, 0.3),
    z("LZ_WEST", "ERCOT", -101.8, 31.4, 0.6),
    z("LZ_AEN", "ERCOT", -97.75, 30.3, -0.4),
    z("LZ_CPS", "ERCOT", -98.5, 29.4, -0.3),
    // CAISO load aggregation points
    z("PGAE", "CAISO", -121.4, 38.9, 0.8),
    z("SCE", "CAISO", -117.9, 34.6, 0.4),
    z("SDGE", "CAISO", -116.9, 32.95, -0.3),
    z("VEA", "CAISO", -116.1, 36.3, -0.3),
    // Land outside the five ISOs
    other("ISONE", -71.4, 43.6, 0.4),
    other("NYISO", -75.2, 42.8, 0.2),
    other("FRCC", -81.6, 28.3, 0.5),
    other("SOCO", -85.0, 32.7, 0.4),
    other("DUKE", -79.8, 35.3, 0.3),
    other("TVA", -86.6, 35.8, 0.2),
    other("LGEE", -85.7, 37.8, -0.4),
    other("BPA", -120.6, 46.0, 1.0),
    other("PACW", -122.7, 43.0, 0.5),
    other("NWMT", -111.5, 46.0, 0.8),
    other("IPCO", -115.0, 43.6, 0.5),
    other("PACE", -110.8, 40.2, 0.6),
    other("WACM", -105.5, 40.5, 0.6),
    other("WYOM", -107.5, 43.0, 0.4),
    other("NEVP", -117.2, 39.4, 0.6),
    other("AZPS", -111.8, 33.6, 0.6),
    other("PNM", -106.4, 34.3, 0.4),
    other("EPE", -106.4, 31.9, -0.5),
    other("BANC", -121.9, 40.9, -0.2),
];

/// Rough outline of the contiguous United States (lon, lat), clockwise from
/// Cape Flattery. Lakes and islands are ignored.
pub const CONUS: &[[f64; 2]] = &[
    [-124.7, 48.4], [-123.0, 49.0], [-95.2, 49.0], [-95.1, 49.4], [-89.5, 48.0], [-84.6, 46.5],
    [-84.0, 46.0], [-82.4, 43.0], [-83.1, 42.0], [-78.9, 42.9], [-76.2, 44.2], [-74.7, 45.0],
    [-71.5, 45.0], [-70.0, 46.7], [-69.2, 47.4], [-67.8, 47.1], [-67.0, 44.8], [-70.2, 43.6],
    [-70.6, 42.6], [-70.0, 41.7], [-71.9, 41.3], [-74.0, 40.6], [-74.1, 39.7], [-74.9, 38.9],
    [-75.1, 38.3], [-75.5, 37.9], [-76.0, 36.9], [-75.5, 35.2], [-76.7, 34.7], [-78.0, 33.9],
    [-79.2, 33.2], [-80.8, 32.1], [-81.4, 30.3], [-80.6, 28.4], [-80.1, 26.7], [-80.4, 25.2],
    [-81.2, 25.4], [-81.8, 26.5], [-82.7, 27.8], [-83.6, 29.1], [-84.3, 30.0], [-85.4, 29.7],
    [-86.5, 30.4], [-88.0, 30.6], [-89.4, 30.2], [-89.4, 29.1], [-90.3, 29.1], [-91.5, 29.5],
    [-93.8, 29.7], [-94.8, 29.3], [-96.4, 28.4], [-97.2, 27.6], [-97.2, 26.0], [-99.2, 26.5],
    [-100.3, 28.3], [-101.4, 29.8], [-103.0, 29.0], [-104.5, 29.6], [-106.5, 31.8], [-108.2, 31.8],
    [-108.2, 31.3], [-111.1, 31.3], [-114.8, 32.5], [-117.1, 32.5], [-118.4, 33.8], [-120.6, 34.6],
    [-121.9, 36.6], [-122.5, 37.8], [-123.8, 39.8], [-124.4, 40.4], [-124.2, 42.0], [-124.1, 43.7],
    [-123.9, 46.2], [-124.1, 47.2],
];

/// A metro area: name, centre, population in millions, and its weight as a
/// data-centre market (0 for none).
pub struct Metro {
    pub name: &'static str,
    pub lon: f64,
    pub lat: f64,
    pub pop: f64,
    pub dc_weight: f64,
}

const fn m(name: &'static str, lon: f64, lat: f64, pop: f64, dc_weight: f64) -> Metro {
    Metro { name, lon, lat, pop, dc_weight }
}

pub const METROS: &[Metro] = &[
    // PJM
    m("Chicago", -87.63, 41.88, 9.5, 10.0),
    m("Philadelphia", -75.16, 39.95, 6.2, 2.0),
    m("Washington", -77.04, 38.90, 6.3, 2.0),
    m("Ashburn", -77.49, 39.04, 0.4, 30.0),
    m("Baltimore", -76.61, 39.29, 2.8, 1.0),
    m("Pittsburgh", -79.99, 40.44, 2.4, 1.0),
    m("Columbus", -83.00, 39.96, 2.1, 6.0),
    m("Cleveland", -81.69, 41.50, 2.1, 1.0),
    m("Cincinnati", -84.51, 39.10, 2.2, 1.0),
    m("Richmond", -77.44, 37.54, 1.3, 3.0),
    m("Virginia Beach", -76.00, 36.85, 1.8, 1.0),
    m("Newark", -74.17, 40.73, 4.0, 4.0),
    m("Dayton", -84.19, 39.76, 0.8, 0.5),
    m("Harrisburg", -76.88, 40.27, 0.6, 0.5),
    m("Allentown", -75.49, 40.60, 0.9, 0.5),
    m("Toledo", -83.55, 41.65, 0.6, 0.3),
    m("Lexington", -84.50, 38.04, 0.5, 0.3),
    m("Charleston WV", -81.63, 38.35, 0.2, 0.0),
    // MISO
    m("Minneapolis", -93.27, 44.98, 3.7, 2.0),
    m("Detroit", -83.05, 42.33, 4.3, 1.0),
    m("St. Louis", -90.20, 38.63, 2.8, 1.0),
    m("Indianapolis", -86.16, 39.77, 2.1, 1.0),
    m("Milwaukee", -87.91, 43.04, 1.6, 0.5),
    m("New Orleans", -90.07, 29.95, 1.3, 0.3),
    m("Baton Rouge", -91.15, 30.45, 0.9, 0.2),
    m("Little Rock", -92.29, 34.75, 0.7, 0.2),
    m("Jackson", -90.18, 32.30, 0.6, 0.2),
    m("Des Moines", -93.61, 41.59, 0.7, 3.0),
    m("Madison", -89.40, 43.07, 0.7, 0.3),
    m("Grand Rapids", -85.67, 42.96, 1.1, 0.5),
    m("Green Bay", -88.02, 44.51, 0.3, 0.0),
    m("Springfield IL", -89.65, 39.80, 0.2, 0.0),
    m("Fargo", -96.79, 46.88, 0.25, 0.2),
    m("Lafayette", -92.02, 30.22, 0.5, 0.0),
    // SPP
    m("Oklahoma City", -97.52, 35.47, 1.4, 1.0),
    m("Tulsa", -95.99, 36.15, 1.0, 0.5),
    m("Kansas City", -94.58, 39.10, 2.2, 2.0),
    m("Wichita", -97.34, 37.69, 0.6, 0.2),
    m("Omaha", -95.93, 41.26, 1.0, 3.0),
    m("Lincoln", -96.70, 40.81, 0.3, 0.2),
    m("Amarillo", -101.83, 35.22, 0.3, 0.1),
    m("Lubbock", -101.85, 33.58, 0.3, 0.1),
    m("Shreveport", -93.75, 32.52, 0.4, 0.1),
    m("Sioux Falls", -96.73, 43.54, 0.3, 0.2),
    m("Topeka", -95.68, 39.05, 0.2, 0.0),
    // ERCOT
    m("Dallas", -96.80, 32.78, 7.6, 12.0),
    m("Houston", -95.37, 29.76, 7.1, 4.0),
    m("San Antonio", -98.49, 29.42, 2.6, 4.0),
    m("Austin", -97.74, 30.27, 2.3, 3.0),
    m("Corpus Christi", -97.40, 27.80, 0.4, 0.1),
    m("Midland", -102.08, 31.99, 0.3, 0.2),
    m("Abilene", -99.73, 32.45, 0.2, 0.5),
    m("Waco", -97.15, 31.55, 0.3, 0.2),
    m("McAllen", -98.23, 26.20, 0.9, 0.1),
    // CAISO
    m("Los Angeles", -118.24, 34.05, 13.0, 4.0),
    m("San Francisco", -122.27, 37.80, 4.7, 3.0),
    m("San Jose", -121.89, 37.34, 2.0, 7.0),
    m("San Diego", -117.16, 32.72, 3.3, 1.0),
    m("Sacramento", -121.49, 38.58, 2.4, 2.0),
    m("Fresno", -119.79, 36.74, 1.0, 0.2),
    m("Riverside", -117.40, 33.95, 4.6, 1.0),
    m("Bakersfield", -119.02, 35.37, 0.9, 0.2),
    // Outside the five ISOs (data centres and DERs only)
    m("Phoenix", -112.07, 33.45, 4.9, 8.0),
    m("Atlanta", -84.39, 33.75, 6.1, 6.0),
    m("Hillsboro", -122.99, 45.52, 2.5, 5.0),
    m("Denver", -104.99, 39.74, 2.9, 3.0),
    m("Las Vegas", -115.14, 36.17, 2.3, 3.0),
    m("Salt Lake City", -111.89, 40.76, 1.3, 2.0),
    m("Quincy", -119.85, 47.23, 0.02, 2.0),
    m("Reno", -119.81, 39.53, 0.5, 2.0),
    m("Charlotte", -80.84, 35.23, 2.7, 2.0),
    m("New York", -73.94, 40.73, 8.8, 3.0),
    m("Boston", -71.06, 42.36, 4.9, 2.0),
    m("Seattle", -122.33, 47.61, 4.0, 2.0),
    m("Nashville", -86.78, 36.16, 2.0, 1.0),
    m("Miami", -80.19, 25.76, 6.1, 1.0),
];
