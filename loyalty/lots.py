"""Lots, first in, first out: what expires, what is spent, and the balances derived from them.

Every positive entry of the ledger is a *lot*, valid on ``[available_at, expires_at)`` and
consumed first in, first out by the debits booked while it is valid (see
:mod:`loyalty.ledger`). The functions here read a ledger frame and return frames; the
computation is a per-customer cumulative sum of credits, a sorted join of cumulative debits,
and a cumulative maximum that carries earlier expiries forward, so it runs the same on three
entries and on ten million.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loyalty.entries import (
    KINDS,
    LEDGER_COLUMNS,
    _array,
    _arrow_text,
    _isin,
    _lookup,
    _small,
    _us,
    empty_ledger,
    instant,
    make_entries,
)
from loyalty.errors import require_columns

__all__ = [
    "POINTS_COLUMNS",
    "balances",
    "expiry_entries",
    "expiry_schedule",
    "lot_state",
    "points_balances",
    "statement",
]

#: The ledger columns :func:`points_balances` reads: a caller that needs only the balance
#: reads these three, not the keys and rule names of every entry.
POINTS_COLUMNS = ("customer_id", "points", "occurred_at")

_FAR = pd.Timestamp("2262-01-01", tz="UTC")
#: the reason of a reverse entry charged to the lot it names (step 1 of the return rule)
OWN_LOT = "return"
_NAT = np.iinfo(np.int64).min
_FAR_US = _FAR.value // 1000
_KIND = {k: i for i, k in enumerate(KINDS)}
EARN, BURN, EXPIRE, REVERSE, ADJUST = range(len(KINDS))


def _upto(ledger: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The entries that occurred by ``as_of`` (the frame itself when that is all of them)."""
    keep = _us(ledger["occurred_at"]) <= as_of.value // 1000
    return ledger if keep.all() else ledger[keep]


class _View:
    """A ledger's columns as numpy arrays, each extracted once, text ones on demand.

    With ``upto`` (microseconds), only the entries that occurred by then are in view: the
    rows are picked from each column as it is read, the frame itself is never sliced (on a
    few rows, slicing a frame costs more than the whole computation).
    """

    def __init__(self, led: pd.DataFrame, upto: int | None = None) -> None:
        self.frame = led
        occ = _us(_array(led, "occurred_at"))
        keep = None
        if upto is not None:
            inside = occ <= upto
            if not inside.all():
                keep = np.flatnonzero(inside)
        self.keep = keep
        self.occ = occ if keep is None else occ[keep]
        self.n = len(self.occ)
        self.pts = self._numbers("points")
        self.cid = self._numbers("customer_id")
        self._texts: dict[str, Any] = {}
        if _small(self.n):
            self.kind = np.fromiter(
                (_KIND.get(k, -1) for k in self.column("kind").tolist()),
                dtype=np.int8,
                count=self.n,
            )
        else:
            codes = pc.index_in(self.column("kind"), value_set=pa.array(KINDS))
            self.kind = np.asarray(
                pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), dtype=np.int8
            )

    def _numbers(self, column: str) -> np.ndarray:
        out = np.asarray(_array(self.frame, column), dtype=np.int64)
        return out if self.keep is None else out[self.keep]

    def _instants(self, column: str) -> np.ndarray:
        out = _us(_array(self.frame, column))
        return out if self.keep is None else out[self.keep]

    @cached_property
    def avail(self) -> np.ndarray:
        return self._instants("available_at")

    @cached_property
    def exp(self) -> np.ndarray:
        return self._instants("expires_at")

    def column(self, column: str) -> Any:
        """A text column in view: an object array when small, Arrow strings if not (cached)."""
        out = self._texts.get(column)
        if out is None:
            values = _array(self.frame, column)
            if _small(self.n):
                out = np.asarray(values, dtype=object)
                out = out if self.keep is None else out[self.keep]
            else:
                out = _arrow_text(values)
                if self.keep is not None:
                    out = out.take(pa.array(self.keep, type=pa.int64()))
            self._texts[column] = out
        return out

    def equals(self, column: str, value: str) -> np.ndarray:
        """``column == value`` as a boolean array (missing is never equal)."""
        values = self.column(column)
        if isinstance(values, np.ndarray):
            return np.asarray(values == value, dtype=bool)
        eq = pc.equal(values, value)
        return np.asarray(pc.fill_null(eq, False).to_numpy(zero_copy_only=False), dtype=bool)

    def text(self, column: str, rows: np.ndarray | None = None) -> Any:
        """A text column (or its ``rows``): an object array when small, Arrow strings if not."""
        values = self.column(column)
        if rows is None:
            return values
        if isinstance(values, np.ndarray):
            return values[rows]
        return values.take(pa.array(rows, type=pa.int64()))


