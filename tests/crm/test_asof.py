"""crm.asof: one rule for what an ``as_of`` means."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from crm.asof import AsOfError, as_instant, day_bounds, local_date, previous_local_day

MSK = "Europe/Moscow"  # UTC+3 all year


def test_a_bare_date_is_the_end_of_that_day_in_the_zone() -> None:
    assert as_instant(dt.date(2026, 11, 30), MSK) == pd.Timestamp("2026-11-30 20:59:59.999999Z")
    assert as_instant("2026-11-30", MSK) == as_instant(dt.date(2026, 11, 30), MSK)
    assert as_instant("2026-11-30") == pd.Timestamp("2026-11-30 23:59:59.999999Z")


def test_a_naive_datetime_is_wall_clock_time_in_the_zone() -> None:
    assert as_instant(dt.datetime(2026, 11, 30, 12, 0), MSK) == pd.Timestamp("2026-11-30 09:00Z")
    assert as_instant("2026-11-30T12:00:00", MSK) == pd.Timestamp("2026-11-30 09:00Z")
    assert as_instant("2026-11-30 12:00") == pd.Timestamp("2026-11-30 12:00Z")


def test_an_aware_value_is_taken_as_it_is() -> None:
    aware = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    assert as_instant(aware, MSK) == pd.Timestamp("2026-11-30 12:00Z")
    assert as_instant("2026-11-30T12:00:00Z", MSK) == pd.Timestamp("2026-11-30 12:00Z")
    assert as_instant("2026-11-30T15:00:00+03:00") == pd.Timestamp("2026-11-30 12:00Z")
    result = as_instant(pd.Timestamp("2026-11-30 12:00", tz="Asia/Tokyo"))
    assert str(result.tz) == "UTC" and result.unit == "us"


@pytest.mark.parametrize("bad", ["yesterday", "", "2026-13-01", None, pd.NaT, 17])
def test_what_is_not_a_date_is_refused_with_the_value_and_the_formats(bad: object) -> None:
    with pytest.raises(AsOfError, match="is not a date; use YYYY-MM-DD or an ISO instant"):
        as_instant(bad, MSK)


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(AsOfError, match="Mars/Olympus"):
        as_instant("2026-11-30", "Mars/Olympus")


def test_day_bounds_are_half_open_local_midnights_also_across_dst() -> None:
    start, end = day_bounds(dt.date(2026, 3, 29), "Europe/Berlin")  # clocks go forward
    assert start == pd.Timestamp("2026-03-28 23:00Z")
    assert end == pd.Timestamp("2026-03-29 22:00Z")  # a 23-hour day
    assert as_instant(dt.date(2026, 3, 29), "Europe/Berlin") == end - pd.Timedelta(microseconds=1)


def test_local_date_and_yesterday_follow_the_zone() -> None:
    late_utc = "2026-11-30T22:30:00Z"  # already 1 December in Moscow
    assert local_date(late_utc, MSK) == dt.date(2026, 12, 1)
    assert local_date(late_utc) == dt.date(2026, 11, 30)
    assert previous_local_day(late_utc, MSK) == dt.date(2026, 11, 30)
