"""Group commit of intake events: many requests, one transaction, each answered after it.

A request hands its event to :class:`IntakeWriter` and waits; the writer takes whatever is
queued when it is free (no fixed wait window: under light load a batch is one event, under
heavy load it is everything that arrived during the previous commit), stores the batch in
one transaction, commits, and only then answers every request in it. So an acknowledged
event is durable, and a commit costs one flush per batch, not per request.

On PostgreSQL the batches are written from the event loop itself, on asynchronous psycopg
connections, and two of them are in flight at once: while one batch waits for its commit
(its WAL flush on a durable server) the next one forms and is sent on the other connection,
and the one after that forms while both are out. No thread is involved. It used to be two
writer threads, each batch taking the GIL back from the busy event loop several times (woken
by the queue, back from each socket wait), and a thread asking for the GIL waits up to the
interpreter's switch interval (5 ms) each time; with one gateway process the slowest 1%
waited 60 ms for a batch. Measured in alternated rounds (``bench/results/intake.md``, one
process, fsync-off server): p99 32-83 ms against 40-131 ms for the threads; a shorter switch
interval for the threads was not conclusive, so the GIL is the likely, not a proven, cause.

On SQLite there is one write lock and the driver blocks, so one writer thread takes the
batches from a queue, and answers each batch's requests with one call into their event
loop.

A batch is a few statements, whatever its size, with its rows passed as one JSON value
(``json_each`` on SQLite, ``json_to_recordset`` on PostgreSQL): a row-by-row executemany
releases and retakes the GIL once per row, and under load each retake waits for the event
loop thread's switch interval. On PostgreSQL the whole batch is one statement in its own
transaction (one round trip): idempotency records inserted ``ON CONFLICT DO NOTHING`` in
key order (two batches inserting overlapping keys in one order cannot deadlock), then
the events whose key was claimed; a key stored before, by an earlier batch still
committing, by this process or by another one, is the database's unique key's to refuse
(``ON CONFLICT`` waits for the batch that holds it to commit), so batches may overlap and
several gateway processes may share a database. On SQLite the batch takes the write lock
first (``BEGIN IMMEDIATE``), so its lookup of known keys and its inserts see one state.

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
from typing import TYPE_CHECKING, Any, cast

import orjson
from sqlalchemy import Connection, Dialect, Engine, Table
from sqlalchemy.exc import IntegrityError

from crm.db import connect_async
from crm.models.base import UTCDateTime
from crm.models.gateway import IntakeEvent

if TYPE_CHECKING:
    from crm.db import AsyncConnection

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
    """The group-commit writer of one gateway process (started on first use).

    On PostgreSQL up to ``writers`` batches (default 2) are in flight at once, each on its
    own asynchronous connection of the event loop that submitted it (:class:`_Pipeline`):
    a batch is everything submitted while no connection was free, taken at the end of the
    loop turn in which one became free (so the requests parsed in that turn join it).

    On SQLite ``writers`` threads (default 1: one write lock) take the batches from a
    queue. Under load (more than one event waiting) a thread keeps taking while events
    keep coming, each ``pause_s`` bringing at least one, for at most ``settle_s``: the
    clients answered by the last commit are sending their next events just then, and one
    batch of them commits once instead of twice. An idle gateway never waits (a lone event
    is written at once) on either database.

    ``sqlite_synchronous`` is the writer's ``PRAGMA synchronous`` on SQLite (see the
    module's docstring for what each value guarantees); PostgreSQL ignores it.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], dt.datetime],
        max_batch: int = 2_000,
        writers: int | None = None,
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
        self.pipelined = engine.dialect.name == "postgresql"
        self.writers = writers or (2 if self.pipelined else 1)
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # each writer thread's connection, kept between batches
        self._pipelines: dict[asyncio.AbstractEventLoop, _Pipeline] = {}

    async def submit(self, item: Pending) -> Stored:
        """Queue ``item`` and wait until its batch is committed."""
        loop = asyncio.get_running_loop()
        item.waiter = (loop, loop.create_future())
        if self.pipelined:
            pipeline = self._pipelines.get(loop)
            if pipeline is None:
                pipeline = self._pipelines[loop] = _Pipeline(self, loop)
            pipeline.put(item)
        else:
            if not self._workers:
                self._start()
            self._queue.put(item)
        return await item.waiter[1]

    def _start(self) -> None:
        with self._lock:
            if not self._workers:
                for n in range(self.writers):
                    thread = threading.Thread(
                        target=self._run, name=f"intake-writer-{n}", daemon=True
                    )
                    thread.start()
                    self._workers.append(thread)

    async def aclose(self) -> None:
        """Wait for this loop's batches in flight, close its connections, then :meth:`stop`."""
        pipeline = self._pipelines.pop(asyncio.get_running_loop(), None)
        if pipeline is not None:
            await pipeline.aclose()
        self.stop()

    def stop(self) -> None:
        """Finish what is queued and stop the threads; close the idle connections."""
        with self._lock:
            workers, self._workers = self._workers, []
            pipelines, self._pipelines = list(self._pipelines.values()), {}
        for _ in workers:
            self._queue.put(None)
        for thread in workers:
            thread.join(30)
        for pipeline in pipelines:  # their loops have ended: nothing is in flight any more
            pipeline.discard_idle()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:  # opening a SQLite connection costs more than a small batch
            conn = self.engine.connect()
            # this connection's fsyncs per commit (see the module's docstring)
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
        """Store ``batch`` in one SQLite transaction; the answer of each item by ``id(item)``."""
        received = self.clock()
        stamp = _stamp(received)
        first_of, fresh = _first_copies(batch)
        conn = self._connection()
        answers, origin = _store_sqlite(conn, fresh, received, stamp)
        return _with_copies(batch, first_of, answers, origin)


