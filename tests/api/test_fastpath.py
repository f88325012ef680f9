"""The intake fast path answers like the routes, and hands every refusal to them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from gateway_helpers import NOW, make_keys
from sqlalchemy import text

from api.app import create_app
from crm import store
from crm.db import make_engine
from crm.settings import Settings

ACTIVITY = {
    "source": "app",
    "customer_external_id": "c1",
    "kind": "review",
    "occurred_at": "2026-06-01T10:00:00+03:00",
}


@pytest.fixture
def pair(db_url: str, settings: Settings) -> Iterator[tuple[TestClient, TestClient, str]]:
    """The gateway with and without the fast path, on one database; an intake key."""
    keys = make_keys(db_url)
    fast = create_app(settings, database_url=db_url, key_cache_s=60, clock=lambda: NOW)
    routed = create_app(
        settings, database_url=db_url, key_cache_s=60, clock=lambda: NOW, fast_intake=False
    )
    with TestClient(fast) as f, TestClient(routed) as r:
        yield f, r, keys["intake"]


def _post(client: TestClient, key: str, body: dict[str, str], idem: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.post("/v1/activities", json=body, headers=headers)


def test_fast_path_and_route_answer_and_store_alike(
    pair: tuple[TestClient, TestClient, str], db_url: str
) -> None:
    fast, routed, key = pair
    a = _post(fast, key, {**ACTIVITY, "external_id": "a"}, idem="k-a")
    b = _post(routed, key, {**ACTIVITY, "external_id": "b"}, idem="k-b")
    assert a.status_code == b.status_code == 202
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    assert a.json() == {
        "intake_id": 1,
        "kind": "activity",
        "external_id": "a",
        "status": "accepted",
        "received_at": "2026-06-01T12:00:00Z",
    }
    assert b.json() == {**a.json(), "intake_id": 2, "external_id": "b"}
    # each one's key replays through the other path: the same first answer, marked
    again_a = _post(routed, key, {**ACTIVITY, "external_id": "a"}, idem="k-a")
    again_b = _post(fast, key, {**ACTIVITY, "external_id": "b"}, idem="k-b")
    assert again_a.json() == a.json() and again_b.json() == b.json()
    assert again_a.headers["Idempotent-Replayed"] == again_b.headers["Idempotent-Replayed"]
    assert "Idempotent-Replayed" not in a.headers
    # the same key with another body: 409
    assert _post(fast, key, {**ACTIVITY, "external_id": "x"}, idem="k-b").status_code == 409
    stored = store.read_frame(db_url, "intake_events").sort_values("intake_id")
    assert stored["external_id"].tolist() == ["a", "b"]
    payloads = [json.loads(p) for p in stored["payload"]]
    # the instant in UTC, the same way on both paths
    assert [p["occurred_at"] for p in payloads] == ["2026-06-01T07:00:00+00:00"] * 2
    assert [{k: v for k, v in p.items() if k != "external_id"} for p in payloads] == [
        {
            "activity_kind": "review",
            "customer_external_id": "c1",
            "occurred_at": "2026-06-01T07:00:00+00:00",
            "source": "app",
        }
    ] * 2


def test_naive_instant_is_wall_clock_in_the_time_zone(
    pair: tuple[TestClient, TestClient, str], db_url: str
) -> None:
    fast, _routed, key = pair
    body = {**ACTIVITY, "external_id": "n", "occurred_at": "2026-06-01T10:00:00"}
    assert _post(fast, key, body).status_code == 202
    payload = json.loads(store.read_frame(db_url, "intake_events")["payload"].iloc[0])
    assert payload["occurred_at"] == "2026-06-01T07:00:00+00:00"  # 10:00 Moscow, UTC+3


def test_fast_path_hands_refusals_to_the_route(
    pair: tuple[TestClient, TestClient, str], db_url: str
) -> None:
    fast, _routed, key = pair
    good = {**ACTIVITY, "external_id": "r"}
    assert fast.post("/v1/activities", json=good).status_code == 401
    assert _post(fast, "crm_unknown", good).status_code == 401
    read = make_keys(db_url)["read"]
    forbidden = _post(fast, read, good)
    assert forbidden.status_code == 403 and "needs intake" in forbidden.json()["detail"]
    bad = _post(fast, key, {**good, "kind": "Not A Kind"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["detail"]] == ["kind"]
    long_key = _post(fast, key, good, idem="k" * 129)
    assert long_key.status_code == 422
    assert [e["field"] for e in long_key.json()["detail"]] == ["Idempotency-Key"]
    not_json = fast.post(
        "/v1/activities",
        content=b"external_id=r",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"},
    )
    assert not_json.status_code == 422
    assert store.read_frame(db_url, "intake_events").empty


def test_fast_path_keeps_the_rate_limit(db_url: str, settings: Settings) -> None:
    limited = settings.model_copy(update={"api_rate_per_s": 0.001, "api_rate_burst": 2})
    key = make_keys(db_url)["intake"]
    app = create_app(limited, database_url=db_url, key_cache_s=60, clock=lambda: NOW)
    with TestClient(app) as client:
        codes = [
            _post(client, key, {**ACTIVITY, "external_id": f"e{i}"}).status_code for i in range(3)
        ]
        assert codes == [202, 202, 429]
        assert len(store.read_frame(db_url, "intake_events")) == 2


@pytest.mark.parametrize("fast_intake", [True, False])
def test_a_key_with_a_limit_of_n_gets_exactly_n(
    db_url: str, settings: Settings, fast_intake: bool
) -> None:
    limited = settings.model_copy(update={"api_rate_per_s": 0.001, "api_rate_burst": 3})
    key = make_keys(db_url)["intake"]
    app = create_app(
        limited, database_url=db_url, key_cache_s=60, clock=lambda: NOW, fast_intake=fast_intake
    )
    limiter = app.state.gateway.limiter
    takes: list[int] = []
    take = limiter.take
    limiter.take = lambda key_id: takes.append(key_id) or take(key_id)  # count every take
    with TestClient(app) as client:
        codes = [
            _post(client, key, {**ACTIVITY, "external_id": f"e{i}"}).status_code for i in range(5)
        ]
        refused = client.post(
            "/v1/activities", json=ACTIVITY, headers={"Authorization": f"Bearer {key}"}
        )
    assert codes == [202, 202, 202, 429, 429]
    assert refused.status_code == 429  # over the limit before its body is looked at
    assert len(takes) == 6  # one take per request, whichever path answered it
    assert len(store.read_frame(db_url, "intake_events")) == 3


@pytest.mark.parametrize("fast_intake", [True, False])
def test_fast_path_keeps_the_size_limit(db_url: str, settings: Settings, fast_intake: bool) -> None:
    small = settings.model_copy(update={"api_max_body_bytes": 200})
    key = make_keys(db_url)["intake"]
    app = create_app(
        small, database_url=db_url, key_cache_s=60, clock=lambda: NOW, fast_intake=fast_intake
    )
    body = json.dumps({**ACTIVITY, "external_id": "e" * 64}).encode()  # 188 bytes
    big = json.dumps({**ACTIVITY, "external_id": "e" * 64, "channel": "c" * 20}).encode()
    assert len(body) <= 200 < len(big)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with TestClient(app) as client:
        declared = client.post("/v1/activities", content=big, headers=headers)
        # streamed without a Content-Length: counted while it is read
        streamed = client.post(
            "/v1/activities", content=iter([big[:150], big[150:]]), headers=headers
        )
        fits = client.post(
            "/v1/activities", content=iter([body[:150], body[150:]]), headers=headers
        )
    assert declared.status_code == streamed.status_code == 413
    assert fits.status_code == 202
    assert store.read_frame(db_url, "intake_events")["external_id"].tolist() == ["e" * 64]


def test_probes_are_answered_in_front_of_fastapi_with_the_routes_bytes(
    pair: tuple[TestClient, TestClient, str], db_url: str
) -> None:
    fast, routed, _key = pair
    app = fast.app
    entered: list[str] = []
    inner = app.fast_path.app  # type: ignore[attr-defined]

    async def counted(scope, receive, send):  # type: ignore[no-untyped-def]
        entered.append(scope["path"])
        await inner(scope, receive, send)

    app.fast_path.app = counted  # type: ignore[attr-defined]
    for path in ("/health", "/ready"):
        a, b = fast.get(path), routed.get(path)
        assert a.status_code == b.status_code == 200
        assert a.content == b.content
        assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
        assert a.headers["content-length"] == b.headers["content-length"]
    assert fast.get("/health").content == b'{"status":"ok"}'
    assert entered == []  # neither went through FastAPI
    assert fast.head("/health").status_code == routed.head("/health").status_code == 405
    assert entered == ["/health"]  # anything but a GET is the app's
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0006_segments'"))
    engine.dispose()
    a, b = fast.get("/ready"), routed.get("/ready")
    assert a.status_code == b.status_code == 503
    assert a.content == b.content
    assert a.json()["detail"] == "database at 0006_segments; run crm db upgrade"
