//! PostgreSQL plumbing the rest of the extension shares: query results as
//! raw datums in batches (`rows`), rows written through COPY (`copy_in`),
//! where PostGIS lives (`postgis`), and the write paths' check for a hot
//! standby (`standby`).

pub mod copy_in;
pub mod postgis;
pub mod rows;
pub mod standby;
