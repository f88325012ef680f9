"""The points ledger: append-only entries, and everything derived from them.

A ledger is a frame of entries, one row per movement of points (columns
:data:`LEDGER_COLUMNS`). Kinds and signs:

========  ======  =====================================================================
kind      sign    meaning
========  ======  =====================================================================
earn      \\+      points granted by a rule (purchase, tier bonus, promotion, welcome …)
burn      \\-      points spent (prize redemption, paying part of an order)
expire    \\-      points that reached the end of their validity (first in, first out)
reverse   \\±      a returned order: its grants taken back (``ref_key`` names each grant),
                  and points spent on it refunded
adjust    \\±      an operator's correction, or a refund offset (see :func:`reversal_entries`)
========  ======  =====================================================================

A correction is a new entry, never an edit; every entry has a unique
``idempotency_key`` so that writing the same event twice adds nothing. Balances, pending
and expiring points are derived by vectorised group-bys (:func:`balances`).

Points are integers. *Pending* points are purchase points inside their hold period (the
return window); they count in the balance but cannot be spent. *Lots* (positive entries)
are consumed first in, first out in the order they become available, and each lot
expires ``validity_days`` after it became available (:func:`expiry_entries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from loyalty.errors import InvalidLedgerError, MissingColumnsError

__all__ = [
    "KINDS",
    "LEDGER_COLUMNS",
    "append",
    "balances",
    "empty_ledger",
    "expiry_entries",
    "expiry_schedule",
    "make_entries",
    "reversal_entries",
    "statement",
    "validate_ledger",
]

KINDS = ("earn", "burn", "expire", "reverse", "adjust")

#: Columns of a ledger frame (the ``loyalty_ledger`` table adds ``entry_id`` and ``created_at``).
LEDGER_COLUMNS = [
    "idempotency_key",
    "customer_id",
    "kind",
    "points",
    "reason",
    "rule",
    "operator",
    "source_kind",
    "source_id",
    "ref_key",
    "occurred_at",
    "available_at",
    "expires_at",
]

_TS: Any = "datetime64[us, UTC]"
_FAR = pd.Timestamp("2262-01-01", tz="UTC")


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnsError(missing, name)


def _ts(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"as_of {value!r} is naive: pass a timezone-aware datetime")
    return ts.tz_convert("UTC")


def empty_ledger() -> pd.DataFrame:
    """A ledger with no entries and the right dtypes."""
    return pd.DataFrame(
        {
            "idempotency_key": pd.Series([], dtype="str"),
            "customer_id": pd.Series([], dtype="int64"),
            "kind": pd.Series([], dtype="str"),
            "points": pd.Series([], dtype="int64"),
            "reason": pd.Series([], dtype="str"),
            "rule": pd.Series([], dtype="str"),
            "operator": pd.Series([], dtype="str"),
            "source_kind": pd.Series([], dtype="str"),
            "source_id": pd.Series([], dtype="str"),
            "ref_key": pd.Series([], dtype="str"),
            "occurred_at": pd.Series([], dtype=_TS),
            "available_at": pd.Series([], dtype=_TS),
            "expires_at": pd.Series([], dtype=_TS),
        }
    )


def _as_time(value: Any, n: int) -> pd.Series:
    if isinstance(value, pd.Series):
        s = value.reset_index(drop=True)
        if not isinstance(s.dtype, pd.DatetimeTZDtype):
            s = pd.to_datetime(s, utc=True)
        return s.dt.tz_convert("UTC").astype(_TS)
    if isinstance(value, np.ndarray | pd.Index | list):
        return pd.Series(pd.to_datetime(value, utc=True)).astype(_TS)
    return pd.Series([_ts(value)] * n, dtype=_TS)


def _as_col(value: Any, n: int, dtype: Any) -> pd.Series:
    if isinstance(value, pd.Series):
        return value.reset_index(drop=True).astype(dtype)
    if isinstance(value, np.ndarray | pd.Index | list):
        return pd.Series(value).astype(dtype)
    return (
        pd.Series([value] * n, dtype=dtype)
        if value is not None
        else pd.Series([None] * n, dtype=dtype)
    )


def make_entries(
    *,
    key: Any,
    customer_id: Any,
    kind: str,
    points: Any,
    reason: Any,
    occurred_at: Any,
    source_kind: Any,
    source_id: Any = None,
    rule: Any = None,
    operator: Any = None,
    ref_key: Any = None,
    available_at: Any = None,
    validity_days: int | None = None,
) -> pd.DataFrame:
    """Build ledger entries from columns (arrays/Series) or scalars broadcast to every row.

    Parameters
    ----------
    key : idempotency keys, unique per event (``"earn:1001:base"``).
    kind : one of :data:`KINDS`.
    available_at : when the points become spendable (default: ``occurred_at``).
    validity_days : positive entries expire this many days after ``available_at``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LEDGER_COLUMNS`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    keys = _as_col(key, 1, "str")
    n = len(keys)
    occ = _as_time(occurred_at, n)
    avail = occ if available_at is None else _as_time(available_at, n)
    pts = _as_col(points, n, "int64")
    if validity_days is not None:
        exp = (avail + pd.Timedelta(days=validity_days)).where(pts.to_numpy() > 0)
    else:
        exp = pd.Series(pd.NaT, index=range(n), dtype=_TS)
    return pd.DataFrame(
        {
            "idempotency_key": keys,
            "customer_id": _as_col(customer_id, n, "int64"),
            "kind": pd.Series([kind] * n, dtype="str"),
            "points": pts,
            "reason": _as_col(reason, n, "str"),
            "rule": _as_col(rule, n, "str"),
            "operator": _as_col(operator, n, "str"),
            "source_kind": _as_col(source_kind, n, "str"),
            "source_id": _as_col(source_id, n, "str"),
            "ref_key": _as_col(ref_key, n, "str"),
            "occurred_at": occ,
            "available_at": avail,
            "expires_at": exp.astype(_TS),
        }
    )


def validate_ledger(ledger: pd.DataFrame) -> None:
    """Check the ledger rules: unique keys, known kinds, sign matching the kind, no zeros.

    Raises
    ------
    InvalidLedgerError
        Naming the column and the offending entries.
    """
    _require(ledger, LEDGER_COLUMNS, "ledger")
    keys = ledger["idempotency_key"]
    dup = keys[keys.duplicated()]
    if len(dup):
        raise InvalidLedgerError("idempotency_key", dup, "keys must be unique")
    bad_kind = ~ledger["kind"].isin(KINDS)
    if bad_kind.any():
        raise InvalidLedgerError("kind", keys[bad_kind], f"kind must be one of {KINDS}")
    pts = ledger["points"].to_numpy()
    kind = ledger["kind"].to_numpy()
    wrong = (
        (pts == 0)
        | ((kind == "earn") & (pts < 0))
        | (((kind == "burn") | (kind == "expire")) & (pts > 0))
    )
    if wrong.any():
        raise InvalidLedgerError(
            "points", keys[wrong], "earn is positive, burn and expire negative, none zero"
        )


def _isin(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """``values.isin(keys)`` as a boolean array; a missing value is never in ``keys``.

    pandas 3 builds the lookup set of a text ``isin`` one Python scalar at a time, about
    10 µs per key: minutes against a ledger of ten million idempotency keys. Factorising
    both sides together is one hash pass in C.
    """
    keys = pd.Series(keys.to_numpy(), dtype=values.dtype)
    both = pd.concat([keys, values], ignore_index=True)
    codes = pd.factorize(both)[0] + 1  # 0: missing
    known = np.zeros(int(codes.max(initial=0)) + 1, dtype=bool)
    known[codes[: len(keys)]] = True
    known[0] = False
    return known[codes[len(keys) :]]


def append(ledger: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """Append ``entries`` whose idempotency key is not yet in ``ledger`` (a rerun adds nothing).

    This is the in-memory twin of the database write (``INSERT … ON CONFLICT DO NOTHING``).
    """
    if entries.empty:
        return ledger
    new = entries[~_isin(entries["idempotency_key"], ledger["idempotency_key"])]
    new = new.drop_duplicates("idempotency_key")
    if new.empty:
        return ledger
    if ledger.empty:
        return new[LEDGER_COLUMNS].reset_index(drop=True)
    return pd.concat([ledger, new[LEDGER_COLUMNS]], ignore_index=True)


def _upto(ledger: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    return ledger[(ledger["occurred_at"] <= as_of).to_numpy()]


def _pending(ledger: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Points per customer still inside their hold period (net of reversals of those grants)."""
    held = ledger[(ledger["kind"] == "earn") & (ledger["available_at"] > as_of)]
    if held.empty:
        return pd.Series(dtype="int64")
    rev = ledger[(ledger["kind"] == "reverse") & _isin(ledger["ref_key"], held["idempotency_key"])]
    both = pd.concat([held[["customer_id", "points"]], rev[["customer_id", "points"]]])
    return both.groupby("customer_id")["points"].sum()


def expiry_schedule(
    ledger: pd.DataFrame, until: Any, debits_until: Any | None = None
) -> pd.DataFrame:
    """How much of each lot expires, first in, first out, for lots due by ``until``.

    Lots (positive entries) are ordered by the time they became available; each is consumed
    by the debits (burn, reverse, negative adjust) booked up to its expiry in that order, and
    whatever is left of it expires at ``expires_at``. An expiry consumes the rest of its lot,
    so a later lot is never charged for it: nothing expires twice. The computation is a
    per-customer cumulative sum of credits, an as-of join of cumulative debits, and a
    cumulative maximum that carries earlier expiries forward - no loop over customers.

    Parameters
    ----------
    ledger : frame with :data:`LEDGER_COLUMNS`.
    until : lots whose ``expires_at`` is at or before this instant are due.
    debits_until : count only debits up to this instant (default ``until``); for a forecast of
        what will expire, pass today so that no future spending is assumed.

    Returns
    -------
    pandas.DataFrame
        ``lot_key, customer_id, expires_at, remaining`` (points that expire), one row per due lot
        (``remaining`` may be 0 when the lot was consumed).
    """
    until_ts = _ts(until)
    cut = _ts(debits_until) if debits_until is not None else until_ts
    led = _upto(ledger, cut)
    lots = led[led["points"].to_numpy() > 0][
        ["idempotency_key", "customer_id", "points", "available_at", "occurred_at", "expires_at"]
    ].copy()
    out_cols = ["lot_key", "customer_id", "expires_at", "remaining"]
    if lots.empty:
        return pd.DataFrame({c: [] for c in out_cols}).astype(
            {"customer_id": "int64", "remaining": "int64", "expires_at": _TS, "lot_key": "str"}
        )
    lots["available_at"] = lots["available_at"].fillna(lots["occurred_at"])
    lots = lots.sort_values(
        ["customer_id", "available_at", "occurred_at", "idempotency_key"], kind="stable"
    )
    g = lots.groupby("customer_id", sort=False)
    lots["C"] = g["points"].cumsum()
    # FIFO: a lot never expires before an older one (validity may have changed between rules)
    exp = lots["expires_at"].fillna(_FAR)
    lots["T"] = exp.groupby(lots["customer_id"], sort=False).cummax()
    due = lots[(lots["T"] <= until_ts).to_numpy()].copy()
    if due.empty:
        return pd.DataFrame({c: [] for c in out_cols}).astype(
            {"customer_id": "int64", "remaining": "int64", "expires_at": _TS, "lot_key": "str"}
        )
    debits = led[(led["points"].to_numpy() < 0) & (led["kind"] != "expire").to_numpy()][
        ["customer_id", "occurred_at", "points"]
    ].sort_values(["customer_id", "occurred_at"], kind="stable")
    debits["D"] = -debits.groupby("customer_id", sort=False)["points"].cumsum()
    # the cumulative debit per customer at each instant (last one wins at equal times)
    debits = debits.drop_duplicates(["customer_id", "occurred_at"], keep="last")
    due = due.sort_values("T", kind="stable")
    joined = pd.merge_asof(
        due,
        debits[["customer_id", "occurred_at", "D"]].sort_values("occurred_at", kind="stable"),
        left_on="T",
        right_on="occurred_at",
        by="customer_id",
        direction="backward",
        suffixes=("", "_debit"),
    )
    joined["D"] = joined["D"].fillna(0).astype("int64")
    joined = joined.sort_values(
        ["customer_id", "available_at", "occurred_at", "idempotency_key"], kind="stable"
    )
    c = joined["C"].to_numpy()
    pts = joined["points"].to_numpy()
    d = joined["D"].to_numpy()
    floor = _prior_cummax(c - d, joined["customer_id"].to_numpy())
    consumed = d + floor
    remaining = np.clip(c - np.maximum(c - pts, consumed), 0, pts)
    return pd.DataFrame(
        {
            "lot_key": joined["idempotency_key"].to_numpy(),
            "customer_id": joined["customer_id"].to_numpy(),
            "expires_at": joined["T"].reset_index(drop=True),
            "remaining": remaining.astype("int64"),
        }
    )


def _prior_cummax(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per run of equal ``groups``: the max of 0 and every earlier value in the run."""
    if len(values) == 0:
        return values
    starts = np.r_[True, groups[1:] != groups[:-1]]
    shifted = np.r_[0, values[:-1]].astype(np.int64)
    shifted[starts] = 0
    run = np.cumsum(starts)
    return np.maximum(pd.Series(shifted).groupby(run).cummax().to_numpy(), 0)


def expiry_entries(ledger: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Expire entries for every lot due by ``as_of`` that has not been expired yet.

    One entry per lot, keyed ``expire:<lot key>``: writing them twice adds nothing, and a
    lot's remainder is computed after everything it already paid for.
    """
    _require(ledger, LEDGER_COLUMNS, "ledger")
    sched = expiry_schedule(ledger, as_of)
    sched = sched[sched["remaining"].to_numpy() > 0]
    keys = "expire:" + sched["lot_key"].astype("str")
    fresh = ~_isin(keys, ledger["idempotency_key"])
    sched = sched[fresh]
    return make_entries(
        key=keys[fresh],
        customer_id=sched["customer_id"],
        kind="expire",
        points=-sched["remaining"],
        reason="expiry",
        occurred_at=sched["expires_at"],
        source_kind="lot",
        source_id=sched["lot_key"],
        ref_key=sched["lot_key"],
    )


def balances(
    ledger: pd.DataFrame,
    as_of: Any,
    expiring_within_days: int = 30,
    point_value: float = 1.0,
) -> pd.DataFrame:
    """Balance, pending, available and soon-expiring points per customer, as of an instant.

    Parameters
    ----------
    ledger : frame with :data:`LEDGER_COLUMNS`.
    as_of : entries after this instant are ignored.
    expiring_within_days : horizon of the ``expiring`` column (nothing spent meanwhile).
    point_value : money value of a point, for ``liability``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: ``balance`` (sum of entries), ``pending`` (in hold),
        ``available`` (spendable: balance less pending and less points already past their
        validity whose expiry is not booked yet), ``expiring`` (points that expire within the horizon,
        including lots due but not yet booked), ``earned``, ``burned``, ``expired`` and
        ``liability`` (``balance × point_value``).
    """
    _require(ledger, LEDGER_COLUMNS, "ledger")
    at = _ts(as_of)
    led = _upto(ledger, at)
    pts = led["points"]
    kind = led["kind"]
    frame = pd.DataFrame(
        {
            "customer_id": led["customer_id"].to_numpy(),
            "balance": pts.to_numpy(),
            "earned": np.where(kind == "earn", pts, 0),
            "burned": np.where(kind == "burn", -pts, 0),
            "expired": np.where(kind == "expire", -pts, 0),
        }
    )
    out = frame.groupby("customer_id").sum()
    out["pending"] = _pending(led, at).reindex(out.index, fill_value=0).astype("int64")
    out["available"] = out["balance"] - out["pending"]
    horizon = at + pd.Timedelta(days=expiring_within_days)
    sched = expiry_schedule(led, horizon, debits_until=at)
    booked = led.loc[kind == "expire", "ref_key"]
    sched = sched[~_isin(sched["lot_key"], booked)]
    out["expiring"] = (
        sched.groupby("customer_id")["remaining"].sum().reindex(out.index, fill_value=0)
    ).astype("int64")
    # points past their validity are not spendable even before the expiry run books them
    overdue = sched[(sched["expires_at"] <= at).to_numpy()]
    out["available"] -= (
        overdue.groupby("customer_id")["remaining"].sum().reindex(out.index, fill_value=0)
    ).astype("int64")
    out["liability"] = out["balance"] * float(point_value)
    cols = ["balance", "pending", "available", "expiring", "earned", "burned", "expired"]
    return out[[*cols, "liability"]]


def statement(ledger: pd.DataFrame, customer_id: int, as_of: Any | None = None) -> pd.DataFrame:
    """A customer's entries in time order with the running balance after each one."""
    _require(ledger, LEDGER_COLUMNS, "ledger")
    led = ledger[ledger["customer_id"] == customer_id]
    if as_of is not None:
        led = _upto(led, _ts(as_of))
    led = led.sort_values(["occurred_at", "idempotency_key"], kind="stable").reset_index(drop=True)
    led["running_balance"] = led["points"].cumsum().astype("int64")
    return led


def reversal_entries(
    ledger: pd.DataFrame,
    returned_orders: pd.DataFrame,
    as_of: Any,
    validity_days: int = 365,
) -> pd.DataFrame:
    """Entries that undo what returned orders granted, and refund what was spent on them.

    For every grant whose source is a returned order (``source_kind == "order"``), one
    ``reverse`` entry takes back exactly its points (``ref_key`` = the grant's key). Points
    burned to pay for the order come back as a ``reverse`` entry too. If the customer has
    already spent points that are taken back, the available balance would fall below zero;
    then one ``adjust`` entry (reason ``return_offset``) restores it to zero, and its points,
    times the point value, are what finance deducts from the money refund.

    Parameters
    ----------
    returned_orders : frame with ``order_id`` (and optionally ``returned_at``; default ``as_of``).
    validity_days : validity of the points given back (refunds and offsets are new lots).

    Returns
    -------
    pandas.DataFrame
        New entries (already-reversed grants are skipped, so a rerun adds nothing).
    """
    _require(ledger, LEDGER_COLUMNS, "ledger")
    _require(returned_orders, ["order_id"], "returned_orders")
    at = _ts(as_of)
    ret = returned_orders[["order_id"]].copy()
    ret["source_id"] = ret["order_id"].astype("int64").astype("str")
    if "returned_at" in returned_orders:
        ret["returned_at"] = pd.to_datetime(returned_orders["returned_at"], utc=True).fillna(at)
    else:
        ret["returned_at"] = at
    ret = ret.drop_duplicates("source_id")
    of_order = ledger[
        (ledger["source_kind"] == "order") & _isin(ledger["source_id"], ret["source_id"])
    ]
    done = ledger.loc[ledger["kind"] == "reverse", "ref_key"]  # missing keys never match
    grants = of_order[(of_order["kind"] == "earn") & ~_isin(of_order["idempotency_key"], done)]
    spent = of_order[(of_order["kind"] == "burn") & ~_isin(of_order["idempotency_key"], done)]
    if grants.empty and spent.empty:
        return empty_ledger()
    grants = grants.merge(ret[["source_id", "returned_at"]], on="source_id")
    spent = spent.merge(ret[["source_id", "returned_at"]], on="source_id")
    take = make_entries(
        key="reverse:" + grants["idempotency_key"],
        customer_id=grants["customer_id"],
        kind="reverse",
        points=-grants["points"],
        reason="return",
        rule=grants["rule"],
        occurred_at=grants["returned_at"],
        source_kind="order",
        source_id=grants["source_id"],
        ref_key=grants["idempotency_key"],
    )
    give = make_entries(
        key="refund:" + spent["idempotency_key"],
        customer_id=spent["customer_id"],
        kind="reverse",
        points=-spent["points"],
        reason="return_refund",
        rule=spent["rule"],
        occurred_at=spent["returned_at"],
        source_kind="order",
        source_id=spent["source_id"],
        ref_key=spent["idempotency_key"],
        validity_days=validity_days,
    )
    # how each (customer, order) moves the spendable balance: grants still on hold only
    # shrink the pending points; grants already available and refunds change what is spendable
    held = (grants["available_at"] > grants["returned_at"]).to_numpy()
    moves = pd.DataFrame(
        {
            "customer_id": np.r_[
                grants["customer_id"].to_numpy(), spent["customer_id"].to_numpy()
            ].astype("int64"),
            "source_id": np.r_[grants["source_id"].to_numpy(), spent["source_id"].to_numpy()],
            "returned_at": pd.concat(
                [grants["returned_at"], spent["returned_at"]], ignore_index=True
            ),
            "delta": np.r_[
                np.where(held, 0, -grants["points"].to_numpy()), -spent["points"].to_numpy()
            ].astype("int64"),
        }
    )
    per = (
        moves.groupby(["customer_id", "returned_at", "source_id"], sort=True)["delta"]
        .sum()
        .reset_index()
    )
    start = balances(ledger, at)["available"]
    a0 = start.reindex(per["customer_id"]).fillna(0).to_numpy().astype("int64")
    run = per.groupby("customer_id", sort=False)["delta"].cumsum().to_numpy() + a0
    # reflect the running balance at zero: the offsets so far are the deepest shortfall so far
    need = np.maximum(-run, 0)
    so_far = pd.Series(need).groupby(per["customer_id"].to_numpy(), sort=False).cummax().to_numpy()
    prev = pd.Series(so_far).groupby(per["customer_id"].to_numpy(), sort=False).shift(1)
    offset = so_far - prev.fillna(0).to_numpy().astype("int64")
    per["offset"] = offset
    per = per[per["offset"] > 0]
    fix = make_entries(
        key="offset:order:" + per["source_id"].astype("str"),
        customer_id=per["customer_id"],
        kind="adjust",
        points=per["offset"],
        reason="return_offset",
        occurred_at=per["returned_at"],
        source_kind="order",
        source_id=per["source_id"],
        validity_days=validity_days,
    )
    parts = [p for p in (take, give, fix) if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else empty_ledger()
