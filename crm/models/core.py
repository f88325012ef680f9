"""The CRM data model (D1, D2, D4): companies, contacts, leads, deals, orders, events.

Bulk data moves through :mod:`crm.store` as Arrow tables; these classes own the
schema (and Alembic migrations) and the small transactional writes.
Natural keys (``external_id``) are unique so imports can upsert on them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm import columns as c
from crm.models.base import ID, Base

__all__ = [
    "Activity",
    "Company",
    "Consent",
    "ContactPoint",
    "Customer",
    "CustomerTag",
    "Deal",
    "ImportBatch",
    "Invoice",
    "Lead",
    "MarketingEvent",
    "Order",
    "OrderLine",
    "Payment",
    "Pipeline",
    "PipelineStage",
    "Product",
    "Quarantine",
    "Relation",
    "TagDefinition",
]


def _in(column: str, values: tuple[str, ...]) -> str:
    # "a = x OR a = y" rather than "a IN (x, y)": SQLite evaluates an IN list per row at about
    # 1 µs, the ORs at about 0.02 µs; 10M appended orders pay it 10M times (bench/results/store.md)
    return "(" + " OR ".join(f"{column} = '{v}'" for v in values) + ")"


class Company(Base):
    """A legal entity with several contacts (director, accountant, lawyer…)."""

    __tablename__ = "companies"

    company_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(64))
    size_band: Mapped[str | None] = mapped_column(
        String(16)
    )  # 1-10, 11-50, 51-200, 201-1000, 1000+
    employees: Mapped[int | None]
    domain: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]


class Customer(Base):
    """A person: a contact of a company and/or a buyer. One row per known identity.

    ``status`` is ``active``, ``duplicate`` (closed by a merge, see ``merged_into``)
    or ``suppressed`` (kept, but not contacted).
    """

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(_in("lifecycle_stage", c.LIFECYCLE_STAGES), name="lifecycle_stage"),
        CheckConstraint(_in("status", ("active", "duplicate", "suppressed")), name="status"),
        CheckConstraint("gender IS NULL OR (gender = 'f' OR gender = 'm')", name="gender"),
    )

    customer_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.company_id"), index=True)
    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    middle_name: Mapped[str | None] = mapped_column(String(128))  # patronymic
    gender: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    job_title: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(128))
    postcode: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))  # ru, en
    source: Mapped[str | None] = mapped_column(String(32))  # site_form, email, call, ...
    lifecycle_stage: Mapped[str] = mapped_column(String(24), default="lead")
    owner: Mapped[str | None] = mapped_column(String(64))  # responsible manager
    is_loyalty_member: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("customers.customer_id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]


class ContactPoint(Base):
    """An email address or phone number of a customer, raw and normalised."""

    __tablename__ = "contact_points"
    __table_args__ = (
        CheckConstraint(_in("kind", ("email", "phone")), name="kind"),
        UniqueConstraint("customer_id", "kind", "value"),
        Index("ix_contact_points_kind_normalized", "kind", "normalized"),
    )

    contact_point_id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(255))  # as entered
    normalized: Mapped[str | None] = mapped_column(String(255))  # E.164 / lower-cased email
    is_valid: Mapped[bool | None] = mapped_column(Boolean)
    invalid_reason: Mapped[str | None] = mapped_column(String(64))
    phone_type: Mapped[str | None] = mapped_column(String(16))  # mobile, fixed, ...
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    # hygiene's flags of an email address (None for phones and points not yet checked)
    is_role: Mapped[bool | None] = mapped_column(Boolean)  # info@, sales@, noreply@ …
    is_free: Mapped[bool | None] = mapped_column(Boolean)  # gmail.com, mail.ru …
    is_disposable: Mapped[bool | None] = mapped_column(Boolean)  # throw-away mailbox services
    created_at: Mapped[dt.datetime]


class Consent(Base):
    """Consent (or its withdrawal) to be contacted on one channel; the latest row wins."""

    __tablename__ = "consents"
    __table_args__ = (CheckConstraint(_in("channel", c.CONSENT_CHANNELS), name="channel"),)

    consent_id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))  # site_form, checkout, call_centre, import
    recorded_at: Mapped[dt.datetime]


class Relation(Base):
    """A link between two people: household member, spouse, companion, referred-by.

    A relation links, it never merges (D6).
    """

    __tablename__ = "relations"
    __table_args__ = (
        CheckConstraint(_in("kind", c.RELATION_KINDS), name="kind"),
        UniqueConstraint("customer_id", "related_customer_id", "kind"),
    )

    relation_id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    related_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]


class TagDefinition(Base):
    """A tag from a fixed vocabulary (S1): tags are chosen, never typed freely."""

    __tablename__ = "tag_definitions"
    __table_args__ = (UniqueConstraint("vocabulary", "code"),)

    tag_id: Mapped[int] = mapped_column(ID, primary_key=True)
    vocabulary: Mapped[str] = mapped_column(String(32))  # interest, rooms, floor, buying_for...
    code: Mapped[str] = mapped_column(String(64))
    label_en: Mapped[str] = mapped_column(String(128))
    label_ru: Mapped[str] = mapped_column(String(128))


class CustomerTag(Base):
    """A tag put on a customer."""

    __tablename__ = "customer_tags"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag_definitions.tag_id"), primary_key=True)
    tagged_at: Mapped[dt.datetime]


class Lead(Base):
    """An inquiry from some channel (D2, D4).

    ``status``: new inquiry -> verified | disqualified (with a reason: non-target,
    competitor, click fraud, duplicate…) | spam; a verified lead is converted into a deal.
    Disqualified is not lost: a lost *deal* is a target lead that did not buy.
    """

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(_in("status", c.LEAD_STATUSES), name="status"),
        CheckConstraint(
            "status <> 'disqualified' OR disqualify_reason IS NOT NULL", name="disqualify_reason"
        ),
    )

    lead_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.company_id"))
    source: Mapped[str] = mapped_column(
        String(32)
    )  # site_form, email, messenger, call, social, offline
    channel: Mapped[str | None] = mapped_column(String(32))  # ad platform / campaign channel
    status: Mapped[str] = mapped_column(String(16), default="new")
    disqualify_reason: Mapped[str | None] = mapped_column(String(32))
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))  # BANT
    authority: Mapped[bool | None] = mapped_column(Boolean)
    need: Mapped[str | None] = mapped_column(String(128))
    timing_days: Mapped[int | None]
    created_at: Mapped[dt.datetime]
    qualified_at: Mapped[dt.datetime | None]
    converted_at: Mapped[dt.datetime | None]


class Pipeline(Base):
    """A sales pipeline (first sale, repeat sale, …)."""

    __tablename__ = "pipelines"

    pipeline_id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class PipelineStage(Base):
    """An ordered stage of a pipeline; won and lost are terminal."""

    __tablename__ = "pipeline_stages"
    __table_args__ = (UniqueConstraint("pipeline_id", "name"),)

    stage_id: Mapped[int] = mapped_column(ID, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.pipeline_id"))
    name: Mapped[str] = mapped_column(String(64))
    position: Mapped[int]
    probability: Mapped[float] = mapped_column(Float, default=0.0)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    is_lost: Mapped[bool] = mapped_column(Boolean, default=False)


class Deal(Base):
    """A deal moving through pipeline stages from interest to payment."""

    __tablename__ = "deals"
    __table_args__ = (CheckConstraint(_in("status", c.DEAL_STATUSES), name="status"),)

    deal_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.company_id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.lead_id"))
    pipeline_id: Mapped[int | None] = mapped_column(ForeignKey("pipelines.pipeline_id"))
    stage_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_stages.stage_id"))
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    status: Mapped[str] = mapped_column(String(8), default="open")
    won_reason: Mapped[str | None] = mapped_column(String(64))
    lost_reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]


class Product(Base):
    """A product or service that can be ordered."""

    __tablename__ = "products"

    product_id: Mapped[int] = mapped_column(ID, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(64))
    price: Mapped[float] = mapped_column(Float)


class Order(Base):
    """A purchase. Kept narrow: 10M of these are read into pandas in seconds."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in("status", c.ORDER_STATUSES), name="status"),
        Index("ix_orders_customer_id_ordered_at", "customer_id", "ordered_at"),
    )

    order_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.deal_id"))
    ordered_at: Mapped[dt.datetime]
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    status: Mapped[str] = mapped_column(String(12), default="paid")
    channel: Mapped[str | None] = mapped_column(String(16))  # store, online, app, phone
    category: Mapped[str | None] = mapped_column(String(64))  # main category of the basket
    # money of the lines returned so far: a partial return keeps status "paid" (0 <= it <= amount)
    returned_amount: Mapped[float | None] = mapped_column(Float)


