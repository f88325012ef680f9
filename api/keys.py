"""API keys: created once in plain text, stored as a SHA-256 hash with their scopes.

A key looks like ``crm_<43 url-safe characters>`` (256 random bits), so a plain SHA-256 is
enough to store it: there is nothing to brute-force. The first 12 characters are kept as a
prefix so a person can tell keys apart in ``crm api key list`` without seeing them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.models.gateway import API_SCOPES, ApiKey

__all__ = ["KeyInfo", "create_key", "hash_key", "list_keys", "lookup_key", "revoke_key"]

_PREFIX = "crm_"


@dataclass(frozen=True)
class KeyInfo:
    """A key as the gateway sees it: id, name, scopes."""

    key_id: int
    name: str
    scopes: frozenset[str]


def hash_key(key: str) -> str:
    """The stored form of a key (hex SHA-256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if not scopes or unknown:
        raise ValueError(
            f"scope {', '.join(unknown) or '(none)'} is not one of {', '.join(API_SCOPES)}"
        )
    return sorted(set(scopes))


def create_key(
    session: Session, name: str, scopes: list[str], as_of: dt.datetime
) -> tuple[int, str]:
    """Create a key with ``scopes``; returns its id and the plain key (shown only once).

    Raises
    ------
    ValueError
        When a scope is not one of ``intake``, ``delivery-admin``, ``read``.
    """
    wanted = _check_scopes(scopes)
    plain = _PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        prefix=plain[:12],
        key_hash=hash_key(plain),
        scopes=",".join(wanted),
        created_at=as_of,
    )
    session.add(row)
    session.flush()
    return row.key_id, plain


def revoke_key(session: Session, key_id: int, as_of: dt.datetime) -> bool:
    """Revoke a key; returns False when there is no such key or it was already revoked."""
    done = session.execute(
        update(ApiKey)
        .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=as_of)
    )
    return bool(getattr(done, "rowcount", 0))


def lookup_key(session: Session, plain: str) -> KeyInfo | None:
    """The key behind ``plain``, or None when it is unknown or revoked."""
    row = session.execute(
        select(ApiKey.key_id, ApiKey.name, ApiKey.scopes).where(
            ApiKey.key_hash == hash_key(plain), ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return KeyInfo(int(row.key_id), row.name, frozenset(row.scopes.split(",")))


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first (hashes only, never the keys)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.key_id)))
