"""crm.profiles: one row per customer, every number checkable by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from crm.profiles import PROFILE_COLUMNS, build_profiles

UTC = dt.UTC
AS_OF = dt.datetime(2026, 6, 1, tzinfo=UTC)


def ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True))


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "first_name": ["Анна", "John", "Пётр", "Dup"],
            "last_name": ["Иванова", "Smith", "Сидоров", "Dup"],
            "city": ["Москва", "London", "Казань", None],
            "status": ["active", "active", "active", "duplicate"],
            "is_loyalty_member": [True, False, False, False],
            "created_at": ts("2025-01-01", "2025-06-01", "2026-05-01", "2025-01-01"),
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6],
            "customer_id": [1, 1, 1, 1, 2, 2],
            "ordered_at": ts(
                "2026-01-10 10:00",
                "2026-03-05 12:00",
                "2026-05-20 09:00",
                "2026-05-21 09:00",
                "2026-02-01 08:00",
                "2026-07-01 08:00",  # after as_of: ignored
            ),
            "amount": [100.0, 300.0, 50.0, 70.0, 999.0, 5000.0],
            "status": ["paid", "paid", "cancelled", "returned", "paid", "paid"],
            "category": ["books", "toys", "toys", "books", "garden", "garden"],
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": [1, 2, 3],
            "customer_id": [3, 3, 2],
            "status": ["verified", "spam", "disqualified"],
            "created_at": ts("2026-04-01", "2026-05-01", "2026-01-01"),
        }
    )
    deals = pd.DataFrame(
        {
            "deal_id": [1, 2, 3],
            "customer_id": [1, 1, 3],
            "amount": [1000.0, 400.0, 50.0],
            "status": ["won", "lost", "open"],
            "created_at": ts("2025-12-01", "2026-01-01", "2026-05-02"),
            "closed_at": ts("2025-12-20", "2026-01-15", None),
        }
    )
    activities = pd.DataFrame(
        {
            "activity_id": [1, 2],
            "customer_id": [3, 3],
            "kind": ["call", "meeting"],
            "occurred_at": ts("2026-05-30", "2026-01-01"),  # one inside the 90-day window
        }
    )
    events = pd.DataFrame(
        {
            "event_id": [1, 2, 3, 4, 5],
            "customer_id": [1, 1, 2, 2, 2],
            "kind": ["sent", "opened", "sent", "bounced", "unsubscribed"],
            "detail": [None, None, None, "hard: mailbox unknown", None],
            "occurred_at": ts("2026-05-01", "2026-05-02", "2026-05-01", "2026-05-01", "2026-05-03"),
        }
    )
    points = pd.DataFrame(
        {
            "contact_point_id": [1, 2, 3, 4, 5],
            "customer_id": [1, 1, 2, 2, 3],
            "kind": ["email", "phone", "email", "phone", "phone"],
            "value": ["ANNA@Mail.ru", "8 916 123-45-67", "john@example.com", "020 7946 0000", "x"],
            "normalized": [
                "anna@mail.ru",
                "+79161234567",
                "john@example.com",
                "+442079460000",
                None,
            ],
            "is_valid": [True, True, True, True, False],
            "phone_type": [None, "mobile", None, "fixed", None],
            "is_primary": [True, True, True, True, True],
            "created_at": ts(*["2025-01-01"] * 5),
        }
    )
    consents = pd.DataFrame(
        {
            "consent_id": [1, 2, 3, 4],
            "customer_id": [1, 1, 1, 2],
            "channel": ["email", "sms", "sms", "email"],
            "granted": [True, True, False, True],  # customer 1 withdrew SMS later
            "recorded_at": ts("2025-01-01", "2025-01-01", "2026-02-01", "2025-06-01"),
        }
    )
    tag_definitions = pd.DataFrame(
        {
            "tag_id": [1, 2],
            "vocabulary": ["interest", "floor"],
            "code": ["sport", "low"],
            "label_en": ["Sport", "Low floor"],
            "label_ru": ["Спорт", "Низкий этаж"],
        }
    )
    customer_tags = pd.DataFrame({"customer_id": [1, 1, 3], "tag_id": [2, 1, 2]})
    return {
        "customers": customers,
        "orders": orders,
        "leads": leads,
        "deals": deals,
        "activities": activities,
        "marketing_events": events,
        "contact_points": points,
        "consents": consents,
        "tag_definitions": tag_definitions,
        "customer_tags": customer_tags,
    }


def test_orders_paid_only_up_to_as_of(tables: dict[str, pd.DataFrame]) -> None:
    p = build_profiles(tables, AS_OF)
    assert list(p.index) == [1, 2, 3]  # the merged duplicate has no profile
    assert list(p.columns) == list(PROFILE_COLUMNS)
    one = p.loc[1]
    # paid: 100 (books, 10 Jan) + 300 (toys, 5 Mar); cancelled and returned do not count
    assert one["orders"] == 2
    assert one["revenue"] == 400.0
    assert one["avg_order_value"] == 200.0
    assert one["returns"] == 1
    assert one["favourite_category"] == "toys"
    assert one["categories"] == 2
    assert one["first_order_at"] == pd.Timestamp("2026-01-10 10:00", tz="UTC")
    assert one["last_order_at"] == pd.Timestamp("2026-03-05 12:00", tz="UTC")
    # 5 March 12:00 -> 1 June 00:00 is 87.5 days: 87 whole days
    assert one["days_since_last_order"] == 87
    # customer 2's July order is after as_of
    assert p.loc[2, "orders"] == 1 and p.loc[2, "revenue"] == 999.0
    three = p.loc[3]
    assert three["orders"] == 0 and three["revenue"] == 0.0 and three["avg_order_value"] == 0.0
    assert pd.isna(three["last_order_at"]) and pd.isna(three["days_since_last_order"])
    assert pd.isna(three["favourite_category"])


def test_deals_leads_activities(tables: dict[str, pd.DataFrame]) -> None:
    p = build_profiles(tables, AS_OF)
    assert p.loc[1, ["deals_won", "deals_lost", "deals_open"]].tolist() == [1, 1, 0]
    assert p.loc[1, "won_amount"] == 1000.0
    assert p.loc[1, "last_won_at"] == pd.Timestamp("2025-12-20", tz="UTC")
    # spam and disqualified leads do not count (D2): customer 3 keeps the verified one
    assert p.loc[3, "leads"] == 1 and p.loc[3, "lead_status"] == "verified"
    assert p.loc[2, "leads"] == 0 and pd.isna(p.loc[2, "lead_status"])
    # 30 May is inside the 90 days before 1 June, 1 January is not
    assert p.loc[3, "activities_90d"] == 1
    assert p.loc[3, "last_activity_at"] == pd.Timestamp("2026-05-30", tz="UTC")
    assert p.loc[3, "days_since_last_activity"] == 2
    # last_active_at: customer 1's open (2 May) is later than their last paid order (5 Mar)
    assert p.loc[1, "last_active_at"] == pd.Timestamp("2026-05-02", tz="UTC")
    assert p.loc[1, "tenure_days"] == 516  # 1 Jan 2025 -> 1 Jun 2026


def test_reachability_consent_and_events(tables: dict[str, pd.DataFrame]) -> None:
    p = build_profiles(tables, AS_OF)
    assert p.loc[1, "email"] == "anna@mail.ru" and p.loc[1, "phone"] == "+79161234567"
    assert p.loc[1, ["has_email", "has_mobile", "email_consent", "sms_consent"]].tolist() == [
        True,
        True,
        True,
        False,  # the withdrawal in February wins over the 2025 grant
    ]
    assert p.loc[1, "reachable_email"] and not p.loc[1, "reachable_sms"]
    assert p.loc[1, ["events_sent_90d", "events_opened_90d"]].tolist() == [1, 1]
    # customer 2: consented email, but unsubscribed and hard-bounced; a fixed line is no mobile
    assert p.loc[2, "email_consent"] and p.loc[2, "unsubscribed"] and p.loc[2, "hard_bounced"]
    assert not p.loc[2, "reachable_email"]
    assert not p.loc[2, "has_mobile"]
    # customer 3: the only phone is invalid
    assert not p.loc[3, "has_mobile"] and not p.loc[3, "has_email"]


def test_suppression_in_force_blocks_the_channel(tables: dict[str, pd.DataFrame]) -> None:
    tables["suppressions"] = pd.DataFrame(
        {
            "suppression_id": [1, 2],
            "customer_id": [1, 1],
            "scope": ["email", "sms"],
            "reason": ["hard_bounce", "invalid"],
            "suppressed_at": ts("2026-05-01", "2026-01-01"),
            "lifted_at": ts(None, "2026-03-01"),  # the SMS one was lifted
        }
    )
    tables["consents"].loc[2, "granted"] = True  # SMS consent stays granted
    p = build_profiles(tables, AS_OF)
    assert not p.loc[1, "reachable_email"]
    assert p.loc[1, "reachable_sms"]


def test_tags_and_loyalty(tables: dict[str, pd.DataFrame]) -> None:
    tables["loyalty"] = pd.DataFrame(
        {"customer_id": [1], "points_balance": [1250], "tier": ["gold"]}
    )
    p = build_profiles(tables, AS_OF)
    assert p.loc[1, "tags"] == ["floor:low", "interest:sport"]
    assert p.loc[2, "tags"] == []
    assert p.loc[3, "tags"] == ["floor:low"]
    assert p.loc[1, "points_balance"] == 1250 and p.loc[1, "tier"] == "gold"
    assert p.loc[2, "points_balance"] == 0 and pd.isna(p.loc[2, "tier"])


def test_as_of_in_the_past_gives_that_days_profile(tables: dict[str, pd.DataFrame]) -> None:
    p = build_profiles(tables, dt.date(2026, 2, 28))  # end of 28 February
    assert p.loc[1, "orders"] == 1 and p.loc[1, "revenue"] == 100.0
    assert not p.loc[1, "sms_consent"]  # withdrawn on 1 February
    p2 = build_profiles(tables, dt.date(2026, 1, 31))
    assert p2.loc[1, "sms_consent"]  # before the withdrawal the grant stands
    assert p2.loc[1, "deals_lost"] == 1 and p2.loc[3, "deals_open"] == 0


def test_only_customers_needed() -> None:
    customers = pd.DataFrame({"customer_id": [7], "first_name": ["Ёлка"]})
    p = build_profiles({"customers": customers}, AS_OF)
    assert p.loc[7, "orders"] == 0 and p.loc[7, "tags"] == [] and not p.loc[7, "reachable_email"]
    with pytest.raises(KeyError, match="customers"):
        build_profiles({}, AS_OF)


@pytest.mark.parametrize("cells", [50_000_000, 0])  # dense matrix, then the groupby fallback
def test_favourite_category_ties_are_alphabetical(
    cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crm.profiles as profiles

    monkeypatch.setattr(profiles, "_SPEND_CELLS", cells)
    customers = pd.DataFrame({"customer_id": [1, 2, 3]})
    orders = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 2, 3],
            "ordered_at": ts(*["2026-01-01"] * 6),
            "amount": [50.0, 50.0, 10.0, 30.0, 25.0, 99.0],
            "status": ["paid", "paid", "paid", "paid", "paid", "returned"],
            "category": ["toys", "books", "garden", "garden", "books", "toys"],
        }
    )
    p = build_profiles({"customers": customers, "orders": orders}, AS_OF)
    # 1: books 50 = toys 50 -> books (alphabetical); 2: garden 40 > books 25
    assert p["favourite_category"].tolist()[:2] == ["books", "garden"]
    assert pd.isna(p.loc[3, "favourite_category"])  # only a returned order
    assert p["categories"].tolist() == [2, 2, 0]
    assert p["returns"].tolist() == [0, 0, 1]