class OrderLine(Base):
    """A line of an order."""

    __tablename__ = "order_lines"

    order_line_id: Mapped[int] = mapped_column(ID, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.order_id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.product_id"))
    quantity: Mapped[int]
    unit_price: Mapped[float] = mapped_column(Float)
    amount: Mapped[float] = mapped_column(Float)


class Invoice(Base):
    """An invoice issued for a deal or an order."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(_in("status", ("issued", "paid", "cancelled", "overdue")), name="status"),
    )

    invoice_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.deal_id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.order_id"))
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    status: Mapped[str] = mapped_column(String(12), default="issued")
    issued_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime | None]


class Payment(Base):
    """A payment against an invoice."""

    __tablename__ = "payments"

    payment_id: Mapped[int] = mapped_column(ID, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.invoice_id"), index=True)
    amount: Mapped[float] = mapped_column(Float)
    method: Mapped[str | None] = mapped_column(String(16))  # card, cash, transfer, points
    paid_at: Mapped[dt.datetime]


class Activity(Base):
    """A call, meeting, email or task of a manager with a customer."""

    __tablename__ = "activities"
    __table_args__ = (CheckConstraint(_in("kind", c.ACTIVITY_KINDS), name="kind"),)

    activity_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.deal_id"))
    kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(255))
    owner: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime | None]
    done: Mapped[bool] = mapped_column(Boolean, default=True)


class MarketingEvent(Base):
    """A marketing message event: sent, delivered, opened, clicked, bounced, complained, unsubscribed."""

    __tablename__ = "marketing_events"
    __table_args__ = (
        CheckConstraint(_in("kind", c.EVENT_KINDS), name="kind"),
        Index("ix_marketing_events_customer_id_occurred_at", "customer_id", "occurred_at"),
    )

    event_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))  # email, sms
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(255))  # bounce type, clicked url…
    occurred_at: Mapped[dt.datetime]


class ImportBatch(Base):
    """One run of ``crm import`` over one file."""

    __tablename__ = "import_batches"

    batch_id: Mapped[int] = mapped_column(ID, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    source_file: Mapped[str] = mapped_column(String(1024))
    file_sha256: Mapped[str] = mapped_column(String(64))
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_inserted: Mapped[int] = mapped_column(default=0)
    rows_updated: Mapped[int] = mapped_column(default=0)
    rows_unchanged: Mapped[int] = mapped_column(default=0)
    rows_quarantined: Mapped[int] = mapped_column(default=0)
    rows_matched: Mapped[int] = mapped_column(default=0)  # landed on people already known (D9)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]


class Quarantine(Base):
    """A rejected import row, kept with its source line and the reason."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source_file_sha256", "line"),)

    quarantine_id: Mapped[int] = mapped_column(ID, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.batch_id"), index=True)
    entity: Mapped[str] = mapped_column(String(32))
    source_file: Mapped[str] = mapped_column(String(1024))
    source_file_sha256: Mapped[str] = mapped_column(String(64))
    line: Mapped[int]
    field: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)  # the row as JSON
    created_at: Mapped[dt.datetime]
