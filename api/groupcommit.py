"""Group commit of intake events: many requests, one transaction, each answered after it.

A request hands its event to :class:`IntakeWriter` and waits; a writer thread (one on
SQLite, two on PostgreSQL) takes whatever is queued at that moment (no fixed wait window: under light load a batch is one
event, under heavy load it is everything that arrived during the previous commit), stores
the batch in one transaction with idempotency records sorted by key (two gateways
inserting overlapping keys in different orders would deadlock), commits, and only then
answers every request in it. So an acknowledged event is durable, and a commit costs one
fsync per batch instead of one per request. A writer keeps its connection, inserts the
batch's events with one executemany and looks its idempotency keys up with one cached
statement per API key.

Idempotency inside the writer: a key already stored replays its first response (or 409
with another body); the same key twice in one batch stores one event and answers both.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError

from crm.models.gateway import IdempotencyRecord, IntakeEvent

__all__ = ["IntakeWriter", "Pending", "Stored"]

EVENTS = cast(Table, IntakeEvent.__table__)
RECORDS = cast(Table, IdempotencyRecord.__table__)


@dataclass(frozen=True)
class Stored:
    """What a request gets back: the status code, the body, whether it was a replay."""

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass
class Pending:
    """One event waiting for the writer."""

    kind: str
    external_id: str
    source: str
    channel: str | None
    payload: str
    key_id: int
    idempotency_key: str | None
    request_sha256: str
    path: str
    future: Future[Stored] = field(default_factory=Future)


class IntakeWriter:
    """The writer thread(s) of one gateway process (started on first use).

    ``threads`` writers take batches from one queue. SQLite has one writer at a time, so
    one thread; PostgreSQL commits several transactions at once (one WAL flush for them),
    so two threads keep a second batch committing while the first waits for its flush.

    A batch is what is queued when the writer looks. Under load (more than one event
    waiting) it keeps taking while events keep coming, each ``pause_s`` bringing at least
    one, for at most ``settle_s``: the clients answered by the last commit are sending
    their next events just then, and one batch of them commits once instead of twice.
    An idle gateway never waits (a lone event is written at once).
    """

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], dt.datetime],
        max_batch: int = 2_000,
        threads: int | None = None,
        settle_s: float = 0.002,
        pause_s: float = 0.0003,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.max_batch = max_batch
        self.settle_s = settle_s
        self.pause_s = pause_s
        self.threads = threads or (2 if engine.dialect.name == "postgresql" else 1)
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # each writer thread's connection, kept between batches

    async def submit(self, item: Pending) -> Stored:
        """Queue ``item`` and wait until its batch is committed."""
        if not self._workers:
            self._start()
        self._queue.put(item)
        return await asyncio.wrap_future(item.future)

    def _start(self) -> None:
        with self._lock:
            if not self._workers:
                for n in range(self.threads):
                    thread = threading.Thread(
                        target=self._run, name=f"intake-writer-{n}", daemon=True
                    )
                    thread.start()
                    self._workers.append(thread)

    def stop(self) -> None:
        """Finish what is queued and stop the threads."""
        with self._lock:
            workers, self._workers = self._workers, []
        for _ in workers:
            self._queue.put(None)
        for thread in workers:
            thread.join(30)

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:  # opening a SQLite connection costs more than a small batch
            conn = self._local.conn = self.engine.connect()
        return conn

    def _drop_connection(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                conn.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._drop_connection()
                return
            batch = [first]
            stop = False
            deadline = time.monotonic() + self.settle_s
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    # under load (more than one waiting) give the loop a moment to hand
                    # over what it is parsing; stop as soon as a pause brings nothing
                    if len(batch) == 1 or time.monotonic() > deadline:
                        break
                    try:
                        item = self._queue.get(timeout=self.pause_s)
                    except queue.Empty:
                        break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                self._drop_connection()
                return

    def _write(self, batch: list[Pending]) -> None:
        try:
            answers = self._store(batch)
        except IntegrityError:
            # another gateway process stored one of these keys meanwhile: one by one
            answers = {}
            for item in batch:
                try:
                    answers.update(self._store([item]))
                except Exception as exc:  # answered as a failure, never left waiting
                    self._drop_connection()
                    item.future.set_exception(exc)
        except Exception as exc:
            self._drop_connection()  # a database error may have broken it: a fresh one next
            for item in batch:
                item.future.set_exception(exc)
            return
        for item in batch:
            if not item.future.done():
                item.future.set_result(answers[id(item)])

    def _store(self, batch: list[Pending]) -> dict[int, Stored]:
        received = self.clock()
        answers: dict[int, Stored] = {}
        keyed = sorted(
            (i for i in batch if i.idempotency_key),
            key=lambda i: (i.key_id, i.idempotency_key or ""),
        )
        conn = self._connection()
        with conn.begin():
            known = _known(conn, keyed)
            first_of: dict[tuple[int, str], Pending] = {}
            fresh: list[Pending] = []
            for item in batch:
                pair = (item.key_id, item.idempotency_key or "")
                if item.idempotency_key and pair in known:
                    digest, code, body = known[pair]
                    answers[id(item)] = _replay(item, digest, code, json.loads(body))
                elif item.idempotency_key and pair in first_of:
                    continue  # answered from the first of the batch below
                else:
                    if item.idempotency_key:
                        first_of[pair] = item
                    fresh.append(item)
            if fresh:
                ids = _insert_events(
                    conn,
                    [
                        {
                            "kind": i.kind,
                            "external_id": i.external_id,
                            "source": i.source,
                            "channel": i.channel,
                            "payload": i.payload,
                            "key_id": i.key_id,
                            "received_at": received,
                            "status": "accepted",
                        }
                        for i in fresh
                    ],
                )
                for item, intake_id in zip(fresh, ids, strict=True):
                    answers[id(item)] = Stored(
                        202,
                        {
                            "intake_id": int(intake_id),
                            "kind": item.kind,
                            "external_id": item.external_id,
                            "status": "accepted",
                            "received_at": received.isoformat().replace("+00:00", "Z"),
                        },
                    )
                records = [
                    {
                        "key_id": i.key_id,
                        "idempotency_key": i.idempotency_key,
                        "method": "POST",
                        "path": i.path[:255],
                        "request_sha256": i.request_sha256,
                        "status_code": 202,
                        "response": json.dumps(answers[id(i)].body, ensure_ascii=False),
                        "created_at": received,
                    }
                    for i in sorted(
                        (i for i in fresh if i.idempotency_key),
                        key=lambda i: (i.key_id, i.idempotency_key or ""),
                    )
                ]
                if records:
                    conn.execute(insert(RECORDS), records)
        for item in batch:  # later copies of a key within the batch
            if id(item) not in answers:
                first = first_of[(item.key_id, item.idempotency_key or "")]
                answers[id(item)] = _replay(
                    item, first.request_sha256, 202, answers[id(first)].body
                )
        return answers


_KNOWN = select(
    RECORDS.c.idempotency_key, RECORDS.c.request_sha256, RECORDS.c.status_code, RECORDS.c.response
).where(
    RECORDS.c.key_id == bindparam("b_key"),
    RECORDS.c.idempotency_key.in_(bindparam("b_values", expanding=True)),
)
_CHUNK = 900  # bound values per lookup, under every SQLite build's limit


def _known(conn: Connection, keyed: list[Pending]) -> dict[tuple[int, str], tuple[str, int, str]]:
    """The stored first responses of the batch's keys: (key id, key) -> (hash, code, body).

    One statement per API key in the batch (usually one), the same compiled one each time.
    """
    by_key: dict[int, list[str]] = {}
    for item in keyed:
        by_key.setdefault(item.key_id, []).append(item.idempotency_key or "")
    known: dict[tuple[int, str], tuple[str, int, str]] = {}
    for key_id, values in sorted(by_key.items()):
        unique = sorted(set(values))
        for start in range(0, len(unique), _CHUNK):
            rows = conn.execute(
                _KNOWN, {"b_key": key_id, "b_values": unique[start : start + _CHUNK]}
            )
            for value, digest, code, body in rows:
                known[(key_id, str(value))] = (str(digest), int(code), str(body))
    return known


def _insert_events(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` with one executemany; returns their ids in the rows' order.

    ``INSERT … RETURNING`` with the ids in parameter order runs row by row on SQLite, so
    the ids come another way: on PostgreSQL they are drawn from the column's sequence
    first; on SQLite the batch holds the write lock from its first insert to its commit,
    so its rows get consecutive rowids ending at ``last_insert_rowid()``.
    """
    if conn.dialect.name == "postgresql":
        ids = sorted(
            int(i)
            for i in conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('intake_events', 'intake_id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": len(rows)},
            ).scalars()
        )
        conn.execute(
            insert(EVENTS), [{**row, "intake_id": i} for row, i in zip(rows, ids, strict=True)]
        )
        return ids
    conn.execute(insert(EVENTS), rows)
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    return list(range(last - len(rows) + 1, last + 1))


def _replay(item: Pending, digest: str, code: int, body: dict[str, Any]) -> Stored:
    if digest != item.request_sha256:
        return Stored(
            409, {"detail": "Idempotency-Key was already used for a different request body"}
        )
    return Stored(code, body, replayed=True)
