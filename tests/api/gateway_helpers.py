"""Helpers of the gateway tests (imported by the tests and conftest)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy

import pandas as pd
from fastapi.testclient import TestClient

from api.keys import create_key
from campaigns.links import click_url, unsubscribe_url
from campaigns.mime import build_mime
from crm import store
from crm.db import make_engine, session_scope
from flows.campaigns_db import write_outbox

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def make_keys(url: str) -> dict[str, str]:
    """One key per scope, named after it."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return {
                scope: create_key(session, scope, [scope], NOW)[1]
                for scope in ("intake", "delivery-admin", "read")
            }
    finally:
        engine.dispose()


def auth(client: TestClient, scope: str) -> dict[str, str]:
    """The Authorization header of the client's key of ``scope``."""
    return {"Authorization": f"Bearer {client.keys[scope]}"}  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- delivery
SECRET = "test-secret"
BASE = "http://127.0.0.1:8000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """An aiosmtpd handler that keeps every message it receives (thread-safe)."""

    def __init__(self, fail_first: int = 0, fail_code: str = "451 4.3.0 try later") -> None:
        self.messages: list[bytes] = []
        self.fail_first = fail_first
        self.fail_code = fail_code
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return self.fail_code
            self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"

    def message_ids(self) -> list[str]:
        with self.lock:
            raw = list(self.messages)
        return [str(message_from_bytes(m, policy=policy.default)["Message-ID"]) for m in raw]


@contextmanager
def smtp_sink(sink: Sink) -> Iterator[int]:
    """An in-process aiosmtpd server on a free loopback port."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def fake_provider() -> Iterator[tuple[str, object]]:
    """The fake SMS provider served by uvicorn in a thread; yields (base URL, its state)."""
    import uvicorn

    from api.fake_sms import make_app

    app = make_app()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", app.state.provider
    finally:
        server.should_exit = True
        thread.join(5)


def queue_messages(url: str, emails: int, sms: int, *, at=NOW) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Customers 1..emails+sms, one queued email or SMS each, with signed links in the email."""
    n = emails + sms
    ids = list(range(1, n + 1))
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "customer_id": ids,
                "external_id": [f"c{i}" for i in ids],
                "first_name": "Анна",
                "lifecycle_stage": "customer",
                "status": "active",
                "created_at": at,
            }
        ),
        "customers",
    )
    keys = [f"camp:1:{i}" for i in ids]
    addresses = [f"user{i}@example.com" if i <= emails else f"+7912{i:07d}" for i in ids]
    unsub = [
        unsubscribe_url(BASE, SECRET, k, i, "email", issued_at=at)
        for k, i in zip(keys, ids, strict=True)
    ]
    links = [click_url(BASE, SECRET, k, "https://shop.example/sale", issued_at=at) for k in keys]
    mime = build_mime(
        keys[:emails],
        addresses[:emails],
        ["Скидка для вас"] * emails,
        [f"Анна, скидка: {link}" for link in links[:emails]],
        [f'<p>Анна, <a href="{link}">скидка</a></p>' for link in links[:emails]],
        unsub[:emails],
        email_from="Shop <news@shop.example>",
        date=at,
    )
    frame = pd.DataFrame(
        {
            "message_key": keys,
            "campaign_id": "camp",
            "campaign_version": 1,
            "run_id": "r1",
            "customer_id": ids,
            "channel": ["email"] * emails + ["sms"] * sms,
            "address": addresses,
            "subject": ["Скидка для вас"] * emails + [None] * sms,
            "sms_text": [None] * emails + ["Анна, скидка 10% по коду A1"] * sms,
            "mime": mime + [None] * sms,
            "scheduled_for": at,
            "created_at": at,
        }
    )
    if not emails:  # an all-null binary column would stage as text on PostgreSQL
        frame = frame.drop(columns=["mime"])
    write_outbox(url, frame)
    return frame
