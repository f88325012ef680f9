"""The loyalty quote and redemption, and the customer card (with merged duplicates)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from gateway_helpers import NOW, auth

from crm.db import make_engine, session_scope
from crm.models import Consent, ContactPoint, Customer
from crm.models.loyalty import Prize
from flows.loyalty_db import add_entries
from loyalty.ledger import make_entries


def _customers(url: str) -> None:
    """Customer 1 with 1,000 available points (and 300 pending), 2 merged into 1, a prize."""
    engine = make_engine(url)
    with session_scope(engine) as s:
        s.add(
            Customer(
                customer_id=1,
                external_id="c1",
                first_name="Анна",
                lifecycle_stage="customer",
                created_at=NOW - dt.timedelta(days=400),
            )
        )
        s.flush()
        s.add(
            Customer(
                customer_id=2,
                external_id="c2",
                first_name="Анна",
                status="duplicate",
                merged_into=1,
                created_at=NOW - dt.timedelta(days=10),
            )
        )
        s.add(
            ContactPoint(
                customer_id=1,
                kind="email",
                value="anna@example.ru",
                normalized="anna@example.ru",
                is_primary=True,
                created_at=NOW,
            )
        )
        s.add(
            Consent(
                customer_id=1,
                channel="email",
                granted=True,
                source="import",
                recorded_at=NOW - dt.timedelta(days=30),
            )
        )
        s.add(
            Consent(
                customer_id=1,
                channel="email",
                granted=False,
                source="unsubscribe",
                recorded_at=NOW - dt.timedelta(days=1),
            )
        )
        s.add(Prize(prize_id=3, sku="mug", name="Mug", points_price=400, stock=2, active=True))
        entries = make_entries(
            key=["earn:a", "earn:b"],
            customer_id=1,
            kind="earn",
            points=[1000, 300],
            reason="purchase",
            occurred_at=[NOW - dt.timedelta(days=60), NOW - dt.timedelta(days=2)],
            available_at=[NOW - dt.timedelta(days=46), NOW + dt.timedelta(days=12)],
            source_kind="order",
        )
        add_entries(s, entries, created_at=NOW)
    engine.dispose()


def test_quote_earns_and_burns_by_the_rules(client: TestClient) -> None:
    _customers(client.db_url)  # type: ignore[attr-defined]
    body = {"customer_id": 1, "amount": 5000, "ordered_at": "2026-06-01T12:00:00Z"}
    response = client.post("/v1/loyalty/quote", json=body, headers=auth(client, "intake"))
    assert response.status_code == 200
    q = response.json()
    assert q["available_points"] == 1000  # the 300 pending points do not count
    assert q["earn_points"] == 150 and q["earn_breakdown"] == {"base": 150}  # 3 % of 5,000
    assert q["max_burn_points"] == min(1000, int(5000 * 0.3))  # burn rule: at most 30 %
    burn = client.post(
        "/v1/loyalty/quote", json={**body, "use_points": 500}, headers=auth(client, "intake")
    ).json()
    assert burn["burn_points"] == 500 and burn["paid_amount"] == 4500.0
    assert burn["earn_points"] == 135  # 3 % of what is paid in money
    too_many = client.post(
        "/v1/loyalty/quote", json={**body, "use_points": 5000}, headers=auth(client, "intake")
    )
    assert too_many.status_code == 409
    assert (
        client.post("/v1/loyalty/quote", json=body, headers=auth(client, "read")).status_code == 403
    )


def test_redemption_is_idempotent(client: TestClient) -> None:
    _customers(client.db_url)  # type: ignore[attr-defined]
    headers = {**auth(client, "intake"), "Idempotency-Key": "till-7-0001"}
    body = {"customer_id": 1, "prize_id": 3}
    first = client.post("/v1/loyalty/redemptions", json=body, headers=headers)
    assert first.status_code == 201
    assert first.json()["points"] == 400 and first.json()["stock_left"] == 1
    again = client.post("/v1/loyalty/redemptions", json=body, headers=headers)
    assert again.json()["redemption_id"] == first.json()["redemption_id"]
    assert again.json()["replayed"] is True and again.json()["stock_left"] == 1
    other = {**auth(client, "intake"), "Idempotency-Key": "till-7-0002"}
    assert client.post("/v1/loyalty/redemptions", json=body, headers=other).status_code == 201
    third = {**auth(client, "intake"), "Idempotency-Key": "till-7-0003"}
    out = client.post("/v1/loyalty/redemptions", json=body, headers=third)
    assert out.status_code == 409  # stock 2 is gone (and 200 points would not do either)
    none = client.post("/v1/loyalty/redemptions", json=body, headers=auth(client, "intake"))
    assert none.status_code == 422  # the key is required
    card = client.get("/v1/customers/1", headers=auth(client, "read")).json()
    assert card["loyalty"]["balance"] == 1300 - 800
    assert card["loyalty"]["available"] == 200


def test_card_and_merged_duplicate_redirect(client: TestClient) -> None:
    _customers(client.db_url)  # type: ignore[attr-defined]
    read = auth(client, "read")
    card = client.get("/v1/customers/1", headers=read)
    assert card.status_code == 200
    body = card.json()
    assert body["first_name"] == "Анна"
    assert body["contact_points"][0]["normalized"] == "anna@example.ru"
    assert body["consents"] == [
        {
            "channel": "email",
            "granted": False,
            "source": "unsubscribe",
            "recorded_at": "2026-05-31T12:00:00Z",
        }
    ]
    assert body["loyalty"]["balance"] == 1300 and body["loyalty"]["pending"] == 300
    assert [e["running_balance"] for e in body["loyalty"]["statement"]] == [1300, 1000]
    assert body["scores"] is None and body["messages"] == []
    merged = client.get("/v1/customers/2", headers=read, follow_redirects=False)
    assert merged.status_code == 308
    assert merged.headers["location"] == "/v1/customers/1"
    assert client.get("/v1/customers/2", headers=read).json()["customer_id"] == 1
    assert client.get("/v1/customers/99", headers=read).status_code == 404
    assert client.get("/v1/customers/1", headers=auth(client, "intake")).status_code == 403
