"""A fake SMS provider speaking the contract of :mod:`api.delivery`, for tests and the demo.

It keeps what it received in memory: ``delivered`` (one entry per Idempotency-Key, as a
real provider would deliver) and ``requests`` (every POST, retries included), and can be
told to fail: ``fail_next`` answers 503 to that many requests, ``reject`` answers 400 to
given numbers. ``GET /v1/messages`` lists what was delivered. Run it with
``python -m api.fake_sms --port 8025`` (loopback only).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

__all__ = ["FakeProvider", "make_app"]


class _Message(BaseModel):
    to: str = Field(pattern=r"^\+\d{7,15}$")
    text: str = Field(min_length=1, max_length=1600)
    client_ref: str | None = None


@dataclass
class FakeProvider:
    """The provider's memory (thread-safe)."""

    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    fail_next: int = 0
    reject: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str, message: _Message) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"error": "try again"}
            if message.to in self.reject:
                return 400, {"error": f"{message.to} is not a mobile number"}
            if key in self.delivered:
                return 200, {"id": self.delivered[key]["id"], "status": "accepted"}
            entry = {"id": f"fake-{next(self._ids)}", "to": message.to, "text": message.text}
            self.delivered[key] = entry
            return 202, {"id": entry["id"], "status": "accepted"}


def make_app(provider: FakeProvider | None = None) -> FastAPI:
    """The fake provider's app (its state is ``app.state.provider``)."""
    app = FastAPI(
        title="Fake SMS provider", telemetry={"tracing": False, "metrics": False, "logs": False}
    )
    app.state.provider = provider or FakeProvider()

    @app.post("/v1/messages")
    async def post_message(  # async: a lock held for microseconds, no thread hop
        body: _Message, idempotency_key: str = Header(alias="Idempotency-Key")
    ) -> JSONResponse:
        code, answer = app.state.provider.take(idempotency_key, body)
        return JSONResponse(answer, status_code=code)

    @app.get("/v1/messages")
    def list_messages() -> dict[str, Any]:
        p = app.state.provider
        return {"requests": p.requests, "delivered": p.delivered}

    return app


if __name__ == "__main__":  # pragma: no cover - the demo's way to start it
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    uvicorn.run(make_app(), host="127.0.0.1", port=args.port, log_level="warning")
