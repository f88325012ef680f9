"""The delivery worker (``crm worker``): drains the outbox to SMTP and the SMS provider.

One loop: recover what a killed worker sent, claim a batch with a lease, drop what is now
suppressed, send the rest with a concurrency limit and a per-provider rate limit (retrying
temporary failures with backoff), then record the outcome and every attempt in one
transaction. Between batches it also lands accepted intake events (:mod:`api.intake`).

Exactly once across a crash
---------------------------
A message is claimed (``claimed_by``, ``lease_until``) before it is sent, so two workers
never hold it at once; a claim left by a dead worker expires and the message is claimed
again. A handed-over send is appended at once to the worker's journal
(``<data_dir>/delivery/<worker>.journal``, one ``write`` per message, which survives a
SIGKILL of the process because the kernel holds it); the batch's database commit comes
after. A worker holds a lock on its journal while alive; any worker recovers a journal
whose lock is free (its owner died) by marking those messages sent before it claims
anything, so a message handed over before the kill is not sent again, and one not yet
handed over is claimed again when its lease ends.

The gap between a send and its journal entry, and what a SIGKILL in it does:

- Email: the body goes into the socket, then the journal entry is written, then the final
  ``.``. An SMTP server keeps nothing of a DATA whose final ``.`` never came, so a kill
  before the entry leaves the message unsent (claimed again after its lease), and a kill
  after it leaves it journalled: recovered as sent and never repeated. The one outcome
  left is a kill after the entry but before the 5-byte ``.`` reached the kernel: that
  message is recorded sent but was not delivered (lost, never duplicated: at most once).
  A refusal that follows the ``.``, or a failed write of it, is journalled too and takes
  the entry back. Should a server ever be handed one message twice (it would take a
  dead worker whose ``.`` was written but whose journal was lost with its disk), both
  copies carry the same ``Message-ID``, derived from the outbox idempotency key
  (:func:`campaigns.mime.build_mime`), which receiving systems use to drop duplicates.
- SMS: journalled after the provider's 2xx. A kill between the 2xx and the entry means
  the message is claimed again and resent with the same ``Idempotency-Key`` (the outbox
  ``message_key``); the provider answers with the first id and sends nothing (exactly
  once, :mod:`api.fake_sms` does the same).

Journal entries are one ``write`` each, not batched: a batched write would widen the
window from one 5-byte send to the whole batch.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, bindparam, insert, or_, select, update
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from api.delivery import (
    DeliveryError,
    HttpSmsProvider,
    PermanentFailure,
    Sender,
    SmtpSender,
    TemporaryFailure,
)
from api.limits import RateLimiter
from crm.db import make_engine
from crm.models.campaigns import OutboxMessage
from crm.models.gateway import DeliveryAttempt
from crm.models.hygiene import Suppression
from crm.settings import Settings

__all__ = ["Journal", "WorkerConfig", "deliver_batch", "recover_journals", "run_worker"]

OUTBOX = cast(Table, OutboxMessage.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)
SUPPRESSIONS = cast(Table, Suppression.__table__)
SenderFactory = Callable[[str], Sender]


def _utcnow() -> dt.datetime:  # the worker is a top-level caller: it reads the clock
    return dt.datetime.now(dt.UTC)


@dataclass
class WorkerConfig:
    """How a worker runs (defaults from :class:`~crm.settings.Settings`)."""

    name: str
    journal_dir: Path
    batch: int = 200
    concurrency: int = 4
    lease_s: float = 60.0
    rates: dict[str, float] = field(default_factory=lambda: {"email": 2000.0, "sms": 200.0})
    tries: int = 3  # attempts per claim, temporary failures only
    backoff_s: float = 0.05  # first wait between tries, doubling
    retry_after_s: float = 60.0  # a message still failing temporarily is claimable again then
    max_claims: int = 5  # after that many claims a temporarily failing message is failed

    @classmethod
    def from_settings(cls, settings: Settings, name: str | None = None) -> WorkerConfig:
        """The configuration the settings describe."""
        return cls(
            name=name or f"{socket.gethostname()}-{os.getpid()}",
            journal_dir=Path(settings.data_dir) / "delivery",
            batch=settings.worker_batch,
            concurrency=settings.worker_concurrency,
            lease_s=settings.worker_lease_s,
            rates={"email": settings.email_rate_per_s, "sms": settings.sms_rate_per_s},
        )


class Journal:
    """A worker's append-only record of acknowledged sends, locked while the worker lives."""

    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.journal"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock = threading.Lock()

    def sent(self, message_id: int, provider_id: str) -> None:
        """Record one acknowledged send (one ``write``: it survives a SIGKILL)."""
        line = f"{message_id}\t{provider_id.replace(chr(9), ' ').replace(chr(10), ' ')}\n"
        with self._lock:
            os.write(self._fd, line.encode("utf-8"))

    def refused(self, message_id: int) -> None:
        """Take back a handed-over send that the server then refused."""
        with self._lock:
            os.write(self._fd, f"{message_id}\t-\n".encode())

    def clear(self) -> None:
        """Forget what is now committed to the database."""
        with self._lock:
            os.ftruncate(self._fd, 0)

    def close(self) -> None:
        """Release the lock (the journal must be empty: everything committed)."""
        os.close(self._fd)


