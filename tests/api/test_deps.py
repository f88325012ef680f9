"""The gateway's key cache: looked up again ahead of expiry, never used past it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from gateway_helpers import NOW, make_keys

import api.deps
from api.app import create_app
from api.keys import KeyInfo, revoke_key
from crm.db import make_engine, session_scope
from crm.settings import Settings


def test_a_key_past_half_its_life_is_refreshed_without_making_a_request_wait(
    db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = make_keys(db_url)["intake"]
    state = create_app(settings, database_url=db_url, key_cache_s=2.0).state.gateway
    lookups: list[float] = []
    release = threading.Event()
    real = api.deps.lookup_key

    def slow_lookup(session, key):  # type: ignore[no-untyped-def]
        lookups.append(time.monotonic())
        if len(lookups) > 1:
            release.wait(10)  # the refresh hangs until the test lets it go
        return real(session, key)

    monkeypatch.setattr(api.deps, "lookup_key", slow_lookup)

    async def run() -> tuple[KeyInfo | None, KeyInfo | None, float, KeyInfo | None]:
        first = await state.key_async(plain)  # nothing cached: waited for
        await asyncio.sleep(1.2)  # past half of the 2 s
        start = time.monotonic()
        during = await state.key_async(plain)  # the cached key; its refresh starts and hangs
        took = time.monotonic() - start
        await asyncio.sleep(0.2)
        assert len(lookups) == 2 and not release.is_set()  # the refresh is hanging
        engine = make_engine(db_url)
        with session_scope(engine) as session:
            revoke_key(session, first.key_id if first else 0, NOW)
        engine.dispose()
        release.set()
        await asyncio.sleep(0.3)  # the refresh reads the revocation
        return first, during, took, await state.key_async(plain)

    first, during, took, after = asyncio.run(run())
    assert first is not None and first.scopes == frozenset({"intake"})
    assert during == first and took < 1  # answered from the cache, not after the 10 s hang
    assert len(lookups) == 2  # one refresh for every request past half-life, not one each
    assert after is None  # the refreshed entry says revoked
