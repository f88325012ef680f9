"""One rule for time: what a user's ``as_of`` means.

Every job that depends on "today" takes an ``as_of``. Users and callers write it many ways
(a date, a naive or aware datetime, ISO text); :func:`as_instant` turns each into one aware
UTC instant, by one rule:

* a **bare date** means the **end of that day** in the program's time zone: the last
  microsecond before the next local midnight, so everything that happened on that day counts
  (``as_of=2026-11-30`` in Moscow is ``2026-11-30 20:59:59.999999 UTC``);
* a **naive datetime** (or ISO text without an offset) is wall-clock time in that zone;
* an **aware datetime** (or ISO text with an offset or ``Z``) is taken as it is.

Comparisons use "at or before ``as_of``" (``ts <= as_of``); a day's window is half-open,
``[start, end)`` (:func:`day_bounds`). Nothing below ``flows/`` and ``api/`` reads the clock:
the command line and the flows read it once and pass the instant down.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from crm.errors import CRMError

__all__ = [
    "AsOfError",
    "as_instant",
    "day_bounds",
    "local_date",
    "previous_local_day",
    "zone",
]

_MICROSECOND = pd.Timedelta(microseconds=1)


class AsOfError(CRMError, ValueError):
    """An ``as_of`` value that is not a date or an instant."""

    def __init__(self, value: Any) -> None:
        super().__init__(f"{value!r} is not a date; use YYYY-MM-DD or an ISO instant")
        self.value = value


def zone(tz: str | dt.tzinfo | None) -> dt.tzinfo:
    """The time zone named by ``tz`` (an IANA name or a tzinfo; ``None`` is UTC).

    Raises
    ------
    AsOfError
        When the name is not a known time zone.
    """
    if tz is None:
        return dt.UTC
    if isinstance(tz, dt.tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise AsOfError(f"time zone {tz}") from None


def _parse_text(text: str) -> dt.date | dt.datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AsOfError(text) from None


def as_instant(value: Any, tz: str | dt.tzinfo | None = None) -> pd.Timestamp:
    """``value`` as an aware UTC instant (microsecond unit), by the module's one rule.

    Parameters
    ----------
    value
        A date (the end of that day in ``tz``), a naive datetime (wall clock in ``tz``), an aware
        datetime or ``pd.Timestamp``, or ISO 8601 text of any of these.
    tz
        The program's time zone (IANA name or tzinfo); ``None`` means UTC.

    Returns
    -------
    pd.Timestamp
        Aware, in UTC.

    Raises
    ------
    AsOfError
        When ``value`` is empty, missing or not a date or an instant.

    Examples
    --------
    >>> str(as_instant("2026-11-30", "Europe/Moscow"))
    '2026-11-30 20:59:59.999999+00:00'
    >>> str(as_instant("2026-11-30T12:00", "Europe/Moscow"))
    '2026-11-30 09:00:00+00:00'
    """
    if isinstance(value, str):
        value = _parse_text(value)
    if value is pd.NaT or (isinstance(value, pd.Timestamp) and pd.isna(value)):
        raise AsOfError(value)
    if isinstance(value, dt.datetime):  # pd.Timestamp too
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(zone(tz), ambiguous=False, nonexistent="shift_forward")
        return stamp.tz_convert("UTC").as_unit("us")
    if isinstance(value, dt.date):
        _, end = day_bounds(value, tz)
        return end - _MICROSECOND
    if value is not None and hasattr(value, "isoformat"):  # numpy datetime64 and the like
        try:
            return as_instant(pd.Timestamp(value), tz)
        except (TypeError, ValueError):
            pass
    raise AsOfError(value)


def day_bounds(
    day: dt.date, tz: str | dt.tzinfo | None = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The local day ``day`` in ``tz`` as a half-open UTC interval ``[start, end)``.

    Daylight-saving days are 23 or 25 hours long; both ends are local midnights.
    """
    if isinstance(day, dt.datetime):
        day = day.date()
    zi = zone(tz)
    start = pd.Timestamp(dt.datetime.combine(day, dt.time()), tz=zi)
    end = pd.Timestamp(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), tz=zi)
    return start.tz_convert("UTC").as_unit("us"), end.tz_convert("UTC").as_unit("us")


def local_date(value: Any, tz: str | dt.tzinfo | None = None) -> dt.date:
    """The calendar day in ``tz`` that holds the instant ``as_instant(value, tz)``."""
    return as_instant(value, tz).tz_convert(zone(tz)).date()


def previous_local_day(value: Any, tz: str | dt.tzinfo | None = None) -> dt.date:
    """The local day before the one holding ``value``: what a nightly run books ("yesterday")."""
    return local_date(value, tz) - dt.timedelta(days=1)
