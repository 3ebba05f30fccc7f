//! The tiles gridkit serves. `grid_tile` (through `gridkit_mvt::TileCoord`),
//! the api's SQL and gridkit-server check a request's coordinates and its
//! list of layers with the same functions, so all refuse the same requests
//! with the same words before any work is done. World units (the square of Web Mercator as [0, 1]²,
//! y down) are how tiles count positions.

/// The deepest zoom gridkit renders: a z24 tile is about 2.4 m wide at the
/// equator, finer than any source it serves.
pub const MAX_ZOOM: u8 = 24;

/// Why a tile coordinate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordError {
    #[error("zoom level {z} is out of range: it must be between 0 and 24")]
    ZoomOutOfRange { z: i64 },
    #[error("tile {z}/{x}/{y} does not exist: at zoom {z}, x and y must be between 0 and {max}")]
    TileOutOfRange { z: i64, x: i64, y: i64, max: i64 },
}

/// Checks `z` in `0..=MAX_ZOOM` and `x`, `y` in `0..2^z`.
pub fn check(z: i64, x: i64, y: i64) -> Result<(u8, u32, u32), CoordError> {
    if !(0..=i64::from(MAX_ZOOM)).contains(&z) {
        return Err(CoordError::ZoomOutOfRange { z });
    }
    let n = 1i64 << z;
    if !(0..n).contains(&x) || !(0..n).contains(&y) {
        return Err(CoordError::TileOutOfRange { z, x, y, max: n - 1 });
    }
    Ok((z as u8, x as u32, y as u32))
}

/// Most layers one tile may hold: a list is checked before any layer is
/// read, and a request naming more is a mistake or an attack.
pub const MAX_LAYERS: usize = 32;

/// Why a list of layers is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerListError {
    #[error("no layer given")]
    Empty,
    #[error("a tile holds at most {MAX_LAYERS} layers, not {0}")]
    TooMany(usize),
    #[error("a layer name in a comma-separated list must not be empty")]
    EmptyName,
    #[error("layer \"{0}\" is listed twice")]
    Twice(String),
}

/// Checks that `names` holds 1 to [`MAX_LAYERS`] layers, none twice.
pub fn check_layers(names: &[&str]) -> Result<(), LayerListError> {
    if names.is_empty() {
        return Err(LayerListError::Empty);
    }
    if names.len() > MAX_LAYERS {
        return Err(LayerListError::TooMany(names.len()));
    }
    if let Some(i) = (1..names.len()).find(|&i| names[..i].contains(&names[i])) {
        return Err(LayerListError::Twice(names[i].to_string()));
    }
    Ok(())
}

/// `"pnodes,zones"` as its names, checked as [`check_layers`] does; no name
/// may be empty.
pub fn split_layers(list: &str) -> Result<Vec<&str>, LayerListError> {
    if list.is_empty() {
        return Err(LayerListError::Empty);
    }
    let names: Vec<&str> = list.split(',').collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(LayerListError::EmptyName);
    }
    check_layers(&names)?;
    Ok(names)
}

/// Radius of the Web Mercator sphere in metres (EPSG:3857).
pub const EARTH_RADIUS: f64 = 6_378_137.0;
/// Half the width of the Web Mercator world in metres: 20037508.342789244.
pub const HALF_WORLD: f64 = std::f64::consts::PI * EARTH_RADIUS;

/// Web Mercator metres to world units: x to the east, y to the south, the
/// world spanning [0, 1] on both axes, as tiles count them.
pub fn mercator_to_world(x: f64, y: f64) -> (f64, f64) {
    const HALF: f64 = HALF_WORLD;
    ((x + HALF) / (2.0 * HALF), (HALF - y.clamp(-HALF, HALF)) / (2.0 * HALF))
}

/// World units back to Web Mercator metres.
pub fn world_to_mercator(x: f64, y: f64) -> (f64, f64) {
    const HALF: f64 = HALF_WORLD;
    (x * 2.0 * HALF - HALF, HALF - y * 2.0 * HALF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_lists_hold_one_to_max_layers_each_once() {
        assert_eq!(split_layers("pnodes,zones"), Ok(vec!["pnodes", "zones"]));
        assert_eq!(split_layers(""), Err(LayerListError::Empty));
        assert_eq!(split_layers("a,,b"), Err(LayerListError::EmptyName));
        assert_eq!(split_layers("a,"), Err(LayerListError::EmptyName));
        assert_eq!(split_layers("a,b,a"), Err(LayerListError::Twice("a".into())));
        let many: Vec<String> = (0..=MAX_LAYERS).map(|i| format!("l{i}")).collect();
        assert_eq!(split_layers(&many.join(",")), Err(LayerListError::TooMany(MAX_LAYERS + 1)));
        assert_eq!(split_layers(&many[..MAX_LAYERS].join(",")).map(|v| v.len()), Ok(MAX_LAYERS));
        assert_eq!(check_layers(&[]), Err(LayerListError::Empty));
        assert_eq!(check_layers(&["a", "a"]), Err(LayerListError::Twice("a".into())));
        assert_eq!(check_layers(&[""]), Ok(()));
        assert_eq!(LayerListError::TooMany(40).to_string(), "a tile holds at most 32 layers, not 40");
    }

    #[test]
    fn zooms_and_tiles_outside_the_pyramid_are_refused() {
        assert_eq!(check(0, 0, 0), Ok((0, 0, 0)));
        assert_eq!(check(24, (1 << 24) - 1, 0), Ok((24, (1 << 24) - 1, 0)));
        assert_eq!(check(-1, 0, 0), Err(CoordError::ZoomOutOfRange { z: -1 }));
        assert_eq!(check(25, 0, 0), Err(CoordError::ZoomOutOfRange { z: 25 }));
        assert_eq!(check(0, 1, 0), Err(CoordError::TileOutOfRange { z: 0, x: 1, y: 0, max: 0 }));
        assert_eq!(check(3, 0, 8), Err(CoordError::TileOutOfRange { z: 3, x: 0, y: 8, max: 7 }));
        assert!(check(3, -1, 0).is_err());
        assert_eq!(
            check(3, 0, 8).unwrap_err().to_string(),
            "tile 3/0/8 does not exist: at zoom 3, x and y must be between 0 and 7"
        );
    }

    #[test]
    fn world_units_span_the_mercator_square_y_down() {
        const HALF: f64 = HALF_WORLD;
        assert_eq!(mercator_to_world(-HALF, HALF), (0.0, 0.0));
        assert_eq!(mercator_to_world(0.0, 0.0), (0.5, 0.5));
        assert_eq!(mercator_to_world(HALF, -HALF), (1.0, 1.0));
        // Beyond the square's top or bottom is clamped to its edge.
        assert_eq!(mercator_to_world(0.0, 3.0 * HALF).1, 0.0);
        let (x, y) = world_to_mercator(0.25, 0.75);
        assert!((x + HALF / 2.0).abs() < 1e-6 && (y + HALF / 2.0).abs() < 1e-6);
    }
}
