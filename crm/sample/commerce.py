"""Orders and what was in them: heterogeneous buyers with churn and seasonality.

Most people buy now and then, a few buy a lot (a gamma-distributed rate), each stays a
buyer for an exponential lifetime, November and December sell more, and an order sits
mostly on the person's original record, sometimes on a duplicate (as in real bases).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.sample._draw import ids, stamps, text
from crm.sample.records import Records
from crm.sample.vocabulary import CATEGORIES, MONTH_WEIGHT

__all__ = ["Orders", "draw_order_lines", "draw_orders"]


@dataclass
class Orders:
    """The orders frame and the per-order and per-person arrays later steps build on."""

    frame: pd.DataFrame
    person: np.ndarray
    at: pd.DatetimeIndex
    buyer: np.ndarray
    record_of_person: np.ndarray
    category: np.ndarray


def draw_orders(
    rng: np.random.Generator,
    P: int,
    records: Records,
    orders_per_customer: float,
    start: dt.datetime,
    span: float,
) -> Orders:
    """About ``orders_per_customer`` orders per record, over the people's buying lifetimes."""
    n = len(records)
    person, is_dup, customer_id = records.person, records.is_dup, records.customer_id
    buyer = rng.random(P) < 0.72
    first_buy = rng.random(P) * span
    life = rng.exponential(1.6 * 365.25 * 86400, P)
    end = np.minimum(first_buy + life, span)
    active_years = (end - first_buy) / (365.25 * 86400)
    lam = rng.gamma(0.55, 1.0, P)  # purchase rate heterogeneity: many occasional, few heavy
    target = orders_per_customer * n
    base = buyer * (1 + lam * active_years)
    scale = max(target - buyer.sum(), 0) / max((buyer * lam * active_years).sum(), 1e-9)
    extra = rng.poisson(
        buyer
        * lam
        * active_years
        * scale
        / MONTH_WEIGHT.mean()
        * (MONTH_WEIGHT.mean() / (MONTH_WEIGHT / MONTH_WEIGHT.max()).mean())
    )
    del base
    counts = buyer.astype(np.int64) + extra
    o_person = np.repeat(np.arange(P), counts)
    is_first = np.zeros(len(o_person), bool)
    starts = np.cumsum(counts) - counts
    is_first[starts[counts > 0]] = True
    t = first_buy[o_person] + rng.random(len(o_person)) * (end - first_buy)[o_person]
    t = np.where(is_first, first_buy[o_person], t)
    ts = stamps(start, t)
    keep = is_first | (
        rng.random(len(o_person)) < MONTH_WEIGHT[ts.month.to_numpy() - 1] / MONTH_WEIGHT.max()
    )
    o_person, t, ts = o_person[keep], t[keep], ts[keep]
    o_order = np.argsort(t, kind="stable")
    o_person, ts = o_person[o_order], ts[o_order]
    n_orders = len(o_person)

    # which record of the person holds the order: mostly the original, sometimes a duplicate
    rec_of_person = np.empty(P, dtype=np.int64)
    orig_mask = ~is_dup
    rec_of_person[person[orig_mask]] = customer_id[orig_mask]
    dup_rec_of_person = rec_of_person.copy()
    dup_rec_of_person[person[is_dup]] = customer_id[is_dup]
    has_dup = dup_rec_of_person != rec_of_person
    use_dup = has_dup[o_person] & (rng.random(n_orders) < 0.25)
    o_customer = np.where(use_dup, dup_rec_of_person[o_person], rec_of_person[o_person])

    spend = rng.lognormal(np.log(2500), 0.7, P)
    fav = rng.integers(0, len(CATEGORIES), P)
    amount = np.round(spend[o_person] * rng.lognormal(0, 0.45, n_orders), 2)
    cat_idx = np.where(
        rng.random(n_orders) < 0.6, fav[o_person], rng.integers(0, len(CATEGORIES), n_orders)
    )
    st = rng.random(n_orders)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, n_orders + 1),
            "external_id": ids("O", n_orders, 9),
            "customer_id": o_customer,
            "ordered_at": ts,
            "amount": amount,
            "currency": pd.Series(["RUB"], dtype="str").repeat(n_orders).reset_index(drop=True),
            "status": pd.Categorical.from_codes(
                np.select([st < 0.93, st < 0.97], [0, 1], 2), ["paid", "cancelled", "returned"]
            ).astype(str),
            "channel": pd.Categorical.from_codes(
                rng.choice(4, n_orders, p=[0.45, 0.35, 0.15, 0.05]),
                ["store", "online", "app", "phone"],
            ).astype(str),
            "category": pd.Categorical.from_codes(cat_idx, pd.Index(CATEGORIES.tolist())).astype(
                str
            ),
        }
    )
    orders["returned_amount"] = _returned_amounts(rng, orders)
    return Orders(
        frame=orders,
        person=o_person,
        at=ts,
        buyer=buyer,
        record_of_person=rec_of_person,
        category=cat_idx,
    )


