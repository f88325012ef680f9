"""Group commit: a batch is one transaction; the same key twice stores one event."""

from __future__ import annotations

import asyncio

import pytest
from gateway_helpers import NOW

from api.groupcommit import IntakeWriter, Pending
from crm import store
from crm.db import make_engine


def _item(n: int, key: str | None, digest: str = "d") -> Pending:
    return Pending(
        kind="activity",
        external_id=f"a{n}",
        source="app",
        channel=None,
        payload="{}",
        key_id=1,
        idempotency_key=key,
        request_sha256=digest,
        path="/v1/activities",
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_concurrent_requests_share_commits_and_keys_dedupe(db_url: str, threads: int) -> None:
    engine = make_engine(db_url)
    writer = IntakeWriter(engine, lambda: NOW, threads=threads)

    async def run() -> list:  # type: ignore[type-arg]
        items = [_item(n, f"k{n % 50}") for n in range(200)] + [_item(999, None)]
        items.append(_item(1000, "k1", digest="other"))  # k1 again with another body
        return await asyncio.gather(*(writer.submit(i) for i in items))

    answers = asyncio.run(run())
    writer.stop()
    engine.dispose()
    events = store.read_frame(db_url, "intake_events")
    assert len(events) == 51  # 50 keys + the one without a key
    assert sorted(events["external_id"])[:3] == ["a0", "a1", "a10"]
    by_key: dict[str, set[int]] = {}
    for n in range(200):
        by_key.setdefault(f"k{n % 50}", set()).add(answers[n].body["intake_id"])
    assert all(len(ids) == 1 for ids in by_key.values())  # every retry got the first answer
    assert sum(a.replayed for a in answers[:200]) == 150
    assert answers[201].status_code == 409
    records = store.read_frame(db_url, "idempotency_records")
    assert len(records) == 50
    # each answer's intake_id is the row of its own event (ids of a batch's one executemany)
    stored = dict(zip(events["intake_id"], events["external_id"], strict=True))
    for n in range(200):
        assert stored[answers[n].body["intake_id"]] in {f"a{m}" for m in range(n % 50, 200, 50)}
    assert stored[answers[200].body["intake_id"]] == "a999"
