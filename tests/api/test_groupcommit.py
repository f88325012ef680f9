"""Group commit: a batch is one transaction; the same key twice stores one event."""

from __future__ import annotations

import asyncio
import time

import pytest
from gateway_helpers import NOW
from sqlalchemy import Engine

from api.groupcommit import IntakeWriter, Pending, Stored
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


@pytest.mark.parametrize("writers", [1, 2])
def test_concurrent_requests_share_commits_and_keys_dedupe(db_url: str, writers: int) -> None:
    engine = make_engine(db_url)
    writer = IntakeWriter(engine, lambda: NOW, writers=writers)

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


def test_two_gateways_on_one_database_store_each_key_once(db_url: str) -> None:
    """Two writers (as two gateway processes) take overlapping keys at the same time."""
    engines = [make_engine(db_url), make_engine(db_url)]
    writers = [IntakeWriter(e, lambda: NOW) for e in engines]

    async def run() -> list:  # type: ignore[type-arg]
        first = [writers[0].submit(_item(n, f"k{n}")) for n in range(100)]
        second = [writers[1].submit(_item(n, f"k{n}")) for n in range(50, 150)]
        return await asyncio.gather(*first, *second)

    answers = asyncio.run(run())
    for writer in writers:
        writer.stop()
    for engine in engines:
        engine.dispose()
    events = store.read_frame(db_url, "intake_events")
    assert len(events) == 150 and events["external_id"].nunique() == 150  # k50..k99 once
    assert len(store.read_frame(db_url, "idempotency_records")) == 150
    by_first, by_second = answers[:100], answers[100:]
    for n in range(50, 100):  # both gateways answered the overlap with the one stored event
        a, b = by_first[n], by_second[n - 50]
        assert a.status_code == b.status_code == 202
        assert a.body["intake_id"] == b.body["intake_id"]
        assert a.replayed != b.replayed  # one stored it, the other replayed it
    assert sum(a.replayed for a in answers) == 50


def test_a_retry_whose_first_answer_cannot_be_read_is_told_to_retry(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL commits a batch before it reads the first answers of keys seen before."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite reads known keys inside the batch's transaction")
    import api.groupcommit

    engine = make_engine(db_url)
    writer = IntakeWriter(engine, lambda: NOW)

    async def send(*items: Pending) -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(writer.submit(i) for i in items))

    (first,) = asyncio.run(send(_item(1, "k1")))
    monkeypatch.setattr(api.groupcommit, "_PG_KNOWN", "SELECT no_such_column FROM intake_events")
    retried, again, new = asyncio.run(send(_item(1, "k1"), _item(1, "k1"), _item(2, "k2")))
    monkeypatch.undo()
    (later,) = asyncio.run(send(_item(1, "k1")))
    writer.stop()
    engine.dispose()
    assert retried.status_code == again.status_code == 503
    assert new.status_code == 202  # committed with the batch, answered as such
    assert later.status_code == 202 and later.replayed and later.body == first.body
    assert sorted(store.read_frame(db_url, "intake_events")["external_id"]) == ["a1", "a2"]


def test_the_writers_synchronous_setting_is_its_own_connections(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    writer = IntakeWriter(engine, lambda: NOW, sqlite_synchronous="off")
    own = writer._connection()  # the connection a writer thread keeps between batches
    assert own.exec_driver_sql("PRAGMA synchronous").scalar_one() == 0  # OFF
    with engine.connect() as other:  # every other connection keeps SQLite's FULL
        assert other.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2
    assert IntakeWriter(engine, lambda: NOW).sqlite_synchronous == "FULL"
    writer._drop_connection()
    engine.dispose()
    with pytest.raises(ValueError, match="'sometimes': use one of OFF, NORMAL, FULL, EXTRA"):
        IntakeWriter(engine, lambda: NOW, sqlite_synchronous="sometimes")


def test_a_batch_written_with_synchronous_off_is_there_for_a_new_connection(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    writer = IntakeWriter(engine, lambda: NOW, sqlite_synchronous="OFF")

    async def run() -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(writer.submit(_item(n, f"k{n}")) for n in range(30)))

    answers = asyncio.run(run())
    writer.stop()
    engine.dispose()
    assert [a.status_code for a in answers] == [202] * 30
    assert sorted(a.body["intake_id"] for a in answers) == list(range(1, 31))
    assert len(store.read_frame(sqlite_url, "intake_events")) == 30


def _wait_for_a_blocked_statement(engine: Engine) -> None:
    """Until a statement of this database waits for a lock (a batch held by another's key)."""
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("no batch ever waited for the held key")


def test_batches_in_flight_overlap_and_keep_keys_and_order(db_url: str) -> None:
    """PostgreSQL: a batch held up does not hold up the next; a key is stored once across both."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one write lock: one batch at a time")
    engine = make_engine(db_url)
    writer = IntakeWriter(engine, lambda: NOW)
    assert writer.writers == 2
    blocker = engine.connect()  # another transaction holds key 'slow' until it rolls back
    blocker.exec_driver_sql(
        "INSERT INTO idempotency_records (key_id, idempotency_key, method, path, "
        "request_sha256, status_code, response, created_at) "
        "VALUES (1, 'slow', 'POST', '/v1/activities', 'd', 202, '{}', now())"
    )

    async def run() -> tuple[Stored, Stored, Stored]:
        first = asyncio.ensure_future(writer.submit(_item(1, "slow")))
        await asyncio.to_thread(_wait_for_a_blocked_statement, engine)
        other = await writer.submit(_item(2, "k2"))  # on the second connection meanwhile
        assert not first.done()
        retry = asyncio.ensure_future(writer.submit(_item(1, "slow")))  # the same key again
        await asyncio.sleep(0.2)
        assert not retry.done()
        blocker.rollback()  # one of the two batches stores 'slow', the other replays it
        return await first, other, await retry

    first, other, retry = asyncio.run(run())
    writer.stop()
    blocker.close()
    engine.dispose()
    assert first.status_code == other.status_code == retry.status_code == 202
    # whichever of the two got the key once the blocker let go stored it; the other one
    # waited for that commit and answers with its first response
    assert first.replayed != retry.replayed and retry.body == first.body
    events = store.read_frame(db_url, "intake_events")
    assert sorted(events["external_id"]) == ["a1", "a2"]
    stored = dict(zip(events["external_id"], events["intake_id"], strict=True))
    assert stored["a1"] == first.body["intake_id"] and stored["a2"] == other.body["intake_id"]
    assert len(store.read_frame(db_url, "idempotency_records")) == 2


def test_closing_the_writer_answers_what_is_in_flight(db_url: str) -> None:
    engine = make_engine(db_url)
    writer = IntakeWriter(engine, lambda: NOW)

    async def run() -> list[Stored]:
        waiting = [asyncio.ensure_future(writer.submit(_item(n, f"k{n}"))) for n in range(40)]
        await asyncio.sleep(0)  # every one queued, the first batch taken
        await writer.aclose()
        return await asyncio.gather(*waiting)

    answers = asyncio.run(run())
    engine.dispose()
    assert [a.status_code for a in answers] == [202] * 40
    assert sorted(a.body["intake_id"] for a in answers) == list(range(1, 41))
    assert writer._pipelines == {} and writer._workers == []
