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
A return reverses what that order granted, and nothing else (:func:`reversal_entries`). A
partial return (some lines, part of the amount) reverses the returned share of each grant,
less what earlier returns of the same order undid; a full return is a share of 1:

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

No grant is reversed beyond its points; a rerun of the same return (the same share) adds
nothing. A later day books the same share again only when the order got a new grant
since (:func:`loyalty.returns.returns_to_book`): a daily run reads the ledgers of only the
returns that changed.

Modules
-------
The ledger's functions live by responsibility and are all importable from here:
:mod:`loyalty.entries` (building, checking and appending entries), :mod:`loyalty.lots`
(FIFO lots: expiry, balances, statements) and :mod:`loyalty.returns` (the return rule).
"""

from __future__ import annotations

from loyalty.entries import (
    KINDS,
    LEDGER_COLUMNS,
    adjustment_entry,
    append,
    empty_ledger,
    instant,
    make_entries,
    new_entries,
    validate_ledger,
)
from loyalty.lots import balances, expiry_entries, expiry_schedule, lot_state, statement
from loyalty.returns import reversal_entries

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