def _read_journal(path: Path) -> list[tuple[int, str]]:
    entries: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        ident, tab, provider_id = line.partition("\t")
        if not (ident.isdigit() and tab):  # a torn last line (killed mid-write)
            continue
        if provider_id == "-":  # handed over, then refused by the server
            entries.pop(int(ident), None)
        else:
            entries[int(ident)] = provider_id
    return list(entries.items())


def recover_journals(engine: Engine, directory: Path, now: dt.datetime) -> int:
    """Mark as sent what dead workers' journals hold; returns how many messages were marked."""
    if not directory.exists():
        return 0
    marked = 0
    for path in sorted(directory.glob("*.journal")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its worker is alive and will commit its own sends
            entries = _read_journal(path)
            if entries:
                marked += _mark_sent(engine, entries, now, worker=path.stem, recovered=True)
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        if path.stat().st_size == 0:
            path.unlink(missing_ok=True)
    return marked


def _mark_sent(
    engine: Engine,
    entries: list[tuple[int, str]],
    now: dt.datetime,
    *,
    worker: str,
    recovered: bool = False,
) -> int:
    ids = [i for i, _ in entries]
    with engine.begin() as conn:
        rows = conn.execute(
            select(OUTBOX.c.id, OUTBOX.c.channel).where(
                OUTBOX.c.id.in_(ids), OUTBOX.c.status == "queued"
            )
        ).all()
        channel: dict[int, str] = {int(r[0]): str(r[1]) for r in rows}
        todo = [(i, p) for i, p in entries if i in channel]
        if not todo:
            return 0
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("b_id"), OUTBOX.c.status == "queued")
            .values(
                status="sent",
                sent_at=now,
                provider_message_id=bindparam("b_pid"),
                claimed_by=None,
                lease_until=None,
            ),
            [{"b_id": i, "b_pid": p} for i, p in todo],
        )
        if recovered:
            conn.execute(
                insert(ATTEMPTS),
                [
                    {
                        "message_id": i,
                        "channel": channel[i],
                        "attempt": 0,
                        "worker": worker,
                        "outcome": "sent",
                        "detail": "recovered from the journal of a stopped worker",
                        "provider_message_id": p,
                        "started_at": now,
                        "finished_at": now,
                    }
                    for i, p in todo
                ],
            )
    return len(todo)


def claim(engine: Engine, worker: str, n: int, lease_s: float, now: dt.datetime) -> list[int]:
    """Claim up to ``n`` due messages for ``worker`` (lease until ``now + lease_s``)."""
    due = (
        select(OUTBOX.c.id)
        .where(
            OUTBOX.c.status == "queued",
            OUTBOX.c.scheduled_for <= now,
            or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until < now),
            or_(OUTBOX.c.next_attempt_at.is_(None), OUTBOX.c.next_attempt_at <= now),
        )
        .order_by(OUTBOX.c.id)
        .limit(n)
    )
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(
            claimed_by=worker,
            lease_until=now + dt.timedelta(seconds=lease_s),
            attempts=OUTBOX.c.attempts + 1,
        )
        .returning(OUTBOX.c.id)
    )
    with engine.begin() as conn:
        return sorted(int(i) for i in conn.execute(statement).scalars())


