"""Intake throughput: accepted events per second and latency at 100 concurrent clients.

For SQLite and (when ``CRM_TEST_POSTGRES_URL`` names a server) PostgreSQL, the gateway runs
as it does in production (``uvicorn api.app:create_app --factory``, one process, group
commit) on a loopback port. 100 keep-alive clients POST ``/v1/activities`` (each with its
own ``Idempotency-Key``) for ``--seconds``; the same clients then hit ``/health`` (no
database) for the same time, so the cost of the database shows next to the HTTP floor.
Then the crash check: under the same load the server gets ``kill -9``; every 202 the
clients received must be in ``intake_events`` (lost: 0), the server is restarted, every
request that got no 202 is sent again with its key, and each event must be stored exactly
once (duplicates: 0). Results go to ``bench/results/intake.md``.

Run: ``python -m bench.bench_intake [--seconds 10] [--clients 100]``.
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
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "intake.md"

__all__ = ["main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _databases(tmp: Path) -> list[tuple[str, str, Callable[[], None]]]:
    """(name, url, cleanup) for SQLite and, when a server is configured, PostgreSQL."""
    out: list[tuple[str, str, Callable[[], None]]] = [
        ("SQLite", f"sqlite:///{tmp / 'intake.db'}", lambda: None)
    ]
    pg = os.environ.get("CRM_TEST_POSTGRES_URL", "")
    if pg:
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(pg)
        admin = base.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
        name = f"crm_bench_intake_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        out.append(
            ("PostgreSQL", base.set(database=name).render_as_string(hide_password=False), drop)
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


def _serve(url: str, port: int, data_dir: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CRM_DATABASE_URL": url,
        "CRM_DATA_DIR": str(data_dir),
        "CRM_API_RATE_PER_S": "1000000",
        "CRM_API_RATE_BURST": "1000000",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
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
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
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
    raise SystemExit(
        "the gateway did not start: " + (proc.stderr.read().decode() if proc.stderr else "")
    )


class Load:
    """What the clients saw: latencies of answered requests, acknowledged ids, failures."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.acked: dict[str, int] = {}  # external id -> intake id
        self.sent: list[str] = []
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
    n = 0
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
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError("closed")
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - start)
            code = int(status_line.split()[1])
            if ext is not None and code == 202:
                load.acked[ext] = int(json.loads(body)["intake_id"])
            elif ext is not None or code != 200:
                load.other += 1
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
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
    """SIGKILL the server's whole process group (the master and its workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def _stored(url: str) -> list[str]:
    from crm import store

    return store.read_frame(url, "intake_events", columns=["external_id"])["external_id"].tolist()


def _measure(db: str, what: str, pid: int, port: int, key: str, path: str, args: Any) -> str:
    """One table row: throughput, latency and the gateway's CPU per answered request."""
    before = _loadavg()
    cpu, mine = _cpu_s(pid), time.process_time()
    load, elapsed = _run_load(port, key, path, args.seconds, args.clients)
    answered = len(load.acked) if path != "/health" else len(load.latencies)
    f = _figures(load, elapsed, answered)
    ms = (_cpu_s(pid) - cpu) * 1000 / max(1, answered)
    client_ms = (time.process_time() - mine) * 1000 / max(1, answered)
    return (
        f"| {db} | {what} | {f['per_s']:,.0f} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} "
        f"| {f['errors']:.0f} | {ms:.2f} | {1000 / ms:,.0f} | {client_ms:.2f} "
        f"| {before} → {_loadavg()} |"
    )


def _loadavg() -> str:
    """The machine's 1-minute load average (what else was running)."""
    return Path("/proc/loadavg").read_text().split()[0]


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write ``bench/results/intake.md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)
    rows: list[str] = []
    crash: list[str] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name, url, cleanup in _databases(tmp):
            try:
                key = _key(url)
                port = _free_port()
                server = _serve(url, port, tmp, args.workers)
                try:
                    rows.append(
                        _measure(
                            name,
                            "POST /v1/activities (group commit)",
                            server.pid,
                            port,
                            key,
                            "/v1/activities",
                            args,
                        )
                    )
                    rows.append(
                        _measure(
                            name,
                            "GET /health (no database)",
                            server.pid,
                            port,
                            key,
                            "/health",
                            args,
                        )
                    )
                    print(rows[-2], rows[-1], sep="\n", flush=True)
                finally:
                    _kill(server)
                # kill -9 under load, then resend what got no 202 with the same keys
                before = set(_stored(url))
                server = _serve(url, port, tmp, args.workers)
                load, _ = _run_load(
                    port,
                    key,
                    "/v1/activities",
                    args.seconds,
                    args.clients,
                    kill=lambda s=server: os.killpg(s.pid, signal.SIGKILL),
                    kill_after=args.seconds / 3,
                )
                server.wait()
                stored = [e for e in _stored(url) if e not in before]
                lost = len(set(load.acked) - set(stored))
                unanswered = [e for e in dict.fromkeys(load.sent) if e not in load.acked]
                server = _serve(url, port, tmp, args.workers)
                try:
                    retry, _ = _run_load(
                        port, key, "/v1/activities", 120, args.clients, todo=list(unanswered)
                    )
                finally:
                    _kill(server)
                final = [e for e in _stored(url) if e not in before]
                dups = len(final) - len(set(final))
                missing = len(set(load.sent) - set(final))
                crash.append(
                    f"| {name} | {len(load.sent):,} | {len(load.acked):,} | {lost} | {len(unanswered):,} | {len(retry.acked):,} | {len(set(final)):,} | {dups} | {missing} |"
                )
                print(crash[-1], flush=True)
            finally:
                cleanup()
    cpu = os.cpu_count()
    text = [
        "# Intake throughput",
        "",
        f"`python -m bench.bench_intake --seconds {args.seconds:g} --clients {args.clients} "
        f"--workers {args.workers}`, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {cpu} cores "
        "shared with the client and other work (load: the 1-minute load average before → "
        f"after each row); {args.workers} uvicorn worker process(es) (httptools, uvloop), each "
        "with its own group-commit writer; accepted/s counts 202 answers. The gateway's CPU "
        "time per request (user + system of its processes from /proc; the PostgreSQL server's "
        "own CPU not included) does not depend on how busy the machine is: 1000 / it is what "
        "one free core would serve. The client (one asyncio process, keep-alive connections) "
        "runs on the same cores; its CPU per request is shown too.",
        "",
        "| database | endpoint | accepted/s | p50 ms | p99 ms | errors | gateway CPU ms/request "
        "| per free core/s | client CPU ms/request | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        "## kill -9 under load",
        "",
        "Sent: requests the clients wrote; acknowledged: 202s they read before the kill; lost: "
        "acknowledged but not stored; then every request without a 202 is sent again with its "
        "Idempotency-Key to a restarted server.",
        "",
        "| database | sent | acknowledged | lost | resent | resent 202 | stored | duplicates | missing |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *crash,
        "",
    ]
    RESULTS.write_text("\n".join(text), encoding="utf-8")
    print(RESULTS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
