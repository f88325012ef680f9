"""What hangs off a record: contact points, consents, relations and tags."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from crm.sample._draw import pick, text
from crm.sample.records import Records
from crm.sample.vocabulary import TAG_VOCABULARY

__all__ = ["consents", "contact_points", "relations", "tags"]


def contact_points(records: Records) -> pd.DataFrame:
    """Each record's email and phone as it was written (missing ones have no row)."""
    customer_id, created_at = records.customer_id, records.created_at
    r_email, phone = records.email, records.phone
    has_email = pd.notna(r_email)
    has_phone = pd.notna(phone)
    cp = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": customer_id[has_email],
                    "kind": "email",
                    "value": r_email[has_email],
                }
            ),
            pd.DataFrame(
                {"customer_id": customer_id[has_phone], "kind": "phone", "value": phone[has_phone]}
            ),
        ],
        ignore_index=True,
    )
    cp.insert(0, "contact_point_id", np.arange(1, len(cp) + 1))
    cp["is_primary"] = True
    cp["created_at"] = created_at[cp["customer_id"].to_numpy() - 1]
    cp["value"] = text(cp["value"])
    cp["kind"] = text(cp["kind"])
    return cp


def consents(rng: np.random.Generator, records: Records, as_of: dt.datetime) -> pd.DataFrame:
    """Email and SMS consents recorded for 85 % of the records; 4 % of grants withdrawn later."""
    n, customer_id, created_at = len(records), records.customer_id, records.created_at
    cons = []
    for channel, p_grant in (("email", 0.65), ("sms", 0.45)):
        g = rng.random(n) < 0.85  # recorded at all
        cons.append(
            pd.DataFrame(
                {
                    "customer_id": customer_id[g],
                    "channel": channel,
                    "granted": rng.random(g.sum()) < p_grant,
                    "source": pick(
                        rng, ["site_form", "checkout", "call_centre", "import"], g.sum()
                    ),
                    "recorded_at": created_at[g],
                }
            )
        )
    consents = pd.concat(cons, ignore_index=True)
    withdraw = consents[consents.granted & (rng.random(len(consents)) < 0.04)].copy()
    withdraw["granted"] = False
    withdraw["source"] = "unsubscribe"
    withdraw["recorded_at"] = withdraw["recorded_at"] + pd.to_timedelta(
        rng.integers(1, 400, len(withdraw)), unit="D"
    )
    withdraw = withdraw[withdraw["recorded_at"] < pd.Timestamp(as_of)]
    consents = pd.concat([consents, withdraw], ignore_index=True)
    consents.insert(0, "consent_id", np.arange(1, len(consents) + 1))
    consents["channel"] = text(consents["channel"])
    return consents


def relations(
    rng: np.random.Generator,
    record_of_person: np.ndarray,
    spouses: tuple[np.ndarray, np.ndarray],
    as_of: dt.datetime,
) -> pd.DataFrame:
    """Spouse links between the couples' records, and who referred whom (3 % of people)."""
    rec_of_person, (a, b), P = record_of_person, spouses, len(record_of_person)
    ca, cb = rec_of_person[a], rec_of_person[b]
    n_ref = int(P * 0.03)
    ref_from = rec_of_person[rng.integers(0, P, n_ref)]
    ref_to = rec_of_person[rng.integers(0, P, n_ref)]
    okref = ref_from != ref_to
    relations = pd.concat(
        [
            pd.DataFrame({"customer_id": ca, "related_customer_id": cb, "kind": "spouse"}),
            pd.DataFrame(
                {
                    "customer_id": ref_to[okref],
                    "related_customer_id": ref_from[okref],
                    "kind": "referred_by",
                }
            ),
        ],
        ignore_index=True,
    ).drop_duplicates(["customer_id", "related_customer_id", "kind"])
    relations.insert(0, "relation_id", np.arange(1, len(relations) + 1))
    relations["source"] = "sample"
    relations["created_at"] = pd.Timestamp(as_of) - pd.Timedelta(days=30)
    relations["kind"] = text(relations["kind"])
    return relations


def tags(rng: np.random.Generator, records: Records) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tag vocabulary and 0–3 tags per record. Returns ``(tag_definitions, customer_tags)``."""
    n, customer_id, created_at = len(records), records.customer_id, records.created_at
    tag_defs = pd.DataFrame(TAG_VOCABULARY, columns=["vocabulary", "code", "label_en", "label_ru"])
    tag_defs.insert(0, "tag_id", np.arange(1, len(tag_defs) + 1))
    k = rng.integers(0, 4, n)
    t_cust = np.repeat(customer_id, k)
    t_tag = rng.integers(1, len(tag_defs) + 1, len(t_cust))
    customer_tags = pd.DataFrame({"customer_id": t_cust, "tag_id": t_tag}).drop_duplicates()
    customer_tags["tagged_at"] = created_at[customer_tags["customer_id"].to_numpy() - 1]
    return tag_defs, customer_tags
