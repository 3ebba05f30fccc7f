"""Safety indices over a day of minute rows: gridkit.safety_compute against
the same formulas written as one plain SQL statement (what a user without
gridkit would run), on the same data in one run.

Usage: indices.py DSN

1000 intersections x 1440 minutes = 1.44M rows; raw indices and the blend
adjustment (baseline: the intersection's mean for the hour of day). Prints
a Markdown table, and how many rows the two disagree on (to 1e-9).
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


def ms(conn, sql, *args):
    t0 = time.perf_counter()
    conn.execute(sql, *args)
    return (time.perf_counter() - t0) * 1000


def main():
    conn = psycopg.connect(sys.argv[1], autocommit=True)
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
    print(f"| gridkit.safety_compute (raw + empirical Bayes) | {eb:.0f} | {rows / eb * 1000:,.0f} |")
    print(f"\nRatio (plain SQL / gridkit): {p / o:.1f}x; rows where the two differ by more than 1e-9: {diff}")
    conn.execute("DROP TABLE bench_minutes, bench_scores, bench_scores_sql")
    conn.execute("DELETE FROM gridkit.safety_constants WHERE source IS NULL")


if __name__ == "__main__":
    main()
