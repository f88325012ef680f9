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
adjust    \\±      an operator's correction, or a return offset (see below)
========  ======  =====================================================================

A correction is a new entry, never an edit; every entry has a unique
``idempotency_key`` so that writing the same event twice adds nothing. Balances, pending
and expiring points are derived by vectorised group-bys (:func:`balances`).

Points are integers. *Pending* points are purchase points inside their hold period (the
return window); they count in the balance but cannot be spent. *Lots* (positive entries)
are consumed first in, first out in the order they become available.

Time
----
A lot is valid on the half-open interval ``[available_at, expires_at)``: at the instant
``expires_at`` it is expired, for every function alike. A debit booked at exactly that
instant is charged to later lots, :func:`balances` no longer counts the lot as available,
and :func:`expiry_entries` expires what was left of it just before.

The return rule
---------------
A return reverses what that order granted, and nothing else (:func:`reversal_entries`):

1. each grant of the order is taken back first from **its own lot**, as far as that lot is
   still there (``reverse:<grant>``, reason ``return``): a return never touches older points,
   so buying and returning inside the hold does not renew points about to expire;
2. what of the grant **already expired is not taken again**: those points are gone already;
3. what of the grant was **spent** is recovered from the customer's available balance, first
   in, first out (``reclaim:<grant>``, reason ``return_spent``);
4. what the balance cannot cover is booked as an **offset for finance**
   (``offset:order:<order>:<customer>``, kind ``adjust``, reason ``return_offset``): it brings
   the balance back to zero, and its points times the point value are what finance deducts
   from the money refund. Each customer of the order (a friend and a referrer both) gets
   their own offset;
5. points the customer burned to pay for the order come back as a new lot
   (``refund:<burn>``, reason ``return_refund``).

A grant is reversed at most once; a rerun of the same return adds nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm.asof import as_instant
from loyalty.errors import InsufficientPointsError, InvalidLedgerError, require_columns

