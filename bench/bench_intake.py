"""Intake throughput: accepted events per second and latency at 100 concurrent clients.

For SQLite and each PostgreSQL server given (``--postgres LABEL=URL``, repeatable; by
default ``CRM_TEST_POSTGRES_URL``), the gateway runs as it does in production (``uvicorn
api.app:create_app --factory`` with ``--workers`` processes, or ``crm api`` itself with its
defaults: ``--workers crm``) on a loopback port. 100 keep-alive clients POST
``/v1/activities`` (each with its own ``Idempotency-Key``) for ``--seconds``; the same
clients then hit ``/health`` (no database) for the same time, so the cost of the database
shows next to the HTTP floor. Each PostgreSQL row names the server's ``fsync``,
``synchronous_commit`` and ``full_page_writes``, read from the server.

Tails move with whatever else runs on the machine, so every set-up is measured
``--rounds`` times, the set-ups in alternation (A, B, C, A, B, C…: a busy minute falls on
all of them), and the first table gives the median of the rounds and the spread of the
p99s. ``--compare LABEL=PATH`` adds the gateway of another checkout (the code before a
change) to the same rounds, with this driver.

Then the crash check: under the same load the server gets ``kill -9``; every 202 the
clients received must be in ``intake_events`` (lost: 0), the server is restarted, every
request that got no 202 is sent again with its key, and each event must be stored exactly
once (duplicates: 0). Results go to ``bench/results/intake.md``.

The first row is the HTTP floor: the same uvicorn and the same client with a bare ASGI app
that answers 202 without looking at the request (:func:`floor_app`), what the two cores
give before the gateway does anything. ``--profile`` adds a run of a gateway whose writer
is timed per event (:func:`profiled_gateway`) and splits each event's latency into the
queue wait, its batch's transaction, the loop's delay in answering and the rest.

Run: ``python -m bench.bench_intake [--seconds 10] [--clients 100] [--workers 1,2,crm]
[--rounds 3] [--profile] [--sqlite-synchronous FULL,OFF] [--databases SQLite,PostgreSQL]
[--postgres LABEL=URL]… [--compare LABEL=PATH]…``, under ``flock /tmp/crm-bench.lock``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench._worker import kept_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "intake.md"
NOTES = "## What the figures say"

__all__ = ["main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_settings(admin: str) -> str:
    """What a PostgreSQL server pays per commit: its fsync, synchronous_commit, full_page_writes."""
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name"
        ).fetchall()
    return ", ".join(f"{name}={value}" for name, value in rows)


def _databases(
    tmp: Path, servers: list[tuple[str, str]]
) -> list[tuple[str, str, Callable[[], None]]]:
    """(name, url, cleanup) for SQLite and each PostgreSQL server of ``servers``.

    ``servers`` holds (label, URL) pairs; each gets a fresh database of its own, dropped at
    the end, and its name says the server's durability settings, read from the server.
    """
    out: list[tuple[str, str, Callable[[], None]]] = [
        ("SQLite", f"sqlite:///{tmp / 'intake.db'}", lambda: None)
    ]
    for label, pg in servers:
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(pg)
        admin = base.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
        name = f"crm_bench_intake_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop(admin: str = admin, name: str = name) -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        out.append(
            (
                f"{label} ({_server_settings(admin)})",
                base.set(database=name).render_as_string(hide_password=False),
                drop,
            )
        )
    return out


def _key(url: str) -> str:
    from api.keys import create_key
    from crm.db import make_engine, migrate, session_scope

    migrate(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        _, plain = create_key(session, "bench", ["intake"], dt.datetime.now(dt.UTC))
    engine.dispose()
    return plain


def _serve(
    url: str,
    port: int,
    data_dir: Path,
    workers: int | None = 1,
    app: str = "api.app:create_app",
    extra_env: dict[str, str] | None = None,
    factory: bool = True,
    root: Path = ROOT,
) -> subprocess.Popen[bytes]:
    """Start a gateway on ``port`` and wait until it listens.

    ``workers=None`` starts it the way a user does, ``crm api --port …`` with its defaults
    (its worker processes included); otherwise ``uvicorn`` with that many workers.
    ``root`` is the tree whose code it runs (another checkout, to compare with).
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "CRM_DATABASE_URL": url,
        "CRM_DATA_DIR": str(data_dir),
        "CRM_API_RATE_PER_S": "1000000",
        "CRM_API_RATE_BURST": "1000000",
        **(extra_env or {}),
    }
    if workers is None:
        command = [
            sys.executable,
            "-c",
            "from flows.cli import main; main()",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            *(["--factory"] if factory else []),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--workers",
            str(workers),
        ]
    log = data_dir / f"server-{port}.log"  # a file, not a pipe nobody reads that could fill
    proc = subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,  # its own process group: kill -9 reaches every worker
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the gateway did not start: " + log.read_text(errors="replace"))


