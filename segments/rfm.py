"""RFM scores, named RFM segments and the BTYD summary of a customer base.

Three things live here, all vectorised over whole frames:

* :func:`rfm_frame` turns an order log into one row per customer with *recency* (days since
  the last order), *frequency* (orders) and *monetary* (spend), as of an explicit date.
* :class:`RFMScorer` (a scikit-learn transformer) turns that frame into R, F and M scores
  1..``n_bins`` and a named segment. Cut points are learnt by ``fit`` on one period and
  reused unchanged by ``transform``/``predict`` on any other period.
* :func:`btyd_summary` computes the "buy till you die" summary (frequency, recency, T,
  monetary_value) that the BG/NBD and Gamma-Gamma models in :mod:`segments.value` take,
  with exactly the definitions of ``lifetimes.utils.summary_data_from_transaction_data``.

Scoring rule (quantile bins)
----------------------------
A value's score is ``1 + floor(n_bins * s)`` where ``s`` is the share of the customers seen
by ``fit`` that are strictly worse (for F and M: strictly smaller; for R: strictly larger,
because a recent purchase is good). Equal values therefore always get the same score, the
lower one, like ``rank(method="min")``; with no ties the bins are equal-sized quintiles
(``n_bins=5``). The rule is stored as cut points in value units (``cut_points_``), so
another period is scored against the first period's customers:

* F, M: ``score = 1 + number of cut points strictly below the value``;
* R: ``score = 1 + number of cut points strictly above the value``.

Fixed thresholds (``thresholds={"frequency": [1, 2, 4, 8]}``) use the same two rules: with
those frequency thresholds one order gives F=1, two F=2, 3–4 F=3, 5–8 F=4, 9+ F=5; recency
thresholds ``[30, 90, 180, 365]`` give R=5 below 30 days, R=4 for 30–89 days and so on.

Segment map
-----------
Segments come from R and F (M is reported, not used for naming), with the 5×5 grid used in
practice by RFM tutorials and tools (pattern on the two-digit ``"RF"`` code → name):

====  =====================================================
R\\F  1            2 – 3                 4 – 5
====  =====================================================
5     New          Potential loyalists   Champions
4     Promising    Potential loyalists   Loyal
3     About to sleep (F 1–2), Need attention (F 3)  Loyal
2     Hibernating (F 1–2), At risk (F 3–4), Can't lose (F 5)
1     Lost (F 1), Hibernating (F 2), At risk (F 3–4), Can't lose (F 5)
====  =====================================================

It is :data:`DEFAULT_SEGMENT_MAP`; the common grid names all of R 1–2 × F 1–2 "Hibernating",
here the bottom corner R=1, F=1 is split off as "Lost". Maps are written on the 1–5 scale:
with ``n_bins`` 3 or 4 the scores are stretched onto it before matching
(``round(1 + (score - 1) * 4 / (n_bins - 1))``, so with 3 bins 1, 2, 3 read as 1, 3, 5).

Example
-------
>>> rfm = rfm_frame(orders, as_of=date(2026, 11, 1))
>>> scorer = RFMScorer(n_bins=5).fit(rfm)
>>> scorer.segment_frame(rfm).head()            # r_score, f_score, m_score, rfm_code, segment
>>> scorer.predict(rfm_frame(orders, as_of=date(2026, 12, 1)))   # same cut points
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from crm.asof import AsOfError, local_date
from crm.columns import AMOUNT, CUSTOMER_ID, ORDERED_AT
from segments.errors import (
    InvalidDataError,
    InvalidParameterError,
    SegmentMapError,
    require_columns,
)

__all__ = [
    "DEFAULT_SEGMENT_MAP",
    "SEGMENTS",
    "RFMScorer",
    "btyd_summary",
    "rfm_frame",
]

#: The named segments of the default map, best first.
SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential loyalists",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose",
    "Hibernating",
    "Lost",
)

#: ``"RF"`` code pattern (a regular expression matched against the whole code) → segment.
DEFAULT_SEGMENT_MAP: Mapping[str, str] = {
    "5[45]": "Champions",
    "[34][45]": "Loyal",
    "[45][23]": "Potential loyalists",
    "51": "New",
    "41": "Promising",
    "33": "Need attention",
    "3[12]": "About to sleep",
    "[12][34]": "At risk",
    "[12]5": "Can't lose",
    "12|2[12]": "Hibernating",
    "11": "Lost",
}

_RFM = ("recency", "frequency", "monetary")
_US_PER_DAY = 86_400_000_000
_UNIT_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": _US_PER_DAY, "ns": _US_PER_DAY * 1000}
_PERIOD_DAYS = {"D": 1, "W": 7}


# --------------------------------------------------------------------------- time helpers
def _wall_days(ts: pd.Series) -> tuple[np.ndarray, Any]:
    """Calendar day numbers (days since 1970-01-01) of timestamps, in their own time zone.

    A tz-aware column is bucketed by its wall clock (UTC data: UTC days), which is what
    ``lifetimes`` does via ``to_period``. Returns the days and the column's tz (or None).
    """
    if not isinstance(ts.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(
        ts.dtype
    ):
        ts = pd.to_datetime(ts)
    tz = getattr(ts.dtype, "tz", None)
    # numpy's datetime64 dtype has no ``.unit`` (pandas' tz-aware dtype has): ask numpy
    unit = np.datetime_data(ts.to_numpy().dtype)[0] if tz is None else ts.dtype.unit  # type: ignore[union-attr]
    if tz is not None and str(tz) not in ("UTC", "utc"):
        ts = ts.dt.tz_localize(None)
    values = ts.to_numpy(dtype=f"datetime64[{unit}]").view(np.int64)
    if ts.hasnans:
        raise InvalidDataError(str(ts.name), int(ts.isna().sum()), "missing order timestamps")
    return values // _UNIT_PER_DAY[unit], tz


def _as_of_day(as_of: dt.date | dt.datetime | pd.Timestamp | str, tz: Any) -> int:
    """Day number of ``as_of`` on the wall clock of the orders' time zone (UTC for naive orders).

    ``as_of`` is read by :func:`crm.asof.as_instant` in that zone: a bare date is the end of
    that day (so the day itself), a naive datetime is wall-clock time there.
    """
    try:
        day = local_date(as_of, tz)
    except AsOfError:
        raise InvalidParameterError(
            "as_of", as_of, "a date, a datetime or ISO 8601 text (YYYY-MM-DD)"
        ) from None
    return int(np.datetime64(day, "D").astype(np.int64))


def _period_start(days: np.ndarray | int, period: str) -> Any:
    """First day of the period holding each day: the day itself, or the Monday of its week.

    Weeks run Monday–Sunday like pandas' ``"W"`` (``"W-SUN"``) periods; 1970-01-01 was a
    Thursday, hence the ``+ 3``.
    """
    if period == "D":
        return days
    return days - (days + 3) % 7


def _customer_codes(ids: pd.Series) -> tuple[np.ndarray, Any, int]:
    """Dense codes 0..k-1 for customer ids, sorted like the ids; returns codes, decoder, k.

    Integer ids in a compact range are used directly (offset by their minimum), which
    skips hashing ten million values; anything else goes through ``pd.factorize``.
    """
    values = ids.to_numpy()
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < max(4 * len(values), 1 << 24):
            return (values - lo).astype(np.int64, copy=False), lo, hi - lo + 1
    codes, uniques = pd.factorize(ids, sort=True)
    if (codes < 0).any():
        raise InvalidDataError(str(ids.name), int((codes < 0).sum()), "missing customer ids")
    return codes.astype(np.int64, copy=False), uniques, len(uniques)


def _decode(decoder: Any, codes: np.ndarray, name: str) -> pd.Index:
    if isinstance(decoder, int):
        return pd.Index(codes + decoder, name=name)
    return pd.Index(decoder.take(codes), name=name)


# --------------------------------------------------------------------------- RFM frame
def rfm_frame(
    orders: pd.DataFrame,
    as_of: dt.date | dt.datetime | pd.Timestamp | str,
    *,
    customer_col: str = CUSTOMER_ID,
    datetime_col: str = ORDERED_AT,
    monetary_col: str = AMOUNT,
    monetary: Literal["sum", "mean"] = "sum",
) -> pd.DataFrame:
    """Recency, frequency and monetary value per customer, as of a date.

    Orders dated after ``as_of``'s calendar day are ignored (an order on the ``as_of`` day
    counts, so passing a ``date`` means "up to the end of that day"). Days are calendar days
    on the orders' own time-zone clock (UTC for the platform's data). Pass the orders you
    want counted (usually the paid ones); customers without orders get no row.

    Parameters
    ----------
    orders : DataFrame
        One row per order with customer id, timestamp and amount columns.
    as_of : date or datetime
        The scoring date.
    customer_col, datetime_col, monetary_col : str
        Column names (defaults from :mod:`crm.columns`).
    monetary : {"sum", "mean"}
        Total spend (the usual RFM "M") or the average order value.

    Returns
    -------
    DataFrame
        Indexed by customer id (sorted), columns ``recency`` (int, whole days from the last
        order's day to ``as_of``'s day), ``frequency`` (int, number of orders) and
        ``monetary`` (float).

    Examples
    --------
    A customer who bought on 1 and 8 March for 10 and 30, scored on 11 March, has
    recency 3, frequency 2, monetary 40.
    """
    if monetary not in ("sum", "mean"):
        raise InvalidParameterError("monetary", monetary, '"sum" or "mean"')
    require_columns(orders, [customer_col, datetime_col, monetary_col], "orders")
    days, tz = _wall_days(orders[datetime_col])
    end = _as_of_day(as_of, tz)
    keep = days <= end
    ids = orders[customer_col]
    amount = orders[monetary_col].to_numpy(dtype=np.float64)
    if not keep.all():
        days, amount, ids = days[keep], amount[keep], ids[keep]
    codes, decoder, k = _customer_codes(ids)
    count = np.bincount(codes, minlength=k)
    total = np.bincount(codes, weights=amount, minlength=k)
    last = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, codes, days)
    present = np.flatnonzero(count)
    count, total, last = count[present], total[present], last[present]
    return pd.DataFrame(
        {
            "recency": end - last,
            "frequency": count.astype(np.int64),
            "monetary": total / count if monetary == "mean" else total,
        },
        index=_decode(decoder, present, customer_col),
    )


# --------------------------------------------------------------------------- BTYD summary
def btyd_summary(
    orders: pd.DataFrame,
    as_of: dt.date | dt.datetime | pd.Timestamp | str,
    period: Literal["D", "W"] = "D",
    *,
    customer_col: str = CUSTOMER_ID,
    datetime_col: str = ORDERED_AT,
    monetary_col: str | None = AMOUNT,
) -> pd.DataFrame:
    """The "buy till you die" summary per customer (Fader, Hardie & Lee; ``lifetimes``).

    Orders are first bucketed into periods (calendar days, or Monday–Sunday weeks) and
    orders in one period are merged into one purchase whose value is their sum. Then per
    customer:

    * ``frequency``: purchase periods minus one (the repeat purchases);
    * ``recency``: periods from the first purchase to the last one (0 without repeats);
    * ``T``: periods from the first purchase to the period holding ``as_of``;
    * ``monetary_value``: mean value of the repeat purchases, 0 when frequency is 0.

    Orders in periods after ``as_of``'s period are dropped; orders inside ``as_of``'s
    period count even when later in that period (this is how ``lifetimes`` truncates at
    ``observation_period_end``). The result equals
    ``lifetimes.utils.summary_data_from_transaction_data(orders, customer_col,
    datetime_col, monetary_col, observation_period_end=as_of, freq=period)``.

    Parameters
    ----------
    orders : DataFrame
        One row per order.
    as_of : date or datetime
        End of the observation window.
    period : {"D", "W"}
        Time unit of recency and T and the bucket that merges same-period orders.
    customer_col, datetime_col, monetary_col : str
        Column names; ``monetary_col=None`` leaves out ``monetary_value``.

    Returns
    -------
    DataFrame
        Indexed by customer id (sorted), float columns ``frequency``, ``recency``, ``T``
        and ``monetary_value``; ``attrs["period"]`` holds ``period``.

    Examples
    --------
    Orders on 1 Jan (10), 1 Jan (5), 3 Jan (20) and 10 Jan (40), ``as_of`` 11 Jan, days:
    frequency 2, recency 9, T 10, monetary_value (20 + 40) / 2 = 30.
    """
    if period not in _PERIOD_DAYS:
        raise InvalidParameterError("period", period, '"D" (days) or "W" (weeks)')
    require_columns(orders, [customer_col, datetime_col, monetary_col], "orders")
    step = _PERIOD_DAYS[period]
    days, tz = _wall_days(orders[datetime_col])
    end = _period_start(_as_of_day(as_of, tz), period)
    starts = _period_start(days, period)
    keep = starts <= end
    ids = orders[customer_col]
    amount = None if monetary_col is None else orders[monetary_col].to_numpy(dtype=np.float64)
    if not keep.all():
        starts, ids = starts[keep], ids[keep]
        amount = None if amount is None else amount[keep]
    codes, decoder, k = _customer_codes(ids)

    columns = ["frequency", "recency", "T"] + ([] if monetary_col is None else ["monetary_value"])
    if len(codes) == 0:
        empty = pd.DataFrame(
            {c: np.empty(0) for c in columns}, index=pd.Index([], name=customer_col)
        )
        empty.attrs["period"] = period
        return empty

    first = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, codes, starts)
    np.maximum.at(last, codes, starts)

    # distinct purchase periods per customer: sort the (customer, period) keys, count runs
    lo = int(starts.min())
    span = (end - lo) // step + 1
    keys = np.sort(codes * span + (starts - lo) // step)
    new = np.empty(len(keys), dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    n_periods = np.bincount(keys[new] // span, minlength=k)

    present = np.flatnonzero(n_periods)
    frequency = n_periods[present] - 1
    out = {
        "frequency": frequency.astype(np.float64),
        "recency": (last[present] - first[present]) / step,
        "T": (end - first[present]) / step,
    }
    if amount is not None:
        # the repeat purchases' total is all spend minus the first period's spend
        repeat = np.where(starts == first[codes], 0.0, amount)
        repeat_total = np.bincount(codes, weights=repeat, minlength=k)[present]
        out["monetary_value"] = np.divide(
            repeat_total, frequency, out=np.zeros(len(present)), where=frequency > 0
        )
    summary = pd.DataFrame(out, index=_decode(decoder, present, customer_col))
    summary.attrs["period"] = period
    return summary


# --------------------------------------------------------------------------- RFM scorer
def _stretch(scores: np.ndarray, n_bins: int) -> np.ndarray:
    """Scores 1..n_bins onto the 1..5 scale the segment maps are written on."""
    if n_bins == 5:
        return scores
    return np.floor(1 + (scores - 1) * 4 / (n_bins - 1) + 0.5).astype(np.int64)


class RFMScorer(TransformerMixin, BaseEstimator):
    """R, F, M scores 1..``n_bins`` and named RFM segments, learnt on one period.

    ``fit`` stores cut points per measure (quantile bins of the fitted customers, or the
    fixed ``thresholds``); ``transform`` returns the three scores, ``predict`` the segment
    names and ``segment_frame`` both. Scoring another period reuses the fitted cut points.
    See the module docstring for the exact scoring rule and the segment grid.

    Parameters
    ----------
    n_bins : int, default 5
        Number of score levels, 3 to 5 (2 to 9 accepted).
    thresholds : mapping, optional
        Fixed cut points for some or all of ``"recency"``, ``"frequency"``, ``"monetary"``:
        ``n_bins - 1`` strictly increasing values each. Measures not given use quantiles.
    segment_map : mapping, optional
        Regular expression on the two-digit ``"RF"`` code (1–5 scale) → segment name.
        Every cell must match exactly one pattern. Default :data:`DEFAULT_SEGMENT_MAP`.
    recency_col, frequency_col, monetary_col : str
        Columns of ``X`` (a NumPy array is read as those three columns in that order).

    Attributes
    ----------
    cut_points_ : dict of str to ndarray
        ``n_bins - 1`` ascending cut points per measure, in value units.
    segment_grid_ : DataFrame
        The segment name of every (R score, F score) cell, R as rows.
    segment_names_ : list of str
        Segment names in map order (the categories of ``predict``'s output).
    n_features_in_ : int
        Always 3.

    Examples
    --------
    >>> X = pd.DataFrame({"recency": [1, 5, 30, 90, 200],
    ...                   "frequency": [9, 4, 2, 1, 1], "monetary": [900, 400, 150, 60, 20]})
    >>> RFMScorer(n_bins=5).fit(X).transform(X)["r_score"].tolist()
    [5, 4, 3, 2, 1]
    """

    def __init__(
        self,
        n_bins: int = 5,
        thresholds: Mapping[str, Sequence[float]] | None = None,
        segment_map: Mapping[str, str] | None = None,
        recency_col: str = "recency",
        frequency_col: str = "frequency",
        monetary_col: str = "monetary",
    ) -> None:
        self.n_bins = n_bins
        self.thresholds = thresholds
        self.segment_map = segment_map
        self.recency_col = recency_col
        self.frequency_col = frequency_col
        self.monetary_col = monetary_col

    # -- helpers
    def _columns(self) -> tuple[str, str, str]:
        return (self.recency_col, self.frequency_col, self.monetary_col)

    def _values(self, X: Any) -> tuple[dict[str, np.ndarray], pd.Index | None]:
        cols = self._columns()
        if isinstance(X, pd.DataFrame):
            require_columns(X, cols, "X")
            arrays = {m: X[c].to_numpy(dtype=np.float64) for m, c in zip(_RFM, cols, strict=True)}
            index: pd.Index | None = X.index
        else:
            arr = np.asarray(X, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] != 3:
                raise InvalidParameterError(
                    "X", f"array of shape {arr.shape}", "a frame or an (n, 3) array"
                )
            arrays = {m: arr[:, i] for i, m in enumerate(_RFM)}
            index = None
        for m, c in zip(_RFM, cols, strict=True):
            bad = int(np.isnan(arrays[m]).sum())
            if bad:
                raise InvalidDataError(c, bad, "missing values cannot be scored")
        return arrays, index

    def _check_params(self) -> None:
        if (
            isinstance(self.n_bins, bool)
            or not isinstance(self.n_bins, int | np.integer)
            or not 2 <= self.n_bins <= 9
        ):
            raise InvalidParameterError("n_bins", self.n_bins, "an integer from 2 to 9 (3–5 usual)")
        unknown = set(self.thresholds or {}) - set(_RFM)
        if unknown:
            raise InvalidParameterError(
                "thresholds", sorted(unknown), 'keys among "recency", "frequency", "monetary"'
            )

    def _compile_map(self) -> tuple[np.ndarray, list[str]]:
        mapping = DEFAULT_SEGMENT_MAP if self.segment_map is None else self.segment_map
        names: list[str] = list(dict.fromkeys(mapping.values()))
        compiled = [(re.compile(p), names.index(n)) for p, n in mapping.items()]
        n = int(self.n_bins)
        grid = np.full((n + 1, n + 1), -1, dtype=np.int64)  # index 0 unused
        unmatched, ambiguous = [], []
        for r in range(1, n + 1):
            for f in range(1, n + 1):
                r5, f5 = (int(_stretch(np.array([s]), n)[0]) for s in (r, f))
                code = f"{r5}{f5}"
                hits = {i for pat, i in compiled if pat.fullmatch(code)}
                if not hits:
                    unmatched.append(code)
                elif len(hits) > 1:
                    ambiguous.append(code)
                else:
                    grid[r, f] = hits.pop()
        if unmatched:
            raise SegmentMapError(unmatched, "leaves cells without a segment")
        if ambiguous:
            raise SegmentMapError(ambiguous, "gives cells more than one segment")
        return grid, names

    # -- estimator API
    def fit(self, X: Any, y: Any = None) -> RFMScorer:
        """Learn the cut points (quantile bins) and compile the segment map.

        Parameters
        ----------
        X : DataFrame or ndarray
            Per-customer recency, frequency and monetary values.
        y : ignored

        Returns
        -------
        RFMScorer
            ``self``.
        """
        self._check_params()
        arrays, _ = self._values(X)
        n_bins = int(self.n_bins)
        fixed = dict(self.thresholds or {})
        cuts: dict[str, np.ndarray] = {}
        for m in _RFM:
            if m in fixed:
                c = np.asarray(fixed[m], dtype=np.float64)
                if c.shape != (n_bins - 1,) or np.any(np.diff(c) <= 0) or np.isnan(c).any():
                    raise InvalidParameterError(
                        f"thresholds[{m!r}]", list(fixed[m]), f"{n_bins - 1} increasing numbers"
                    )
                cuts[m] = c
                continue
            v = np.sort(arrays[m])
            size = len(v)
            if size == 0:
                raise InvalidDataError(self._columns()[_RFM.index(m)], 0, "cannot fit on no rows")
            # m_k-th order statistic, m_k = ceil(k n / n_bins): see the module docstring
            ranks = -((-np.arange(1, n_bins) * size) // n_bins)
            cuts[m] = v[size - ranks] if m == "recency" else v[ranks - 1]
            cuts[m] = np.sort(cuts[m])
        self.cut_points_ = cuts
        grid, names = self._compile_map()
        self._grid = grid
        self.segment_names_ = names
        self.segment_grid_ = pd.DataFrame(
            np.asarray(names, dtype=object)[grid[1:, 1:]],
            index=pd.RangeIndex(1, n_bins + 1, name="r_score"),
            columns=pd.RangeIndex(1, n_bins + 1, name="f_score"),
        )
        self.n_features_in_ = 3
        return self

    def _scores(self, X: Any) -> tuple[dict[str, np.ndarray], pd.Index | None]:
        check_is_fitted(self, "cut_points_")
        arrays, index = self._values(X)
        cuts = self.cut_points_
        r = 1 + len(cuts["recency"]) - np.searchsorted(cuts["recency"], arrays["recency"], "right")
        f = 1 + np.searchsorted(cuts["frequency"], arrays["frequency"], "left")
        m = 1 + np.searchsorted(cuts["monetary"], arrays["monetary"], "left")
        return {"r_score": r, "f_score": f, "m_score": m}, index

    def transform(self, X: Any) -> pd.DataFrame:
        """R, F and M scores with the fitted cut points.

        Returns
        -------
        DataFrame
            ``r_score``, ``f_score``, ``m_score`` (int64), indexed like ``X``.
        """
        scores, index = self._scores(X)
        return pd.DataFrame(scores, index=index)

    def predict(self, X: Any) -> pd.Series:
        """Segment name per customer (a categorical Series named ``segment``)."""
        scores, index = self._scores(X)
        return self._segments(scores, index)

    def _segments(self, scores: dict[str, np.ndarray], index: pd.Index | None) -> pd.Series:
        codes = self._grid[scores["r_score"], scores["f_score"]]
        return pd.Series(
            pd.Categorical.from_codes(codes, categories=pd.Index(self.segment_names_)),
            index=index,
            name="segment",
        )

    def segment_frame(self, X: Any) -> pd.DataFrame:
        """Scores, the three-digit ``rfm_code`` (``"545"``) and the ``segment`` per customer."""
        scores, index = self._scores(X)
        frame = pd.DataFrame(scores, index=index)
        code = frame["r_score"] * 100 + frame["f_score"] * 10 + frame["m_score"]
        frame["rfm_code"] = code.astype(str) if self.n_bins <= 9 else code
        frame["segment"] = self._segments(scores, index).to_numpy()
        return frame

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of ``transform``'s columns."""
        return np.asarray(["r_score", "f_score", "m_score"], dtype=object)
