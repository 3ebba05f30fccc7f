"""Safety indices over a day of minute rows, and congestion indices over a
year of hourly LMP for 500 pricing nodes: gridkit's functions against the
same formulas written as plain SQL (what a user without gridkit would
run), on the same data in one run.

Usage: indices.py DSN

1000 intersections x 1440 minutes = 1.44M rows; raw indices and the blend
adjustment (baseline: the intersection's mean for the hour of day). Then
500 nodes in 25 zones x 8760 hours = 4.38M LMP rows: zone_classify and
pnode_severity. Prints Markdown tables, and how many results the two
disagree on (to 1e-9).
"""

import sys
import time

import psycopg

INTERSECTIONS = 1000

PLAIN_SQL = """
INSERT INTO bench_scores_sql
WITH c AS (SELECT * FROM gridkit.safety_constants ORDER BY id DESC LIMIT 1),
t AS (
    SELECT m.ts, m.intersection_id, m.volume, m.vru_events, m.vehicle_events,
           CASE WHEN c.hard_braking_max > 0 THEN least(1, m.hard_braking / c.hard_braking_max) ELSE 0 END AS b,
           CASE WHEN m.avg_speed IS NULL OR c.speed_p85 = 0 THEN 0 ELSE least(1, greatest(0, m.avg_speed / c.speed_p85 - 1)) END AS s,
           CASE WHEN c.volume_max > 0 THEN least(1, m.volume / c.volume_max) ELSE 0 END AS u,
           CASE WHEN m.speed_variance IS NULL OR c.speed_variance_max = 0 THEN 0 ELSE least(1, m.speed_variance / c.speed_variance_max) END AS v,
           CASE WHEN c.vru_events_max > 0 THEN least(1, m.vru_events / c.vru_events_max) ELSE 0 END AS nv,
           CASE WHEN c.vehicle_events_max > 0 THEN least(1, m.vehicle_events / c.vehicle_events_max) ELSE 0 END AS ne
      FROM bench_minutes m, c
     WHERE m.ts >= %(from)s AND m.ts < %(to)s
), i AS (
    SELECT *, 100 * least(1, 0.5 * nv + 0.2 * b + 0.2 * s + 0.1 * u) AS vru,
              100 * least(1, 0.4 * ne + 0.25 * b + 0.2 * v + 0.15 * s) AS veh,
              (volume + 1.0) / (volume + 51.0) AS lambda
      FROM t
), e AS (
    SELECT *, lambda * vru + (1 - lambda) * avg(vru) OVER w AS vru_eb, lambda * veh + (1 - lambda) * avg(veh) OVER w AS veh_eb
      FROM i WINDOW w AS (PARTITION BY intersection_id, extract(hour FROM ts AT TIME ZONE 'UTC'))
)
SELECT ts, intersection_id, volume, vru_events, vehicle_events, vru, vru_eb, veh, veh_eb,
       0.6 * vru + 0.4 * veh, 0.6 * vru_eb + 0.4 * veh_eb
  FROM e
"""


