"""Group commit of intake events: many requests, one transaction, each answered after it.

A request hands its event to :class:`IntakeWriter` and waits; a writer thread (one on
SQLite, two on PostgreSQL) takes whatever is queued at that moment (no fixed wait window:
under light load a batch is one event, under heavy load it is everything that arrived
during the previous commit), stores the batch in one transaction, commits, and only then
answers every request in it, with one call into the event loop per batch. So an
acknowledged event is durable, and a commit costs one flush per batch, not per request.

A batch is a few statements, whatever its size, with its rows passed as one JSON value
(``json_each`` on SQLite, ``json_to_recordset`` on PostgreSQL): a row-by-row executemany
releases and retakes the GIL once per row, and under load each retake waits for the event
loop thread's switch interval. On PostgreSQL the whole batch is one statement in its own
transaction (one round trip): idempotency records inserted ``ON CONFLICT DO NOTHING`` in
key order (two gateways inserting overlapping keys in one order cannot deadlock), then
the events whose key was claimed; a key stored before, by this process or another one,
is the database's unique key's to refuse, so several gateway processes may share a
database. On SQLite the batch takes the write lock first (``BEGIN IMMEDIATE``), so its
lookup of known keys and its inserts see one state.

On SQLite a commit's cost is its fsyncs, not its statements: measured on this machine's
disk, a batch of 60 events spends 1.5-2.5 ms in its statements and 15-28 ms on average in
its commit, with a tail past 130 ms when other work writes to the same disk. The database
stays in rollback-journal (DELETE) mode (:mod:`crm.store` keeps it so on purpose), and the
writer's own connection sets ``PRAGMA synchronous`` (``CRM_API_SQLITE_SYNCHRONOUS``, which
touches no other connection). What each setting guarantees, in the words of SQLite's
documentation of that pragma, and the fsyncs of one commit counted here with ``strace``:

- any setting: an acknowledged event survives the gateway's process being killed
  (``kill -9``, a crash): COMMIT returns after its pages are written to the operating
  system, and "transactions are durable across application crashes regardless of the
  synchronous setting or journal mode";
- ``EXTRA`` (5 fsyncs): FULL, and "the directory containing a rollback journal is synced
  after that journal is unlinked to commit a transaction in DELETE mode", which "provides
  additional durability if the commit is followed closely by a power loss": the only
  setting under which no acknowledged event can be rolled back by an OS crash or power loss;
- ``FULL`` (4, SQLite's default and the gateway's): "all content is safely written to the
  disk surface prior to continuing", so an OS crash or power failure "will not corrupt the
  database";
  the journal's removal, which is the commit, is not synced, so the last commits before a
  power loss may still be rolled back;
- ``NORMAL`` (3): syncs "at the most critical moments, but less often than in FULL mode"
  (the journal once instead of twice); the last commits before a
  power loss may be rolled back as under FULL, and SQLite warns of "a very small (though
  non-zero) chance that a power failure at just the wrong time could corrupt the database
  in journal_mode=DELETE on an older filesystem";
- ``OFF`` (0): the commit is handed to the OS and not synced; after an OS crash or power
  loss acknowledged events may be gone and the database file (the whole CRM base, not
  only the intake table) "might become corrupted".

Measured through the gateway (``bench_intake --sqlite-synchronous``, three alternated
rounds under the bench lock at load 3-4.5): OFF gave 1.35-2.9 times the accepted events
of FULL; NORMAL and EXTRA were within the rounds' noise of FULL. So the default stays
FULL: NORMAL's one fsync less bought nothing measurable for its weaker guarantee, and OFF
is a choice about the whole base's safety across a power loss, for whoever runs it.

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
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Dialect, Engine, Table
from sqlalchemy.exc import IntegrityError

from crm.models.base import UTCDateTime
from crm.models.gateway import IntakeEvent

__all__ = ["IntakeWriter", "Pending", "Stored"]

EVENTS = cast(Table, IntakeEvent.__table__)
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


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
    waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[Stored]] | None = field(
        default=None, repr=False
    )


Origin = tuple[str, int, dict[str, Any]]
"""The first request of an idempotency key: its body's hash, status code and answer."""


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

    ``sqlite_synchronous`` is the writer's ``PRAGMA synchronous`` on SQLite (see the
    module's docstring for what each value guarantees); PostgreSQL ignores it.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], dt.datetime],
        max_batch: int = 2_000,
        threads: int | None = None,
        settle_s: float = 0.002,
        pause_s: float = 0.0003,
        sqlite_synchronous: str = "FULL",
    ) -> None:
        if sqlite_synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(
                f"sqlite_synchronous={sqlite_synchronous!r}: use one of {', '.join(_SYNCHRONOUS)}"
            )
        self.sqlite_synchronous = sqlite_synchronous.upper()
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
        loop = asyncio.get_running_loop()
        item.waiter = (loop, loop.create_future())
        self._queue.put(item)
        return await item.waiter[1]

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
            conn = self.engine.connect()
            if conn.dialect.name == "postgresql":  # each batch is one statement: its own commit
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            else:  # this connection's fsyncs per commit (see the module's docstring)
                conn.exec_driver_sql(f"PRAGMA synchronous={self.sqlite_synchronous}")
                conn.commit()
            self._local.conn = conn
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
        outcomes: list[Stored | BaseException]
        try:
            answers = self._store(batch)
            outcomes = [answers[id(item)] for item in batch]
        except IntegrityError:
            # another gateway process stored one of these keys meanwhile: one by one
            outcomes = []
            for item in batch:
                try:
                    outcomes.append(self._store([item])[id(item)])
                except Exception as exc:  # answered as a failure, never left waiting
                    self._drop_connection()
                    outcomes.append(exc)
        except Exception as exc:
            self._drop_connection()  # a database error may have broken it: a fresh one next
            outcomes = [exc] * len(batch)
        _answer(batch, outcomes)

    def _store(self, batch: list[Pending]) -> dict[int, Stored]:
        """Store ``batch`` in one transaction; the answer of each item by ``id(item)``."""
        received = self.clock()
        stamp = received.isoformat().replace("+00:00", "Z")
        first_of: dict[tuple[int, str], Pending] = {}
        fresh: list[Pending] = []
        for item in batch:
            pair = (item.key_id, item.idempotency_key or "")
            if item.idempotency_key is None or first_of.setdefault(pair, item) is item:
                fresh.append(item)  # in arrival order: the events' ids follow it
        conn = self._connection()
        store = _store_postgresql if conn.dialect.name == "postgresql" else _store_sqlite
        answers, origin = store(conn, fresh, received, stamp)
        for item in batch:  # later copies of a key within the batch
            if id(item) not in answers:
                pair = (item.key_id, item.idempotency_key or "")
                first = origin.get(pair)  # None: the first copy's answer could not be read
                answers[id(item)] = _replay(item, *first) if first else answers[id(first_of[pair])]
        return answers


