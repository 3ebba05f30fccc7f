-- Indexes and keys, added after loading (faster than maintaining them row by row).
CREATE INDEX ON demo.isos USING gist (geom);
CREATE INDEX ON demo.zones USING gist (geom);
CREATE INDEX ON demo.pnodes USING gist (geom);
CREATE INDEX ON demo.data_centers USING gist (geom);
CREATE INDEX ON demo.substations USING gist (geom);
CREATE INDEX ON demo.transmission_lines USING gist (geom);
CREATE INDEX ON demo.feeders USING gist (geom);
CREATE INDEX ON demo.der_locations USING gist (geom);
ALTER TABLE demo.pnodes ADD FOREIGN KEY (zone_id) REFERENCES demo.zones (id);
ALTER TABLE demo.data_centers ADD FOREIGN KEY (zone_id) REFERENCES demo.zones (id);
ALTER TABLE demo.substations ADD FOREIGN KEY (zone_id) REFERENCES demo.zones (id);
ALTER TABLE demo.der_locations ADD FOREIGN KEY (zone_id) REFERENCES demo.zones (id);
ALTER TABLE demo.transmission_lines ADD FOREIGN KEY (from_substation) REFERENCES demo.substations (id);
ALTER TABLE demo.transmission_lines ADD FOREIGN KEY (to_substation) REFERENCES demo.substations (id);
ALTER TABLE demo.feeders ADD FOREIGN KEY (substation_id) REFERENCES demo.substations (id);
ANALYZE demo.isos, demo.zones, demo.pnodes, demo.data_centers, demo.substations,
        demo.transmission_lines, demo.feeders, demo.der_locations;