def _suppressed(engine: Engine, ids: list[int]) -> set[int]:
    """Claimed messages whose recipient or address is now suppressed (bounce, complaint, opt-out)."""
    scope = OUTBOX.c.channel  # email -> 'email', sms -> 'phone'
    joined = OUTBOX.join(
        SUPPRESSIONS,
        and_(
            SUPPRESSIONS.c.customer_id == OUTBOX.c.customer_id,
            SUPPRESSIONS.c.lifted_at.is_(None),
            or_(
                SUPPRESSIONS.c.scope == "customer",
                and_(
                    or_(
                        and_(scope == "email", SUPPRESSIONS.c.scope == "email"),
                        and_(scope == "sms", SUPPRESSIONS.c.scope == "phone"),
                    ),
                    or_(SUPPRESSIONS.c.target == "", SUPPRESSIONS.c.target == OUTBOX.c.address),
                ),
            ),
        ),
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(OUTBOX.c.id).select_from(joined).where(OUTBOX.c.id.in_(ids)).distinct()
        )
        return {int(i) for i in rows.scalars()}


@dataclass
class _Result:
    message_id: int
    outcome: str  # sent, failed, retry
    provider_id: str | None = None
    error: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


class _Senders:
    """One sender per thread and channel, reused across messages and batches."""

    def __init__(self, factory: SenderFactory) -> None:
        self.factory = factory
        self.local = threading.local()
        self.all: list[Sender] = []
        self.lock = threading.Lock()

    def get(self, channel: str) -> Sender:
        mine = getattr(self.local, "senders", None)
        if mine is None:
            mine = self.local.senders = {}
        if channel not in mine:
            mine[channel] = self.factory(channel)
            with self.lock:
                self.all.append(mine[channel])
        return cast(Sender, mine[channel])

    def close(self) -> None:
        for sender in self.all:
            sender.close()
        self.all.clear()


def _wait_for(limiter: RateLimiter, channel: str) -> None:
    key = 0 if channel == "email" else 1
    while (wait := limiter.take(key)) > 0:
        time.sleep(wait)


def _send_one(
    row: Any,
    senders: _Senders,
    limiters: dict[str, RateLimiter],
    journal: Journal,
    cfg: WorkerConfig,
    clock: Callable[[], dt.datetime],
) -> _Result:
    result = _Result(int(row.id), "retry")
    payload = row.mime if row.channel == "email" else row.sms_text
    if payload is None:
        result.outcome, result.error = (
            "failed",
            f"no {'mime' if row.channel == 'email' else 'sms_text'}",
        )
        return result
    try:
        try:
            provider_id = _try_once(row, payload, 1, senders, limiters, journal, cfg, clock, result)
        except TemporaryFailure:
            if cfg.tries < 2:
                raise
            # the rest with tenacity's backoff, built only now: it costs more per message
            # than the rest of a send, and most messages need one attempt
            for attempt in _retries(cfg):
                with attempt:
                    provider_id = _try_once(
                        row,
                        payload,
                        attempt.retry_state.attempt_number + 1,
                        senders,
                        limiters,
                        journal,
                        cfg,
                        clock,
                        result,
                    )
        result.outcome, result.provider_id = "sent", provider_id
    except PermanentFailure as exc:
        result.outcome, result.error = "failed", str(exc)[:255]
    except TemporaryFailure as exc:
        result.outcome = "failed" if int(row.attempts) >= cfg.max_claims else "retry"
        result.error = str(exc)[:255]
    return result


