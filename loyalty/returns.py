"""Returns: the entries that undo what a returned order (or part of it) granted.

The rule is written out in :mod:`loyalty.ledger` (the return rule); :func:`reversal_entries`
applies it to a frame of returned orders, each with the share of the order returned so far.
A daily run need not book every return again: :func:`returns_to_book` keeps those whose
share changed since a day booked them (:func:`return_marks`, the share in basis points of
:func:`share_bp`) or whose order got a grant that day; the rest would book nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loyalty.entries import (
    LEDGER_COLUMNS,
    _lookup,
    _small,
    empty_ledger,
    instant,
    make_entries,
)
from loyalty.errors import require_columns
from loyalty.lots import (
    BURN,
    EARN,
    OWN_LOT,
    REVERSE,
    _Lots,
    _seg_cumsum,
    _starts,
    _View,
)

__all__ = ["return_marks", "returns_to_book", "reversal_entries", "share_bp"]

#: reasons of the reverse entries, by what they undo
_SPENT, _REFUND = "return_spent", "return_refund"


def share_bp(share: Any) -> np.ndarray:
    """A returned share (``(0, 1]``) in basis points, as the return's keys and marks carry it."""
    return np.asarray(np.rint(np.asarray(share, dtype=np.float64) * 10_000), dtype=np.int64)


def _share_suffix(share: np.ndarray) -> np.ndarray:
    """The key suffix of a partial return: ``@`` and the share in basis points (none if whole)."""
    bp = share_bp(share)
    return np.where(bp >= 10_000, "", "@" + bp.astype(str).astype(object)).astype(object)


def _taken(v: _View, reason: str, rows: np.ndarray) -> np.ndarray:
    """Per entry of ``rows``: the points reverse entries of ``reason`` already took back from it."""
    out = np.zeros(len(rows), dtype=np.int64)
    rev = v.kind == REVERSE
    ri = np.flatnonzero(rev & v.equals("reason", reason)) if rev.any() else np.zeros(0, np.int64)
    if len(ri) == 0 or len(rows) == 0:
        return out
    where = _lookup(v.text("ref_key", ri), v.text("idempotency_key", rows))
    hit = where >= 0
    np.add.at(out, where[hit], np.abs(v.pts[ri][hit]))
    return out


