"""Pydantic models of every body and response the gateway takes or gives."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Accepted",
    "ActivityIn",
    "CardConsent",
    "CardContactPoint",
    "CardEntry",
    "CardLeadScore",
    "CardLoyalty",
    "CardMessage",
    "CardScores",
    "CardSuppression",
    "ContactIn",
    "CustomerCard",
    "Health",
    "IntakeStatus",
    "LeadIn",
    "OrderIn",
    "Person",
    "Quote",
    "QuoteIn",
    "Ready",
    "RedemptionIn",
    "RedemptionOut",
    "Unsubscribed",
    "WebhookIn",
    "WebhookOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Out):
    """The service is up."""

    status: str = Field(examples=["ok"])


class Ready(_Out):
    """Whether the gateway can serve: database reachable, schema at the code's revision."""

    status: str = Field(examples=["ok"])
    database: bool = Field(examples=[True])
    migrations_current: bool = Field(examples=[True])
    detail: str | None = Field(None, examples=[None])


# ----------------------------------------------------------------------------- intake
_SOURCE = Field(
    min_length=1,
    max_length=32,
    pattern=r"^[a-z][a-z0-9_]*$",
    description="Where the event came from (D4): site_form, app, call_centre, sms_reply, …",
    examples=["site_form"],
)
_CHANNEL = Field(
    None,
    max_length=32,
    description="The acquisition or contact channel: the ad campaign, messenger, phone line…",
    examples=["yandex_direct"],
)
_EXTERNAL_ID = Field(
    min_length=1,
    max_length=64,
    description="The sender's own id of the record: a resend with the same id updates it.",
    examples=["form-20260601-0001"],
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Refuse what no database column takes: NUL characters, instants outside 1900-2200."""
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if isinstance(value, dt.date) and not 1900 <= value.year <= 2200:
            raise ValueError("must be between the years 1900 and 2200")
        return value


class Person(_In):
    """Contact details as a form or a call centre takes them (normalised on landing)."""

    first_name: str | None = Field(None, max_length=128, examples=["анна"])
    last_name: str | None = Field(None, max_length=128, examples=["Смирнова"])
    middle_name: str | None = Field(None, max_length=128, examples=["Петровна"])
    email: str | None = Field(
        None, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$", examples=["anna@example.ru"]
    )
    phone: str | None = Field(
        None, max_length=32, pattern=r"^[+\d][\d\s().-]{6,}$", examples=["8 (912) 345-67-89"]
    )
    city: str | None = Field(None, max_length=128, examples=["Москва"])
    language: Literal["ru", "en"] | None = Field(None, examples=["ru"])
    email_consent: bool | None = Field(None, description="Opted in to email.", examples=[True])
    sms_consent: bool | None = Field(None, description="Opted in to SMS.", examples=[False])


class ContactIn(Person):
    """A contact (a person) from an external source; lands like an imported row (D5, D6, D9)."""

    external_id: str = _EXTERNAL_ID
    source: str = _SOURCE
    channel: str | None = _CHANNEL
    gender: Literal["f", "m"] | None = Field(None, examples=["f"])
    birth_date: dt.date | None = Field(None, examples=["1990-04-12"])
    job_title: str | None = Field(None, max_length=255, examples=["Генеральный директор"])


class LeadIn(_In):
    """An inquiry (D1, D2): who asked, from where, and what for (BANT when known)."""

    external_id: str = _EXTERNAL_ID
    source: str = _SOURCE
    channel: str | None = _CHANNEL
    customer_external_id: str | None = Field(
        None, max_length=64, description="The contact's id when the sender knows it."
    )
    contact: Person | None = Field(None, description="Who asked, when not a known contact.")
    need: str | None = Field(None, max_length=128, examples=["2-room flat, low floor"])
    budget: float | None = Field(None, ge=0, le=1e11, examples=[12_000_000])
    authority: bool | None = Field(None, examples=[True])
    timing_days: int | None = Field(None, ge=0, le=3650, examples=[30])
    created_at: dt.datetime | None = Field(None, description="When asked (default: received).")

    @model_validator(mode="after")
    def _someone(self) -> LeadIn:
        if self.customer_external_id is None and (
            self.contact is None or (self.contact.email is None and self.contact.phone is None)
        ):
            raise ValueError("a lead needs customer_external_id or a contact with email or phone")
        return self


class OrderIn(_In):
    """An order (purchase) of a known contact."""

    external_id: str = _EXTERNAL_ID
    source: str = _SOURCE
    channel: Literal["store", "online", "app", "phone"] | None = Field(None, examples=["online"])
    customer_external_id: str = Field(min_length=1, max_length=64, examples=["cust-000042"])
    ordered_at: dt.datetime = Field(examples=["2026-06-01T10:15:00+03:00"])
    amount: float = Field(gt=0, le=1e9, examples=[3490.0])
    currency: str = Field("RUB", pattern=r"^[A-Z]{3}$", examples=["RUB"])
    status: Literal["paid", "cancelled", "returned"] = Field("paid", examples=["paid"])
    category: str | None = Field(None, max_length=64, examples=["shoes"])


class ActivityIn(_In):
    """A customer activity that may earn points (L1): review, app install, social share…"""

    external_id: str = _EXTERNAL_ID
    source: str = _SOURCE
    channel: str | None = _CHANNEL
    customer_external_id: str = Field(min_length=1, max_length=64, examples=["cust-000042"])
    kind: str = Field(
        min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$", examples=["review"]
    )
    occurred_at: dt.datetime = Field(examples=["2026-06-01T10:15:00Z"])


class Accepted(_Out):
    """An event the gateway has stored durably; it lands in the CRM tables shortly after."""

    intake_id: int = Field(examples=[1042])
    kind: Literal["lead", "contact", "order", "activity"] = Field(examples=["contact"])
    external_id: str = Field(examples=["form-20260601-0001"])
    status: Literal["accepted"] = "accepted"
    received_at: dt.datetime = Field(examples=["2026-06-01T12:00:00Z"])


class IntakeStatus(_Out):
    """What became of an accepted event."""

    intake_id: int = Field(examples=[1042])
    kind: str = Field(examples=["contact"])
    external_id: str = Field(examples=["form-20260601-0001"])
    status: Literal["accepted", "applied", "rejected"] = Field(examples=["applied"])
    field: str | None = Field(None, examples=[None])
    reason: str | None = Field(None, examples=[None])
    received_at: dt.datetime
    applied_at: dt.datetime | None = None


# ----------------------------------------------------------------------------- loyalty
class QuoteIn(_In):
    """A basket at checkout."""

    customer_id: int = Field(ge=1, le=2**62, examples=[42])
    amount: float = Field(gt=0, le=1e9, examples=[5000.0])
    ordered_at: dt.datetime | None = Field(None, description="Default: now.")
    category: str | None = Field(None, max_length=64, examples=["shoes"])
    channel: Literal["store", "online", "app", "phone"] | None = Field(None, examples=["online"])
    use_points: int = Field(0, ge=0, le=10**9, description="Points the customer wants to spend.")


class Quote(_Out):
    """What the order earns and may burn under the loyalty rules (the batch's own rules)."""

    customer_id: int = Field(examples=[42])
    tier: str = Field(examples=["silver"])
    available_points: int = Field(examples=[1200])
    amount: float = Field(examples=[5000.0])
    max_burn_points: int = Field(examples=[1200])
    burn_points: int = Field(examples=[0])
    paid_amount: float = Field(examples=[5000.0])
    earn_points: int = Field(examples=[250])
    earn_breakdown: dict[str, int] = Field(examples=[{"base": 250}])
    pending_days: int = Field(examples=[14])


class RedemptionIn(_In):
    """A prize to redeem for points."""

    customer_id: int = Field(ge=1, le=2**62, examples=[42])
    prize_id: int = Field(ge=1, le=2**62, examples=[3])
    quantity: int = Field(1, ge=1, le=1000, examples=[1])


class RedemptionOut(_Out):
    """A redemption made (or, ``replayed``, the one this Idempotency-Key made before)."""

    redemption_id: int = Field(examples=[7])
    customer_id: int = Field(examples=[42])
    prize_id: int = Field(examples=[3])
    quantity: int = Field(examples=[1])
    points: int = Field(examples=[1000])
    stock_left: int = Field(examples=[19])
    replayed: bool = Field(examples=[False])


# ----------------------------------------------------------------------------- the card
class CardContactPoint(_Out):
    kind: str = Field(examples=["email"])
    value: str = Field(examples=["anna@example.ru"])
    normalized: str | None = Field(None, examples=["anna@example.ru"])
    is_valid: bool | None = Field(None, examples=[True])
    is_primary: bool = Field(examples=[True])


class CardConsent(_Out):
    channel: str = Field(examples=["email"])
    granted: bool = Field(examples=[True])
    source: str = Field(examples=["site_form"])
    recorded_at: dt.datetime


class CardSuppression(_Out):
    scope: str = Field(examples=["email"])
    target: str = Field(examples=["anna@example.ru"])
    reason: str = Field(examples=["hard_bounce"])
    suppressed_at: dt.datetime


class CardScores(_Out):
    """The latest segments run's profile: RFM, value and budget (S2, S4)."""

    as_of: dt.datetime
    rfm_code: str | None = Field(None, examples=["545"])
    rfm_segment: str | None = Field(None, examples=["loyal"])
    recency: int | None = Field(None, examples=[12])
    frequency: int = Field(examples=[7])
    monetary: float = Field(examples=[23100.0])
    probability_alive: float | None = Field(None, examples=[0.93])
    predicted_value: float | None = Field(None, examples=[18400.0])
    personal_budget: float | None = Field(None, examples=[552.0])
    lead_score: float | None = Field(None, examples=[64.0])


class CardLeadScore(_Out):
    """A lead's score with its explanation (every point named, S3)."""

    lead_id: int
    rule_score: float = Field(examples=[64.0])
    model_probability: float | None = Field(None, examples=[0.31])
    factors: str | None = Field(None, examples=["budget: 20; timing: 15"])


class CardEntry(_Out):
    occurred_at: dt.datetime
    kind: str = Field(examples=["earn"])
    points: int = Field(examples=[250])
    running_balance: int = Field(examples=[1450])
    reason: str | None = Field(None, examples=["purchase"])


class CardLoyalty(_Out):
    tier: str | None = Field(None, examples=["silver"])
    balance: int = Field(examples=[1450])
    pending: int = Field(examples=[250])
    available: int = Field(examples=[1200])
    expiring: int = Field(examples=[0])
    statement: list[CardEntry] = Field(description="The latest entries, newest first.")


class CardMessage(_Out):
    message_key: str
    campaign_id: str = Field(examples=["winback-ru"])
    channel: str = Field(examples=["sms"])
    status: str = Field(examples=["sent"])
    scheduled_for: dt.datetime
    sent_at: dt.datetime | None = None
    events: list[str] = Field(examples=[["delivered", "clicked"]])


class CustomerCard(_Out):
    """Everything about one customer on one page (P: the customer card)."""

    customer_id: int = Field(examples=[42])
    external_id: str | None = Field(None, examples=["cust-000042"])
    status: str = Field(examples=["active"])
    first_name: str | None = Field(None, examples=["Анна"])
    last_name: str | None = Field(None, examples=["Смирнова"])
    middle_name: str | None = Field(None, examples=["Петровна"])
    gender: str | None = Field(None, examples=["f"])
    birth_date: dt.date | None = None
    city: str | None = Field(None, examples=["Москва"])
    language: str | None = Field(None, examples=["ru"])
    source: str | None = Field(None, examples=["site_form"])
    lifecycle_stage: str = Field(examples=["customer"])
    created_at: dt.datetime
    contact_points: list[CardContactPoint]
    consents: list[CardConsent] = Field(description="The latest consent per channel.")
    suppressions: list[CardSuppression] = Field(description="Suppressions in force.")
    scores: CardScores | None = None
    lead_scores: list[CardLeadScore]
    segments: list[str] = Field(examples=[["vip", "low_floor_interest"]])
    loyalty: CardLoyalty
    messages: list[CardMessage] = Field(description="The latest messages, newest first.")


# ----------------------------------------------------------------------------- delivery
class WebhookIn(_In):
    """A delivery report from the email or SMS provider."""

    event_id: str = Field(
        min_length=1,
        max_length=100,
        description="The provider's event id.",
        examples=["evt-000123"],
    )
    message_key: str | None = Field(None, max_length=255, description="Ours (Idempotency-Key).")
    provider_message_id: str | None = Field(None, max_length=255, examples=["fake-17"])
    kind: Literal["delivered", "bounced_hard", "bounced_soft", "complained"] = Field(
        examples=["bounced_hard"]
    )
    detail: str | None = Field(None, max_length=255, examples=["550 5.1.1 user unknown"])
    occurred_at: dt.datetime | None = Field(None, description="Default: received.")

    @model_validator(mode="after")
    def _which(self) -> WebhookIn:
        if self.message_key is None and self.provider_message_id is None:
            raise ValueError("give message_key or provider_message_id")
        return self


class WebhookOut(_Out):
    """What the report did to the message."""

    message_key: str
    status: str = Field(examples=["bounced"])
    recorded: bool = Field(description="False when this event id was seen before.")
    suppressed: bool = Field(description="The channel is suppressed for this address now.")


class Unsubscribed(_Out):
    """The opt-out is recorded; no further message goes out on this channel."""

    customer_id: int
    channel: str = Field(examples=["email"])
    recorded: bool = Field(description="False when this link was used before.")
