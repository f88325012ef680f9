"""Outbox delivery: messages per second to a local SMTP sink and to the fake SMS provider.

``--emails`` messages with signed unsubscribe and click links (``campaigns.links``, MIME from
``campaigns.mime``) are queued in a fresh SQLite outbox and drained by the real worker
(:func:`api.worker.run_worker`: claims with leases, journal, attempts recorded, one commit
per batch) into an aiosmtpd sink running in its own process. Next to it, in the same run,
the floor: the same bytes sent by one ``smtplib`` connection in a loop, no database. Then
``--sms`` messages go to the fake SMS provider (:mod:`api.fake_sms`, own process). Results
go to ``bench/results/delivery.md``.

Run: ``python -m bench.bench_delivery [--emails 20000] [--sms 5000]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "delivery.md"
SECRET = "bench-secret"
BASE = "http://127.0.0.1:8000"
AT = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)

__all__ = ["main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def _loadavg() -> str:
    """The machine's 1-minute load average (what else was running)."""
    return Path("/proc/loadavg").read_text().split()[0]


def _sink(port: int) -> None:
    """The SMTP sink process: count messages, print the count on SIGTERM."""
    from aiosmtpd.controller import Controller

    class Count:
        n = 0

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            Count.n += 1
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()

    def done(*_: object) -> None:
        controller.stop()
        print(Count.n, flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, done)
    while True:
        time.sleep(1)


def _start(args: list[str], port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    _wait(port)
    return proc


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return out.strip()


def _queue(url: str, emails: int, sms: int) -> list[bytes]:
    from campaigns.links import click_url, open_pixel_url, unsubscribe_url
    from campaigns.mime import build_mime
    from crm import store
    from crm.db import migrate
    from flows.campaigns_db import write_outbox

    migrate(url)
    n = emails + sms
    ids = list(range(1, n + 1))
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "customer_id": ids,
                "external_id": [f"c{i}" for i in ids],
                "lifecycle_stage": "customer",
                "status": "active",
                "created_at": AT,
            }
        ),
        "customers",
    )
    keys = [f"bench:1:{i}" for i in ids]
    addr = [f"user{i}@example.com" for i in ids[:emails]] + [f"+7912{i:07d}" for i in ids[emails:]]
    unsub = [
        unsubscribe_url(BASE, SECRET, k, i, "email", issued_at=AT)
        for k, i in zip(keys[:emails], ids, strict=False)
    ]
    clicks = [
        click_url(BASE, SECRET, k, "https://shop.example/sale", issued_at=AT) for k in keys[:emails]
    ]
    pixels = [open_pixel_url(BASE, SECRET, k, issued_at=AT) for k in keys[:emails]]
    html = [
        f'<p>Здравствуйте! <a href="{c}">Скидка 10%</a></p><img src="{p}">'
        for c, p in zip(clicks, pixels, strict=True)
    ]
    text = [f"Здравствуйте! Скидка 10%: {c}" for c in clicks]
    mime = build_mime(
        keys[:emails],
        addr[:emails],
        ["Скидка для вас"] * emails,
        text,
        html,
        unsub,
        email_from="Shop <news@shop.example>",
        date=AT,
    )
    for channel, sl in (("email", slice(0, emails)), ("sms", slice(emails, n))):
        frame = pd.DataFrame(
            {
                "message_key": keys[sl],
                "campaign_id": "bench",
                "campaign_version": 1,
                "run_id": "r1",
                "customer_id": ids[sl],
                "channel": channel,
                "address": addr[sl],
                "scheduled_for": AT,
                "created_at": AT,
            }
        )
        if channel == "email":
            frame["mime"] = mime
            frame["subject"] = "Скидка для вас"
        else:
            frame["sms_text"] = "Скидка 10% по коду A1B2"
        if len(frame):
            write_outbox(url, frame)
    return mime


