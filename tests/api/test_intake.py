"""Event intake: validation naming the field, key scopes, idempotency, durable events, landing."""

from __future__ import annotations

import pandas as pd
from fastapi.testclient import TestClient
from gateway_helpers import NOW, auth

from api.intake import apply_intake
from crm import store

CONTACT = {
    "external_id": "form-1",
    "source": "site_form",
    "channel": "yandex_direct",
    "first_name": "анна",
    "last_name": "смирнова",
    "email": "Anna.Smirnova@Example.ru",
    "phone": "8 (912) 345-67-89",
    "email_consent": True,
}


def test_intake_needs_a_key_of_its_scope(client: TestClient) -> None:
    assert client.post("/v1/contacts", json=CONTACT).status_code == 401
    bad = {"Authorization": "Bearer crm_not-a-key"}
    assert client.post("/v1/contacts", json=CONTACT, headers=bad).status_code == 401
    for scope in ("read", "delivery-admin"):
        response = client.post("/v1/contacts", json=CONTACT, headers=auth(client, scope))
        assert response.status_code == 403
        assert "needs intake" in response.json()["detail"]
    assert (
        client.post("/v1/contacts", json=CONTACT, headers=auth(client, "intake")).status_code == 202
    )


def test_422_names_the_field(client: TestClient) -> None:
    body = {**CONTACT, "email": "not-an-email"}
    response = client.post("/v1/contacts", json=body, headers=auth(client, "intake"))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["email"]
    body = {k: v for k, v in CONTACT.items() if k != "source"}
    response = client.post("/v1/contacts", json=body, headers=auth(client, "intake"))
    assert [e["field"] for e in response.json()["detail"]] == ["source"]
    body = {**CONTACT, "favourite_colour": "red"}
    response = client.post("/v1/contacts", json=body, headers=auth(client, "intake"))
    assert [e["field"] for e in response.json()["detail"]] == ["favourite_colour"]
    body = {k: v for k, v in CONTACT.items() if k not in ("email", "phone")}
    response = client.post("/v1/contacts", json=body, headers=auth(client, "intake"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "email"
    order = {
        "external_id": "o1",
        "source": "app",
        "customer_external_id": "c1",
        "ordered_at": "2026-06-01T10:00:00Z",
        "amount": -5,
    }
    response = client.post("/v1/orders", json=order, headers=auth(client, "intake"))
    assert [e["field"] for e in response.json()["detail"]] == ["amount"]


def test_accepted_event_is_durable_before_the_202(client: TestClient) -> None:
    response = client.post("/v1/contacts", json=CONTACT, headers=auth(client, "intake"))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted" and body["kind"] == "contact"
    stored = store.read_frame(client.db_url, "intake_events")  # type: ignore[attr-defined]
    assert stored["intake_id"].tolist() == [body["intake_id"]]
    assert stored["source"].tolist() == ["site_form"]
    assert stored["channel"].tolist() == ["yandex_direct"]


def test_idempotency_key_replays_the_first_response(client: TestClient) -> None:
    headers = {**auth(client, "intake"), "Idempotency-Key": "retry-me"}
    first = client.post("/v1/contacts", json=CONTACT, headers=headers)
    again = client.post("/v1/contacts", json=CONTACT, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    events = store.read_frame(client.db_url, "intake_events")  # type: ignore[attr-defined]
    assert len(events) == 1
    other = client.post("/v1/contacts", json={**CONTACT, "first_name": "Ольга"}, headers=headers)
    assert other.status_code == 409  # the same key for another request is refused
    fresh = client.post("/v1/contacts", json=CONTACT, headers=auth(client, "intake"))
    assert fresh.json()["intake_id"] != first.json()["intake_id"]  # no key: a new event


def test_body_size_limit(client: TestClient) -> None:
    big = {**CONTACT, "job_title": "x" * 70_000}
    response = client.post("/v1/contacts", json=big, headers=auth(client, "intake"))
    assert response.status_code == 413


def test_contact_lands_normalised_and_matched_like_an_import(client: TestClient) -> None:
    url = client.db_url  # type: ignore[attr-defined]
    headers = auth(client, "intake")
    client.post("/v1/contacts", json=CONTACT, headers=headers)
    # the same person again from the call centre, a letter changed in the email
    twin = {
        **CONTACT,
        "external_id": "call-7",
        "source": "call_centre",
        "email": "anna.smirnova@example.ru",
        "first_name": "Анна",
    }
    client.post("/v1/contacts", json=twin, headers=headers)
    assert apply_intake(url, NOW) == {"applied": 2, "rejected": 0}
    customers = store.read_frame(url, "customers")
    assert customers["first_name"].tolist() == ["Анна"]  # recased, one person
    assert customers["last_name"].tolist() == ["Смирнова"]
    points = store.read_frame(url, "contact_points").sort_values("kind")
    assert points["normalized"].tolist()[-1] == "+79123456789"  # E.164
    events = store.read_frame(url, "intake_events")
    assert set(events["status"]) == {"applied"}
    assert apply_intake(url, NOW) == {"applied": 0, "rejected": 0}  # rerun: nothing again


def test_lead_order_activity_land_and_unknown_customer_is_rejected(client: TestClient) -> None:
    url = client.db_url  # type: ignore[attr-defined]
    headers = auth(client, "intake")
    client.post("/v1/contacts", json={**CONTACT, "external_id": "c1"}, headers=headers)
    lead = {
        "external_id": "L1",
        "source": "site_form",
        "channel": "vk",
        "contact": {"first_name": "пётр", "phone": "+7 903 111 22 33"},
        "budget": 5_000_000,
    }
    assert client.post("/v1/leads", json=lead, headers=headers).status_code == 202
    order = {
        "external_id": "o1",
        "source": "app",
        "customer_external_id": "c1",
        "ordered_at": "2026-06-01T10:00:00+03:00",
        "amount": 3490,
    }
    client.post("/v1/orders", json=order, headers=headers)
    stray = client.post(
        "/v1/orders",
        json={**order, "external_id": "o2", "customer_external_id": "nobody"},
        headers=headers,
    )
    act = {
        "external_id": "a1",
        "source": "app",
        "customer_external_id": "c1",
        "kind": "review",
        "occurred_at": "2026-06-01T11:00:00Z",
    }
    client.post("/v1/activities", json=act, headers=headers)
    assert apply_intake(url, NOW) == {"applied": 4, "rejected": 1}
    leads = store.read_frame(url, "leads")
    assert leads["source"].tolist() == ["site_form"] and leads["channel"].tolist() == ["vk"]
    customers = store.read_frame(url, "customers").set_index("customer_id")
    assert customers.loc[int(leads["customer_id"].iloc[0]), "first_name"] == "Пётр"
    orders = store.read_frame(url, "orders")
    assert orders["ordered_at"].tolist() == [pd.Timestamp("2026-06-01T07:00:00Z")]
    assert store.read_frame(url, "loyalty_events")["kind"].tolist() == ["review"]
    status = client.get(f"/v1/intake/{stray.json()['intake_id']}", headers=headers).json()
    assert status["status"] == "rejected" and status["field"] == "customer"
    assert "nobody" in status["reason"]