_FLOOR_BODY = b'{"intake_id":1,"kind":"activity","status":"accepted"}'
_FLOOR_HEAD = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_FLOOR_BODY)).encode()),
]


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The HTTP floor: the same server and client, an app that reads the body and answers 202.

    No FastAPI, no key, no validation, no database: what uvicorn and the load generator
    alone cost on these cores.
    """
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": _FLOOR_HEAD})
    await send({"type": "http.response.body", "body": _FLOOR_BODY})


def profiled_gateway() -> Any:
    """The gateway with its intake writer timed per event (a uvicorn factory).

    For every stored event: how long it waited in the queue for a batch, how long its
    batch's transaction took (statements and commit), and how long the event loop took to
    resume the request after the commit; written as JSON to ``$BENCH_PROFILE`` on SIGUSR1.
    On PostgreSQL the batches are the event loop's own (``_Pipeline``), on SQLite the
    writer thread's.
    """
    import api.groupcommit as gc
    from api.app import create_app

    spans: dict[str, tuple[float, float, float, int]] = {}
    submit = gc.IntakeWriter.submit
    write, store = gc.IntakeWriter._write, gc.IntakeWriter._store
    commit, astore = gc._Pipeline._commit, gc._Pipeline._store
    marks: dict[int, list[float]] = {}  # id(item) -> [submitted, taken, committed, batch size]

    async def timed_submit(self: gc.IntakeWriter, item: gc.Pending) -> gc.Stored:
        mark = marks[id(item)] = [time.perf_counter(), 0.0, 0.0, 0.0]
        try:
            return await submit(self, item)
        finally:
            now = time.perf_counter()
            spans[item.external_id] = (
                mark[1] - mark[0],
                mark[2] - mark[1],
                now - mark[2],
                int(mark[3]),
            )
            del marks[id(item)]

    def taken(batch: list[gc.Pending]) -> None:
        at = time.perf_counter()
        for item in batch:
            marks[id(item)][1] = at

    def committed(batch: list[gc.Pending]) -> None:
        at = time.perf_counter()
        for item in batch:
            marks[id(item)][2:] = [at, float(len(batch))]

    def timed_write(self: gc.IntakeWriter, batch: list[gc.Pending]) -> None:
        taken(batch)
        write(self, batch)

    def timed_store(self: gc.IntakeWriter, batch: list[gc.Pending]) -> dict[int, gc.Stored]:
        answers = store(self, batch)  # committed here; the requests are answered after
        committed(batch)
        return answers

    async def timed_commit(self: gc._Pipeline, batch: list[gc.Pending]) -> None:
        taken(batch)
        await commit(self, batch)

    async def timed_astore(self: gc._Pipeline, batch: list[gc.Pending]) -> dict[int, gc.Stored]:
        answers = await astore(self, batch)
        committed(batch)
        return answers

    gc.IntakeWriter.submit = timed_submit  # type: ignore[method-assign]
    gc.IntakeWriter._write = timed_write  # type: ignore[method-assign]
    gc.IntakeWriter._store = timed_store  # type: ignore[method-assign]
    gc._Pipeline._commit = timed_commit  # type: ignore[method-assign]
    gc._Pipeline._store = timed_astore  # type: ignore[method-assign]

    def dump(*_: Any) -> None:
        Path(os.environ["BENCH_PROFILE"]).write_text(json.dumps(spans))

    signal.signal(signal.SIGUSR1, dump)
    return create_app()


class Load:
    """What the clients saw: latencies of answered requests, acknowledged ids, failures."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.latency_of: dict[str, float] = {}  # external id -> seconds (for the profile)
        self.acked: dict[str, int] = {}  # external id -> intake id
        self.sent: list[str] = []
        self.first: list[float] = []  # each client's first request (a fresh connection)
        self.failed = 0
        self.other = 0


