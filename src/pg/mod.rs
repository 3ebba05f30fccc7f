//! PostgreSQL plumbing the rest of the extension shares: query results as
//! raw datums in batches (`rows`), rows written through COPY (`copy_in`),
//! and where PostGIS lives (`postgis`).

pub mod copy_in;
pub mod postgis;
pub mod rows;
