//! PostgreSQL plumbing the rest of the extension shares: query results as
//! raw datums in batches (`rows`), rows written through COPY (`copy_in`),
//! where PostGIS lives (`postgis`), the write paths' check for a hot
//! standby (`standby`), and Citus tables (`citus`).

pub mod citus;
pub mod copy_in;
pub mod postgis;
pub mod rows;
pub mod standby;