def _rank(values: Any) -> np.ndarray:
    """The sort rank of each text value (equal values share a rank)."""
    if isinstance(values, np.ndarray):
        order = {v: i for i, v in enumerate(sorted(set(values.tolist())))}
        return np.fromiter((order[v] for v in values.tolist()), dtype=np.int64, count=len(values))
    ranks = pc.rank(values, sort_keys="ascending", tiebreaker="dense")
    return np.asarray(ranks.to_numpy(zero_copy_only=False), dtype=np.int64)


def _fifo_order(
    v: _View, li: np.ndarray, cid: np.ndarray, avail: np.ndarray, occ: np.ndarray
) -> np.ndarray:
    """The lots ``li`` in FIFO order: by customer, ``available_at``, ``occurred_at``, then key.

    The key breaks ties, so every reader sees the same order (an order's several grants share
    their instants). Small: numpy's ``lexsort``, ranking the keys only when there are ties.
    Large: one stable multi-key sort in Arrow, which compares the keys only inside runs of
    equal instants; three ``lexsort`` passes and a rank of every key cost four times as much
    on ten million lots. Both give the same order.
    """
    if not _small(len(li)):
        table = pa.table({"c": cid, "a": avail, "o": occ, "k": v.text("idempotency_key", li)})
        keys = [(name, "ascending") for name in ("c", "a", "o", "k")]
        return np.asarray(pc.sort_indices(table, sort_keys=keys).to_numpy(), dtype=np.int64)
    order = np.lexsort((occ, avail, cid))
    same = (
        (cid[order][1:] == cid[order][:-1])
        & (avail[order][1:] == avail[order][:-1])
        & (occ[order][1:] == occ[order][:-1])
    )
    if same.any():
        order = np.lexsort((_rank(v.text("idempotency_key", li)), occ, avail, cid))
    return order


def _customer_codes(cid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(cid, return_inverse=True)``: the ids, and each entry's position among them.

    Customer ids are dense integers: when they span at most a few times as many values as
    there are entries, marking them in a table of that span gives the same answer in one
    pass, instead of sorting twenty million entries.
    """
    if _small(len(cid)):
        return np.unique(cid, return_inverse=True)
    lo, hi = int(cid.min()), int(cid.max())
    if hi - lo >= 4 * len(cid):
        return np.unique(cid, return_inverse=True)
    seen = np.zeros(hi - lo + 1, dtype=bool)
    seen[cid - lo] = True
    return np.flatnonzero(seen) + lo, (np.cumsum(seen) - 1)[cid - lo]


def _starts(groups: np.ndarray) -> np.ndarray:
    return (
        np.concatenate((np.ones(1, dtype=bool), groups[1:] != groups[:-1]))
        if len(groups)
        else np.zeros(0, dtype=bool)
    )


def _seg_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at every ``starts``."""
    if len(values) == 0:
        return values.astype(np.int64)
    cs = np.cumsum(values, dtype=np.int64)
    first = np.flatnonzero(starts)
    base = (cs - values)[first]
    return cs - np.repeat(base, np.diff(np.append(first, len(values))))


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
    out = np.zeros(n, dtype=np.int64)
    if n == 0 or m == 0:
        return out
    some: np.ndarray | None = None
    if not _small(n) and m < n // 4:
        # only the probes of customers with a debit can be non-zero: a backfill of ten million
        # lots has debits for a few thousand customers, and sorting every probe with them
        # would cost the most of a lot computation
        some = np.flatnonzero(np.isin(pcid, dcid))
        pcid, pt, n = pcid[some], pt[some], len(some)
    allc = np.concatenate((dcid, pcid))
    allt = np.concatenate((dt, pt))
    # at equal instants a strict probe sorts before the debits, an inclusive one after them
    flag = np.concatenate((np.full(m, 1 if strictly else 0), np.full(n, 0 if strictly else 1)))
    order = np.lexsort((flag, allt, allc))
    amount = np.concatenate((damt, np.zeros(n, dtype=np.int64)))[order]
    run = _seg_cumsum(amount, _starts(allc[order]))
    probe = order >= m
    at = order[probe] - m
    out[at if some is None else some[at]] = run[probe]
    return out


class _Lots:
    """Lots of a ledger in FIFO order, and what the FIFO debits and expiries did to them."""

    def __init__(self, v: _View, due_by: int) -> None:
        pts, cid, occ, kind = v.pts, v.cid, v.occ, v.kind
        own = (kind == REVERSE) & (pts < 0)
        if own.any():
            own &= v.equals("reason", OWN_LOT)
        li = np.flatnonzero(pts > 0)
        p = pts[li].copy()
        if own.any():
            # a return is charged to the lot it names: it never takes more than was left of
            # that lot when it was booked, so shrinking the lot from the start gives every
            # other lot the same history as taking the points at the return
            oi = np.flatnonzero(own)
            where = _lookup(v.text("ref_key", oi), v.text("idempotency_key", li))
            hit = where >= 0
            np.add.at(p, where[hit], pts[oi][hit])
            p = np.maximum(p, 0)
        lcid = cid[li]
        locc = occ[li]
        avail = v.avail[li]
        avail = np.where(avail == _NAT, locc, avail)
        exp = v.exp[li]
        exp = np.where(exp == _NAT, _FAR_US, exp)
        order = _fifo_order(v, li, lcid, avail, locc)
        self.rows = li[order]  # positions in the ledger
        self.cid = lcid[order]
        self.points = p[order]
        self.available_at = avail[order]
        T = exp[order]
        # the lots in ledger order are not needed again: ten million lots are ~0.6 GB of them
        del li, p, lcid, locc, avail, exp, order
        starts = _starts(self.cid)
        self.starts = starts
        self.C = _seg_cumsum(self.points, starts)
        # FIFO: a lot never expires before an older one (validity may have changed)
        if len(T) > 1 and ((T[1:] < T[:-1]) & ~starts[1:]).any():
            T = _seg_cummax(T, starts)
        self.T = T
        self.due = due_by >= T
        di = np.flatnonzero((pts < 0) & (kind != EXPIRE) & ~own)
        self.dcid, self.dt, self.damt = cid[di], occ[di], -pts[di]
        # half-open validity: a debit at the very instant T is charged to the later lots
        d = _debits_at(self.cid, T, self.dcid, self.dt, self.damt, strictly=True)
        c, pp = self.C, self.points
        jump = np.where(self.due, np.maximum(c - d, 0), 0)  # consumption once this lot expired
        prior = (
            np.concatenate((np.zeros(1, dtype=np.int64), _seg_cummax(jump, starts)[:-1]))
            if len(jump)
            else jump
        )
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
            np.diff(np.append(first, len(c))),
        )
        pointer = total + reach
        return np.where(self.due, p - self.expired, np.clip(pointer - (c - p), 0, p))


