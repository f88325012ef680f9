"""What each importable entity accepts: its fields, their types, and the header synonyms."""

from __future__ import annotations

from dataclasses import dataclass

from crm import columns as c

__all__ = ["ENTITIES", "SYNONYMS", "FieldSpec"]


@dataclass(frozen=True)
class FieldSpec:
    """One importable field: its type, whether it is required, allowed values."""

    kind: str = "str"  # str, int, float, date, datetime, bool, enum, email, phone, ref
    required: bool = False
    choices: tuple[str, ...] = ()
    ref: str | None = None  # for kind="ref": the table whose external_id it names
    max_len: int | None = None
    positive: bool = False


_CUSTOMER_REF = FieldSpec("ref", required=True, ref="customers")

#: What each entity accepts. ``external_id`` is the natural key of every entity.
ENTITIES: dict[str, dict[str, FieldSpec]] = {
    "contacts": {
        "external_id": FieldSpec(required=True, max_len=64),
        "first_name": FieldSpec(max_len=128),
        "last_name": FieldSpec(max_len=128),
        "middle_name": FieldSpec(max_len=128),
        "gender": FieldSpec("enum", choices=("f", "m")),
        "birth_date": FieldSpec("date"),
        "job_title": FieldSpec(max_len=255),
        "city": FieldSpec(max_len=128),
        "postcode": FieldSpec(max_len=16),
        "address": FieldSpec(max_len=255),
        "timezone": FieldSpec(max_len=64),
        "language": FieldSpec("enum", choices=("ru", "en")),
        "source": FieldSpec(max_len=32),
        "lifecycle_stage": FieldSpec("enum", choices=c.LIFECYCLE_STAGES),
        "owner": FieldSpec(max_len=64),
        "company": FieldSpec("ref", ref="companies"),
        "email": FieldSpec("email"),
        "phone": FieldSpec("phone"),
        "email_consent": FieldSpec("bool"),
        "sms_consent": FieldSpec("bool"),
    },
    "companies": {
        "external_id": FieldSpec(required=True, max_len=64),
        "name": FieldSpec(required=True, max_len=255),
        "industry": FieldSpec(max_len=64),
        "size_band": FieldSpec(max_len=16),
        "employees": FieldSpec("int"),
        "domain": FieldSpec(max_len=255),
        "city": FieldSpec(max_len=128),
    },
    "leads": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": FieldSpec("ref", ref="customers"),
        "company": FieldSpec("ref", ref="companies"),
        "source": FieldSpec(required=True, max_len=32),
        "channel": FieldSpec(max_len=32),
        "status": FieldSpec("enum", required=True, choices=c.LEAD_STATUSES),
        "disqualify_reason": FieldSpec(max_len=32),
        "budget": FieldSpec("float"),
        "authority": FieldSpec("bool"),
        "need": FieldSpec(max_len=128),
        "timing_days": FieldSpec("int"),
        "created_at": FieldSpec("datetime", required=True),
        "qualified_at": FieldSpec("datetime"),
        "converted_at": FieldSpec("datetime"),
    },
    "deals": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": FieldSpec("ref", ref="customers"),
        "company": FieldSpec("ref", ref="companies"),
        "amount": FieldSpec("float"),
        "currency": FieldSpec(max_len=3),
        "status": FieldSpec("enum", required=True, choices=c.DEAL_STATUSES),
        "won_reason": FieldSpec(max_len=64),
        "lost_reason": FieldSpec(max_len=64),
        "created_at": FieldSpec("datetime", required=True),
        "closed_at": FieldSpec("datetime"),
    },
    "orders": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": _CUSTOMER_REF,
        "ordered_at": FieldSpec("datetime", required=True),
        "amount": FieldSpec("float", required=True, positive=True),
        "currency": FieldSpec(max_len=3),
        "status": FieldSpec("enum", choices=c.ORDER_STATUSES),
        "channel": FieldSpec(max_len=16),
        "category": FieldSpec(max_len=64),
        # money of the lines returned so far (0 <= it <= amount): a partial return
        "returned_amount": FieldSpec("float"),
    },
    "activity_events": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": _CUSTOMER_REF,
        "kind": FieldSpec(required=True, max_len=32),
        "occurred_at": FieldSpec("datetime", required=True),
    },
    "events": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": _CUSTOMER_REF,
        "campaign_id": FieldSpec(max_len=64),
        "channel": FieldSpec("enum", required=True, choices=("email", "sms")),
        "kind": FieldSpec("enum", required=True, choices=c.EVENT_KINDS),
        "detail": FieldSpec(max_len=255),
        "occurred_at": FieldSpec("datetime", required=True),
    },
}

_TABLE = {
    "contacts": "customers",
    "companies": "companies",
    "leads": "leads",
    "deals": "deals",
    "orders": "orders",
    "events": "marketing_events",
    "activity_events": "loyalty_events",  # site/app activity that may earn points (L1)
}

#: Header synonyms (lower-cased) recognised without an explicit mapping, Russian and English.
SYNONYMS: dict[str, str] = {
    "id": "external_id",
    "external id": "external_id",
    "код": "external_id",
    "ид": "external_id",
    "фамилия": "last_name",
    "surname": "last_name",
    "last name": "last_name",
    "имя": "first_name",
    "first name": "first_name",
    "given name": "first_name",
    "отчество": "middle_name",
    "patronymic": "middle_name",
    "middle name": "middle_name",
    "e-mail": "email",
    "email": "email",
    "почта": "email",
    "эл. почта": "email",
    "телефон": "phone",
    "phone": "phone",
    "мобильный": "phone",
    "mobile": "phone",
    "тел.": "phone",
    "дата рождения": "birth_date",
    "birthday": "birth_date",
    "date of birth": "birth_date",
    "др": "birth_date",
    "город": "city",
    "city": "city",
    "стадия": "lifecycle_stage",
    "stage": "lifecycle_stage",
    "источник": "source",
    "source": "source",
    "пол": "gender",
    "gender": "gender",
    "должность": "job_title",
    "job title": "job_title",
    "title": "job_title",
    "компания": "company",
    "company": "company",
    "ответственный": "owner",
    "owner": "owner",
    "адрес": "address",
    "индекс": "postcode",
    "язык": "language",
    "клиент": "customer",
    "customer": "customer",
    "сумма": "amount",
    "amount": "amount",
    "дата заказа": "ordered_at",
    "order date": "ordered_at",
    "статус": "status",
    "status": "status",
    "валюта": "currency",
    "категория": "category",
    "returned amount": "returned_amount",
    "returned": "returned_amount",
    "сумма возврата": "returned_amount",
    "возврат": "returned_amount",
}
