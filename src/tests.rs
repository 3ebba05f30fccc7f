//! `#[pg_test]`s: behaviour checked inside a backend, on tiles decoded with
//! the protobuf messages. The SQL-level suite (errors, SQLSTATEs) is in
//! pgrx-tests/regress, the comparison with PostGIS in pgrx-tests/tiles.

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use gridkit_mvt::proto::{GeomType, Tile};
    use pgrx::prelude::*;
    use prost::Message;

    fn run(sql: &str) {
        Spi::run(sql).unwrap();
    }

    fn tile(sql: &str) -> Tile {
        let bytes: Vec<u8> = Spi::get_one(sql).unwrap().unwrap_or_default();
        Tile::decode(bytes.as_slice()).unwrap()
    }

    fn count(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).unwrap().unwrap()
    }

    fn points_table(name: &str, n: i64) {
        run(&format!(
            "CREATE TABLE {name} (id bigint PRIMARY KEY, v int, geom geometry(Point, 4326));
             INSERT INTO {name} SELECT i, i % 7, ST_SetSRID(ST_MakePoint(-100 + (i % 1000) * 0.04, 30 + (i / 1000) * 0.04), 4326)
               FROM generate_series(1, {n}) i;
             CREATE INDEX ON {name} USING gist (geom);"
        ));
    }

    #[pg_test]
    fn tile_holds_exactly_the_points_in_the_tile() {
        points_table("pts", 5000);
        run("SELECT gridkit.layer_register('pts', 'pts', attributes => '{v}')");
        let t = tile("SELECT grid_tile('pts', 6, 14, 26)");
        assert_eq!(t.layers.len(), 1);
        let layer = &t.layers[0];
        assert_eq!((layer.name.as_str(), layer.version, layer.extent), ("pts", 2, Some(4096)));
        let expected = count(
            "SELECT count(*) FROM pts
              WHERE ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(6, 14, 26), 4096, 64) IS NOT NULL",
        );
        assert!(expected > 100);
        assert_eq!(layer.features.len() as i64, expected);
        assert!(layer.features.iter().all(|f| f.r#type == Some(GeomType::Point as i32) && f.id.is_some()));
        // Ids ascend, so equal data gives equal bytes.
        assert!(layer.features.windows(2).all(|w| w[0].id < w[1].id));
        // Seven distinct values of v, each stored once.
        assert_eq!(layer.values.len(), 7);
    }

    #[pg_test]
    fn a_tile_over_200k_points_keeps_the_budget() {
        points_table("many", 200_000);
        run("SELECT gridkit.layer_register('many', 'many', options => '{\"max_features\": 1000}')");
        let t = tile("SELECT grid_tile('many', 0, 0, 0)");
        let ids: Vec<u64> = t.layers[0].features.iter().map(|f| f.id.unwrap()).collect();
        // Points tie on size, so the lowest ids are kept.
        assert_eq!(ids.len(), 1000);
        assert_eq!(ids, (1..=1000).collect::<Vec<u64>>());

        run("SELECT gridkit.layer_register('many', 'many', options => '{\"max_bytes\": 4096}')");
        let bytes: Vec<u8> = Spi::get_one("SELECT grid_tile('many', 2, 0, 1)").unwrap().unwrap();
        assert!(bytes.len() <= 4096, "{} bytes", bytes.len());
        assert!(!Tile::decode(bytes.as_slice()).unwrap().layers[0].features.is_empty());
    }

    #[pg_test]
    fn polygons_keep_the_largest_when_over_budget() {
        run("CREATE TABLE polys (id int PRIMARY KEY, geom geometry(Polygon, 4326));
             INSERT INTO polys SELECT i, ST_SetSRID(ST_Buffer(ST_MakePoint(-100 + i * 2, 40), 0.05 * i), 4326)
               FROM generate_series(1, 20) i;
             SELECT gridkit.layer_register('polys', 'polys', options => '{\"max_features\": 5}');");
        let t = tile("SELECT grid_tile('polys', 1, 0, 0)");
        let mut ids: Vec<u64> = t.layers[0].features.iter().map(|f| f.id.unwrap()).collect();
        ids.sort();
        assert_eq!(ids, vec![16, 17, 18, 19, 20]);
    }

    #[pg_test]
    fn the_cache_follows_changes_in_the_same_session() {
        points_table("moving", 100);
        run("SELECT gridkit.layer_register('moving', 'moving', attributes => '{v}')");
        assert_eq!(tile("SELECT grid_tile('moving', 0, 0, 0)").layers[0].keys, vec!["v"]);
        run("SELECT gridkit.layer_register('moving', 'moving')");
        assert!(tile("SELECT grid_tile('moving', 0, 0, 0)").layers[0].keys.is_empty());
    }

    #[pg_test(
        error = "layer \"moving\" cannot be served from public.moving: column \"geom\" does not exist in public.moving"
    )]
    fn a_renamed_geometry_column_is_reported() {
        points_table("moving", 100);
        run("SELECT gridkit.layer_register('moving', 'moving')");
        assert!(!tile("SELECT grid_tile('moving', 0, 0, 0)").layers.is_empty());
        run("ALTER TABLE moving RENAME COLUMN geom TO shape");
        run("SELECT grid_tile('moving', 0, 0, 0)");
    }

    #[pg_test]
    fn copy_writes_geometries_from_wkb_of_either_byte_order() {
        run("CREATE TABLE shapes (id int4, geom geometry(Geometry, 3857))");
        let wkb = |order: &str| -> Vec<u8> {
            Spi::get_one(&format!("SELECT ST_AsBinary('LINESTRING(1 2, 3 4.5, -6 7)'::geometry, '{order}')"))
                .unwrap()
                .unwrap()
        };
        let (little, big) = (wkb("NDR"), wkb("XDR"));
        assert_ne!(little, big);
        let relid = Spi::get_one::<pg_sys::Oid>("SELECT 'shapes'::regclass::oid").unwrap().unwrap();
        let written = crate::pg::copy_in::copy_rows(relid, &["id", "geom"], 3, &mut |i, row| {
            row.int4(i as i32);
            match i {
                0 => row.ewkb(&little, 3857),
                1 => row.ewkb(&big, 3857),
                _ => row.ewkb_point(1.5, -2.5, 3857),
            }
        })
        .unwrap();
        assert_eq!(written, 3);
        assert_eq!(
            count(
                "SELECT count(*) FROM shapes WHERE ST_SRID(geom) = 3857 AND id < 2
                    AND ST_AsText(geom) = 'LINESTRING(1 2,3 4.5,-6 7)'"
            ),
            2
        );
        assert_eq!(count("SELECT count(*) FROM shapes WHERE id = 2 AND ST_AsText(geom) = 'POINT(1.5 -2.5)'"), 1);
    }

    #[pg_test]
    fn demo_data_is_deterministic() {
        Spi::run("SELECT * FROM gridkit.demo_generate(0.2, 11)").unwrap();
        let first = Spi::get_one::<String>(
            "SELECT md5(string_agg(ST_AsEWKB(geom)::text, '' ORDER BY id)) FROM demo.data_centers",
        )
        .unwrap();
        Spi::run("SELECT * FROM gridkit.demo_generate(0.2, 11)").unwrap();
        let second = Spi::get_one::<String>(
            "SELECT md5(string_agg(ST_AsEWKB(geom)::text, '' ORDER BY id)) FROM demo.data_centers",
        )
        .unwrap();
        assert_eq!(first, second);
        assert_eq!(count("SELECT count(*) FROM demo.data_centers"), 236);
    }
}
