"""The intake POSTs and the probes, answered without FastAPI's routing and dependencies.

Profiling one accepted event showed FastAPI's per-request machinery (route matching over
every route, ``solve_dependencies`` for the state, the bearer key, the header and the body,
the response wrapper) costing more CPU than everything the event itself needs, and the
application's own layers around it (FastAPI's per-request telemetry check, Starlette's
error middleware, the size limit's receive wrapper: a coroutine frame each, resumed at
every await) another third of what was left. So :class:`IntakeFastPath`, an ASGI app in
front of the whole FastAPI application (:class:`api.app.Gateway`), answers a ``POST`` to
``/v1/contacts``, ``/v1/leads``, ``/v1/orders`` or ``/v1/activities`` itself when all of
these hold:

- the body is within the size limit (it is read here only up to the limit);

- the body is JSON that the route's pydantic model accepts (``model_validate_json``);
- the bearer key is live and has the ``intake`` scope (looked up through the gateway's
  key cache, as the route's dependency does);
- the key's rate limit lets the request through (one token per request: over the limit,
  the route answers the 429 from the fast path's own take, :func:`api.limits.take_once`).

A ``GET /health`` is answered here too, with the route's bytes: measured under the intake
load, FastAPI's stack alone gave it a p99 of 65-75 ms, most of the 100 ms budget, for an
answer that is a constant. A ``GET /ready`` runs the route's own check
(:func:`api.routers.health.ready_answer`, one query, in a thread as the sync route does) and
sends what the route would. Both stay routes of the FastAPI application, so OpenAPI lists
them and an app built without the fast path serves them the same.

It then builds the same :class:`~api.groupcommit.Pending` as the route
(:func:`api.routers.intake.pending`), waits for the same group commit and sends the same
bytes (:func:`api.routers.intake.rendered`), a replay or a 409 for a reused
``Idempotency-Key`` included. Anything else (no key, an unknown or revoked key, another
scope, over the rate limit, a body the model refuses, a contact without email or phone, an
``Idempotency-Key`` over 128 characters, another content type, a body over the limit) is
handed to FastAPI with what was read of the body replayed, so every refusal (401, 403, 413,
422, 429) comes from the one application that also documents it in OpenAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from api.deps import GatewayState
from api.groupcommit import Stored
from api.limits import take_once
from api.routers.health import HEALTH, ready_answer
from api.routers.intake import KINDS, contact_reachable, pending, rendered

__all__ = ["IntakeFastPath"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_MAX_IDEMPOTENCY_KEY = 128  # what the route's header declares


def _json_answer(code: int, body: BaseModel) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``body`` as FastAPI's JSON response sends it (compact JSON, its length, the type)."""
    return rendered(Stored(code, body.model_dump()))


class IntakeFastPath:
    """Serve the probes and valid, authorised intake POSTs; hand everything else to ``app``."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], state: GatewayState, max_body_bytes: int
    ) -> None:
        self.app = app
        self.state = state
        self.max_body_bytes = max_body_bytes
        self.routes: dict[str, tuple[str, type[BaseModel]]] = {
            f"/v1/{path}": (kind, model) for path, (kind, model) in KINDS.items()
        }
        self.health = _json_answer(200, HEALTH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            if scope["path"] == "/health":
                return await _send(send, self.health)
            if scope["path"] == "/ready":
                ok, ready = await run_in_threadpool(ready_answer, self.state)
                return await _send(send, _json_answer(200 if ok else 503, ready))
        route = (
            self.routes.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if route is None or self._declared_too_big(scope):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        size, more = 0, True
        while more and size <= self.max_body_bytes:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        answer = (
            None if more or size > self.max_body_bytes else await self._answer(scope, route, body)
        )
        if answer is None:
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": more}
                return await receive()

            return await self.app(scope, replay, send)
        await _send(send, answer)

    def _declared_too_big(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.max_body_bytes
        return False

    async def _answer(
        self, scope: Scope, route: tuple[str, type[BaseModel]], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        token = content_type = idempotency_key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = value
            elif name == b"content-type":
                content_type = value
            elif name == b"idempotency-key":
                idempotency_key = value
        if (
            token is None
            or content_type is None
            or not content_type.startswith(b"application/json")
        ):
            return None
        scheme, _, plain = token.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not plain:
            return None
        key = await self.state.key_async(plain)
        if key is None or "intake" not in key.scopes:
            return None
        idem = idempotency_key.decode("latin-1") if idempotency_key is not None else None
        if idem is not None and len(idem) > _MAX_IDEMPOTENCY_KEY:
            return None
        kind, model = route
        try:
            event = model.model_validate_json(body)
        except ValidationError:
            return None
        if not contact_reachable(kind, event):
            return None
        if take_once(self.state.limiter, scope, key.key_id) > 0:
            return None  # the route answers the 429 from the same take
        stored = await self.state.intake.submit(
            pending(self.state, key, scope["path"], kind, event, idem)
        )
        return rendered(stored)


async def _send(send: Send, answer: tuple[int, list[tuple[bytes, bytes]], bytes]) -> None:
    status_code, headers, content = answer
    await send({"type": "http.response.start", "status": status_code, "headers": headers})
    await send({"type": "http.response.body", "body": content})