def _retries(cfg: WorkerConfig) -> Retrying:
    """Tries 2..``cfg.tries`` of a message: waits backoff_s, 2·backoff_s, … (at most 8·)."""
    longest = max(cfg.backoff_s * 8, 0.001)

    def first_wait(state: RetryCallState) -> None:  # the wait after the first try, made outside
        if state.attempt_number == 1:
            time.sleep(min(cfg.backoff_s, longest))

    return Retrying(
        retry=retry_if_exception_type(TemporaryFailure),
        stop=stop_after_attempt(cfg.tries - 1),
        wait=wait_exponential(multiplier=2 * cfg.backoff_s, max=longest),
        before=first_wait,
        reraise=True,
    )


def _try_once(
    row: Any,
    payload: bytes | str,
    number: int,
    senders: _Senders,
    limiters: dict[str, RateLimiter],
    journal: Journal,
    cfg: WorkerConfig,
    clock: Callable[[], dt.datetime],
    result: _Result,
) -> str:
    """One attempt: send, journal, record it in ``result``; raises the sender's failure."""
    _wait_for(limiters[row.channel], row.channel)
    started = clock()
    handed: list[bool] = []

    def hand() -> None:
        journal.sent(result.message_id, row.message_key)
        handed.append(True)

    provider_id: str | None = None
    failure: DeliveryError | None = None
    try:
        sender = senders.get(row.channel)
        if isinstance(sender, SmtpSender):  # journalled once the server has it
            provider_id = sender.send(row.message_key, row.address, payload, hand)
        else:  # the provider dedups by Idempotency-Key: journalled after its 2xx
            provider_id = sender.send(row.message_key, row.address, payload)
    except DeliveryError as exc:
        if handed:
            journal.refused(result.message_id)
        failure = exc
    else:
        if not handed:
            journal.sent(result.message_id, provider_id)
    result.attempts.append(
        {
            "message_id": result.message_id,
            "channel": row.channel,
            "attempt": (int(row.attempts) - 1) * cfg.tries + number,
            "worker": cfg.name,
            "outcome": "sent"
            if failure is None
            else "temporary"
            if isinstance(failure, TemporaryFailure)
            else "permanent",
            "code": None if failure is None else failure.code,
            "detail": None if failure is None else failure.detail,
            "provider_message_id": provider_id,
            "started_at": started,
            "finished_at": clock(),
        }
    )
    if failure is not None:
        raise failure
    return str(provider_id)


def deliver_batch(
    engine: Engine,
    cfg: WorkerConfig,
    senders: _Senders,
    limiters: dict[str, RateLimiter],
    journal: Journal,
    pool: ThreadPoolExecutor,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> dict[str, int]:
    """Claim, send and record one batch; returns counts by outcome (empty when idle)."""
    now = clock()
    recover_journals(engine, cfg.journal_dir, now)
    ids = claim(engine, cfg.name, cfg.batch, cfg.lease_s, now)
    if not ids:
        return {}
    blocked = _suppressed(engine, ids)
    with engine.connect() as conn:
        channels = (
            dict(
                conn.execute(
                    select(OUTBOX.c.id, OUTBOX.c.channel).where(OUTBOX.c.id.in_(sorted(blocked)))
                )
                .tuples()
                .all()
            )
            if blocked
            else {}
        )
        rows = conn.execute(
            select(
                OUTBOX.c.id,
                OUTBOX.c.message_key,
                OUTBOX.c.channel,
                OUTBOX.c.address,
                OUTBOX.c.mime,
                OUTBOX.c.sms_text,
                OUTBOX.c.attempts,
            ).where(OUTBOX.c.id.in_([i for i in ids if i not in blocked]))
        ).all()
    results = list(pool.map(lambda r: _send_one(r, senders, limiters, journal, cfg, clock), rows))
    done = clock()
    sent = [r for r in results if r.outcome == "sent"]
    failed = [r for r in results if r.outcome == "failed"]
    retry = [r for r in results if r.outcome == "retry"]
    attempts = [a for r in results for a in r.attempts]
    with engine.begin() as conn:
        if sent:
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == bindparam("b_id"))
                .values(
                    status="sent",
                    sent_at=done,
                    provider_message_id=bindparam("b_pid"),
                    claimed_by=None,
                    lease_until=None,
                    last_error=None,
                ),
                [{"b_id": r.message_id, "b_pid": r.provider_id} for r in sent],
            )
        if failed:
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == bindparam("b_id"))
                .values(
                    status="failed",
                    claimed_by=None,
                    lease_until=None,
                    last_error=bindparam("b_err"),
                ),
                [{"b_id": r.message_id, "b_err": r.error} for r in failed],
            )
        if retry:
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == bindparam("b_id"))
                .values(
                    claimed_by=None,
                    lease_until=None,
                    last_error=bindparam("b_err"),
                    next_attempt_at=done + dt.timedelta(seconds=cfg.retry_after_s),
                ),
                [{"b_id": r.message_id, "b_err": r.error} for r in retry],
            )
        if blocked:
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(sorted(blocked)))
                .values(status="suppressed", claimed_by=None, lease_until=None)
            )
            attempts += [
                {
                    "message_id": i,
                    "channel": channels.get(i, ""),
                    "attempt": 0,
                    "worker": cfg.name,
                    "outcome": "suppressed",
                    "code": None,
                    "detail": "suppressed since it was queued (bounce, complaint or opt-out)",
                    "provider_message_id": None,
                    "started_at": now,
                    "finished_at": now,
                }
                for i in sorted(blocked)
            ]
        if attempts:
            conn.execute(insert(ATTEMPTS), attempts)
    journal.clear()
    return {
        "sent": len(sent),
        "failed": len(failed),
        "retry": len(retry),
        "suppressed": len(blocked),
    }


