"""Loyalty (L1-L4, S5): the points ledger, earning and burning rules, tiers, expiry, referrals,
the prize catalogue and promo codes - pure functions on pandas frames.

The ledger (:mod:`loyalty.ledger`) is the source of truth; balances are derived from it.
Points are valid on ``[available_at, expires_at)`` and spent first in, first out.

The return rule: a return reverses what that order granted, and nothing else. Each grant
is taken back first from its own lot as far as it is still there; what of it already
expired is not taken again; what was spent is reclaimed from the available balance, and
what the balance cannot cover is an offset for finance, one per order and customer
(:func:`loyalty.ledger.reversal_entries` has the details).
Rules come from an operator's YAML file (:func:`load_rules`). Nothing here touches a
database or the clock: flows and the gateway pass frames and ``as_of`` in.
"""

from loyalty.bonuses import (
    activity_entries,
    birthday_entries,
    referral_entries,
    referral_keys,
    welcome_entries,
)
from loyalty.catalogue import check_promo_code, promo_bonus_entry, redemption_entry
from loyalty.earn import (
    OrderQuote,
    calculate_order,
    checkout_entry,
    max_burn_points,
    purchase_entries,
)
from loyalty.kpi import customer_kpis
from loyalty.ledger import (
    LEDGER_COLUMNS,
    adjustment_entry,
    append,
    balances,
    empty_ledger,
    expiry_entries,
    expiry_schedule,
    lot_state,
    make_entries,
    new_entries,
    reversal_entries,
    statement,
    validate_ledger,
)
from loyalty.returns import return_marks, returns_to_book, share_bp
from loyalty.rules import Rules, load_rules, parse_rules
from loyalty.tiers import current_tiers, empty_tier_history, tier_at, tier_basis, tier_changes

__all__ = [
    "LEDGER_COLUMNS",
    "OrderQuote",
    "Rules",
    "activity_entries",
    "adjustment_entry",
    "append",
    "balances",
    "birthday_entries",
    "calculate_order",
    "check_promo_code",
    "checkout_entry",
    "current_tiers",
    "customer_kpis",
    "empty_ledger",
    "empty_tier_history",
    "expiry_entries",
    "expiry_schedule",
    "load_rules",
    "lot_state",
    "make_entries",
    "max_burn_points",
    "new_entries",
    "parse_rules",
    "promo_bonus_entry",
    "purchase_entries",
    "redemption_entry",
    "referral_entries",
    "referral_keys",
    "return_marks",
    "returns_to_book",
    "reversal_entries",
    "share_bp",
    "statement",
    "tier_at",
    "tier_basis",
    "tier_changes",
    "validate_ledger",
    "welcome_entries",
]
