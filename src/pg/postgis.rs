//! Where PostGIS lives in this database. Our SQL qualifies every PostGIS
//! function and operator with its schema, so it neither depends on the
//! caller's search_path nor can be redirected by objects placed on it.

use pgrx::pg_sys;
use pgrx::spi::SpiClient;

use crate::error::{SqlError, SqlResult, ERRCODE_UNDEFINED_OBJECT};

pub struct Postgis {
    /// The schema, quoted as an identifier.
    pub schema: String,
    pub geometry: pg_sys::Oid,
    pub geography: Option<pg_sys::Oid>,
}

impl Postgis {
    pub fn find(client: &SpiClient<'_>) -> SqlResult<Postgis> {
        let table = client.select(
            "SELECT pg_catalog.quote_ident(n.nspname)::text,
                        (SELECT t.oid FROM pg_catalog.pg_type t
                          WHERE t.typnamespace = n.oid AND t.typname = 'geometry'),
                        (SELECT t.oid FROM pg_catalog.pg_type t
                          WHERE t.typnamespace = n.oid AND t.typname = 'geography')
                   FROM pg_catalog.pg_extension e
                   JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                  WHERE e.extname = 'postgis'",
            Some(1),
            &[],
        )?;
        let (schema, geometry, geography) = if table.is_empty() {
            (None, None, None)
        } else {
            let row = table.first();
            (row.get::<String>(1)?, row.get::<pg_sys::Oid>(2)?, row.get::<pg_sys::Oid>(3)?)
        };
        match (schema, geometry) {
            (Some(schema), Some(geometry)) => Ok(Postgis { schema, geometry, geography }),
            _ => Err(SqlError::new(ERRCODE_UNDEFINED_OBJECT, "PostGIS is not installed in this database")
                .hint("CREATE EXTENSION postgis;")),
        }
    }

    /// `name` qualified with the PostGIS schema.
    pub fn f(&self, name: &str) -> String {
        format!("{}.{}", self.schema, name)
    }
}