def reversal_entries(
    ledger: pd.DataFrame,
    returned_orders: pd.DataFrame,
    as_of: Any,
    validity_days: int = 365,
) -> pd.DataFrame:
    """Entries that undo what returned orders granted, by the ledger's return rule.

    For every grant whose source is a returned order (``source_kind == "order"``) the part to
    undo is the returned share of its points, less what earlier returns of the order undid.
    It is taken back from the grant's own lot as far as that lot is still there
    (``reverse:<grant>``); then what of the grant was spent is reclaimed from the available
    balance (``reclaim:<grant>``); what of it expired is not taken again. When the available
    balance cannot cover what is reclaimed, one ``adjust`` entry per customer and order
    (``offset:order:<order>:<customer>``, reason ``return_offset``) brings it back to zero:
    finance deducts its points, times the point value, from the money refund. The same
    share of the points burned to pay for the order comes back as a new lot
    (``refund:<burn>``). Every entry is dated ``as_of``.

    Parameters
    ----------
    returned_orders : frame with ``order_id`` and, for a partial return, ``returned_share``:
        the share of the order returned so far, in ``(0, 1]`` (default 1, the whole order).
        A later return of more lines passes the larger share; the keys of a partial return
        end in ``@<share in basis points>``.
    validity_days : validity of the points given back (refunds and offsets are new lots).

    Returns
    -------
    pandas.DataFrame
        New entries. A rerun with the same shares adds nothing, and no grant is ever
        reversed beyond its points.

    Examples
    --------
    An order granted 100 points, 80 of which were spent and 20 are left; the customer has 50
    other points. Returning it books ``reverse`` -20 (its own lot), ``reclaim`` -80 and an
    offset of +30: the balance ends at 0 and finance keeps 30 of the money refund. Returning
    half of it instead books ``reverse`` -20 and ``reclaim`` -30 (50 points, half of 100).
    """
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    require_columns(returned_orders, ["order_id"], "returned_orders")
    at = instant(as_of)
    if returned_orders.empty or ledger.empty:
        return empty_ledger()
    order_ids, order_share = _shares(returned_orders)
    v = _View(ledger, at.value // 1000)
    order_rows = np.flatnonzero(v.equals("source_kind", "order"))
    if len(order_rows) == 0:
        return empty_ledger()
    src_all = v.text("source_id", order_rows)
    pos = _lookup(src_all, order_ids)
    rows, pos = order_rows[pos >= 0], pos[pos >= 0]
    if len(rows) == 0:
        return empty_ledger()
    share = order_share[pos]
    kind = v.kind[rows]
    grant = kind == EARN
    grant_rows, gshare = rows[grant], share[grant]
    burn_rows, bshare = rows[kind == BURN], share[kind == BURN]
    us = at.value // 1000
    lots = _Lots(v, us)
    spent_now = lots.spent(us)
    left_now = lots.points - lots.expired - spent_now
    lot_of = np.full(v.n, -1, dtype=np.int64)
    lot_of[lots.rows] = np.arange(len(lots.rows))
    g = lot_of[grant_rows]
    keep = g >= 0
    grant_rows, gshare, g = grant_rows[keep], gshare[keep], g[keep]
    pts, cid = v.pts, v.cid
    # what each grant still owes: its returned share, less what earlier returns undid
    target = np.where(gshare >= 1, pts[grant_rows], np.floor(gshare * pts[grant_rows]))
    owed = np.maximum(
        target.astype(np.int64) - _taken(v, OWN_LOT, grant_rows) - _taken(v, _SPENT, grant_rows),
        0,
    )
    left = np.minimum(owed, left_now[g])
    used = np.minimum(owed - left, np.maximum(spent_now[g] - _taken(v, _SPENT, grant_rows), 0))
    held = lots.available_at[g] > us
    btarget = -pts[burn_rows]
    btarget = np.where(bshare >= 1, btarget, np.floor(bshare * btarget)).astype(np.int64)
    refund = np.maximum(btarget - _taken(v, _REFUND, burn_rows), 0)
    own, back, paid = left > 0, used > 0, refund > 0
    if not (own.any() or back.any() or paid.any()):
        return empty_ledger()
    take = np.concatenate((grant_rows[own], grant_rows[back], burn_rows[paid]))
    gkey = np.asarray(v.text("idempotency_key", take), dtype=object)
    suffix = _share_suffix(np.concatenate((gshare[own], gshare[back], bshare[paid])))
    src = np.asarray(v.text("source_id", take), dtype=object)

    def fill(count: int, value: str) -> np.ndarray:
        return np.full(count, value, dtype=object)

    n_own, n_back, n_paid = int(own.sum()), int(back.sum()), int(paid.sum())
    prefix = np.concatenate(
        (fill(n_own, "reverse:"), fill(n_back, "reclaim:"), fill(n_paid, "refund:"))
    )
    reason = np.concatenate((fill(n_own, OWN_LOT), fill(n_back, _SPENT), fill(n_paid, _REFUND)))
    parts = [
        make_entries(
            key=prefix + gkey + suffix,
            customer_id=cid[take],
            kind="reverse",
            points=np.concatenate((-left[own], -used[back], refund[paid])),
            reason=reason,
            rule=np.asarray(v.text("rule", take), dtype=object),
            occurred_at=at,
            source_kind="order",
            source_id=src,
            ref_key=gkey,
            validity_days=validity_days,  # only the refunds (positive) get an expiry
        )
    ]
    if n_back:
        parts.append(
            _offsets(
                lots, left_now, us, cid, grant_rows, held, left, back, used,
                burn_rows[paid], refund[paid], src[n_own : n_own + n_back],
                suffix[n_own : n_own + n_back], at, validity_days,
            )
        )  # fmt: skip
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _shares(returned_orders: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each returned order's id as text (sorted, once) and its largest returned share."""
    ids = returned_orders["order_id"].to_numpy(dtype=np.int64)
    if "returned_share" in returned_orders:
        share = returned_orders["returned_share"].to_numpy(dtype=np.float64)
        bad = ~((share > 0) & (share <= 1))
        if bad.any():
            raise ValueError(
                f"returned_share must be in (0, 1]; order {ids[bad][0]} has {share[bad][0]}"
            )
    else:
        share = np.ones(len(ids))
    if _small(len(ids)):
        best_of: dict[str, float] = {}
        for i, x in zip(ids.tolist(), share.tolist(), strict=True):
            key = str(i)
            best_of[key] = max(x, best_of.get(key, 0.0))
        keys = sorted(best_of)
        return np.asarray(keys, dtype=object), np.asarray([best_of[k] for k in keys])
    uniq, at = np.unique(ids.astype(str).astype(object), return_inverse=True)
    best = np.zeros(len(uniq))
    np.maximum.at(best, at, share)
    return uniq, best


def _offsets(
    lots: _Lots,
    left_now: np.ndarray,
    us: int,
    cid: np.ndarray,
    grant_rows: np.ndarray,
    held: np.ndarray,
    left: np.ndarray,
    back: np.ndarray,
    used: np.ndarray,
    refund_rows: np.ndarray,
    refund: np.ndarray,
    order: np.ndarray,
    suffix: np.ndarray,
    at: pd.Timestamp,
    validity_days: int,
) -> pd.DataFrame:
    """The return offsets: what the customers' balances cannot give back of what was spent."""
    need_rows = grant_rows[back]
    # what each customer can give back: the points available now, less what the own lots
    # give back (when spendable), plus the refunds of this return
    ids, code = np.unique(
        np.concatenate((cid[need_rows], lots.cid, cid[grant_rows], cid[refund_rows])),
        return_inverse=True,
    )
    n1, n2, n3 = len(need_rows), len(lots.cid), len(grant_rows)
    k = len(ids)
    spendable = np.where(lots.available_at <= us, left_now, 0)
    budget = (
        np.bincount(code[n1 : n1 + n2], weights=spendable, minlength=k)
        - np.bincount(code[n1 + n2 : n1 + n2 + n3], weights=np.where(held, 0, left), minlength=k)
        + np.bincount(code[n1 + n2 + n3 :], weights=refund, minlength=k)
    ).astype(np.int64)
    per = (
        pd.DataFrame(
            {"customer_id": cid[need_rows], "order": order, "tail": suffix, "need": used[back]}
        )
        .groupby(["customer_id", "order", "tail"], sort=True)["need"]
        .sum()
        .reset_index()
    )
    pcid = per["customer_id"].to_numpy(dtype=np.int64)
    cum = _seg_cumsum(per["need"].to_numpy(dtype=np.int64), _starts(pcid))
    room = np.maximum(budget[np.searchsorted(ids, pcid)], 0)
    short = np.maximum(cum - room, 0)
    offset = short - np.where(
        _starts(pcid), 0, np.concatenate((np.zeros(1, dtype=np.int64), short[:-1]))
    )
    hit = offset > 0
    if not hit.any():
        return empty_ledger()
    bare = per["order"].to_numpy(dtype=object)[hit]
    tail = per["tail"].to_numpy(dtype=object)[hit]
    return make_entries(
        key="offset:order:" + bare + ":" + pcid[hit].astype(str).astype(object) + tail,
        customer_id=pcid[hit],
        kind="adjust",
        points=offset[hit],
        reason="return_offset",
        occurred_at=at,
        source_kind="order",
        source_id=bare,
        validity_days=validity_days,
    )


def _order_shares(returned_orders: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    ids = returned_orders["order_id"].to_numpy(dtype=np.int64)
    if "returned_share" not in returned_orders:
        return ids, np.full(len(ids), 10_000, dtype=np.int64)
    return ids, share_bp(returned_orders["returned_share"].to_numpy(dtype=np.float64))


def returns_to_book(
    returned_orders: pd.DataFrame, marks: pd.DataFrame, granted: Any | None = None
) -> pd.DataFrame:
    """The returns a later day must book: those that changed since a day last booked them.

    Once a return is booked at a share, a later day books nothing more for it at that share:
    its own lots were emptied, what was spent was reclaimed or offset, what expired stays
    expired, and its refunds were given. It needs booking again only when its share changed
    (another part of the order came back) or when the order got a new grant since (a
    friend's order that becomes the first one late earns its referral then). This holds
    because the ledger's entries are dated when they are booked: nothing is written behind
    a booked return.

    Parameters
    ----------
    returned_orders : ``order_id`` and ``returned_share`` (as :func:`reversal_entries` takes).
    marks : ``order_id, share_bp``: the share each return was last booked at
        (:func:`return_marks`); an order without a mark was never booked.
    granted : order ids with a grant new in this run (booked before the returns).

    Returns
    -------
    pandas.DataFrame
        The rows of ``returned_orders`` to pass to :func:`reversal_entries`.

    Examples
    --------
    Order 7 was booked returned in half (5000 bp); today it is returned whole, order 8 is
    still half returned: only order 7 is booked again.
    """
    ids, bp = _order_shares(returned_orders)
    m_ids = marks["order_id"].to_numpy(dtype=np.int64)
    m_bp = marks["share_bp"].to_numpy(dtype=np.int64)
    order = np.argsort(m_ids, kind="stable")
    m_ids, m_bp = m_ids[order], m_bp[order]
    at = np.clip(np.searchsorted(m_ids, ids), 0, max(len(m_ids) - 1, 0))
    marked = (m_ids[at] == ids) & (m_bp[at] == bp) if len(m_ids) else np.zeros(len(ids), bool)
    todo = ~marked
    if granted is not None:
        todo |= np.isin(ids, np.asarray(granted, dtype=np.int64))
    return returned_orders if todo.all() else returned_orders[todo]


def return_marks(returned_orders: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """The marks of returns booked at ``as_of``: ``order_id, share_bp, marked_at``."""
    ids, bp = _order_shares(returned_orders)
    return pd.DataFrame(
        {"order_id": ids, "share_bp": bp, "marked_at": instant(as_of)}
    ).drop_duplicates("order_id", keep="last")