__all__ = [
    "KINDS",
    "LEDGER_COLUMNS",
    "adjustment_entry",
    "append",
    "balances",
    "empty_ledger",
    "expiry_entries",
    "expiry_schedule",
    "instant",
    "lot_state",
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
#: the reason of a reverse entry charged to the lot it names (step 1 of the return rule)
_OWN_LOT = "return"


def instant(value: Any, tz: Any = None) -> pd.Timestamp:
    """``value`` as an aware UTC instant, by :func:`crm.asof.as_instant`'s one rule.

    The ledger has no time zone of its own: a bare date or a naive datetime is read in ``tz``
    (default UTC). Functions that know the program pass ``rules.program.timezone``.
    """
    return as_instant(value, tz)


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
    return pd.Series([instant(value)] * n, dtype=_TS)


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
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
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


def _lookup(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """The position of each of ``values`` in ``keys`` (-1 when absent or missing).

    pandas 3 builds the lookup set of a text ``isin`` one Python scalar at a time, about
    10 µs per key: minutes against a ledger of ten million idempotency keys. Factorising
    both sides together is one hash pass in C.
    """
    keys = pd.Series(keys.to_numpy(), dtype=values.dtype)
    both = pd.concat([keys, values], ignore_index=True)
    codes = pd.factorize(both)[0] + 1  # 0: missing
    where = np.full(int(codes.max(initial=0)) + 1, -1, dtype=np.int64)
    # the first position of each key wins (keys are unique in a valid ledger)
    kc = codes[: len(keys)]
    where[kc[::-1]] = np.arange(len(keys), dtype=np.int64)[::-1]
    where[0] = -1
    return where[codes[len(keys) :]]


def _isin(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """``values.isin(keys)`` as a boolean array; a missing value is never in ``keys``."""
    return _lookup(values, keys) >= 0


def _has_key(ledger: pd.DataFrame, key: str) -> pd.DataFrame:
    """The entry of ``ledger`` keyed ``key`` (an empty frame when there is none)."""
    return ledger[(ledger["idempotency_key"] == key).to_numpy()]


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
    held = ledger[((ledger["kind"] == "earn") & (ledger["available_at"] > as_of)).to_numpy()]
    if held.empty:
        return pd.Series(dtype="int64")
    rev = ledger[
        ((ledger["kind"] == "reverse").to_numpy())
        & _isin(ledger["ref_key"], held["idempotency_key"])
    ]
    both = pd.concat([held[["customer_id", "points"]], rev[["customer_id", "points"]]])
    return both.groupby("customer_id")["points"].sum()


_LOT_COLS = ["lot_key", "customer_id", "points", "available_at", "expires_at"]


def _lots_and_debits(led: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lots in FIFO order (sizes net of what returns took from them) and the FIFO debits.

    A ``reverse`` entry with reason ``return`` is charged to the lot it names: it never takes
    more than was left of that lot when the return was booked, so shrinking the lot from the
    start gives every other lot the same history as taking the points at the return.
    """
    pts = led["points"].to_numpy()
    kind = led["kind"].to_numpy()
    own = (kind == "reverse") & (pts < 0) & (led["reason"].to_numpy() == _OWN_LOT)
    pos = pts > 0
    src = led[pos]
    lots = pd.DataFrame(
        {
            "lot_key": src["idempotency_key"].to_numpy(),
            "customer_id": src["customer_id"].to_numpy(dtype=np.int64),
            "points": src["points"].to_numpy(dtype=np.int64),
            "available_at": src["available_at"].fillna(src["occurred_at"]).array,
            "occurred_at": src["occurred_at"].array,
            "expires_at": src["expires_at"].fillna(_FAR).astype(_TS).array,
        }
    )
    if own.any():
        taken = led[own]
        where = _lookup(taken["ref_key"], src["idempotency_key"])
        hit = where >= 0
        shrink = np.zeros(len(lots), dtype=np.int64)
        np.add.at(shrink, where[hit], taken["points"].to_numpy(dtype=np.int64)[hit])
        lots["points"] = np.maximum(lots["points"].to_numpy() + shrink, 0)
    lots = lots.sort_values(
        ["customer_id", "available_at", "occurred_at", "lot_key"], kind="stable"
    ).reset_index(drop=True)
    cid = lots["customer_id"].to_numpy()
    lots["C"] = lots.groupby("customer_id", sort=False)["points"].cumsum().to_numpy()
    # FIFO: a lot never expires before an older one (validity may have changed between rules)
    lots["T"] = lots["expires_at"].groupby(cid, sort=False).cummax().array
    deb = led[(pts < 0) & (kind != "expire") & ~own]
    debits = pd.DataFrame(
        {
            "customer_id": deb["customer_id"].to_numpy(dtype=np.int64),
            "at": deb["occurred_at"].array,
            "points": -deb["points"].to_numpy(dtype=np.int64),
        }
    ).sort_values(["customer_id", "at"], kind="stable")
    debits["D"] = debits.groupby("customer_id", sort=False)["points"].cumsum().to_numpy()
    # the cumulative debit per customer at each instant (the last one wins at equal times)
    debits = debits.drop_duplicates(["customer_id", "at"], keep="last")
    return lots, debits[["customer_id", "at", "D"]]


def _debit_before(left: pd.DataFrame, on: str, debits: pd.DataFrame, strictly: bool) -> np.ndarray:
    """Cumulative FIFO debit of each row's customer before (or at) ``left[on]``."""
    if left.empty:
        return np.zeros(0, dtype=np.int64)
    probe = pd.DataFrame(
        {
            "customer_id": left["customer_id"].to_numpy(),
            "at": left[on].array,
            "pos": np.arange(len(left)),
        }
    ).sort_values("at", kind="stable")
    joined = pd.merge_asof(
        probe,
        debits.sort_values("at", kind="stable"),
        on="at",
        by="customer_id",
        direction="backward",
        allow_exact_matches=not strictly,
    )
    out = np.zeros(len(left), dtype=np.int64)
    out[joined["pos"].to_numpy()] = joined["D"].fillna(0).to_numpy(dtype=np.int64)
    return out


def _fifo(led: pd.DataFrame, due_by: pd.Timestamp) -> pd.DataFrame:
    """Every lot of ``led`` with what it expired (when due by ``due_by``) or has left.

    Returns the lots (FIFO order) with ``due`` (``T <= due_by``), ``expired`` (for a due
    lot: what was left of it just before ``T``) and ``floor`` (for the lots after the due
    ones: how far the expiries pushed the consumption, see :func:`lot_state`). The
    computation is a per-customer cumulative sum of credits, an as-of join of cumulative
    debits, and a cumulative maximum that carries earlier expiries forward.
    """
    lots, debits = _lots_and_debits(led)
    due = (lots["T"] <= due_by).to_numpy()
    lots["due"] = due
    c = lots["C"].to_numpy()
    p = lots["points"].to_numpy()
    cid = lots["customer_id"].to_numpy()
    # half-open validity: a debit at the very instant T is charged to the lots after this one
    d = _debit_before(lots, "T", debits, strictly=True)
    d = np.where(due, d, 0)
    jump = np.where(due, c - d, 0)  # where the consumption stands once this lot has expired
    floor = _prior_cummax(jump, cid)
    consumed = d + floor
    lots["expired"] = np.where(due, np.clip(c - np.maximum(c - p, consumed), 0, p), 0)
    lots["jump"] = jump
    lots.attrs["debits"] = debits
    return lots


def expiry_schedule(
    ledger: pd.DataFrame, until: Any, debits_until: Any | None = None
) -> pd.DataFrame:
    """How much of each lot expires, first in, first out, for lots due by ``until``.

    Lots (positive entries) are ordered by the time they became available; each is consumed
    by the debits (burn, negative adjust, points reclaimed by a return) booked before its
    expiry in that order, and whatever is left of it expires at ``expires_at``. A return's
    ``reverse`` entry is charged to its own lot (see the module's return rule). An expiry
    consumes the rest of its lot, so a later lot is never charged for it: nothing expires
    twice.

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
    until_ts = instant(until)
    cut = instant(debits_until) if debits_until is not None else until_ts
    lots = _fifo(_upto(ledger, cut), until_ts)
    due = lots[lots["due"].to_numpy()]
    return pd.DataFrame(
        {
            "lot_key": pd.Series(due["lot_key"].to_numpy(), dtype="str"),
            "customer_id": due["customer_id"].to_numpy(dtype=np.int64),
            "expires_at": pd.Series(due["T"].array, dtype=_TS),
            "remaining": due["expired"].to_numpy(dtype=np.int64),
        }
    )


def lot_state(ledger: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """What each lot holds at ``as_of``: its size, what expired, what was spent, what is left.

    Returns
    -------
    pandas.DataFrame
        ``lot_key, customer_id, points`` (net of returns charged to it), ``expired``,
        ``spent`` and ``left`` (``points = expired + spent + left``), ``available`` (the lot is
        past its hold) and ``expires_at``.
    """
    at = instant(as_of)
    lots = _fifo(_upto(ledger, at), at)
    debits = lots.attrs["debits"]
    c = lots["C"].to_numpy()
    p = lots["points"].to_numpy()
    cid = lots["customer_id"].to_numpy()
    due = lots["due"].to_numpy()
    # how far the FIFO debits and the expiries so far have consumed each customer's lots
    jump = pd.Series(lots["jump"].to_numpy()).groupby(cid, sort=False).transform("max")
    d_now = _debit_before(lots.assign(now=at), "now", debits, strictly=False)
    pointer = d_now + np.maximum(jump.to_numpy(), 0)
    consumed = np.where(due, p - lots["expired"].to_numpy(), np.clip(pointer - (c - p), 0, p))
    expired = lots["expired"].to_numpy()
    return pd.DataFrame(
        {
            "lot_key": pd.Series(lots["lot_key"].to_numpy(), dtype="str"),
            "customer_id": cid,
            "points": p,
            "expired": expired,
            "spent": consumed,
            "left": p - expired - consumed,
            "available": (lots["available_at"] <= at).to_numpy(),
            "expires_at": pd.Series(lots["T"].array, dtype=_TS),
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
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
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
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    at = instant(as_of)
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
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    led = ledger[ledger["customer_id"] == customer_id]
    if as_of is not None:
        led = _upto(led, instant(as_of))
    led = led.sort_values(["occurred_at", "idempotency_key"], kind="stable").reset_index(drop=True)
    led["running_balance"] = led["points"].cumsum().astype("int64")
    return led


def reversal_entries(
    ledger: pd.DataFrame,
    returned_orders: pd.DataFrame,
    as_of: Any,
    validity_days: int = 365,
) -> pd.DataFrame:
    """Entries that undo what returned orders granted, by the module's return rule.

    For every grant whose source is a returned order (``source_kind == "order"``): what is
    left of its own lot is taken back from that lot (``reverse:<grant>``); what of it was
    spent is reclaimed from the available balance (``reclaim:<grant>``); what of it expired
    is not taken again. When the available balance cannot cover what is reclaimed, one
    ``adjust`` entry per customer and order (``offset:order:<order>:<customer>``, reason
    ``return_offset``) brings it back to zero: finance deducts its points, times the point
    value, from the money refund. Points burned to pay for the order come back as a new lot
    (``refund:<burn>``). Every entry is dated ``as_of``.

    Parameters
    ----------
    returned_orders : frame with ``order_id``.
    validity_days : validity of the points given back (refunds and offsets are new lots).

    Returns
    -------
    pandas.DataFrame
        New entries (already-reversed grants are skipped, so a rerun adds nothing).

    Examples
    --------
    An order granted 100 points, 80 of which were spent and 20 are left; the customer has 50
    other points. Returning it books ``reverse`` -20 (its own lot), ``reclaim`` -80 and an
    offset of +30: the balance ends at 0 and finance keeps 30 of the money refund.
    """
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    require_columns(returned_orders, ["order_id"], "returned_orders")
    at = instant(as_of)
    if returned_orders.empty or ledger.empty:
        return empty_ledger()
    ret = pd.Series(returned_orders["order_id"].to_numpy(dtype=np.int64)).astype("str")
    led = _upto(ledger, at)
    of_order = led[(led["source_kind"] == "order").to_numpy() & _isin(led["source_id"], ret)]
    if of_order.empty:
        return empty_ledger()
    done = led.loc[(led["kind"] == "reverse").to_numpy(), "ref_key"]  # missing never match
    fresh = ~_isin(of_order["idempotency_key"], done)
    grants = of_order[(of_order["kind"] == "earn").to_numpy() & fresh]
    spent = of_order[(of_order["kind"] == "burn").to_numpy() & fresh]
    if grants.empty and spent.empty:
        return empty_ledger()
    state = lot_state(led, at)
    where = _lookup(grants["idempotency_key"], state["lot_key"])
    ok = where >= 0
    grants = grants[ok]
    where = where[ok]
    left = state["left"].to_numpy()[where]
    used = state["spent"].to_numpy()[where]
    held = ~state["available"].to_numpy()[where]
    gcid = grants["customer_id"].to_numpy(dtype=np.int64)
    gsrc = grants["source_id"].to_numpy()
    parts = []
    for prefix, reason, amount in (
        ("reverse:", _OWN_LOT, left),
        ("reclaim:", "return_spent", used),
    ):
        sel = amount > 0
        g = grants[sel]
        parts.append(
            make_entries(
                key=prefix + g["idempotency_key"],
                customer_id=g["customer_id"],
                kind="reverse",
                points=-amount[sel],
                reason=reason,
                rule=g["rule"],
                occurred_at=at,
                source_kind="order",
                source_id=g["source_id"],
                ref_key=g["idempotency_key"],
            )
        )
    parts.append(
        make_entries(
            key="refund:" + spent["idempotency_key"],
            customer_id=spent["customer_id"],
            kind="reverse",
            points=-spent["points"],
            reason="return_refund",
            rule=spent["rule"],
            occurred_at=at,
            source_kind="order",
            source_id=spent["source_id"],
            ref_key=spent["idempotency_key"],
            validity_days=validity_days,
        )
    )
    # what each customer can give back from the balance: the available points, less what
    # the own lots give back (when spendable), plus the refunds of this return
    avail = state[state["available"].to_numpy()].groupby("customer_id")["left"].sum()
    gain = pd.Series(-spent["points"].to_numpy(), index=spent["customer_id"].to_numpy())
    lost = pd.Series(np.where(held, 0, left), index=gcid)
    customers = np.unique(np.r_[gcid, spent["customer_id"].to_numpy(dtype=np.int64)])
    budget = (
        avail.reindex(customers, fill_value=0)
        + gain.groupby(level=0).sum().reindex(customers, fill_value=0)
        - lost.groupby(level=0).sum().reindex(customers, fill_value=0)
    )
    per = (
        pd.DataFrame({"customer_id": gcid, "order": gsrc, "need": used})
        .groupby(["customer_id", "order"], sort=True)["need"]
        .sum()
        .reset_index()
    )
    per = per[per["need"].to_numpy() > 0]
    if len(per):
        cum = per.groupby("customer_id", sort=False)["need"].cumsum().to_numpy()
        room = budget.reindex(per["customer_id"]).to_numpy(dtype=np.int64)
        short = np.maximum(cum - np.maximum(room, 0), 0)
        prev = pd.Series(short).groupby(per["customer_id"].to_numpy(), sort=False).shift(1)
        per["offset"] = short - prev.fillna(0).to_numpy(dtype=np.int64)
        per = per[per["offset"].to_numpy() > 0]
        parts.append(
            make_entries(
                key="offset:order:"
                + per["order"].astype("str")
                + ":"
                + per["customer_id"].astype("str"),
                customer_id=per["customer_id"],
                kind="adjust",
                points=per["offset"],
                reason="return_offset",
                occurred_at=at,
                source_kind="order",
                source_id=per["order"],
                validity_days=validity_days,
            )
        )
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else empty_ledger()


def adjustment_entry(
    *,
    customer_id: int,
    points: int,
    operator: str,
    reason: str,
    key: str,
    as_of: Any,
    validity_days: int,
    available: int | None = None,
    ledger: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """An operator's correction: one ``adjust`` entry keyed ``adjust:<key>`` (never an edit).

    Parameters
    ----------
    points : points to add (positive: a new lot valid ``validity_days``) or take away.
    available : the customer's spendable points; a negative adjustment may not take more.
    ledger : when given and it already holds ``adjust:<key>``, that entry is returned as it
        is, before any check: retrying a correction that went through is never refused.

    Raises
    ------
    InsufficientPointsError
        When a negative adjustment exceeds ``available``.
    """
    entry_key = f"adjust:{key}"
    if ledger is not None:
        done = _has_key(ledger, entry_key)
        if len(done):
            return done.reset_index(drop=True)
    if points == 0:
        raise ValueError("an adjustment of 0 points changes nothing")
    if points < 0 and available is not None and available < -points:
        raise InsufficientPointsError(customer_id, -points, int(available))
    return make_entries(
        key=entry_key,
        customer_id=customer_id,
        kind="adjust",
        points=points,
        reason=reason[:32],
        operator=operator,
        occurred_at=as_of,
        source_kind="operator",
        source_id=key[:64],
        validity_days=validity_days if points > 0 else None,
    )