def _request(path: str, key: str, ext: str | None) -> bytes:
    if ext is None:
        return f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    body = json.dumps(
        {
            "external_id": ext,
            "source": "app",
            "customer_external_id": "c1",
            "kind": "review",
            "occurred_at": "2026-06-01T10:00:00Z",
        }
    ).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: {ext}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _client(
    port: int, key: str, path: str, until: float, load: Load, todo: list[str] | None, tag: str
) -> None:
    n, first = 0, True
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        load.failed += 1
        return
    try:
        while time.perf_counter() < until:
            if todo is not None:
                if not todo:
                    break
                ext: str | None = todo.pop()
            elif path == "/health":
                ext = None
            else:
                ext = f"{tag}-{n}"
                n += 1
            if ext is not None:
                load.sent.append(ext)
            start = time.perf_counter()
            writer.write(_request(path, key, ext))
            # the head in one read, then the body: two awaits a request, not one per line
            head = await reader.readuntil(b"\r\n\r\n")
            at = head.lower().find(b"content-length:")
            length = int(head[at + 15 : head.index(b"\r\n", at)]) if at >= 0 else 0
            body = await reader.readexactly(length)
            took = time.perf_counter() - start
            load.latencies.append(took)
            if first:
                load.first.append(took)
            first = False
            if ext is not None:
                load.latency_of[ext] = took
            code = int(head[9:12])
            if ext is not None and code == 202:
                load.acked[ext] = int(json.loads(body)["intake_id"])
            elif ext is not None or code != 200:
                load.other += 1
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        load.failed += 1
    finally:
        writer.close()


def _run_load(
    port: int,
    key: str,
    path: str,
    seconds: float,
    clients: int,
    todo: list[str] | None = None,
    kill: Callable[[], None] | None = None,
    kill_after: float = 0.0,
) -> tuple[Load, float]:
    load = Load()

    async def go() -> float:
        start = time.perf_counter()
        until = start + seconds
        tasks = [
            asyncio.create_task(
                _client(port, key, path, until, load, todo, f"{uuid.uuid4().hex[:6]}-{i}")
            )
            for i in range(clients)
        ]
        if kill is not None:
            await asyncio.sleep(kill_after)
            kill()
        await asyncio.gather(*tasks)
        return time.perf_counter() - start

    try:
        import uvloop  # the clients' own loop costs less CPU on the machine they share

        elapsed = uvloop.run(go())
    except ImportError:
        elapsed = asyncio.run(go())
    return load, elapsed