def _drain(url: str, tmp: Path, smtp_port: int, sms_url: str) -> tuple[dict[str, int], float]:
    from api.worker import run_worker
    from crm.settings import Settings

    settings = Settings(
        data_dir=tmp,
        smtp_port=smtp_port,
        sms_provider_url=sms_url,  # type: ignore[arg-type]
        email_from="Shop <news@shop.example>",
        worker_batch=500,
        worker_concurrency=4,
        email_rate_per_s=100_000,
        sms_rate_per_s=100_000,
    )
    start = time.perf_counter()
    totals = run_worker(url, once=True, settings=settings, name="bench")
    return totals, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write ``bench/results/delivery.md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=20_000)
    parser.add_argument("--sms", type=int, default=5_000)
    parser.add_argument("--sink", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        _sink(args.sink)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        url = f"sqlite:///{tmp / 'delivery.db'}"
        mime = _queue(url, args.emails, args.sms)

        port = _free_port()
        sink = _start(["-m", "bench.bench_delivery", "--sink", str(port)], port)
        n = min(len(mime), 5_000)
        load = _loadavg()
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as conn:
            for i in range(n):
                conn.sendmail("news@shop.example", [f"user{i}@example.com"], mime[i])
        floor = n / (time.perf_counter() - start)
        floor_got = int(_stop(sink))
        rows.append(
            f"| email | smtplib loop, same bytes, no database (floor) | {n:,} | {floor_got:,} "
            f"| {floor:,.0f} | {load} → {_loadavg()} |"
        )
        print(rows[-1], flush=True)

        sink = _start(["-m", "bench.bench_delivery", "--sink", str(port)], port)
        sms_port = _free_port()
        provider = _start(["-m", "api.fake_sms", "--port", str(sms_port)], sms_port)
        try:
            from crm import store

            store.execute(
                url,
                "UPDATE outbox SET scheduled_for = scheduled_for + 34560000000000 WHERE channel = 'sms'",
            )
            load = _loadavg()
            totals, seconds = _drain(url, tmp, port, f"http://127.0.0.1:{sms_port}")
            got = int(_stop(sink))
            rows.append(
                f"| email | crm worker: claim, send, journal, record (4 connections) "
                f"| {totals.get('sent', 0):,} | {got:,} | {totals.get('sent', 0) / seconds:,.0f} "
                f"| {load} → {_loadavg()} |"
            )
            print(rows[-1], flush=True)
            store.execute(
                url,
                "UPDATE outbox SET scheduled_for = scheduled_for - 34560000000000 WHERE channel = 'sms'",
            )
            load = _loadavg()
            totals, seconds = _drain(url, tmp, port, f"http://127.0.0.1:{sms_port}")
            import httpx

            delivered = len(
                httpx.get(f"http://127.0.0.1:{sms_port}/v1/messages").json()["delivered"]
            )
            rows.append(
                f"| sms | crm worker to the fake provider (HTTP, Idempotency-Key) "
                f"| {totals.get('sent', 0):,} | {delivered:,} "
                f"| {totals.get('sent', 0) / seconds:,.0f} | {load} → {_loadavg()} |"
            )
            print(rows[-1], flush=True)
        finally:
            provider.kill()
            if sink.poll() is None:
                sink.kill()
    text = [
        "# Outbox delivery",
        "",
        f"`python -m bench.bench_delivery --emails {args.emails} --sms {args.sms}`, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores shared with the sink, "
        "the provider and other work (load: the 1-minute load average before → after each row); "
        "SQLite outbox; each email carries signed unsubscribe, click and open links. The sink "
        "is aiosmtpd in one process (it does not offer PIPELINING, so each message is MAIL, "
        "RCPT, DATA, body, dot: four round trips); the worker claims 500 at a time with one "
        "lease write, sends on 4 reused connections (TCP_NODELAY), journals each send with one "
        "write and records the batch in one transaction.",
        "",
        "| channel | path | messages | arrived | messages/s | load |",
        "|---|---|---:|---:|---:|---|",
        *rows,
        "",
    ]
    RESULTS.write_text("\n".join(text), encoding="utf-8")
    print(RESULTS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
