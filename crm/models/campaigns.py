"""Campaign tables (C1–C7): definitions by version, trigger firings, runs, exclusions, the outbox.

``campaigns`` holds one row per campaign id with its latest version; ``campaign_versions``
keeps every loaded definition (the YAML text and its SHA-256), so a run and a message refer to
exactly the definition they were made from. ``trigger_firings`` records each firing under a
deterministic ``firing_key`` (trigger, customer, the event or period that fired it), unique,
so a rerun over the same day fires nothing new and a late run catches up without firing twice.
``campaign_runs`` is one row per campaign, version and ``as_of`` with the audience and queued
counts; ``campaign_exclusions`` is one row per customer left out of a run with the reason
(the holdout included), so the report counts every exclusion and measures uplift against the
holdout. ``outbox`` is the append-only queue of rendered messages that the gateway drains:
``message_key`` (campaign, version, customer, period or firing) is unique, written with
``ON CONFLICT DO NOTHING``, so a rerun after a crash queues nothing twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Float, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import ID, Base

__all__ = [
    "Campaign",
    "CampaignExclusion",
    "CampaignRun",
    "CampaignVersion",
    "OutboxMessage",
    "TriggerFiring",
]


class Campaign(Base):
    """A campaign by its marketer-given id; ``version`` is the latest loaded definition."""

    __tablename__ = "campaigns"

    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class CampaignVersion(Base):
    """One loaded definition of a campaign: the YAML text as written and its SHA-256."""

    __tablename__ = "campaign_versions"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.campaign_id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    definition_sha256: Mapped[str] = mapped_column(String(64))
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class TriggerFiring(Base):
    """One firing of a campaign's trigger for one customer (unique ``firing_key``)."""

    __tablename__ = "trigger_firings"
    __table_args__ = (Index("ix_trigger_firings_campaign_id", "campaign_id", "fired_at"),)

    firing_id: Mapped[int] = mapped_column(ID, primary_key=True)
    firing_key: Mapped[str] = mapped_column(String(255), unique=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    campaign_version: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(32))  # birthday, winback, deal_stage, ...
    customer_id: Mapped[int] = mapped_column(ID)
    event_ref: Mapped[str] = mapped_column(String(128))  # the event or period that fired it
    event_at: Mapped[dt.datetime | None]
    fired_at: Mapped[dt.datetime]  # the run's as_of
    run_id: Mapped[str] = mapped_column(String(128))


class CampaignRun(Base):
    """One run of one campaign version at one ``as_of``: audience, exclusions and queued counts."""

    __tablename__ = "campaign_runs"

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    campaign_version: Mapped[int]
    as_of: Mapped[dt.datetime]
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[int]  # segment members or trigger firings before the policy
    excluded: Mapped[int]  # every exclusion, holdout included
    holdout: Mapped[int]
    queued: Mapped[int]  # messages new in the outbox from this run
    estimated_cost: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), default="running")
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]


class CampaignExclusion(Base):
    """A customer left out of one run, with the reason (the holdout is one of them)."""

    __tablename__ = "campaign_exclusions"

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ID, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    variant: Mapped[str | None] = mapped_column(String(32))


class OutboxMessage(Base):
    """A rendered message waiting for the gateway (append-only; ``status`` 'queued' on insert)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status", "status", "scheduled_for"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(255), unique=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    campaign_version: Mapped[int]
    run_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(ID, index=True)
    channel: Mapped[str] = mapped_column(String(8))  # email, sms
    variant: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(255))  # email or E.164
    subject: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    sms_text: Mapped[str | None] = mapped_column(Text)
    sms_encoding: Mapped[str | None] = mapped_column(String(8))
    sms_segments: Mapped[int | None]
    mime: Mapped[bytes | None] = mapped_column(LargeBinary)
    scheduled_for: Mapped[dt.datetime]  # quiet hours already applied
    created_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # the gateway's claim and delivery state (revision 0016_gateway): a worker claims a
    # message with a lease before sending it; status goes queued -> sent | failed | suppressed
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(String(255))