ZONES_SQL = """
WITH r AS (
    SELECT zone, lmp, energy, congestion AS cong, loss,
           extract(isodow FROM ts AT TIME ZONE 'UTC') <= 5 AND extract(hour FROM ts AT TIME ZONE 'UTC') BETWEEN 7 AND 22 AS peak
      FROM bench_lmp WHERE ts >= %(from)s AND ts < %(to)s
), p90 AS (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY energy) AS p FROM r),
z AS (
    SELECT zone, avg(abs(cong)) / nullif(avg(abs(lmp)), 0) AS m1, stddev_pop(cong) AS m2, avg((abs(cong) > 5)::int) AS m3,
           coalesce(avg(abs(cong)) FILTER (WHERE peak), 0) / nullif(coalesce(avg(abs(cong)) FILTER (WHERE peak), 0)
             + coalesce(avg(abs(cong)) FILTER (WHERE NOT peak), 0), 0) AS m4,
           avg(energy) AS me, stddev_pop(energy) AS m6, avg(abs(loss)) / nullif(avg(abs(lmp)), 0) AS m7,
           avg((energy > (SELECT p FROM p90))::int) AS m8
      FROM r GROUP BY zone
), m AS (SELECT *, abs(me - avg(me) OVER ()) AS m5 FROM z),
n AS (
    SELECT zone, (CASE WHEN max(m1) OVER () - min(m1) OVER () > 1e-9 * greatest(abs(max(m1) OVER ()), abs(min(m1) OVER ()), 1) THEN (m1 - min(m1) OVER ()) / (max(m1) OVER () - min(m1) OVER ()) ELSE 0 END
                + CASE WHEN max(m2) OVER () - min(m2) OVER () > 1e-9 * greatest(abs(max(m2) OVER ()), abs(min(m2) OVER ()), 1) THEN (m2 - min(m2) OVER ()) / (max(m2) OVER () - min(m2) OVER ()) ELSE 0 END
                + CASE WHEN max(m3) OVER () - min(m3) OVER () > 1e-9 * greatest(abs(max(m3) OVER ()), abs(min(m3) OVER ()), 1) THEN (m3 - min(m3) OVER ()) / (max(m3) OVER () - min(m3) OVER ()) ELSE 0 END
                + CASE WHEN max(m4) OVER () - min(m4) OVER () > 1e-9 * greatest(abs(max(m4) OVER ()), abs(min(m4) OVER ()), 1) THEN (m4 - min(m4) OVER ()) / (max(m4) OVER () - min(m4) OVER ()) ELSE 0 END) / 4 AS t,
                 (CASE WHEN max(m5) OVER () - min(m5) OVER () > 1e-9 * greatest(abs(max(m5) OVER ()), abs(min(m5) OVER ()), 1) THEN (m5 - min(m5) OVER ()) / (max(m5) OVER () - min(m5) OVER ()) ELSE 0 END
                + CASE WHEN max(m6) OVER () - min(m6) OVER () > 1e-9 * greatest(abs(max(m6) OVER ()), abs(min(m6) OVER ()), 1) THEN (m6 - min(m6) OVER ()) / (max(m6) OVER () - min(m6) OVER ()) ELSE 0 END
                + CASE WHEN max(m7) OVER () - min(m7) OVER () > 1e-9 * greatest(abs(max(m7) OVER ()), abs(min(m7) OVER ()), 1) THEN (m7 - min(m7) OVER ()) / (max(m7) OVER () - min(m7) OVER ()) ELSE 0 END
                + CASE WHEN max(m8) OVER () - min(m8) OVER () > 1e-9 * greatest(abs(max(m8) OVER ()), abs(min(m8) OVER ()), 1) THEN (m8 - min(m8) OVER ()) / (max(m8) OVER () - min(m8) OVER ()) ELSE 0 END) / 4 AS g
      FROM m
)
SELECT zone, t, g, CASE WHEN t >= 0.5 AND g >= 0.5 THEN 'both' WHEN t >= 0.5 THEN 'transmission-constrained'
                        WHEN g >= 0.5 THEN 'generation-constrained' ELSE 'unconstrained' END AS class
  FROM n
"""

NODES_SQL = """
WITH s AS (
    SELECT zone, pnode_id, count(*) AS hours, avg(abs(congestion)) AS a, avg((abs(congestion) > 5)::int) AS c
      FROM bench_lmp WHERE ts >= %(from)s AND ts < %(to)s GROUP BY 1, 2 HAVING count(*) >= 168
)
SELECT zone, pnode_id, 0.6 * CASE WHEN max(a) OVER w - min(a) OVER w > 1e-9 * greatest(abs(max(a) OVER w), abs(min(a) OVER w), 1) THEN (a - min(a) OVER w) / (max(a) OVER w - min(a) OVER w) ELSE 0 END
                     + 0.4 * CASE WHEN max(c) OVER w - min(c) OVER w > 1e-9 * greatest(abs(max(c) OVER w), abs(min(c) OVER w), 1) THEN (c - min(c) OVER w) / (max(c) OVER w - min(c) OVER w) ELSE 0 END AS score
  FROM s WINDOW w AS (PARTITION BY zone)
"""


def ms(conn, sql, *args):
    t0 = time.perf_counter()
    conn.execute(sql, *args)
    return (time.perf_counter() - t0) * 1000