def _answer(batch: list[Pending], outcomes: list[Stored | BaseException]) -> None:
    """Hand each waiting request its outcome: one call into each event loop per batch.

    A thread-safe wake-up per request (what ``asyncio.wrap_future`` does) costs the loop a
    callback and the writer a GIL hand-over each; one per batch is enough.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Stored], Any]]] = {}
    for item, outcome in zip(batch, outcomes, strict=True):
        if item.waiter is not None:
            loop, future = item.waiter
            by_loop.setdefault(loop, []).append((future, outcome))
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, pairs)


def _settle(pairs: list[tuple[asyncio.Future[Stored], Stored | BaseException]]) -> None:
    for future, outcome in pairs:
        if future.done():  # the request was cancelled (the client went away)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _accepted(item: Pending, intake_id: int, stamp: str) -> Stored:
    return Stored(
        202,
        {
            "intake_id": intake_id,
            "kind": item.kind,
            "external_id": item.external_id,
            "status": "accepted",
            "received_at": stamp,
        },
    )


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _micros(when: dt.datetime, dialect: Dialect) -> Any:
    """An instant as the ``received_at`` column stores it on ``dialect``."""
    return cast(UTCDateTime, EVENTS.c.received_at.type).process_bind_param(when, dialect)


# SQLite: a handful of statements per batch, each one step of the engine. The rows go in
# as one JSON parameter: a row-by-row executemany would release and retake the GIL once
# per row, and under load each retake waits for the event loop's switch interval.
_SQLITE_KNOWN = (
    "SELECT idempotency_key, request_sha256, status_code, response FROM idempotency_records "
    "WHERE key_id = ? AND idempotency_key IN (SELECT value FROM json_each(?))"
)
_SQLITE_EVENTS = (
    "INSERT INTO intake_events "
    "(intake_id, kind, external_id, source, channel, payload, key_id, received_at, status) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), "
    "json_extract(value, '$[5]'), json_extract(value, '$[6]'), ?, 'accepted' "
    "FROM json_each(?) ORDER BY key"
)
_SQLITE_RECORDS = (
    "INSERT INTO idempotency_records "
    "(key_id, idempotency_key, method, path, request_sha256, status_code, response, created_at) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 'POST', "
    "json_extract(value, '$[2]'), json_extract(value, '$[3]'), 202, "
    "json_extract(value, '$[4]'), ? FROM json_each(?) ORDER BY key"
)


def _store_sqlite(
    conn: Connection, fresh: list[Pending], received: dt.datetime, stamp: str
) -> tuple[dict[int, Stored], dict[tuple[int, str], Origin]]:
    """One write transaction (taken at once: the lookup and the inserts see one state)."""
    answers: dict[int, Stored] = {}
    origin: dict[tuple[int, str], Origin] = {}
    at = _micros(received, conn.dialect)
    with conn.begin():
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        keyed: dict[int, list[str]] = {}
        for item in fresh:
            if item.idempotency_key is not None:
                keyed.setdefault(item.key_id, []).append(item.idempotency_key)
        known: dict[tuple[int, str], tuple[str, int, str]] = {}
        for key_id, values in keyed.items():
            rows = conn.exec_driver_sql(_SQLITE_KNOWN, (key_id, _json(values)))
            for value, digest, code, body in rows:
                known[(key_id, str(value))] = (str(digest), int(code), str(body))
        new: list[Pending] = []
        for item in fresh:
            pair = (item.key_id, item.idempotency_key or "")
            hit = known.get(pair)
            if hit is not None and item.idempotency_key is not None:
                origin[pair] = (hit[0], hit[1], json.loads(hit[2]))
                answers[id(item)] = _replay(item, *origin[pair])
            else:
                new.append(item)
        if not new:
            return answers, origin
        base = int(
            conn.exec_driver_sql(
                "SELECT coalesce(max(intake_id), 0) FROM intake_events"
            ).scalar_one()
        )
        events: list[tuple[Any, ...]] = []
        records: list[tuple[Any, ...]] = []
        for n, item in enumerate(new, start=base + 1):
            answer = answers[id(item)] = _accepted(item, n, stamp)
            events.append(
                (
                    n,
                    item.kind,
                    item.external_id,
                    item.source,
                    item.channel,
                    item.payload,
                    item.key_id,
                )
            )
            if item.idempotency_key is not None:
                origin[(item.key_id, item.idempotency_key)] = (
                    item.request_sha256,
                    202,
                    answer.body,
                )
                records.append(
                    (
                        item.key_id,
                        item.idempotency_key,
                        item.path[:255],
                        item.request_sha256,
                        _json(answer.body),
                    )
                )
        conn.exec_driver_sql(_SQLITE_EVENTS, (at, _json(events)))
        if records:
            conn.exec_driver_sql(_SQLITE_RECORDS, (at, _json(records)))
    return answers, origin


# PostgreSQL: the whole batch is one statement in its own transaction (one round trip, one
# commit). Idempotency rests on the records' unique key: a key claimed by an earlier batch
# or by another gateway process (ON CONFLICT waits for that one's commit) is not stored
# again; its first answer is read after the statement.
_PG_STORE = """
WITH batch AS (
    SELECT b.*, nextval(pg_get_serial_sequence('intake_events', 'intake_id')) AS intake_id
    FROM json_to_recordset(CAST(%(rows)s AS json)) AS b(
        n int, kind text, external_id text, source text, channel text, payload text,
        key_id bigint, idem text, sha text, path text)
    ORDER BY b.n
),
claimed AS (
    INSERT INTO idempotency_records
        (key_id, idempotency_key, method, path, request_sha256, status_code, response, created_at)
    SELECT key_id, idem, 'POST', path, sha, 202,
        json_build_object('intake_id', intake_id, 'kind', kind, 'external_id', external_id,
            'status', 'accepted', 'received_at', CAST(%(stamp)s AS text))::text,
        %(at)s
    FROM batch WHERE idem IS NOT NULL ORDER BY key_id, idem
    ON CONFLICT (key_id, idempotency_key) DO NOTHING
    RETURNING key_id, idempotency_key
),
stored AS (
    INSERT INTO intake_events
        (intake_id, kind, external_id, source, channel, payload, key_id, received_at, status)
    SELECT intake_id, kind, external_id, source, channel, payload, key_id, %(at)s, 'accepted'
    FROM batch b
    WHERE b.idem IS NULL OR EXISTS (
        SELECT 1 FROM claimed c WHERE c.key_id = b.key_id AND c.idempotency_key = b.idem)
    ORDER BY intake_id
    RETURNING intake_id
)
SELECT b.n, b.intake_id FROM batch b JOIN stored s ON s.intake_id = b.intake_id
"""
_PG_KNOWN = (
    "SELECT key_id, idempotency_key, request_sha256, status_code, response "
    "FROM idempotency_records WHERE key_id = ANY(%(keys)s) AND idempotency_key = ANY(%(values)s)"
)


def _store_postgresql(
    conn: Connection, fresh: list[Pending], received: dt.datetime, stamp: str
) -> tuple[dict[int, Stored], dict[tuple[int, str], Origin]]:
    """One statement (its own transaction), then the first answers of keys seen before."""
    origin: dict[tuple[int, str], Origin] = {}
    if not fresh:
        return {}, origin
    rows = [
        {
            "n": n,
            "kind": i.kind,
            "external_id": i.external_id,
            "source": i.source,
            "channel": i.channel,
            "payload": i.payload,
            "key_id": i.key_id,
            "idem": i.idempotency_key,
            "sha": i.request_sha256,
            "path": i.path[:255],
        }
        for n, i in enumerate(fresh)
    ]
    at = _micros(received, conn.dialect)
    stored = conn.exec_driver_sql(_PG_STORE, {"rows": _json(rows), "stamp": stamp, "at": at}).all()
    answers: dict[int, Stored] = {}
    for n, intake_id in stored:
        item = fresh[n]
        answer = answers[id(item)] = _accepted(item, int(intake_id), stamp)
        if item.idempotency_key is not None:
            origin[(item.key_id, item.idempotency_key)] = (item.request_sha256, 202, answer.body)
    seen = [i for i in fresh if id(i) not in answers]
    if seen:
        try:
            known = {
                (int(k), str(v)): (str(d), int(c), str(b))
                for k, v, d, c, b in conn.exec_driver_sql(
                    _PG_KNOWN,
                    {
                        "keys": sorted({i.key_id for i in seen}),
                        "values": sorted({i.idempotency_key or "" for i in seen}),
                    },
                )
            }
        except Exception:
            # the batch is committed: its new events keep their 202; only the retries whose
            # first answer could not be read are told to retry (nothing of theirs was stored)
            known = {}
        for item in seen:
            pair = (item.key_id, item.idempotency_key or "")
            hit = known.get(pair)
            if hit is None:
                answers[id(item)] = Stored(503, {"detail": _UNREAD})
                continue
            origin[pair] = (hit[0], hit[1], json.loads(hit[2]))
            answers[id(item)] = _replay(item, *origin[pair])
    return answers, origin


_UNREAD = "the first response of this Idempotency-Key could not be read; retry with the same key"


def _replay(item: Pending, digest: str, code: int, body: dict[str, Any]) -> Stored:
    if digest != item.request_sha256:
        return Stored(
            409, {"detail": "Idempotency-Key was already used for a different request body"}
        )
    return Stored(code, body, replayed=True)
