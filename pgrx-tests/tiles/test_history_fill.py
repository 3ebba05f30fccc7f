"""history()'s gap fill: steps in a time zone's calendar, empty steps NULL
or carrying the last value forward, against values worked out by hand."""

import datetime

import psycopg
import pytest

UTC = datetime.timezone.utc


def t(s):
    return datetime.datetime.fromisoformat(s).astimezone(UTC)


@pytest.fixture
def readings(conn):
    conn.execute("DROP TABLE IF EXISTS public.fill_readings CASCADE")
    conn.execute("CREATE TABLE public.fill_readings (ts timestamptz NOT NULL, k int NOT NULL, v double precision) "
                 "PARTITION BY RANGE (ts)")
    conn.execute("SELECT gridkit.ts_create('public.fill_readings', 'ts', '1 day', premake => 0)")
    conn.execute("""INSERT INTO public.fill_readings VALUES
        ('2023-03-10 23:00+00', 1, 1), ('2023-03-11 01:10+00', 1, 5), ('2023-03-11 01:40+00', 1, 7),
        ('2023-03-11 04:20+00', 1, 3), ('2023-03-11 02:30+00', 2, 100)""")
    conn.execute("SELECT gridkit.ts_move_default_rows('public.fill_readings')")
    yield "public.fill_readings"
    conn.execute("DROP TABLE public.fill_readings CASCADE")


def history(conn, *args, **named):
    names = ", ".join(f"{k} => %s" for k in named)
    sql = "SELECT bucket, avg, min, max, count FROM gridkit.history(%s, %s, %s, %s" + (", " + names if names else "") + ")"
    return conn.execute(sql, (*args, *named.values())).fetchall()


def test_locf_carries_the_last_value_over_empty_steps(conn, readings):
    rows = history(conn, readings, '{"k": 1}', "2023-03-11 00:00+00", "2023-03-11 06:00+00",
                   fill="locf", step="1 hour", timezone="UTC")
    assert rows == [
        (t("2023-03-11 00:00+00"), 1.0, 1.0, 1.0, 0),   # the value from before the range
        (t("2023-03-11 01:00+00"), 6.0, 5.0, 7.0, 2),
        (t("2023-03-11 02:00+00"), 6.0, 5.0, 7.0, 0),
        (t("2023-03-11 03:00+00"), 6.0, 5.0, 7.0, 0),
        (t("2023-03-11 04:00+00"), 3.0, 3.0, 3.0, 1),
        (t("2023-03-11 05:00+00"), 3.0, 3.0, 3.0, 0),
    ]
    nulls = history(conn, readings, '{"k": 1}', "2023-03-11 00:00+00", "2023-03-11 06:00+00",
                    fill="null", step="1 hour", timezone="UTC")
    assert [(r[1], r[4]) for r in nulls] == [(None, 0), (6.0, 2), (None, 0), (None, 0), (3.0, 1), (None, 0)]
    # Without fill: the raw rows as before.
    assert len(history(conn, readings, '{"k": 1}', "2023-03-11 00:00+00", "2023-03-11 06:00+00")) == 3


def test_day_steps_follow_the_local_calendar_across_daylight_saving(conn, readings):
    # Chicago moved its clocks on 2023-03-12: that local day has 23 hours.
    # The range starts on the evening of the local 10th.
    rows = history(conn, readings, '{"k": 1}', "2023-03-11 00:00+00", "2023-03-14 05:00+00",
                   fill="locf", step="1 day", timezone="America/Chicago")
    assert [r[0] for r in rows] == [t("2023-03-10 06:00+00"), t("2023-03-11 06:00+00"),
                                    t("2023-03-12 06:00+00"), t("2023-03-13 05:00+00")]
    assert [r[1:] for r in rows] == [(5.0, 3.0, 7.0, 3), (5.0, 3.0, 7.0, 0), (5.0, 3.0, 7.0, 0), (5.0, 3.0, 7.0, 0)]
    # Hours in a zone half an hour off UTC start at half past.
    rows = history(conn, readings, '{"k": 2}', "2023-03-11 02:00+00", "2023-03-11 04:00+00",
                   fill="null", step="1 hour", timezone="Asia/Kolkata")
    assert [r[0] for r in rows] == [t("2023-03-11 01:30+00"), t("2023-03-11 02:30+00"), t("2023-03-11 03:30+00")]
    assert [r[4] for r in rows] == [0, 1, 0]


def test_bad_fill_arguments_are_22023(conn, readings):
    for named in [dict(fill="linear"), dict(step="1 hour"), dict(fill="locf", step="0 s"),
                  dict(fill="locf", step="1 hour", timezone="Mars/Olympus"),
                  dict(fill="null", step="1 s", timezone="UTC")]:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            history(conn, readings, '{"k": 1}', "2023-03-11 00:00+00",
                    "2023-03-13 00:00+00" if named.get("step") != "1 s" else "2023-03-20 00:00+00", **named)
