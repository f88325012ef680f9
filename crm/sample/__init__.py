"""A seeded generator of realistic, messy, bilingual CRM data at any size (``crm sample``).

The data has what real CRMs have: many one-time buyers and a few heavy ones, churn,
seasonality (November and December peaks), leads flowing through their states
(verified, disqualified with a reason, spam, converted into deals), won and lost deals,
loyalty members, consents and withdrawals, birthdays, and the dirt: duplicate records of
one person with typos and other phone formats, phones written ``8 (916) 123-45-67``,
``+7916…``, ``916 123 4567``, upper-case names, a full name in one field, surname in the
first-name slot, role addresses (``info@``), invalid and mistyped emails, spouses sharing an
address and a phone. The true identities are kept aside in ``truth`` (``person_id``,
``household_id``) so deduplication can be measured.

Everything is vectorised with numpy/pyarrow: 1M customers with 10M orders take about a minute
on one core. The same ``seed`` gives the same data on every machine.

Each step has its module: :mod:`~crm.sample.people` (names, addresses, employers,
households and look-alikes), :mod:`~crm.sample.records` (duplicates and export dirt),
:mod:`~crm.sample.commerce` (orders, products, lines), :mod:`~crm.sample.customers`,
:mod:`~crm.sample.contacts` (contact points, consents, relations, tags),
:mod:`~crm.sample.sales` (leads, deals, activities), :mod:`~crm.sample.events`,
:mod:`~crm.sample.mess` (the harder mess, on its own stream) and :mod:`~crm.sample.files`
(Parquet, the import CSV, loading into a database). :func:`generate` calls them in one
order from one random stream, so a seed gives the same data whatever the module layout.

Example
-------
>>> data = generate(customers=1_000, seed=7)
>>> data["orders"].head()
>>> data.truth.groupby("person_id").size().max()
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from crm.sample import mess
from crm.sample.commerce import draw_order_lines, draw_orders
from crm.sample.contacts import consents, contact_points, relations, tags
from crm.sample.customers import customers_frame
from crm.sample.dataset import DEFAULT_AS_OF, LOAD_ORDER, SampleData
from crm.sample.events import marketing_events
from crm.sample.files import import_contacts, load, read, write
from crm.sample.people import add_lookalikes, draw_companies, draw_people, pair_spouses
from crm.sample.records import draw_records
from crm.sample.sales import draw_activities, draw_deals, draw_leads

__all__ = [
    "DEFAULT_AS_OF",
    "LOAD_ORDER",
    "SampleData",
    "generate",
    "import_contacts",
    "load",
    "read",
    "write",
]


def generate(
    customers: int = 10_000,
    seed: int = 42,
    as_of: dt.datetime = DEFAULT_AS_OF,
    orders_per_customer: float = 10.0,
    years: float = 3.0,
    duplicate_rate: float = 0.06,
    events_per_customer: float = 4.0,
    order_lines: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> SampleData:
    """Generate a seeded CRM data set of ``customers`` person records.

    Parameters
    ----------
    customers : int
        Number of customer records (duplicates included).
    seed : int
        Same seed, same data.
    as_of : datetime
        The "today" of the data set; nothing happens after it.
    orders_per_customer : float
        Average orders per record (10 gives 10M orders for 1M customers).
    years : float
        How far back the history goes.
    duplicate_rate : float
        Share of records that are extra records of an already present person.
    events_per_customer : float
        Average marketing messages sent per record.
    order_lines : bool, optional
        Generate order lines (default: only when there are under 2M orders).
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    as_of = (
        pd.Timestamp(as_of).tz_convert("UTC").to_pydatetime()
        if pd.Timestamp(as_of).tzinfo
        else pd.Timestamp(as_of, tz="UTC").to_pydatetime()
    )
    start = as_of - dt.timedelta(days=365.25 * years)
    span = (as_of - start).total_seconds()

    n = int(customers)
    n_dup = round(n * duplicate_rate / (1 + duplicate_rate)) if n > 20 else 0
    P = n - n_dup
    say("people")
    people = draw_people(rng, P)
    say("companies")
    companies = draw_companies(rng, people, n, start, span)
    spouses = pair_spouses(rng, people)
    mrng = mess.mess_rng(seed)  # the harder mess has its own stream
    add_lookalikes(mrng, people, spouses[1])
    say("records")
    records = draw_records(rng, mrng, people, n, n_dup, start, span)
    say("orders")
    orders = draw_orders(rng, P, records, orders_per_customer, start, span)
    say("leads and deals")
    customers_df = customers_frame(rng, people, records, orders, start, span)
    points = contact_points(records)
    given = consents(rng, records, as_of)
    related = relations(rng, orders.record_of_person, spouses, as_of)
    tag_defs, customer_tags = tags(rng, records)
    leads = draw_leads(rng, records, customers_df, as_of)
    pipelines, stages, deals, invoices, payments = draw_deals(rng, leads, as_of)
    products, lines = draw_order_lines(rng, orders, order_lines)
    say("activities and events")
    activities = draw_activities(rng, leads, as_of)
    events = marketing_events(rng, records, events_per_customer, start, span)

    person = records.person
    truth = pd.DataFrame(
        {
            "customer_id": records.customer_id,
            "person_id": person + 1,
            "household_id": people.household[person] + 1,
            "is_duplicate_record": records.is_dup,
            "relation": people.relation[person],
        }
    )
    frames = {
        "companies": companies,
        "customers": customers_df,
        "contact_points": points,
        "consents": given,
        "relations": related,
        "tag_definitions": tag_defs,
        "customer_tags": customer_tags,
        "leads": leads,
        "pipelines": pipelines,
        "pipeline_stages": stages,
        "deals": deals,
        "products": products,
        "orders": orders.frame,
        "order_lines": lines,
        "invoices": invoices,
        "payments": payments,
        "activities": activities,
        "marketing_events": events,
    }
    return SampleData(frames=frames, truth=truth, as_of=as_of, seed=seed)
