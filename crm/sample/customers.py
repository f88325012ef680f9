"""The customers table: each record with its person's data and a lifecycle stage from behaviour."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from crm.sample._draw import NULL, ids, pick, text
from crm.sample.commerce import Orders
from crm.sample.people import People
from crm.sample.records import Records
from crm.sample.vocabulary import LEAD_SOURCES

__all__ = ["customers_frame"]


def customers_frame(
    rng: np.random.Generator,
    people: People,
    records: Records,
    orders: Orders,
    start: dt.datetime,
    span: float,
) -> pd.DataFrame:
    """One row per record; the stage (lead, customer, repeat, churned, subscriber) from orders."""
    P, n = len(people), len(records)
    o_person, ts, buyer = orders.person, orders.at, orders.buyer
    person, is_dup, customer_id = records.person, records.is_dup, records.customer_id
    f2, l2, m2 = records.first, records.last, records.middle
    r_female, r_ru, r_birth = records.female, records.ru, records.birth
    r_company, r_city, created_at = records.company, records.city, records.created_at
    job_title, postcode, address = people.job_title, people.postcode, people.address
    timezone = people.timezone
    # lifecycle from behaviour
    n_ord_person = np.bincount(o_person, minlength=P)
    last_t = np.full(P, -np.inf)
    np.maximum.at(last_t, o_person, (ts.asi8 - pd.Timestamp(start).value // 1000) / 1e6)
    stage = np.where(
        n_ord_person >= 2, "repeat_customer", np.where(n_ord_person == 1, "customer", "lead")
    )
    churned = (n_ord_person > 0) & (span - last_t > 365 * 86400)
    stage = np.where(churned, "churned", stage)
    stage = np.where((n_ord_person == 0) & (rng.random(P) < 0.3), "subscriber", stage)
    loyalty = buyer & (rng.random(P) < 0.45)

    customers_df = pd.DataFrame(
        {
            "customer_id": customer_id,
            "external_id": ids("C", n, 8),
            "company_id": pd.array(r_company, dtype="Int64"),
            "first_name": f2,
            "last_name": l2,
            "middle_name": m2,
            "gender": np.where(rng.random(n) < 0.75, np.where(r_female, "f", "m"), NULL),
            "birth_date": r_birth,
            "job_title": job_title[person],
            "city": r_city,
            "postcode": postcode[person],
            "address": np.where(rng.random(n) < 0.9, address[person], NULL),
            "timezone": timezone[person],
            "language": np.where(r_ru, "ru", "en"),
            "source": pick(rng, LEAD_SOURCES, n),
            "lifecycle_stage": stage[person],
            "owner": pick(rng, ["anna.k", "igor.p", "maria.s", "oleg.v", "kate.w", None], n),
            "is_loyalty_member": loyalty[person] & ~is_dup,
            "status": "active",
            "created_at": created_at,
        }
    )
    customers_df["company_id"] = customers_df["company_id"].where(
        customers_df["company_id"] > 0, pd.NA
    )
    for col in (
        "first_name",
        "last_name",
        "middle_name",
        "job_title",
        "city",
        "address",
        "gender",
        "owner",
    ):
        customers_df[col] = text(customers_df[col].to_numpy(dtype=object))
    return customers_df
