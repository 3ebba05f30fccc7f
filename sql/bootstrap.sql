-- gridkit bootstrap: objects the Rust functions depend on.

CREATE SCHEMA IF NOT EXISTS gridkit;
COMMENT ON SCHEMA gridkit IS 'gridkit: vector tiles and grid analytics';

-- The layer registry. One row per layer; `source` follows renames (regclass),
-- `source_name` keeps the name at registration for messages after a drop.
CREATE TABLE gridkit.layer (
    name          text PRIMARY KEY,
    source        regclass NOT NULL,
    source_name   text NOT NULL,
    geom_column   name NOT NULL,
    id_column     name NOT NULL,
    attributes    text[] NOT NULL DEFAULT '{}',
    options       jsonb NOT NULL DEFAULT '{}',
    srid          integer NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gridkit.layer IS 'Registered layers; change them with gridkit.layer_register and gridkit.layer_drop';

-- Registered layers are user data: pg_dump must keep them.
SELECT pg_catalog.pg_extension_config_dump('gridkit.layer', '');
