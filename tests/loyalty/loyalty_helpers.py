"""Hand-built rules and frames shared by the loyalty tests (imported as loyalty_helpers)."""

from __future__ import annotations

import pandas as pd

from loyalty import append, empty_ledger, make_entries

RULES_YAML = """
program:
  point_value: 1.0
  hold_days: 14
  validity_days: 365
  timezone: Europe/Moscow
purchase_rules:
  - {id: base, percent: 3}
  - {id: kids_extra, categories: [kids], percent: 2, cap_per_order: 50}
  - {id: app_order, channels: [app], points: 50, min_amount: 1000}
tiers:
  basis: spend
  window_days: 365
  min_stay_days: 90
  levels:
    - {code: base, threshold: 0}
    - {code: silver, threshold: 30000, multiplier: 1.5}
promotions:
  - {id: black_friday, start: 2026-11-27, end: 2026-11-30, multiplier: 2.0}
bonuses: {welcome: 200, birthday: 500}
activity:
  review: {points: 50}
  app_install: {points: 100, once: true}
referral: {referrer_points: 500, friend_points: 300, min_order_amount: 1000}
burn: {max_share: 0.3, min_order_amount: 500, min_points: 100}
"""


def ts(text: str) -> pd.Timestamp:
    """A UTC instant from 'YYYY-MM-DD[ HH:MM]'."""
    return pd.Timestamp(text, tz="UTC")


def orders(rows: list[tuple]) -> pd.DataFrame:
    """Orders from (order_id, customer_id, 'ordered_at', amount[, status, category, channel])."""
    full = [(*r, "paid", "", "store")[:7] if len(r) == 4 else r for r in rows]
    frame = pd.DataFrame(
        full,
        columns=[
            "order_id",
            "customer_id",
            "ordered_at",
            "amount",
            "status",
            "category",
            "channel",
        ],
    )
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True, format="mixed").astype(
        "datetime64[us, UTC]"
    )
    frame["amount"] = frame["amount"].astype(float)
    return frame


def earn(key, cid, points, at, hold_days=0, order=None, validity=365):
    when = ts(at)
    return make_entries(
        key=key,
        customer_id=cid,
        kind="earn",
        points=points,
        reason="purchase",
        rule="base",
        occurred_at=when,
        available_at=when + pd.Timedelta(days=hold_days),
        validity_days=validity,
        source_kind="order" if order else "test",
        source_id=str(order) if order else None,
    )


def burn(key, cid, points, at, order=None):
    return make_entries(
        key=key,
        customer_id=cid,
        kind="burn",
        points=-points,
        reason="redemption",
        occurred_at=ts(at),
        source_kind="order" if order else "redemption",
        source_id=str(order) if order else key,
    )


def ledger_of(*parts):
    led = empty_ledger()
    for p in parts:
        led = append(led, p)
    return led
