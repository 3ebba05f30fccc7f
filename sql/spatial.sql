-- Spatial queries on a layer: nearby, along_route, within, bbox, feature.
-- Each returns attributes as jsonb and one representative position in
-- longitude/latitude, never the geometry; each is bounded by a limit. The
-- exact test is PostGIS's on the geography (true metres, great-circle edges,
-- correct across the antimeridian and at the poles); boxes from
-- gridkit._search_boxes let the geometry's GiST index find the candidates.
-- PostGIS's schema is put on these functions' search_path at the end.

-- The largest limit any of them accepts.
CREATE FUNCTION gridkit._check_limit("limit" integer, "offset" integer DEFAULT 0) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF "limit" IS NULL OR "limit" < 1 OR "limit" > 10000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 10000 (got %)', coalesce("limit"::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF "offset" IS NULL OR "offset" < 0 OR "offset" > 1000000 THEN
        RAISE EXCEPTION 'offset must be between 0 and 1000000 (got %)', coalesce("offset"::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
END
$$;

-- How the spatial functions read a layer: its relation, the expressions of
-- its id, of its geometry as geography, of a point on it in lon/lat, and of
-- its attributes as one jsonb object. Callers evaluate the geography and
-- the point once per row (a subquery level each), as each is used twice.
CREATE FUNCTION gridkit._spatial_source(layer text,
    OUT relation text, OUT geom text, OUT srid integer, OUT key text, OUT id text, OUT geog text, OUT point text,
    OUT attrs text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    l gridkit.layer;
    pairs text[];
BEGIN
    SELECT * INTO l FROM gridkit.layer r WHERE r.name = _spatial_source.layer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'layer "%" does not exist', layer USING ERRCODE = '42704',
            HINT = 'See gridkit.layers for the registered layers.';
    END IF;
    SELECT format('%I.%I', n.nspname, c.relname) INTO relation
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = l.source;
    IF relation IS NULL THEN
        RAISE EXCEPTION 'the source of layer "%" (%) no longer exists', layer, l.source_name USING ERRCODE = '42P01';
    END IF;
    geom := format('t.%I', l.geom_column);
    srid := l.srid;
    key := format('t.%I', l.id_column);
    id := key || '::bigint';
    -- Without empty members: PostGIS's spheroid distance fails on them
    -- (gridkit._nonempty_parts).
    geog := CASE WHEN (SELECT v.geometry_type FROM gridkit.layers v WHERE v.name = layer) = 'Point' THEN geom
                 ELSE format('gridkit._nonempty_parts(%s)', geom) END;
    geog := CASE WHEN l.srid = 4326 THEN geog || '::geography'
                 ELSE format('ST_Transform(%s, 4326)::geography', geog) END;
    -- Points are their own position; a line or polygon shows a point on it
    -- (gridkit._label_point).
    point := format('CASE WHEN GeometryType(%1$s) = ''POINT'' THEN %1$s ELSE gridkit._label_point(%1$s) END', geom);
    IF l.srid <> 4326 THEN
        point := format('ST_Transform(%s, 4326)', point);
    END IF;
    SELECT array_agg(format('%L, t.%I', a, a) ORDER BY o) INTO pairs
      FROM unnest(l.attributes) WITH ORDINALITY AS u(a, o);
    -- jsonb_build_object takes at most 100 arguments: 50 attributes a call.
    SELECT coalesce(string_agg(format('jsonb_build_object(%s)', array_to_string(pairs[g * 50 + 1 : g * 50 + 50], ', ')),
                               ' || '), '''{}''::jsonb')
      INTO attrs
      FROM generate_series(0, (coalesce(cardinality(pairs), 0) - 1) / 50) g
     WHERE cardinality(pairs) > 0;
    attrs := coalesce(attrs, '''{}''::jsonb');
END
$$;

-- A multi-part geometry or collection without its empty members (NULL when
-- all are empty); any other geometry as it is. PostGIS 3.3 crashes or fails
-- on empty members in several functions (ST_PointOnSurface, geography
-- distances).
CREATE FUNCTION gridkit._nonempty_parts(g geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN GeometryType(g) NOT LIKE 'MULTI%' AND GeometryType(g) <> 'GEOMETRYCOLLECTION' THEN g
                ELSE (SELECT ST_SetSRID(ST_Collect(d.geom), ST_SRID(g)) FROM ST_Dump(g) d WHERE NOT ST_IsEmpty(d.geom))
           END
$$;

-- A point on a line or polygon, for the spatial functions' longitude and
-- latitude. PostGIS 3.3's ST_PointOnSurface crashes the server on a
-- collection with an empty member (MULTIPOINT(EMPTY, 1 1)), so a
-- collection's empty members are left out first; an empty geometry has no
-- point.
CREATE FUNCTION gridkit._label_point(g geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN ST_IsEmpty(g) THEN NULL ELSE ST_PointOnSurface(gridkit._nonempty_parts(g)) END
$$;

-- A search box as a geometry in the layer's SRID, for `geom && ANY(...)`.
CREATE FUNCTION gridkit._box_in(west double precision, south double precision, east double precision,
                                north double precision, srid integer) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT CASE WHEN srid = 4326 THEN ST_MakeEnvelope(west, south, east, north, 4326)
                -- Web Mercator ends at 85.0511 degrees; other projections
                -- get the box densified, so its projected bounds hold the
                -- projected curve.
                WHEN srid IN (3857, 900913) THEN ST_Transform(ST_MakeEnvelope(
                    west, greatest(south, -85.06), east, least(north, 85.06), 4326), srid)
                ELSE ST_Envelope(ST_Transform(ST_Segmentize(ST_MakeEnvelope(
                    west, greatest(south, -89.999), east, least(north, 89.999), 4326), 0.5), srid))
           END
$$;

-- Features within `within_m` metres of `region` (0: intersecting it),
-- nearest first when `nearest_first`, else by id.
CREATE FUNCTION gridkit._spatial_search(layer text, region geography, within_m double precision,
                                         closed boolean, nearest_first boolean, lim integer)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, distance_m double precision,
               attributes jsonb)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    s record;
    boxes geometry[];
BEGIN
    s := gridkit._spatial_source(layer);
    -- Densified to 5 km so the vertices follow the great circles the
    -- geography test uses (the boxes' margin covers the rest).
    SELECT array_agg(gridkit._box_in(b.west, b.south, b.east, b.north, s.srid)) INTO boxes
      FROM (SELECT array_agg(ST_X(d.geom) ORDER BY d.path) AS lons, array_agg(ST_Y(d.geom) ORDER BY d.path) AS lats
              FROM ST_DumpPoints(ST_Segmentize(region, 5000)::geometry) d) p,
           gridkit._search_boxes(p.lons, p.lats, within_m, closed) b;
    RETURN QUERY EXECUTE format(
        'SELECT q.id, ST_X(q.pt), ST_Y(q.pt), q.d, q.attrs
           FROM (SELECT %1$s AS id, %2$s AS pt, ST_Distance(t.gridkit_geog, $1) AS d, %3$s AS attrs
                   FROM (SELECT t.*, %4$s AS gridkit_geog FROM %5$s t WHERE %6$s && ANY($2) OFFSET 0) t
                  WHERE ST_DWithin(t.gridkit_geog, $1, $3)
                  ORDER BY %7$s
                  LIMIT $4) q
          ORDER BY %7$s',
        s.id, s.point, s.attrs, s.geog, s.relation, s.geom,
        CASE WHEN nearest_first THEN 'd, id' ELSE 'id' END)
        USING region, boxes, within_m, lim;
END
$$;

-- A GeoJSON-ish position list ([[lon, lat], ...]) as a line, checked.
CREATE FUNCTION gridkit._route_line(route jsonb) RETURNS geography
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    pos jsonb;
    pts geometry[] := '{}';
    lon double precision;
    lat double precision;
BEGIN
    IF route IS NULL OR jsonb_typeof(route) <> 'array' OR jsonb_array_length(route) < 2 THEN
        RAISE EXCEPTION 'route must be a JSON array of at least two [lon, lat] positions' USING ERRCODE = '22023';
    END IF;
    IF jsonb_array_length(route) > 10000 THEN
        RAISE EXCEPTION 'route has % positions; at most 10000 are accepted', jsonb_array_length(route)
            USING ERRCODE = '22023';
    END IF;
    FOR pos IN SELECT * FROM jsonb_array_elements(route) LOOP
        IF jsonb_typeof(pos) <> 'array' OR jsonb_array_length(pos) NOT IN (2, 3)
           OR jsonb_typeof(pos -> 0) <> 'number' OR jsonb_typeof(pos -> 1) <> 'number' THEN
            RAISE EXCEPTION 'route position % is not [lon, lat]', pos USING ERRCODE = '22023';
        END IF;
        lon := (pos ->> 0)::double precision;
        lat := (pos ->> 1)::double precision;
        IF lon NOT BETWEEN -180 AND 180 OR lat NOT BETWEEN -90 AND 90 THEN
            RAISE EXCEPTION 'route position % is outside longitude -180..180, latitude -90..90', pos
                USING ERRCODE = '22023';
        END IF;
        pts := pts || ST_SetSRID(ST_MakePoint(lon, lat), 4326);
    END LOOP;
    RETURN ST_MakeLine(pts)::geography;
END
$$;

-- A GeoJSON Polygon or MultiPolygon, checked: valid, in lon/lat.
CREATE FUNCTION gridkit._polygon(polygon jsonb) RETURNS geography
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    g geometry;
    reason text;
BEGIN
    IF polygon IS NULL OR jsonb_typeof(polygon) <> 'object'
       OR NOT (polygon ->> 'type') IN ('Polygon', 'MultiPolygon') THEN
        RAISE EXCEPTION 'polygon must be a GeoJSON Polygon or MultiPolygon object' USING ERRCODE = '22023';
    END IF;
    IF length(polygon::text) > 1000000 THEN
        RAISE EXCEPTION 'polygon is larger than 1 MB of GeoJSON' USING ERRCODE = '22023';
    END IF;
    BEGIN
        g := ST_GeomFromGeoJSON(polygon);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'polygon is not valid GeoJSON: %', SQLERRM USING ERRCODE = '22023';
    END;
    IF ST_XMin(g) < -180 OR ST_XMax(g) > 180 OR ST_YMin(g) < -90 OR ST_YMax(g) > 90 THEN
        RAISE EXCEPTION 'polygon is outside longitude -180..180, latitude -90..90' USING ERRCODE = '22023';
    END IF;
    reason := (ST_IsValidDetail(g)).reason;
    IF reason IS NOT NULL THEN
        RAISE EXCEPTION 'polygon is not valid: %', reason USING ERRCODE = '22023',
            HINT = 'Rings must not cross themselves or each other.';
    END IF;
    IF ST_NPoints(g) < 4 OR ST_Area(g) = 0 THEN
        RAISE EXCEPTION 'polygon has no area' USING ERRCODE = '22023';
    END IF;
    -- On the sphere an edge joins its ends the short way; ends half a world
    -- apart have no short way (PostGIS fails with "Antipodal edge").
    IF EXISTS (SELECT 1 FROM ST_DumpSegments(g) s,
                      LATERAL (SELECT ST_X(ST_StartPoint(s.geom)) AS x1, ST_Y(ST_StartPoint(s.geom)) AS y1,
                                      ST_X(ST_EndPoint(s.geom)) AS x2, ST_Y(ST_EndPoint(s.geom)) AS y2) e
                WHERE abs(e.y1 - e.y2) >= 180
                   OR (abs(e.y1 + e.y2) < 1e-9 AND abs(abs(e.x1 - e.x2) - 180) < 1e-9)) THEN
        RAISE EXCEPTION 'polygon has an edge between opposite points of the globe' USING ERRCODE = '22023',
            HINT = 'Edges follow great circles, and opposite points have none: add a vertex between them.';
    END IF;
    RETURN ST_SetSRID(g, 4326)::geography;
END
$$;

CREATE FUNCTION gridkit.nearby(layer text, lon double precision, lat double precision, radius_m double precision,
                               "limit" integer DEFAULT 100)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, distance_m double precision,
               attributes jsonb)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM gridkit._check_limit("limit");
    PERFORM gridkit._check_distance('radius_m', radius_m, false);
    IF lon IS NULL OR lat IS NULL OR lon NOT BETWEEN -180 AND 180 OR lat NOT BETWEEN -90 AND 90 THEN
        RAISE EXCEPTION 'position (%, %) is outside longitude -180..180, latitude -90..90',
            coalesce(lon::text, 'NULL'), coalesce(lat::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    RETURN QUERY SELECT * FROM gridkit._spatial_search(
        layer, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, radius_m, false, true, "limit");
END
$$;
COMMENT ON FUNCTION gridkit.nearby(text, double precision, double precision, double precision, integer) IS
    'Features of a layer within radius_m metres of (lon, lat), nearest first';

CREATE FUNCTION gridkit.along_route(layer text, route jsonb, buffer_m double precision, "limit" integer DEFAULT 1000)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, distance_m double precision,
               attributes jsonb)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM gridkit._check_limit("limit");
    PERFORM gridkit._check_distance('buffer_m', buffer_m, false);
    RETURN QUERY SELECT * FROM gridkit._spatial_search(
        layer, gridkit._route_line(route), buffer_m, false, true, "limit");
END
$$;
COMMENT ON FUNCTION gridkit.along_route(text, jsonb, double precision, integer) IS
    'Features of a layer within buffer_m metres of a route [[lon, lat], ...], nearest first';

CREATE FUNCTION gridkit.within(layer text, polygon jsonb, "limit" integer DEFAULT 1000)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, attributes jsonb)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM gridkit._check_limit("limit");
    RETURN QUERY SELECT s.id, s.longitude, s.latitude, s.attributes
                   FROM gridkit._spatial_search(layer, gridkit._polygon(polygon), 0, true, false, "limit") s;
END
$$;
COMMENT ON FUNCTION gridkit.within(text, jsonb, integer) IS
    'Features of a layer intersecting a GeoJSON polygon (great-circle edges), by id';

CREATE FUNCTION gridkit.bbox(layer text, west double precision, south double precision, east double precision,
                             north double precision, "limit" integer DEFAULT 500, "offset" integer DEFAULT 0)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, attributes jsonb)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    s record;
    boxes geometry[];
BEGIN
    PERFORM gridkit._check_limit("limit", "offset");
    IF west IS NULL OR south IS NULL OR east IS NULL OR north IS NULL THEN
        RAISE EXCEPTION 'west, south, east and north are required' USING ERRCODE = '22023';
    END IF;
    s := gridkit._spatial_source(layer);
    SELECT array_agg(gridkit._box_in(b.west, b.south, b.east, b.north, s.srid)) INTO boxes
      FROM gridkit._viewport_boxes(west, south, east, north) b;
    -- A map viewport is a rectangle in lon/lat: planar, unlike the others.
    RETURN QUERY EXECUTE format(
        'SELECT q.id, ST_X(q.pt), ST_Y(q.pt), q.attrs
           FROM (SELECT %1$s AS id, %2$s AS pt, %3$s AS attrs
                   FROM %4$s t
                  WHERE %5$s && ANY($1) AND EXISTS (SELECT 1 FROM unnest($1) b WHERE ST_Intersects(%5$s, b))
                  ORDER BY 1
                  LIMIT $2 OFFSET $3) q
          ORDER BY 1',
        s.id, s.point, s.attrs, s.relation, s.geom)
        USING boxes, "limit", "offset";
END
$$;
COMMENT ON FUNCTION gridkit.bbox(text, double precision, double precision, double precision, double precision,
                                 integer, integer) IS
    'Features of a layer intersecting a lon/lat box (west > east crosses the antimeridian), by id, paged';

CREATE FUNCTION gridkit.feature(layer text, id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    s record;
    found jsonb;
BEGIN
    s := gridkit._spatial_source(layer);
    EXECUTE format('SELECT jsonb_build_object(''id'', q.id, ''longitude'', ST_X(q.pt), ''latitude'', ST_Y(q.pt),
                                              ''attributes'', q.attrs)
                      FROM (SELECT %1$s AS id, %2$s AS pt, %3$s AS attrs FROM %4$s t WHERE %5$s = $1 OFFSET 0) q',
                   s.id, s.point, s.attrs, s.relation, s.key)
        INTO found USING feature.id;
    RETURN found;
END
$$;
COMMENT ON FUNCTION gridkit.feature(text, bigint) IS
    'One feature of a layer by id as {id, longitude, latitude, attributes} (what a click on the map shows), NULL if none';

-- PostGIS's schema, wherever it is, and nothing a caller could put first.
DO $$
DECLARE
    postgis_schema name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                             WHERE e.extname = 'postgis');
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'gridkit'::regnamespace
                AND p.proname IN ('_spatial_source', '_box_in', '_spatial_search', '_route_line', '_polygon', '_label_point', '_nonempty_parts',
                                  'nearby', 'along_route', 'within', 'bbox', 'feature') LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', f, postgis_schema);
    END LOOP;
END
$$;