def _instants(us: np.ndarray) -> pd.Series:
    return pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")


def _text_series(values: Any) -> pd.Series:
    return pd.Series(pd.array(values, dtype="str"))


def expiry_schedule(
    ledger: pd.DataFrame, until: Any, debits_until: Any | None = None
) -> pd.DataFrame:
    """How much of each lot expires, first in, first out, for lots due by ``until``.

    Lots (positive entries) are ordered by the time they became available; each is consumed
    by the debits (burn, negative adjust, points reclaimed by a return) booked before its
    expiry in that order, and whatever is left of it expires at ``expires_at``. A return's
    ``reverse`` entry is charged to its own lot (see :mod:`loyalty.ledger`'s return rule). An
    expiry consumes the rest of its lot, so a later lot is never charged for it: nothing
    expires twice.

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
    v = _View(ledger, cut.value // 1000)
    lots = _Lots(v, until_ts.value // 1000)
    due = lots.due
    return pd.DataFrame(
        {
            "lot_key": _text_series(v.text("idempotency_key", lots.rows[due])),
            "customer_id": lots.cid[due],
            "expires_at": _instants(lots.T[due]),
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
    v = _View(ledger, at.value // 1000)
    us = at.value // 1000
    lots = _Lots(v, us)
    spent = lots.spent(us)
    return pd.DataFrame(
        {
            "lot_key": _text_series(v.text("idempotency_key", lots.rows)),
            "customer_id": lots.cid,
            "points": lots.points,
            "expired": lots.expired,
            "spent": spent,
            "left": lots.points - lots.expired - spent,
            "available": lots.available_at <= us,
            "expires_at": _instants(lots.T),
        }
    )


def expiry_entries(ledger: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Expire entries for every lot due by ``as_of`` that has not been expired yet.

    One entry per lot, keyed ``expire:<lot key>``: writing them twice adds nothing, and a
    lot's remainder is computed after everything it already paid for.
    """
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    at = instant(as_of)
    v = _View(ledger, at.value // 1000)
    lots = _Lots(v, at.value // 1000)
    sel = np.flatnonzero(lots.due & (lots.expired > 0))
    if len(sel) == 0:
        return empty_ledger()
    lot_key = v.text("idempotency_key", lots.rows[sel])
    booked = v.kind == EXPIRE
    if booked.any():  # a lot is expired once: its expire entry names it in ``ref_key``
        fresh = ~_isin(lot_key, v.text("ref_key", np.flatnonzero(booked)))
        if not fresh.any():
            return empty_ledger()
        sel = sel[fresh]
        lot_key = (
            lot_key[fresh] if isinstance(lot_key, np.ndarray) else lot_key.filter(pa.array(fresh))
        )
    if isinstance(lot_key, np.ndarray):
        keys: Any = "expire:" + lot_key
    else:
        keys = pc.binary_join_element_wise(
            pa.scalar("expire:", lot_key.type), lot_key, pa.scalar("", lot_key.type)
        )
    return make_entries(
        key=keys,
        customer_id=lots.cid[sel],
        kind="expire",
        points=-lots.expired[sel],
        reason="expiry",
        occurred_at=_instants(lots.T[sel]),
        source_kind="lot",
        source_id=lot_key,
        ref_key=lot_key,
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
    v = _View(ledger, at.value // 1000)
    pts, kind = v.pts, v.kind
    ids, code = _customer_codes(v.cid)
    k = len(ids)

    def total(mask: np.ndarray, values: np.ndarray = pts, at_code: np.ndarray = code) -> np.ndarray:
        return np.bincount(at_code[mask], weights=values[mask], minlength=k).astype(np.int64)

    is_earn, is_exp = kind == EARN, kind == EXPIRE
    balance = np.bincount(code, weights=pts, minlength=k).astype(np.int64)
    # pending: purchase grants still in their hold, net of what returns took from them
    held = is_earn & (v.avail > us)
    pending = total(held)
    if held.any():
        ri = np.flatnonzero(kind == REVERSE)
        if len(ri):
            of_held = _isin(v.text("ref_key", ri), v.text("idempotency_key", np.flatnonzero(held)))
            mask = np.zeros(len(pts), dtype=bool)
            mask[ri[of_held]] = True
            pending += total(mask)
    horizon = (at + pd.Timedelta(days=expiring_within_days)).value // 1000
    lots = _Lots(v, horizon)
    sel = lots.due & (lots.expired > 0)
    expiring = np.zeros(k, dtype=np.int64)
    overdue = np.zeros(k, dtype=np.int64)
    if sel.any():
        rows = lots.rows[sel]
        booked = (
            _isin(v.text("idempotency_key", rows), v.text("ref_key", np.flatnonzero(is_exp)))
            if is_exp.any()
            else np.zeros(len(rows), bool)
        )
        lot_code = code[rows]
        open_ = ~booked
        amount = lots.expired[sel]
        expiring = total(open_, amount, lot_code)
        overdue = total(open_ & (lots.T[sel] <= us), amount, lot_code)
    return pd.DataFrame(
        {
            "balance": balance,
            "pending": pending,
            "available": balance - pending - overdue,
            "expiring": expiring,
            "earned": total(is_earn),
            "burned": -total(kind == BURN),
            "expired": -total(is_exp),
            "liability": balance * float(point_value),
        },
        index=pd.Index(ids, name="customer_id"),
    )


def points_balances(entries: pd.DataFrame, as_of: Any) -> pd.Series:
    """Each customer's balance as of an instant: the sum of the entries that occurred by then.

    The ``balance`` of :func:`balances`, from :data:`POINTS_COLUMNS` alone (a profile shows
    it for every customer; reading and carrying a whole ledger for it costs gigabytes at a
    million customers). Expiries count once they are booked, as in :func:`balances`.

    Returns
    -------
    pandas.Series
        ``points_balance`` (int64), indexed by ``customer_id`` (sorted), one row per customer
        with an entry by ``as_of``.
    """
    require_columns(entries, POINTS_COLUMNS, "entries")
    at = instant(as_of)
    keep = _us(entries["occurred_at"]) <= at.value // 1000
    cid = entries["customer_id"].to_numpy(dtype=np.int64)[keep]
    pts = entries["points"].to_numpy(dtype=np.int64)[keep]
    ids, code = _customer_codes(cid)
    total = np.bincount(code, weights=pts, minlength=len(ids)).astype(np.int64)
    return pd.Series(total, index=pd.Index(ids, name="customer_id"), name="points_balance")


def statement(ledger: pd.DataFrame, customer_id: int, as_of: Any | None = None) -> pd.DataFrame:
    """A customer's entries in time order with the running balance after each one."""
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    led = ledger[ledger["customer_id"] == customer_id]
    if as_of is not None:
        led = _upto(led, instant(as_of))
    led = led.sort_values(["occurred_at", "idempotency_key"], kind="stable").reset_index(drop=True)
    led["running_balance"] = led["points"].cumsum().astype("int64")
    return led
