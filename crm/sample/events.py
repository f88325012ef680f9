"""Marketing events: sent → delivered or bounced → opened → clicked, and unsubscribes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from crm.sample._draw import NULL, ids, stamps, text
from crm.sample.records import Records

__all__ = ["marketing_events"]


def marketing_events(
    rng: np.random.Generator,
    records: Records,
    events_per_customer: float,
    start: dt.datetime,
    span: float,
) -> pd.DataFrame:
    """About ``events_per_customer`` emails per record with an address, mostly in the last year.

    An invalid or mistyped address bounces (hard); a quarter of delivered emails are
    opened, 15 % of those clicked.
    """
    customer_id, r_email = records.customer_id, records.email
    has_email = pd.notna(r_email)
    mailable = np.flatnonzero(has_email)
    n_sent = int(len(mailable) * events_per_customer)
    s_cust = (
        customer_id[mailable[rng.integers(0, max(len(mailable), 1), n_sent)]]
        if len(mailable)
        else np.empty(0, int)
    )
    s_time = stamps(
        start, span * (1 - rng.random(n_sent) ** 2 * 0.33 - 0.001)
    )  # mostly the last year
    camp = "CMP-" + text(s_time.strftime("%Y%m")).to_numpy(dtype=object)
    email_of = pd.Series(r_email, index=customer_id)
    bad = (
        email_of.isna()
        | ~email_of.fillna("").str.contains(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", case=False, regex=True)
        | email_of.fillna("").str.contains(
            "gmial|mail.ry|yandex.ry|yandx|hotmial|outlok|gmail.co$", regex=True
        )
    )
    bounced = bad.to_numpy()[s_cust - 1] | (rng.random(n_sent) < 0.02)
    opened = ~bounced & (rng.random(n_sent) < 0.25)
    clicked = opened & (rng.random(n_sent) < 0.15)
    unsub = ~bounced & (rng.random(n_sent) < 0.004)
    parts = [
        ("sent", np.ones(n_sent, bool), 0),
        ("delivered", ~bounced, 60),
        ("bounced", bounced, 60),
        ("opened", opened, 3600 * 5),
        ("clicked", clicked, 3600 * 6),
        ("unsubscribed", unsub, 3600 * 7),
    ]
    ev = [
        pd.DataFrame(
            {
                "customer_id": s_cust[m],
                "campaign_id": camp[m],
                "kind": kind,
                "occurred_at": s_time[m] + pd.to_timedelta(lag, unit="s"),
            }
        )
        for kind, m, lag in parts
    ]
    events = pd.concat(ev, ignore_index=True)
    events["channel"] = "email"
    events["detail"] = np.where(events["kind"] == "bounced", "hard", NULL)
    events = events.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    events.insert(0, "event_id", np.arange(1, len(events) + 1))
    events.insert(1, "external_id", ids("E", len(events), 10))
    for col in ("campaign_id", "kind", "channel", "detail"):
        events[col] = text(events[col].to_numpy(dtype=object))
    return events