def main():
    conn = psycopg.connect(sys.argv[1], autocommit=True)
    # The demo data was just loaded: vacuum it now rather than let
    # autovacuum run during the timings.
    conn.execute("VACUUM ANALYZE")
    conn.execute("DROP TABLE IF EXISTS bench_minutes, bench_scores, bench_scores_sql")
    conn.execute("""CREATE TABLE bench_minutes (ts timestamptz NOT NULL, intersection_id int NOT NULL, volume int NOT NULL,
                      vru_events int NOT NULL, vehicle_events int NOT NULL, avg_speed float8, speed_variance float8,
                      hard_braking int NOT NULL)""")
    conn.execute(f"""INSERT INTO bench_minutes
        SELECT timestamptz '2025-03-03 00:00+00' + m * interval '1 minute', i, (m * 7 + i * 13) % 40,
               ((m + i) % 97 = 0)::int, ((m * i) % 53 = 0)::int,
               CASE WHEN (m * 7 + i * 13) % 40 = 0 THEN NULL ELSE 25 + (m * 3 + i) % 25 END,
               CASE WHEN (m * 7 + i * 13) % 40 = 0 THEN NULL ELSE (m + i * 5) % 30 END, ((m + 3 * i) % 61 = 0)::int
          FROM generate_series(0, 1439) m, generate_series(1, {INTERSECTIONS}) i ORDER BY 1, 2""")
    conn.execute("CREATE INDEX ON bench_minutes (ts)")
    conn.execute("VACUUM ANALYZE bench_minutes")
    rows = 1440 * INTERSECTIONS
    conn.execute("DELETE FROM gridkit.safety_constants WHERE source = 'bench_minutes'::regclass")
    conn.execute("SELECT gridkit.safety_constants_compute('bench_minutes', '2025-03-03 00:00+00', '2025-03-04 00:00+00')")
    conn.execute("SELECT gridkit.safety_target_create('bench_scores')")
    conn.execute("CREATE TABLE bench_scores_sql (LIKE bench_scores INCLUDING ALL)")
    window = {"from": "2025-03-03 00:00+00", "to": "2025-03-04 00:00+00"}
    ours, plain = [], []
    for _ in range(3):
        conn.execute("TRUNCATE bench_scores, bench_scores_sql")
        ours.append(ms(conn, "SELECT gridkit.safety_compute('bench_minutes', 'bench_scores', %(from)s, %(to)s)", window))
        plain.append(ms(conn, PLAIN_SQL, window))
    # PostgreSQL's own floor for the write: COPY (binary) of the same result
    # rows into the same keyed table; and safety_compute into a table without
    # a key (no index to maintain).
    conn.execute("DROP TABLE IF EXISTS bench_scores_copy, bench_scores_heap")
    conn.execute("CREATE TABLE bench_scores_copy (LIKE bench_scores INCLUDING ALL)")
    conn.execute("CREATE TABLE bench_scores_heap (LIKE bench_scores)")
    conn.execute("COPY bench_scores TO '/tmp/gridkit_bench_scores.copy' WITH (FORMAT binary)")
    floor, heap = [], []
    for _ in range(3):
        conn.execute("TRUNCATE bench_scores_copy, bench_scores_heap")
        floor.append(ms(conn, "COPY bench_scores_copy FROM '/tmp/gridkit_bench_scores.copy' WITH (FORMAT binary)"))
        heap.append(ms(conn, "SELECT gridkit.safety_compute('bench_minutes', 'bench_scores_heap', %(from)s, %(to)s)", window))
    conn.execute("DROP TABLE bench_scores_copy, bench_scores_heap")
    diff = conn.execute("""SELECT count(*) FROM bench_scores a JOIN bench_scores_sql b USING (intersection_id, ts)
                            WHERE abs(a.combined_index - b.combined_index) > 1e-9
                               OR abs(a.combined_index_eb - b.combined_index_eb) > 1e-9""").fetchone()[0]
    eb = min(ms(conn, "SELECT gridkit.safety_compute('bench_minutes', 'bench_scores', %(from)s, %(to)s, 'empirical_bayes')", window)
             for _ in range(2))
    o, p = min(ours), min(plain)
    print(f"### Safety indices: {rows:,} minute rows ({INTERSECTIONS} intersections x 1440 minutes), best of 3\n")
    print("| what | ms | rows/s |")
    print("|---|---:|---:|")
    print(f"| gridkit.safety_compute (raw + blend) | {o:.0f} | {rows / o * 1000:,.0f} |")
    print(f"| the same formulas as one INSERT ... SELECT with a window | {p:.0f} | {rows / p * 1000:,.0f} |")
    print(f"| gridkit.safety_compute (raw + empirical Bayes, replacing the rows written before) | {eb:.0f} | {rows / eb * 1000:,.0f} |")
    print(f"| COPY (binary) of the same result rows into the same keyed table (PostgreSQL's write floor) | {min(floor):.0f} | {rows / min(floor) * 1000:,.0f} |")
    print(f"| gridkit.safety_compute (raw + blend) into a table without a key | {min(heap):.0f} | {rows / min(heap) * 1000:,.0f} |")
    print(f"\nRatio (plain SQL / gridkit): {p / o:.1f}x; rows where the two differ by more than 1e-9: {diff}")
    conn.execute("DROP TABLE bench_minutes, bench_scores, bench_scores_sql")

    # Congestion: a year of hourly LMP for 500 nodes in 25 zones.
    conn.execute("DROP TABLE IF EXISTS bench_lmp")
    conn.execute("""CREATE TABLE bench_lmp AS
        SELECT t AS ts, 'Z' || (n % 25) AS zone, 'N' || n AS pnode_id,
               30 + 10 * sin(h / 24.0 * 2 * pi()) + (n % 25) AS energy,
               CASE WHEN (h + n) % 7 = 0 THEN (n % 25) * 1.5 ELSE (n % 3) * 0.4 END AS congestion,
               0.3 + (n % 5) * 0.1 AS loss
          FROM generate_series(0, 8759) h, LATERAL (SELECT timestamptz '2025-01-01 00:00+00' + h * interval '1 hour') x(t),
               generate_series(0, 499) n""")
    conn.execute("ALTER TABLE bench_lmp ADD COLUMN lmp float8")
    conn.execute("UPDATE bench_lmp SET lmp = energy + congestion + loss")
    conn.execute("VACUUM ANALYZE bench_lmp")
    lmp_rows = conn.execute("SELECT count(*) FROM bench_lmp").fetchone()[0]
    year = {"from": "2025-01-01 00:00+00", "to": "2026-01-01 00:00+00"}
    z_ours = min(ms(conn, "SELECT * FROM gridkit.zone_classify('bench_lmp', %(from)s, %(to)s)", year) for _ in range(2))
    z_plain = min(ms(conn, ZONES_SQL, year) for _ in range(2))
    n_ours = min(ms(conn, "SELECT * FROM gridkit.pnode_severity('bench_lmp', %(from)s, %(to)s)", year) for _ in range(2))
    n_plain = min(ms(conn, NODES_SQL, year) for _ in range(2))
    ours_z = {r[0]: r[1:] for r in conn.execute(
        "SELECT zone, transmission_score, generation_score, classification FROM gridkit.zone_classify('bench_lmp', %(from)s, %(to)s)", year)}
    plain_z = {r[0]: r[1:] for r in conn.execute(ZONES_SQL, year)}
    z_diff = sum(1 for k, v in plain_z.items()
                 if abs(ours_z[k][0] - v[0]) > 1e-9 or abs(ours_z[k][1] - v[1]) > 1e-9 or ours_z[k][2] != v[2])
    ours_n = {r[0]: r[1] for r in conn.execute(
        "SELECT pnode, severity_score FROM gridkit.pnode_severity('bench_lmp', %(from)s, %(to)s)", year)}
    n_diff = sum(1 for r in conn.execute(NODES_SQL, year) if abs(ours_n[r[1]] - float(r[2])) > 1e-9)
    print(f"\n### Congestion: {lmp_rows:,} hourly LMP rows (500 nodes in 25 zones, one year), best of 2\n")
    print("| function | gridkit ms | plain SQL ms | ratio | results differing |")
    print("|---|---:|---:|---:|---:|")
    print(f"| zone_classify | {z_ours:.0f} | {z_plain:.0f} | {z_plain / z_ours:.2f}x | {z_diff} of {len(plain_z)} |")
    print(f"| pnode_severity | {n_ours:.0f} | {n_plain:.0f} | {n_plain / n_ours:.2f}x | {n_diff} of {len(ours_n)} |")
    conn.execute("DROP TABLE bench_lmp")
    conn.execute("DELETE FROM gridkit.safety_constants WHERE source IS NULL")


if __name__ == "__main__":
    main()