def _figures(load: Load, elapsed: float, accepted: int) -> dict[str, float]:
    lat = np.array(load.latencies) * 1000 if load.latencies else np.array([np.nan])
    return {
        "per_s": accepted / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": float(load.failed + load.other),
    }


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the server and its worker processes have used, from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # itself or a child
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _kill(server: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server's whole process group (the master and its workers) and wait for it.

    The workers are the master's children, not ours: until they are gone their copy of the
    listening socket still accepts, and a server started next on that port would be checked
    against them.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def _stored(url: str) -> list[str]:
    from crm import store

    return store.read_frame(url, "intake_events", columns=["external_id"])["external_id"].tolist()


def _measure(pid: int, port: int, key: str, path: str, args: Any) -> dict[str, Any]:
    """One measurement: throughput, latency and the gateway's CPU per answered request.

    The server is warmed up first (``--warmup`` seconds of the same load, not counted): a
    fresh gateway's first request from each client waits for the key lookup, the writer's
    start and its connection (about 200 ms), which would otherwise be most of a short
    run's slowest 1%. That cold start is the row's "first requests" figure: the mean latency
    of each client's first request in the warm-up.
    """
    cold = float("nan")
    if args.warmup > 0:
        warm, _ = _run_load(port, key, path, args.warmup, args.clients)
        cold = float(np.mean(warm.first) * 1000) if warm.first else cold
    before = _loadavg()
    cpu, mine = _cpu_s(pid), time.process_time()
    load, elapsed = _run_load(port, key, path, args.seconds, args.clients)
    answered = len(load.acked) if path != "/health" else len(load.latencies)
    f: dict[str, Any] = _figures(load, elapsed, answered)
    f["cpu_ms"] = (_cpu_s(pid) - cpu) * 1000 / max(1, answered)
    f["client_ms"] = (time.process_time() - mine) * 1000 / max(1, answered)
    f["cold_ms"] = cold
    f["load"] = (before, _loadavg())
    return f


def _row(n: int, db: str, gateway: str, endpoint: str, f: dict[str, Any]) -> str:
    """One measurement as a row of the "every round" table."""
    cold = "–" if np.isnan(f["cold_ms"]) else f"{f['cold_ms']:.1f}"
    return (
        f"| {n} | {db} | {gateway} | {endpoint} | {f['per_s']:,.0f} | {f['p50_ms']:.1f} "
        f"| {f['p99_ms']:.1f} | {f['errors']:.0f} | {f['cpu_ms']:.2f} | {1000 / f['cpu_ms']:,.0f} "
        f"| {f['client_ms']:.2f} | {cold} | {f['load'][0]} → {f['load'][1]} |"
    )


def _summary(runs: list[tuple[str, str, str, dict[str, Any]]]) -> list[str]:
    """Median of the rounds per (database, gateway, endpoint), the p99's spread, the target.

    A POST row meets the target when its median accepted/s is at least 3,000 and its median
    p99 under 100 ms; how many of the rounds met it on their own is shown beside.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for db, gateway, endpoint, f in runs:
        groups.setdefault((db, gateway, endpoint), []).append(f)
    rows = []
    for (db, gateway, endpoint), fs in groups.items():
        per_s = float(np.median([f["per_s"] for f in fs]))
        p99s = [f["p99_ms"] for f in fs]
        p99 = float(np.median(p99s))
        loads = [float(x) for f in fs for x in f["load"]]
        if endpoint.startswith("POST"):
            met = sum(f["per_s"] >= 3_000 and f["p99_ms"] < 100 for f in fs)
            verdict = "met" if per_s >= 3_000 and p99 < 100 else "**missed**"
            target = f"{verdict} ({met} of {len(fs)} rounds)"
        else:
            target = ""
        rows.append(
            f"| {db} | {gateway} | {endpoint} | {len(fs)} | {per_s:,.0f} "
            f"| {np.median([f['p50_ms'] for f in fs]):.1f} | **{p99:.1f}** "
            f"| {min(p99s):.1f}–{max(p99s):.1f} | {np.median([f['cpu_ms'] for f in fs]):.2f} "
            f"| {target} | {min(loads):.2f}–{max(loads):.2f} |"
        )
    return rows


def _loadavg() -> str:
    """The machine's 1-minute load average (what else was running)."""
    return Path("/proc/loadavg").read_text().split()[0]


def _profile(
    name: str, url: str, port: int, key: str, tmp: Path, args: Any, env: dict[str, str]
) -> list[str]:
    """Where an accepted event's time goes: the profiled gateway under the same load.

    Each event's client-observed latency is split into the gateway's queue wait for a
    batch, its batch's transaction, the event loop's delay in resuming it after the
    commit, and the rest (reading and parsing the request, the fast path, writing the
    answer, the client itself), as means over all events and over the slowest 1%.
    """
    out = tmp / f"profile-{port}.json"
    server = _serve(
        url,
        port,
        tmp,
        1,
        app="bench.bench_intake:profiled_gateway",
        extra_env={**env, "BENCH_PROFILE": str(out)},
    )
    try:
        if args.warmup > 0:  # as _measure does: the cold start is not the steady state
            _run_load(port, key, "/v1/activities", args.warmup, args.clients)
        load, _ = _run_load(port, key, "/v1/activities", args.seconds, args.clients)
        os.kill(server.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the dump is one write; let it finish
        spans = json.loads(out.read_text())
    finally:
        _kill(server)
    joined = np.array(
        [(load.latency_of[e], *spans[e]) for e in load.acked if e in spans and e in load.latency_of]
    )
    lat = joined[:, 0]
    rows = []
    for label, mask in (
        ("all", np.ones(len(lat), bool)),
        ("slowest 1%", lat >= np.percentile(lat, 99)),
    ):
        part = joined[mask]
        total, queued, stored, answered = (part[:, k].mean() * 1000 for k in range(4))
        rows.append(
            f"| {name} | {label} | {len(part):,} | {total:.1f} | {queued:.1f} | {stored:.1f} "
            f"| {answered:.1f} | {total - queued - stored - answered:.1f} | {part[:, 4].mean():.0f} |"
        )
    print(*rows, sep="\n", flush=True)
    return rows


@dataclass(frozen=True)
class Gateway:
    """One gateway set-up to measure: a label, its processes, its code, its environment.

    ``workers`` None is what a user gets from ``crm api`` with its defaults.
    """

    label: str
    workers: int | None
    root: Path = ROOT
    env: tuple[tuple[str, str], ...] = ()


def _gateways(
    database: str, workers: list[str], synchronous: list[str], compare: list[tuple[str, Path]]
) -> list[Gateway]:
    """The set-ups measured on ``database``: each worker count, for this tree and each other.

    On SQLite each ``synchronous`` value is a set-up of its own. ``crm`` (the defaults of
    ``crm api``) is measured for this tree only: another tree's defaults are its own.
    """
    syncs = synchronous if database == "SQLite" else [""]
    out = []
    for tree, root in [("", ROOT), *compare]:
        for spec in workers:
            if spec == "crm" and tree:
                continue
            count = None if spec == "crm" else int(spec)
            for sync in syncs:
                what = (
                    "`crm api` defaults"
                    if count is None
                    else f"{count} process" + ("es" if count > 1 else "")
                )
                if sync:
                    what += f", synchronous={sync}"
                env = (("CRM_API_SQLITE_SYNCHRONOUS", sync),) if sync else ()
                out.append(Gateway(f"{tree + ': ' if tree else ''}{what}", count, root, env))
    return out


def _crash(name: str, url: str, tmp: Path, gateway: Gateway, args: Any) -> str:
    """``kill -9`` under load, then every request without a 202 resent with its key."""
    env = dict(gateway.env)
    before = set(_stored(url))
    port = _free_port()
    server = _serve(url, port, tmp, gateway.workers, extra_env=env, root=gateway.root)
    load, _ = _run_load(
        port,
        _KEYS[url],
        "/v1/activities",
        args.seconds,
        args.clients,
        kill=lambda: os.killpg(server.pid, signal.SIGKILL),
        kill_after=args.seconds / 3,
    )
    _kill(server)  # already killed: wait until none of its processes is left
    stored = [e for e in _stored(url) if e not in before]
    lost = len(set(load.acked) - set(stored))
    unanswered = [e for e in dict.fromkeys(load.sent) if e not in load.acked]
    server = _serve(url, port, tmp, gateway.workers, extra_env=env, root=gateway.root)
    try:
        retry, _ = _run_load(
            port, _KEYS[url], "/v1/activities", 120, args.clients, todo=list(unanswered)
        )
    finally:
        _kill(server)
    final = [e for e in _stored(url) if e not in before]
    dups = len(final) - len(set(final))
    missing = len(set(load.sent) - set(final))
    return (
        f"| {name} | {gateway.label} | {len(load.sent):,} | {len(load.acked):,} | {lost} "
        f"| {len(unanswered):,} | {len(retry.acked):,} | {len(set(final)):,} | {dups} "
        f"| {missing} |"
    )


_KEYS: dict[str, str] = {}  # database URL -> its intake key


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write ``bench/results/intake.md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument(
        "--workers",
        default="1",
        help="gateway processes, comma-separated for one set-up each; 'crm' is what `crm api` "
        "starts by default (e.g. 1,2,crm); the first one also serves /health and the kill -9",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every set-up this many times, in alternation (set-up A, B, C, then A…); "
        "the first table gives each one's median and the spread of its p99",
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of uncounted load before each row"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also split each event's latency (one worker)"
    )
    parser.add_argument(
        "--sqlite-synchronous",
        default="FULL",
        help="the SQLite intake writer's PRAGMA synchronous, comma-separated for one set-up "
        "each (OFF, NORMAL, FULL, EXTRA); the first one also serves /health, the profile and "
        "the kill -9",
    )
    parser.add_argument(
        "--databases",
        default="SQLite,PostgreSQL",
        help="which of SQLite, PostgreSQL to run",
    )
    parser.add_argument(
        "--postgres",
        action="append",
        default=[],
        metavar="LABEL=URL",
        help="a PostgreSQL server to measure (repeat for several; default: "
        "PostgreSQL=$CRM_TEST_POSTGRES_URL); each row names the server's fsync, "
        "synchronous_commit and full_page_writes, read from it",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="also serve the gateway from another checkout (e.g. before=/tmp/main-before), "
        "with the same driver, in the same rounds",
    )
    args = parser.parse_args(argv)
    synchronous = [v.strip().upper() for v in args.sqlite_synchronous.split(",") if v.strip()]
    workers = [w.strip() for w in args.workers.split(",") if w.strip()]
    wanted = {d.strip() for d in args.databases.split(",")}
    servers = [tuple(s.split("=", 1)) for s in args.postgres]
    if not servers and os.environ.get("CRM_TEST_POSTGRES_URL"):
        servers = [("PostgreSQL", os.environ["CRM_TEST_POSTGRES_URL"])]
    servers = [s for s in servers if "PostgreSQL" in wanted or s[0] in wanted]
    compare = [
        (label, Path(path).resolve()) for label, path in (c.split("=", 1) for c in args.compare)
    ]
    runs: list[tuple[str, str, str, dict[str, Any]]] = []
    every: list[str] = []
    crash: list[str] = []
    profile: list[str] = []

    def record(n: int, db: str, gateway: str, endpoint: str, f: dict[str, Any]) -> None:
        runs.append((db, gateway, endpoint, f))
        every.append(_row(n, db, gateway, endpoint, f))
        print(every[-1], flush=True)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        databases = _databases(tmp, [(str(a), str(b)) for a, b in servers])
        if "SQLite" not in wanted:
            databases = databases[1:]
        try:
            for _name, url, _cleanup in databases:
                _KEYS[url] = _key(url)
            for n in range(1, args.rounds + 1):
                port = _free_port()
                floor = _serve(
                    "sqlite://", port, tmp, 1, "bench.bench_intake:floor_app", factory=False
                )
                try:
                    f = _measure(floor.pid, port, "-", "/v1/activities", args)
                    record(n, "(none)", "uvicorn + a bare ASGI app, 1 process", "HTTP floor", f)
                finally:
                    _kill(floor)
                for name, url, _cleanup in databases:
                    for k, gateway in enumerate(_gateways(name, workers, synchronous, compare)):
                        port = _free_port()
                        server = _serve(
                            url,
                            port,
                            tmp,
                            gateway.workers,
                            extra_env=dict(gateway.env),
                            root=gateway.root,
                        )
                        try:
                            f = _measure(server.pid, port, _KEYS[url], "/v1/activities", args)
                            record(n, name, gateway.label, "POST /v1/activities", f)
                            if k == 0:
                                f = _measure(server.pid, port, _KEYS[url], "/health", args)
                                record(n, name, gateway.label, "GET /health (no database)", f)
                        finally:
                            _kill(server)
            for name, url, _cleanup in databases:
                first = _gateways(name, workers, synchronous[:1], [])[0]
                if args.profile:
                    env = dict(first.env)
                    profile += _profile(name, url, _free_port(), _KEYS[url], tmp, args, env)
                crash.append(_crash(name, url, tmp, first, args))
                print(crash[-1], flush=True)
        finally:
            for _name, _url, cleanup in databases:
                cleanup()
    command = " ".join(
        [
            "python -m bench.bench_intake",
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    text = [
        "# Intake throughput",
        "",
        f"`{command}`, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores "
        "shared with the client and other work (load: the 1-minute load average before → "
        "after each measurement). Every set-up (database, gateway processes, code) is measured "
        f"{args.rounds} time(s), the set-ups in alternation, each on a fresh gateway after "
        f"{args.warmup:g} s of the same load, not counted; {args.clients} keep-alive clients "
        f"for {args.seconds:g} s; accepted/s counts 202 answers. Each gateway process (uvicorn, "
        "httptools, uvloop) has its own group-commit writer. The gateway's CPU time per "
        "request (user + system of its processes from /proc; the database server's own CPU "
        "not included) does not depend on how busy the machine is: 1000 / it is what one free "
        "core would serve. The client (one asyncio process) runs on the same cores.",
        "",
        "## Against the target (≥ 3,000 accepted/s, p99 < 100 ms; median of the rounds)",
        "",
        "| database (server settings) | gateway | endpoint | rounds | accepted/s | p50 ms "
        "| p99 ms | p99 min–max | gateway CPU ms/request | target | load |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---|---|",
        *_summary(runs),
        "",
        "## Every round",
        "",
        "'first requests' is the mean latency of each client's first request in the warm-up "
        "(a fresh gateway's cold start: key lookup, writer start, connections).",
        "",
        "| round | database | gateway | endpoint | accepted/s | p50 ms | p99 ms | errors "
        "| gateway CPU ms/request | per free core/s | client CPU ms/request "
        "| first requests ms | load |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *every,
        "",
        "## kill -9 under load",
        "",
        "Sent: requests the clients wrote; acknowledged: 202s they read before the kill; lost: "
        "acknowledged but not stored; then every request without a 202 is sent again with its "
        "Idempotency-Key to a restarted server.",
        "",
        "| database | gateway | sent | acknowledged | lost | resent | resent 202 | stored "
        "| duplicates | missing |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *crash,
        "",
    ]
    if profile:
        text += [
            "## Where an accepted event's time goes",
            "",
            "`--profile`: the same load on one gateway process whose intake writer is timed per "
            "event (`profiled_gateway`); each event's latency as its client saw it, split into "
            "the wait in the queue for a batch, its batch's transaction (statements and commit), "
            "the event loop's delay in resuming the request after the commit, and the rest "
            "(reading and parsing the request, the fast path, writing the answer, the client); "
            "means in ms over all events and over the slowest 1%.",
            "",
            "| database | events | n | latency | queued for a batch | batch transaction "
            "| loop resumes it | the rest | batch size |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
            *profile,
            "",
        ]
    # a hand-written analysis below this heading survives a rerun
    notes = kept_section(RESULTS, NOTES)
    if notes:
        text.append(notes)
    RESULTS.write_text("\n".join(text), encoding="utf-8")
    print(RESULTS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
