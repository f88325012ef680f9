"""``Idempotency-Key``: a retried POST returns the first response and does nothing again.

The record is written in the same transaction as the request's own effect, so either both
are durable or neither is. Two requests with the same key at once: the second one's insert
hits the unique constraint, rolls back, and returns the first one's record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models.gateway import IdempotencyRecord

__all__ = ["Replay", "body_hash", "find", "remember"]


@dataclass(frozen=True)
class Replay:
    """A stored first response."""

    status_code: int
    body: Any


def body_hash(body: bytes | str) -> str:
    """SHA-256 of a request body (to refuse a key reused for a different request)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(raw).hexdigest()


def find(session: Session, key_id: int, idempotency_key: str, request_sha256: str) -> Replay | None:
    """The first response to this key, or None; 409 if the key came with another body."""
    row = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.key_id == key_id,
            IdempotencyRecord.idempotency_key == idempotency_key,
        )
    )
    if row is None:
        return None
    if row.request_sha256 != request_sha256:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "Idempotency-Key was already used for a different request body",
        )
    return Replay(row.status_code, json.loads(row.response))


def remember(
    session: Session,
    *,
    key_id: int,
    idempotency_key: str,
    method: str,
    path: str,
    request_sha256: str,
    status_code: int,
    body: Any,
    as_of: dt.datetime,
) -> None:
    """Add the response to the caller's transaction (committed with the request's effect)."""
    session.add(
        IdempotencyRecord(
            key_id=key_id,
            idempotency_key=idempotency_key,
            method=method,
            path=path[:255],
            request_sha256=request_sha256,
            status_code=status_code,
            response=json.dumps(body, ensure_ascii=False, default=str),
            created_at=as_of,
        )
    )
