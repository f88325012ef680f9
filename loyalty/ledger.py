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
    "new_entries",
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


def _empty() -> pd.DataFrame:
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


_EMPTY = _empty()


def empty_ledger() -> pd.DataFrame:
    """A ledger with no entries and the right dtypes."""
    return _EMPTY.copy()


def _as_time(value: Any, n: int) -> Any:
    """A column of aware UTC instants (microseconds) from a Series, an array or a scalar."""
    if isinstance(value, pd.Series):
        arr = value.array
        if not isinstance(arr, pd.arrays.DatetimeArray) or arr.tz is None:
            arr = pd.to_datetime(value, utc=True).array
        arr = arr.tz_convert("UTC")
        return arr if arr.unit == "us" else arr.as_unit("us")
    if isinstance(value, np.ndarray | pd.Index | list):
        return _as_time(pd.Series(pd.to_datetime(value, utc=True)), n)
    us = np.full(n, instant(value).value // 1000).astype("datetime64[us]")
    return pd.array(us).tz_localize("UTC")


def _as_text(value: Any, n: int) -> Any:
    """A column of text (missing allowed) from a Series, an array or a scalar."""
    if isinstance(value, pd.Series):
        if isinstance(value.dtype, pd.StringDtype) and value.dtype.na_value is np.nan:
            return value.array
        return pd.array(value.to_numpy(dtype=object), dtype="str")
    if isinstance(value, np.ndarray | pd.Index | list):
        return pd.array(np.asarray(value, dtype=object), dtype="str")
    return pd.array(np.full(n, value, dtype=object), dtype="str")


def _as_int(value: Any, n: int) -> np.ndarray:
    if isinstance(value, pd.Series | pd.Index):
        return value.to_numpy(dtype=np.int64)
    if isinstance(value, np.ndarray | list):
        return np.asarray(value, dtype=np.int64)
    return np.full(n, int(value), dtype=np.int64)


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
    keys = _as_text(key, 1)
    n = len(keys)
    occ = _as_time(occurred_at, n)
    avail = occ if available_at is None else _as_time(available_at, n)
    pts = _as_int(points, n)
    exp_us = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    if validity_days is not None:
        grant = pts > 0
        exp_us[grant] = (avail + pd.Timedelta(days=validity_days)).tz_localize(None)[grant]
    frame = pd.DataFrame(
        {
            "idempotency_key": keys,
            "customer_id": _as_int(customer_id, n),
            "kind": _as_text(kind, n),
            "points": pts,
            "reason": _as_text(reason, n),
            "rule": _as_text(rule, n),
            "operator": _as_text(operator, n),
            "source_kind": _as_text(source_kind, n),
            "source_id": _as_text(source_id, n),
            "ref_key": _as_text(ref_key, n),
            "occurred_at": occ,
            "available_at": avail,
            "expires_at": pd.array(exp_us).tz_localize("UTC"),
        },
        copy=False,
    )
    return frame


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
    both sides together is one hash pass in C; a few hundred keys go through a dict, which
    costs less than the frames the hash pass builds.
    """
    if len(values) + len(keys) <= 2000:
        where: dict[Any, int] = {}
        for i, k in enumerate(keys.tolist()):
            if isinstance(k, str):
                where.setdefault(k, i)
        return np.fromiter(
            (where.get(v, -1) if isinstance(v, str) else -1 for v in values.tolist()),
            dtype=np.int64,
            count=len(values),
        )
    keys = pd.Series(keys.to_numpy(), dtype=values.dtype)
    both = pd.concat([keys, values], ignore_index=True)
    codes = pd.factorize(both)[0] + 1  # 0: missing
    pos = np.full(int(codes.max(initial=0)) + 1, -1, dtype=np.int64)
    # the first position of each key wins (keys are unique in a valid ledger)
    kc = codes[: len(keys)]
    pos[kc[::-1]] = np.arange(len(keys), dtype=np.int64)[::-1]
    pos[0] = -1
    return pos[codes[len(keys) :]]


def _isin(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """``values.isin(keys)`` as a boolean array; a missing value is never in ``keys``."""
    return _lookup(values, keys) >= 0


def _has_key(ledger: pd.DataFrame, key: str) -> pd.DataFrame:
    """The entry of ``ledger`` keyed ``key`` (an empty frame when there is none)."""
    return ledger[(ledger["idempotency_key"] == key).to_numpy()]


def new_entries(ledger: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """The ``entries`` whose idempotency key is not in ``ledger`` (each key once)."""
    if entries.empty or ledger.empty:
        fresh = entries
    else:
        mask = ~_isin(entries["idempotency_key"], ledger["idempotency_key"])
        fresh = entries if mask.all() else entries[mask]
    if len(fresh) and fresh["idempotency_key"].duplicated().any():
        fresh = fresh.drop_duplicates("idempotency_key")
    return fresh


def append(ledger: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """Append ``entries`` whose idempotency key is not yet in ``ledger`` (a rerun adds nothing).

    This is the in-memory twin of the database write (``INSERT … ON CONFLICT DO NOTHING``).
    """
    new = new_entries(ledger, entries)
    if new.empty:
        return ledger
    if ledger.empty:
        return new[LEDGER_COLUMNS].reset_index(drop=True)
    return pd.concat([ledger, new[LEDGER_COLUMNS]], ignore_index=True)


def _upto(ledger: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    return ledger[(ledger["occurred_at"] <= as_of).to_numpy()]


_NAT = np.iinfo(np.int64).min
_FAR_US = _FAR.value // 1000


def _us(values: pd.Series) -> np.ndarray:
    """Instants as int64 microseconds since the epoch (missing: the smallest int64)."""
    arr = values.array
    if not isinstance(arr, pd.arrays.DatetimeArray):
        arr = pd.to_datetime(values, utc=True).array
    if arr.unit != "us":
        arr = arr.as_unit("us")
    return np.asarray(arr.asi8)  # type: ignore[attr-defined]  # pandas-stubs lacks it


def _is(codes: np.ndarray, uniques: Any, value: str) -> np.ndarray:
    hit = np.flatnonzero(np.asarray(uniques, dtype=object) == value)
    return codes == hit[0] if len(hit) else np.zeros(len(codes), dtype=bool)


def _starts(groups: np.ndarray) -> np.ndarray:
    return np.r_[True, groups[1:] != groups[:-1]] if len(groups) else np.zeros(0, dtype=bool)


def _seg_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at every ``starts``."""
    if len(values) == 0:
        return values.astype(np.int64)
    cs = np.cumsum(values, dtype=np.int64)
    first = np.flatnonzero(starts)
    base = (cs - values)[first]
    return cs - np.repeat(base, np.diff(np.r_[first, len(values)]))


def _seg_cummax(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative maximum restarting at every ``starts`` (values of any sign)."""
    if len(values) == 0:
        return values
    lo, hi = int(values.min()), int(values.max())
    span = hi - lo + 1
    group = np.cumsum(starts) - 1
    if span * (int(group[-1]) + 1) < 2**62:  # one pass: later groups sit above earlier ones
        shifted = (values - lo) + group * span
        return np.maximum.accumulate(shifted) - group * span + lo
    return pd.Series(values).groupby(group).cummax().to_numpy()


def _debits_at(
    pcid: np.ndarray,
    pt: np.ndarray,
    dcid: np.ndarray,
    dt: np.ndarray,
    damt: np.ndarray,
    strictly: bool,
) -> np.ndarray:
    """Per probe ``(customer, instant)``: that customer's debits before (or at) the instant."""
    n, m = len(pcid), len(dcid)
    if n == 0 or m == 0:
        return np.zeros(n, dtype=np.int64)
    allc = np.r_[dcid, pcid]
    allt = np.r_[dt, pt]
    # at equal instants a strict probe sorts before the debits, an inclusive one after them
    flag = np.r_[np.full(m, 1 if strictly else 0), np.full(n, 0 if strictly else 1)]
    order = np.lexsort((flag, allt, allc))
    amount = np.r_[damt, np.zeros(n, dtype=np.int64)][order]
    run = _seg_cumsum(amount, _starts(allc[order]))
    out = np.zeros(n, dtype=np.int64)
    probe = order >= m
    out[order[probe] - m] = run[probe]
    return out


class _Lots:
    """Lots of a ledger in FIFO order, and what the FIFO debits and expiries did to them."""

    def __init__(self, led: pd.DataFrame, due_by: int) -> None:
        pts = led["points"].to_numpy(dtype=np.int64)
        cid = led["customer_id"].to_numpy(dtype=np.int64)
        occ = _us(led["occurred_at"])
        kc, ku = pd.factorize(led["kind"])
        own = _is(kc, ku, "reverse") & (pts < 0)
        if own.any():
            own &= (led["reason"] == _OWN_LOT).to_numpy()
        li = np.flatnonzero(pts > 0)
        keys = led["idempotency_key"]
        p = pts[li].copy()
        if own.any():
            # a return is charged to the lot it names: it never takes more than was left of
            # that lot when it was booked, so shrinking the lot from the start gives every
            # other lot the same history as taking the points at the return
            oi = np.flatnonzero(own)
            where = _lookup(led["ref_key"].iloc[oi], keys.iloc[li])
            hit = where >= 0
            np.add.at(p, where[hit], pts[oi][hit])
            p = np.maximum(p, 0)
        lcid = cid[li]
        locc = occ[li]
        avail = _us(led["available_at"])[li]
        avail = np.where(avail == _NAT, locc, avail)
        exp = _us(led["expires_at"])[li]
        exp = np.where(exp == _NAT, _FAR_US, exp)
        order = np.lexsort((locc, avail, lcid))
        same = (
            (lcid[order][1:] == lcid[order][:-1])
            & (avail[order][1:] == avail[order][:-1])
            & (locc[order][1:] == locc[order][:-1])
        )
        if same.any():  # the key breaks ties, so every reader sees the same order
            rank = pd.factorize(keys.iloc[li], sort=True)[0]
            order = np.lexsort((rank, locc, avail, lcid))
        self.rows = li[order]  # positions in ``led``
        self.cid = lcid[order]
        self.points = p[order]
        self.available_at = avail[order]
        starts = _starts(self.cid)
        self.starts = starts
        self.C = _seg_cumsum(self.points, starts)
        T = exp[order]
        # FIFO: a lot never expires before an older one (validity may have changed)
        if len(T) > 1 and ((T[1:] < T[:-1]) & ~starts[1:]).any():
            T = pd.Series(T).groupby(np.cumsum(starts)).cummax().to_numpy()
        self.T = T
        self.due = due_by >= T
        di = np.flatnonzero((pts < 0) & ~_is(kc, ku, "expire") & ~own)
        self.dcid, self.dt, self.damt = cid[di], occ[di], -pts[di]
        # half-open validity: a debit at the very instant T is charged to the later lots
        d = _debits_at(self.cid, T, self.dcid, self.dt, self.damt, strictly=True)
        c, pp = self.C, self.points
        jump = np.where(self.due, np.maximum(c - d, 0), 0)  # consumption once this lot expired
        prior = np.r_[0, _seg_cummax(jump, starts)[:-1]] if len(jump) else jump
        prior = np.where(starts, 0, prior)
        self.jump = jump
        self.expired = np.where(self.due, np.clip(c - np.maximum(c - pp, d + prior), 0, pp), 0)

    def spent(self, at: int) -> np.ndarray:
        """What of each lot the FIFO debits up to ``at`` consumed (expired lots: before T)."""
        c, p = self.C, self.points
        total = _debits_at(
            self.cid, np.full(len(c), at, dtype=np.int64), self.dcid, self.dt, self.damt, False
        )
        first = np.flatnonzero(self.starts)
        reach = np.repeat(
            np.maximum.reduceat(self.jump, first) if len(first) else self.jump,
            np.diff(np.r_[first, len(c)]),
        )
        pointer = total + reach
        return np.where(self.due, p - self.expired, np.clip(pointer - (c - p), 0, p))


def expiry_schedule(
    ledger: pd.DataFrame, until: Any, debits_until: Any | None = None
) -> pd.DataFrame:
    """How much of each lot expires, first in, first out, for lots due by ``until``.

    Lots (positive entries) are ordered by the time they became available; each is consumed
    by the debits (burn, negative adjust, points reclaimed by a return) booked before its
    expiry in that order, and whatever is left of it expires at ``expires_at``. A return's
    ``reverse`` entry is charged to its own lot (see the module's return rule). An expiry
    consumes the rest of its lot, so a later lot is never charged for it: nothing expires
    twice. The computation is a per-customer cumulative sum of credits, a sorted join of
    cumulative debits, and a cumulative maximum that carries earlier expiries forward.

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
    led = _upto(ledger, cut)
    lots = _Lots(led, until_ts.value // 1000)
    due = lots.due
    return pd.DataFrame(
        {
            "lot_key": pd.Series(led["idempotency_key"].to_numpy()[lots.rows[due]], dtype="str"),
            "customer_id": lots.cid[due],
            "expires_at": pd.Series(lots.T[due].astype("datetime64[us]")).dt.tz_localize("UTC"),
            "remaining": lots.expired[due],
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
    led = _upto(ledger, at)
    us = at.value // 1000
    lots = _Lots(led, us)
    spent = lots.spent(us)
    return pd.DataFrame(
        {
            "lot_key": pd.Series(led["idempotency_key"].to_numpy()[lots.rows], dtype="str"),
            "customer_id": lots.cid,
            "points": lots.points,
            "expired": lots.expired,
            "spent": spent,
            "left": lots.points - lots.expired - spent,
            "available": lots.available_at <= us,
            "expires_at": pd.Series(lots.T.astype("datetime64[us]")).dt.tz_localize("UTC"),
        }
    )


def expiry_entries(ledger: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Expire entries for every lot due by ``as_of`` that has not been expired yet.

    One entry per lot, keyed ``expire:<lot key>``: writing them twice adds nothing, and a
    lot's remainder is computed after everything it already paid for.
    """
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    at = instant(as_of)
    led = _upto(ledger, at)
    lots = _Lots(led, at.value // 1000)
    sel = lots.due & (lots.expired > 0)
    if not sel.any():
        return empty_ledger()
    rows = lots.rows[sel]
    lot_key = led["idempotency_key"].to_numpy(dtype=object)[rows]
    keys = "expire:" + lot_key
    fresh = ~_isin(pd.Series(keys, dtype="str"), led["idempotency_key"])
    if not fresh.any():
        return empty_ledger()
    return make_entries(
        key=keys[fresh],
        customer_id=lots.cid[sel][fresh],
        kind="expire",
        points=-lots.expired[sel][fresh],
        reason="expiry",
        occurred_at=pd.Series(lots.T[sel][fresh].astype("datetime64[us]")).dt.tz_localize("UTC"),
        source_kind="lot",
        source_id=lot_key[fresh],
        ref_key=lot_key[fresh],
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
        validity whose expiry is not booked yet), ``expiring`` (points that expire within the
        horizon, including lots due but not yet booked), ``earned``, ``burned``, ``expired``
        and ``liability`` (``balance × point_value``).
    """
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    at = instant(as_of)
    us = at.value // 1000
    led = _upto(ledger, at)
    pts = led["points"].to_numpy(dtype=np.int64)
    cid = led["customer_id"].to_numpy(dtype=np.int64)
    ids, code = np.unique(cid, return_inverse=True)
    k = len(ids)
    kc, ku = pd.factorize(led["kind"])
    is_earn, is_exp = _is(kc, ku, "earn"), _is(kc, ku, "expire")

    def total(mask: np.ndarray, values: np.ndarray = pts, at_code: np.ndarray = code) -> np.ndarray:
        return np.bincount(at_code[mask], weights=values[mask], minlength=k).astype(np.int64)

    everything = np.ones(len(pts), dtype=bool)
    balance = total(everything)
    # pending: purchase grants still in their hold, net of what returns took from them
    held = is_earn & (_us(led["available_at"]) > us)
    pending = total(held)
    if held.any():
        rev = _is(kc, ku, "reverse")
        ri = np.flatnonzero(rev)
        if len(ri):
            of_held = _isin(
                led["ref_key"].iloc[ri], led["idempotency_key"].iloc[np.flatnonzero(held)]
            )
            mask = np.zeros(len(pts), dtype=bool)
            mask[ri[of_held]] = True
            pending += total(mask)
    horizon = (at + pd.Timedelta(days=expiring_within_days)).value // 1000
    lots = _Lots(led, horizon)
    sel = lots.due & (lots.expired > 0)
    expiring = np.zeros(k, dtype=np.int64)
    overdue = np.zeros(k, dtype=np.int64)
    if sel.any():
        keys = led["idempotency_key"].iloc[lots.rows[sel]]
        booked = (
            _isin(keys, led.loc[is_exp, "ref_key"]) if is_exp.any() else np.zeros(len(keys), bool)
        )
        lot_code = code[lots.rows[sel]]
        open_ = ~booked
        amount = lots.expired[sel]
        expiring = total(open_, amount, lot_code)
        overdue = total(open_ & (lots.T[sel] <= us), amount, lot_code)
    out = pd.DataFrame(
        {
            "balance": balance,
            "pending": pending,
            "available": balance - pending - overdue,
            "expiring": expiring,
            "earned": total(is_earn),
            "burned": -total(_is(kc, ku, "burn")),
            "expired": -total(is_exp),
            "liability": balance * float(point_value),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    return out


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
    rows = np.flatnonzero((led["source_kind"] == "order").to_numpy() & _isin(led["source_id"], ret))
    if len(rows) == 0:
        return empty_ledger()
    kind = led["kind"].to_numpy(dtype=object)
    rev_rows = np.flatnonzero(kind == "reverse")
    keys = led["idempotency_key"]
    fresh = ~_isin(keys.iloc[rows], led["ref_key"].iloc[rev_rows])  # missing never match
    rows = rows[fresh]
    grant_rows = rows[kind[rows] == "earn"]
    burn_rows = rows[kind[rows] == "burn"]
    if len(grant_rows) == 0 and len(burn_rows) == 0:
        return empty_ledger()
    us = at.value // 1000
    lots = _Lots(led, us)
    spent_now = lots.spent(us)
    left_now = lots.points - lots.expired - spent_now
    lot_of = np.full(len(led), -1, dtype=np.int64)
    lot_of[lots.rows] = np.arange(len(lots.rows))
    g = lot_of[grant_rows]
    grant_rows, g = grant_rows[g >= 0], g[g >= 0]
    left, used = left_now[g], spent_now[g]
    held = lots.available_at[g] > us
    pts = led["points"].to_numpy(dtype=np.int64)
    cid = led["customer_id"].to_numpy(dtype=np.int64)
    src = led["source_id"].to_numpy(dtype=object)
    gkey = keys.to_numpy(dtype=object)
    # one frame of reverse entries: own lots, reclaimed spending, refunds of points paid
    own, back = left > 0, used > 0
    take = np.r_[grant_rows[own], grant_rows[back], burn_rows]
    prefix = np.r_[
        np.full(own.sum(), "reverse:", dtype=object),
        np.full(back.sum(), "reclaim:", dtype=object),
        np.full(len(burn_rows), "refund:", dtype=object),
    ]
    reason = np.r_[
        np.full(own.sum(), _OWN_LOT, dtype=object),
        np.full(back.sum(), "return_spent", dtype=object),
        np.full(len(burn_rows), "return_refund", dtype=object),
    ]
    parts = [
        make_entries(
            key=prefix + gkey[take],
            customer_id=cid[take],
            kind="reverse",
            points=np.r_[-left[own], -used[back], -pts[burn_rows]],
            reason=reason,
            rule=led["rule"].to_numpy(dtype=object)[take],
            occurred_at=at,
            source_kind="order",
            source_id=src[take],
            ref_key=gkey[take],
            validity_days=validity_days,  # only the refunds (positive) get an expiry
        )
    ]
    need_rows = grant_rows[back]
    if len(need_rows):
        # what each customer can give back: the points available now, less what the own
        # lots give back (when spendable), plus the refunds of this return
        ids, code = np.unique(
            np.r_[cid[need_rows], lots.cid, cid[grant_rows], cid[burn_rows]], return_inverse=True
        )
        n1, n2, n3 = len(need_rows), len(lots.cid), len(grant_rows)
        k = len(ids)
        spendable = np.where(lots.available_at <= us, left_now, 0)
        budget = (
            np.bincount(code[n1 : n1 + n2], weights=spendable, minlength=k)
            - np.bincount(
                code[n1 + n2 : n1 + n2 + n3], weights=np.where(held, 0, left), minlength=k
            )
            - np.bincount(code[n1 + n2 + n3 :], weights=pts[burn_rows], minlength=k)
        ).astype(np.int64)
        per = (
            pd.DataFrame(
                {"customer_id": cid[need_rows], "order": src[need_rows], "need": used[back]}
            )
            .groupby(["customer_id", "order"], sort=True)["need"]
            .sum()
            .reset_index()
        )
        pc = per["customer_id"].to_numpy(dtype=np.int64)
        cum = _seg_cumsum(per["need"].to_numpy(dtype=np.int64), _starts(pc))
        room = np.maximum(budget[np.searchsorted(ids, pc)], 0)
        short = np.maximum(cum - room, 0)
        offset = short - np.where(_starts(pc), 0, np.r_[0, short[:-1]])
        hit = offset > 0
        if hit.any():
            order = per["order"].to_numpy(dtype=object)[hit]
            parts.append(
                make_entries(
                    key="offset:order:" + order + ":" + pc[hit].astype(str).astype(object),
                    customer_id=pc[hit],
                    kind="adjust",
                    points=offset[hit],
                    reason="return_offset",
                    occurred_at=at,
                    source_kind="order",
                    source_id=order,
                    validity_days=validity_days,
                )
            )
    parts = [p for p in parts if not p.empty]
    return (
        pd.concat(parts, ignore_index=True)
        if len(parts) > 1
        else (parts[0] if parts else empty_ledger())
    )


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
