"""Gateway tables (issue 16): API keys, idempotent requests, intake events, delivery facts.

- ``api_keys``: a key is shown once when created; only its SHA-256 is stored, with its
  scopes (``intake``, ``delivery-admin``, ``read``) and when it was revoked.
- ``idempotency_records``: the first response to a POST sent with an ``Idempotency-Key``
  header, per API key, so a retried request returns it instead of acting twice.
- ``intake_events``: every lead, contact, order or activity event an external source sent,
  durable before the gateway answers 2xx; applied to the CRM tables by the import path.
- ``delivery_attempts``: every attempt to hand an outbox message to SMTP or the SMS
  provider, with its outcome (append-only).
- ``message_events``: what happened to a message afterwards (delivered, bounced, complained,
  opened, clicked, unsubscribed), from webhooks and tracking; keyed by the provider's event id.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import ID, Base

__all__ = [
    "API_SCOPES",
    "INTAKE_KINDS",
    "MESSAGE_EVENT_KINDS",
    "ApiKey",
    "DeliveryAttempt",
    "IdempotencyRecord",
    "IntakeEvent",
    "MessageEvent",
]

API_SCOPES = ("intake", "delivery-admin", "read")
INTAKE_KINDS = ("lead", "contact", "order", "activity")
MESSAGE_EVENT_KINDS = (
    "delivered",
    "bounced_hard",
    "bounced_soft",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
)


class ApiKey(Base):
    """An API key: its hash, a display prefix, its scopes (comma-separated)."""

    __tablename__ = "api_keys"

    key_id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class IdempotencyRecord(Base):
    """The first response to an idempotent POST, replayed for a retry with the same key."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("key_id", "idempotency_key"),)

    record_id: Mapped[int] = mapped_column(ID, primary_key=True)
    key_id: Mapped[int] = mapped_column(ID)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class IntakeEvent(Base):
    """One accepted event from an external source (D4), and whether it has been applied."""

    __tablename__ = "intake_events"
    __table_args__ = (Index("ix_intake_events_status_kind", "status", "kind"),)

    intake_id: Mapped[int] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # lead, contact, order, activity
    external_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))  # site_form, app, call_centre, sms_reply
    channel: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # the validated body as JSON
    key_id: Mapped[int | None] = mapped_column(ID)
    received_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(12), default="accepted")  # applied, rejected
    field: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[dt.datetime | None]


class DeliveryAttempt(Base):
    """One attempt to send an outbox message (append-only)."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_message_id", "message_id"),)

    attempt_id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_id: Mapped[int] = mapped_column(ID)
    channel: Mapped[str] = mapped_column(String(8))
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(12))  # sent, temporary, permanent, suppressed
    code: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(255))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime]


class MessageEvent(Base):
    """Something that happened to a sent message: a webhook, an open, a click, an opt-out."""

    __tablename__ = "message_events"
    __table_args__ = (Index("ix_message_events_message_key", "message_key"),)

    event_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    message_key: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[int | None] = mapped_column(ID)
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[dt.datetime]