def _returned_amounts(rng: np.random.Generator, orders: pd.DataFrame) -> np.ndarray:
    """Money returned per order: the whole amount of a returned one, part of it for 3 % of paid.

    A partial return brings back 10-90 % of the order's money (some of its lines), so the
    loyalty night reverses that share of its points. Drawn from a child of ``rng``: the
    parent's stream, and so every other table of a seed, stays as it was.
    """
    part_rng = rng.spawn(1)[0]
    n = len(orders)
    amount = orders["amount"].to_numpy(dtype=np.float64)
    status = orders["status"].to_numpy(dtype=object)
    partial = (status == "paid") & (part_rng.random(n) < 0.03)
    share = part_rng.integers(1, 10, n) / 10
    back = np.full(n, np.nan)
    back[partial] = np.round(amount[partial] * share[partial], 2)
    back[status == "returned"] = amount[status == "returned"]
    return back


def draw_order_lines(
    rng: np.random.Generator, orders: Orders, order_lines: bool | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """200 products, and 1–3 lines per order adding up to its amount (when ``order_lines``).

    By default lines are drawn only when there are under 2M orders. Returns
    ``(products, order_lines)``.
    """
    n_orders, cat_idx = len(orders.frame), orders.category
    orders_df = orders.frame
    n_prod = 200
    prod_cat = CATEGORIES[np.arange(n_prod) % len(CATEGORIES)]
    products = pd.DataFrame(
        {
            "product_id": np.arange(1, n_prod + 1),
            "sku": ids("SKU", n_prod, 5),
            "name": text(prod_cat) + " item " + text(np.arange(1, n_prod + 1).astype(str)),
            "category": prod_cat,
            "price": np.round(rng.lognormal(np.log(1500), 0.8, n_prod), 2),
        }
    )
    want_lines = order_lines if order_lines is not None else n_orders <= 2_000_000
    if want_lines:
        per = rng.integers(1, 4, n_orders)
        lo = np.repeat(orders_df["order_id"].to_numpy(), per)
        share = rng.random(len(lo)) + 0.2
        tot = np.bincount(lo - 1, weights=share, minlength=n_orders)
        l_amount = np.round(orders_df["amount"].to_numpy()[lo - 1] * share / tot[lo - 1], 2)
        l_cat = cat_idx[lo - 1]
        l_prod = l_cat + 1 + len(CATEGORIES) * rng.integers(0, n_prod // len(CATEGORIES), len(lo))
        qty = rng.integers(1, 4, len(lo))
        order_lines_df = pd.DataFrame(
            {
                "order_line_id": np.arange(1, len(lo) + 1),
                "order_id": lo,
                "product_id": l_prod,
                "quantity": qty,
                "unit_price": np.round(l_amount / qty, 2),
                "amount": l_amount,
            }
        )
    else:
        order_lines_df = pd.DataFrame(
            columns=["order_line_id", "order_id", "product_id", "quantity", "unit_price", "amount"]
        )
    return products, order_lines_df
