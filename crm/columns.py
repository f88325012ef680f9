"""One column vocabulary for every frame passed between rooms.

Tables in :mod:`crm.models` use these names, and so do the frames that
``crm.store`` returns, that ``segments``, ``campaigns`` and ``loyalty`` take,
and that ``flows`` write back. Import the constant rather than typing the
string, so a rename is one edit.
"""

from __future__ import annotations

__all__ = [
    "ACTIVITY_ID",
    "ACTIVITY_KINDS",
    "AMOUNT",
    "BIRTH_DATE",
    "CAMPAIGN_ID",
    "CHANNEL",
    "CITY",
    "COMPANY_ID",
    "CONSENT_CHANNELS",
    "CREATED_AT",
    "CURRENCY",
    "CUSTOMER_ID",
    "DEAL_ID",
    "DEAL_STATUSES",
    "EMAIL",
    "EVENT_ID",
    "EVENT_KINDS",
    "EXTERNAL_ID",
    "FIRST_NAME",
    "GENDER",
    "LANGUAGE",
    "LAST_NAME",
    "LEAD_ID",
    "LEAD_STATUSES",
    "LIFECYCLE_STAGES",
    "MIDDLE_NAME",
    "OCCURRED_AT",
    "ORDERED_AT",
    "ORDER_ID",
    "ORDER_STATUSES",
    "PHONE",
    "PRODUCT_ID",
    "RELATION_KINDS",
    "SOURCE",
    "STATUS",
    "UPDATED_AT",
]

# identifiers
CUSTOMER_ID = "customer_id"
COMPANY_ID = "company_id"
LEAD_ID = "lead_id"
DEAL_ID = "deal_id"
ORDER_ID = "order_id"
PRODUCT_ID = "product_id"
ACTIVITY_ID = "activity_id"
EVENT_ID = "event_id"
CAMPAIGN_ID = "campaign_id"
EXTERNAL_ID = "external_id"

# people
FIRST_NAME = "first_name"
LAST_NAME = "last_name"
MIDDLE_NAME = "middle_name"  # patronymic for Russian names
GENDER = "gender"
BIRTH_DATE = "birth_date"
CITY = "city"
LANGUAGE = "language"
EMAIL = "email"
PHONE = "phone"

# facts
ORDERED_AT = "ordered_at"
OCCURRED_AT = "occurred_at"
CREATED_AT = "created_at"
UPDATED_AT = "updated_at"
AMOUNT = "amount"
CURRENCY = "currency"
CHANNEL = "channel"
SOURCE = "source"
STATUS = "status"

# vocabularies (the values a column may hold)
LIFECYCLE_STAGES = ("subscriber", "lead", "opportunity", "customer", "repeat_customer", "churned")
LEAD_STATUSES = ("new", "verified", "disqualified", "spam", "converted")
DEAL_STATUSES = ("open", "won", "lost")
ORDER_STATUSES = ("paid", "cancelled", "returned")
ACTIVITY_KINDS = ("call", "meeting", "email", "task")
EVENT_KINDS = ("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")
CONSENT_CHANNELS = ("email", "sms", "phone", "push")
#: ``maybe_same``: a pair dedup could not settle (one person, or two of one name in one
#: home; :func:`crm.identity.resolve.maybe_same`), left for a person to decide.
RELATION_KINDS = ("household", "spouse", "companion", "referred_by", "maybe_same")