class _Pipeline:
    """One event loop's PostgreSQL batches: up to ``writer.writers`` in flight at once.

    Everything runs on the loop: the batch is taken, sent on an idle asynchronous
    connection (or a new one), and its requests are answered when its statement returns,
    without a thread or a GIL hand-over. A connection that failed is closed, not reused.
    """

    def __init__(self, writer: IntakeWriter, loop: asyncio.AbstractEventLoop) -> None:
        self.writer = writer
        self.loop = loop
        self.queued: list[Pending] = []
        self.idle: list[AsyncConnection] = []
        self.in_flight = 0
        self.flushing = False
        self.tasks: set[asyncio.Task[None]] = set()

    def put(self, item: Pending) -> None:
        """Queue ``item`` for the next batch."""
        self.queued.append(item)
        self._schedule()

    def _schedule(self) -> None:
        # called soon, not now: the requests resumed in this loop turn join the batch
        if not self.flushing and self.queued and self.in_flight < self.writer.writers:
            self.flushing = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flushing = False
        while self.queued and self.in_flight < self.writer.writers:
            batch = self.queued[: self.writer.max_batch]
            del self.queued[: len(batch)]
            self.in_flight += 1
            task = self.loop.create_task(self._commit(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _commit(self, batch: list[Pending]) -> None:
        try:
            outcomes = await self._outcomes(batch)
        finally:
            self.in_flight -= 1
            self._schedule()
        _settle(
            [(item.waiter[1], o) for item, o in zip(batch, outcomes, strict=True) if item.waiter]
        )

    async def _outcomes(self, batch: list[Pending]) -> list[Stored | BaseException]:
        try:
            answers = await self._store(batch)
            return [answers[id(item)] for item in batch]
        except Exception as exc:
            if not _integrity_error(exc) or len(batch) == 1:
                return [exc] * len(batch)
            outcomes: list[Stored | BaseException] = []
            for item in batch:  # one of them is at fault: each one alone
                try:
                    outcomes.append((await self._store([item]))[id(item)])
                except Exception as alone:  # answered as a failure, never left waiting
                    outcomes.append(alone)
            return outcomes

    async def _store(self, batch: list[Pending]) -> dict[int, Stored]:
        """Store ``batch`` in one statement; the answer of each item by ``id(item)``."""
        received = self.writer.clock()
        stamp = _stamp(received)
        first_of, fresh = _first_copies(batch)
        conn = self.idle.pop() if self.idle else None
        try:
            if conn is None:
                conn = await connect_async(self.writer.engine)
            at = _micros(received, self.writer.engine.dialect)
            answers, origin = await _store_postgresql(conn, fresh, at, stamp)
        except BaseException:
            if conn is not None:  # a database error may have broken it: a fresh one next
                _discard(conn)
            raise
        self.idle.append(conn)
        return _with_copies(batch, first_of, answers, origin)

    async def aclose(self) -> None:
        """Wait for the batches in flight (and what is queued), then close the connections."""
        while self.tasks or self.queued:
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            else:
                await asyncio.sleep(0)
        idle, self.idle = self.idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close()

    def discard_idle(self) -> None:
        """Close the idle connections without the loop (it may have ended)."""
        idle, self.idle = self.idle, []
        for conn in idle:
            _discard(conn)


def _integrity_error(exc: Exception) -> bool:
    """A constraint refused a row (SQLSTATE class 23), not the connection or the statement."""
    return str(getattr(exc, "sqlstate", "") or "").startswith("23")


def _discard(conn: AsyncConnection) -> None:
    """Close ``conn`` at once, without awaiting (a broken connection may fail to close)."""
    with contextlib.suppress(Exception):
        conn.pgconn.finish()


def _stamp(received: dt.datetime) -> str:
    return received.isoformat().replace("+00:00", "Z")


def _first_copies(batch: list[Pending]) -> tuple[dict[tuple[int, str], Pending], list[Pending]]:
    """The first item of each idempotency key (and every keyless one), in arrival order."""
    first_of: dict[tuple[int, str], Pending] = {}
    fresh: list[Pending] = []
    for item in batch:
        pair = (item.key_id, item.idempotency_key or "")
        if item.idempotency_key is None or first_of.setdefault(pair, item) is item:
            fresh.append(item)  # in arrival order: the events' ids follow it
    return first_of, fresh


def _with_copies(
    batch: list[Pending],
    first_of: dict[tuple[int, str], Pending],
    answers: dict[int, Stored],
    origin: dict[tuple[int, str], Origin],
) -> dict[int, Stored]:
    """``answers`` with the later copies of a key within the batch answered as its first."""
    for item in batch:
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


async def _store_postgresql(
    conn: AsyncConnection, fresh: list[Pending], at: Any, stamp: str
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
    cursor = await conn.execute(_PG_STORE, {"rows": _json(rows), "stamp": stamp, "at": at})
    answers: dict[int, Stored] = {}
    for n, intake_id in await cursor.fetchall():
        item = fresh[n]
        answer = answers[id(item)] = _accepted(item, int(intake_id), stamp)
        if item.idempotency_key is not None:
            origin[(item.key_id, item.idempotency_key)] = (item.request_sha256, 202, answer.body)
    seen = [i for i in fresh if id(i) not in answers]
    if seen:
        try:
            cursor = await conn.execute(
                _PG_KNOWN,
                {
                    "keys": sorted({i.key_id for i in seen}),
                    "values": sorted({i.idempotency_key or "" for i in seen}),
                },
            )
            known = {
                (int(k), str(v)): (str(d), int(c), str(b))
                for k, v, d, c, b in await cursor.fetchall()
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