def default_senders(settings: Settings) -> SenderFactory:
    """Adapters for each channel from the settings (SMTP and the HTTP SMS provider)."""

    def make(channel: str) -> Sender:
        if channel == "email":
            return SmtpSender(
                settings.smtp_host,
                settings.smtp_port,
                settings.email_from,
                starttls=settings.smtp_starttls,
                tls=settings.smtp_tls,
                user=settings.smtp_user,
                password=settings.smtp_password.get_secret_value(),
            )
        return HttpSmsProvider(
            settings.sms_provider_url, settings.sms_provider_token.get_secret_value()
        )

    return make


@contextmanager
def worker_parts(cfg: WorkerConfig, factory: SenderFactory) -> Iterator[tuple[Any, ...]]:
    """The journal, senders, rate limiters and thread pool of one worker's life."""
    journal = Journal(cfg.journal_dir, cfg.name)
    senders = _Senders(factory)
    limiters = {ch: RateLimiter(rate, max(1, int(rate // 10))) for ch, rate in cfg.rates.items()}
    pool = ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="deliver")
    try:
        yield journal, senders, limiters, pool
    finally:
        pool.shutdown(wait=True)
        senders.close()
        journal.close()


def run_worker(
    url: str,
    *,
    once: bool = False,
    name: str | None = None,
    settings: Settings | None = None,
    factory: SenderFactory | None = None,
    idle_s: float = 1.0,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> dict[str, int]:
    """Drain the outbox until stopped (``once``: until nothing is due); returns totals."""
    from api.intake import apply_intake

    if settings is None:
        from crm.settings import get_settings

        settings = get_settings()
    cfg = WorkerConfig.from_settings(settings, name)
    engine = make_engine(url)
    totals: dict[str, int] = {}
    try:
        # before this worker locks its own journal: a previous life under the same name
        # may have left one (killed), and only an unlocked journal is recovered
        recover_journals(engine, cfg.journal_dir, clock())
        with worker_parts(cfg, factory or default_senders(settings)) as (j, s, lim, pool):
            while True:
                counts = deliver_batch(engine, cfg, s, lim, j, pool, clock)
                for k, v in counts.items():
                    totals[k] = totals.get(k, 0) + v
                if not counts:
                    landed = apply_intake(url, clock(), default_region=settings.default_region)
                    if once:
                        break
                    if not landed["applied"] and not landed["rejected"]:
                        time.sleep(idle_s)
    finally:
        engine.dispose()
    return totals
