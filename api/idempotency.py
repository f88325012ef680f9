"""``Idempotency-Key``: a retried POST returns the first response and does nothing again.

Intake stores the first response in ``idempotency_records`` in the same transaction as the
event (:mod:`api.groupcommit`); a retry with the same key and body gets it back, the same
key with another body gets 409. The body is compared by its SHA-256 (:func:`body_hash`).
"""

from __future__ import annotations

import hashlib

__all__ = ["body_hash"]


def body_hash(body: bytes | str) -> str:
    """SHA-256 of a request body (to refuse a key reused for a different request)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(raw).hexdigest()
