"""The gateway's skeleton: health, readiness, key scopes, revocation, limits."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from gateway_helpers import NOW
from sqlalchemy import text

from api.app import create_app
from api.keys import create_key, hash_key, lookup_key, revoke_key
from api.limits import RateLimiter
from crm.db import make_engine, session_scope
from crm.models.gateway import ApiKey
from crm.settings import Settings


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_migrated(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["migrations_current"] is True


def test_ready_is_503_when_the_schema_is_behind(db_url: str, settings: Settings) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0006_segments'"))
    engine.dispose()
    with TestClient(create_app(settings, database_url=db_url)) as c:
        response = c.get("/ready")
    assert response.status_code == 503
    assert response.json()["database"] is True
    assert response.json()["migrations_current"] is False
    assert "crm db upgrade" in response.json()["detail"]


def test_ready_is_503_without_a_database(tmp_path, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with TestClient(create_app(settings, database_url=url)) as c:
        response = c.get("/ready")
    assert response.status_code == 503
    assert response.json()["database"] is False


def test_keys_are_stored_hashed(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        key_id, plain = create_key(session, "site", ["intake", "read"], NOW)
    with session_scope(engine) as session:
        row = session.get(ApiKey, key_id)
        assert row is not None
        assert row.key_hash == hash_key(plain) != plain
        assert plain not in (row.prefix + row.scopes + row.name) or row.prefix == plain[:12]
        assert row.scopes == "intake,read"
        info = lookup_key(session, plain)
        assert info is not None and info.scopes == frozenset({"intake", "read"})
        assert lookup_key(session, plain + "x") is None
        assert revoke_key(session, key_id, NOW + dt.timedelta(hours=1)) is True
        assert revoke_key(session, key_id, NOW + dt.timedelta(hours=2)) is False
        assert lookup_key(session, plain) is None
    engine.dispose()


def test_unknown_scope_is_refused(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        try:
            create_key(session, "x", ["admin"], NOW)
        except ValueError as exc:
            assert "admin" in str(exc) and "delivery-admin" in str(exc)
        else:
            raise AssertionError("an unknown scope must be refused")
    engine.dispose()


def test_rate_limiter_allows_a_burst_then_the_rate() -> None:
    t = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: t[0])
    assert [limiter.take(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(1) == 0.5  # one token comes back every half second
    assert limiter.take(2) == 0.0  # another key has its own bucket
    t[0] = 0.5
    assert limiter.take(1) == 0.0
    assert limiter.take(1) > 0


def test_the_heap_of_a_started_gateway_is_out_of_the_full_collections(
    sqlite_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # a full collection walked the ~150,000 objects the imports leave for 100-130 ms, every
    # request in flight waiting (p99 ~115 ms against 20-35 ms); started, the gateway has them
    # in the permanent generation. In a process of its own: the freeze is once per process.
    import subprocess
    import sys

    code = (
        "import gc\n"
        "from fastapi.testclient import TestClient\n"
        "from api.app import create_app\n"
        "from crm.settings import Settings\n"
        f"app = create_app(Settings(data_dir={str(tmp_path)!r}, secret_key='s'),"
        f" database_url={sqlite_url!r})\n"
        "before = gc.get_freeze_count()\n"
        "with TestClient(app) as c:\n"
        "    assert c.get('/health').status_code == 200\n"
        "    print(before, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    before, frozen, walked = map(int, out.stdout.split())
    assert before == 0
    assert frozen > 50_000
    assert walked * 5 < frozen  # what a full collection still walks
