"""The sales side: leads from every channel, pipelines and deals, invoices, activities.

Leads flow through their states (new, verified, disqualified with a reason, spam,
converted); paid-ads leads carry more spam and click fraud. Converted leads become deals
in a first-sale or repeat-sale pipeline, won deals an invoice and a payment; managers'
calls, meetings and tasks hang off the leads.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from crm.sample._draw import NULL, ids, pick, text
from crm.sample.records import Records
from crm.sample.vocabulary import (
    DISQUALIFY_REASONS,
    LEAD_CHANNELS,
    LEAD_SOURCES,
    LOST_REASONS,
    WON_REASONS,
)

__all__ = ["Deals", "draw_activities", "draw_deals", "draw_leads"]


def draw_leads(
    rng: np.random.Generator, records: Records, customers: pd.DataFrame, as_of: dt.datetime
) -> pd.DataFrame:
    """1.3 leads per record, every inquiry from every channel (D2, D4)."""
    n, created_at, customers_df = len(records), records.created_at, customers
    n_leads = int(n * 1.3)
    l_cust = rng.integers(1, n + 1, n_leads)
    l_src_i = rng.integers(0, len(LEAD_SOURCES), n_leads)
    l_chan_i = rng.choice(len(LEAD_CHANNELS), n_leads, p=[0.3, 0.15, 0.15, 0.2, 0.12, 0.08])
    paid_ads = l_chan_i <= 2
    r = rng.random(n_leads)
    spam_p = np.where(paid_ads, 0.12, 0.04)
    disq_p = np.where(paid_ads, 0.20, 0.10)
    status = np.select(
        [r < spam_p, r < spam_p + disq_p, r < spam_p + disq_p + 0.12, r < spam_p + disq_p + 0.40],
        ["spam", "disqualified", "new", "verified"],
        "converted",
    )
    # buyers' leads convert more often: a lead whose person has orders tends to be converted
    l_created = created_at[l_cust - 1] + pd.to_timedelta(rng.integers(0, 200, n_leads), unit="D")
    l_created = l_created.where(
        l_created < pd.Timestamp(as_of), pd.Timestamp(as_of) - pd.Timedelta(days=1)
    )
    reason = np.where(
        status == "disqualified",
        np.where(
            paid_ads & (rng.random(n_leads) < 0.4),
            "click_fraud",
            pick(rng, DISQUALIFY_REASONS, n_leads),
        ),
        None,
    )
    qualified = np.isin(status, ["verified", "converted"])
    leads = pd.DataFrame(
        {
            "lead_id": np.arange(1, n_leads + 1),
            "external_id": ids("L", n_leads, 8),
            "customer_id": l_cust,
            "company_id": customers_df["company_id"].array.take(l_cust - 1),
            "source": LEAD_SOURCES[l_src_i],
            "channel": LEAD_CHANNELS[l_chan_i],
            "status": status,
            "disqualify_reason": reason,
            "budget": np.where(
                qualified & (rng.random(n_leads) < 0.6),
                np.round(rng.lognormal(np.log(50000), 1.0, n_leads), -2),
                np.nan,
            ),
            "authority": np.where(rng.random(n_leads) < 0.5, rng.random(n_leads) < 0.5, NULL),
            "need": pick(rng, ["product_info", "price_request", "demo", "support", None], n_leads),
            "timing_days": pd.array(
                np.where(rng.random(n_leads) < 0.5, rng.integers(1, 180, n_leads), -1)
            ).astype("Int64"),
            "created_at": l_created,
            "qualified_at": pd.Series(
                l_created + pd.to_timedelta(rng.integers(1, 72, n_leads), unit="h")
            ).where(qualified, pd.NaT),
            "converted_at": pd.Series(
                l_created + pd.to_timedelta(rng.integers(24, 400, n_leads), unit="h")
            ).where(status == "converted", pd.NaT),
        }
    )
    leads["timing_days"] = leads["timing_days"].where(leads["timing_days"] > 0, pd.NA)
    for col in ("source", "channel", "status", "disqualify_reason", "need"):
        leads[col] = text(leads[col].to_numpy(dtype=object))
    leads["authority"] = leads["authority"].astype("boolean")
    return leads


Deals = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]


def draw_deals(rng: np.random.Generator, leads: pd.DataFrame, as_of: dt.datetime) -> Deals:
    """Two pipelines and a deal per converted lead. Returns ``(pipelines, stages, deals,
    invoices, payments)``: 58 % of deals won (each with an invoice and a payment), 27 % lost.
    """
    pipelines = pd.DataFrame({"pipeline_id": [1, 2], "name": ["first_sale", "repeat_sale"]})
    stage_rows = []
    for pid, names in (
        (1, ["interest", "qualified", "proposal", "negotiation", "invoice", "won", "lost"]),
        (2, ["reminder", "offer", "invoice", "won", "lost"]),
    ):
        for pos, name in enumerate(names):
            stage_rows.append(
                {
                    "pipeline_id": pid,
                    "name": name,
                    "position": pos,
                    "probability": 1.0
                    if name == "won"
                    else 0.0
                    if name == "lost"
                    else round((pos + 1) / len(names), 2),
                    "is_won": name == "won",
                    "is_lost": name == "lost",
                }
            )
    stages = pd.DataFrame(stage_rows)
    stages.insert(0, "stage_id", np.arange(1, len(stages) + 1))
    conv = leads[leads.status == "converted"]
    n_deals = len(conv)
    dr = rng.random(n_deals)
    d_status = np.select([dr < 0.58, dr < 0.85], ["won", "lost"], "open")
    d_pipe = np.where(rng.random(n_deals) < 0.75, 1, 2)
    stage_lookup = stages.set_index(["pipeline_id", "name"])["stage_id"]
    won_stage = np.where(d_pipe == 1, stage_lookup[(1, "won")], stage_lookup[(2, "won")])
    lost_stage = np.where(d_pipe == 1, stage_lookup[(1, "lost")], stage_lookup[(2, "lost")])
    open_stage = np.where(
        d_pipe == 1,
        stage_lookup[(1, "interest")] + rng.integers(0, 5, n_deals),
        stage_lookup[(2, "reminder")] + rng.integers(0, 3, n_deals),
    )
    d_created = conv["converted_at"].reset_index(drop=True)
    closed = d_created + pd.to_timedelta(rng.integers(1, 60, n_deals), unit="D")
    closed = closed.where(closed < pd.Timestamp(as_of), pd.Timestamp(as_of) - pd.Timedelta(hours=1))
    deals = pd.DataFrame(
        {
            "deal_id": np.arange(1, n_deals + 1),
            "external_id": ids("D", n_deals, 8),
            "customer_id": conv["customer_id"].to_numpy(),
            "company_id": conv["company_id"].array,
            "lead_id": conv["lead_id"].to_numpy(),
            "pipeline_id": d_pipe,
            "stage_id": np.select(
                [d_status == "won", d_status == "lost"], [won_stage, lost_stage], open_stage
            ),
            "amount": np.round(rng.lognormal(np.log(30000), 0.9, n_deals), 2),
            "currency": "RUB",
            "status": d_status,
            "won_reason": np.where(d_status == "won", pick(rng, WON_REASONS, n_deals), NULL),
            "lost_reason": np.where(d_status == "lost", pick(rng, LOST_REASONS, n_deals), NULL),
            "created_at": d_created,
            "closed_at": closed.where(d_status != "open", pd.NaT),
        }
    )
    for col in ("currency", "status", "won_reason", "lost_reason"):
        deals[col] = text(deals[col].to_numpy(dtype=object))

    won = deals[deals.status == "won"]
    invoices = pd.DataFrame(
        {
            "invoice_id": np.arange(1, len(won) + 1),
            "external_id": ids("INV", len(won), 8),
            "customer_id": won["customer_id"].to_numpy(),
            "deal_id": won["deal_id"].to_numpy(),
            "amount": won["amount"].to_numpy(),
            "currency": "RUB",
            "status": "paid",
            "issued_at": (won["closed_at"] - pd.Timedelta(days=3)).reset_index(drop=True),
        }
    )
    payments = pd.DataFrame(
        {
            "payment_id": np.arange(1, len(won) + 1),
            "invoice_id": invoices["invoice_id"].to_numpy(),
            "amount": invoices["amount"].to_numpy(),
            "method": pick(rng, ["card", "transfer", "cash"], len(won)),
            "paid_at": won["closed_at"].reset_index(drop=True),
        }
    )
    return pipelines, stages, deals, invoices, payments


def draw_activities(
    rng: np.random.Generator, leads: pd.DataFrame, as_of: dt.datetime
) -> pd.DataFrame:
    """1.5 activities (calls, emails, meetings, tasks) per lead, in its first month."""
    n_leads = len(leads)
    n_act = int(n_leads * 1.5)
    a_lead = rng.integers(0, n_leads, n_act)
    a_time = leads["created_at"].iloc[a_lead].reset_index(drop=True) + pd.to_timedelta(
        rng.integers(0, 30 * 24, n_act), unit="h"
    )
    a_time = a_time.clip(upper=pd.Timestamp(as_of))
    activities = pd.DataFrame(
        {
            "activity_id": np.arange(1, n_act + 1),
            "external_id": ids("A", n_act, 9),
            "customer_id": leads["customer_id"].to_numpy()[a_lead],
            "kind": pick(rng, ["call", "call", "email", "meeting", "task"], n_act),
            "subject": pick(
                rng, ["Первичный звонок", "Презентация", "Follow-up", "Отправить КП", "Demo"], n_act
            ),
            "owner": pick(rng, ["anna.k", "igor.p", "maria.s", "oleg.v", "kate.w"], n_act),
            "outcome": pick(rng, ["reached", "no_answer", "callback", "done"], n_act),
            "occurred_at": a_time,
            "done": rng.random(n_act) < 0.9,
        }
    )
    for col in ("kind", "subject", "owner", "outcome"):
        activities[col] = text(activities[col].to_numpy(dtype=object))
    return activities
