"""Campaign definitions (C1, C2, C6): the marketer's YAML as pydantic models.

A campaign file says who gets the message (a segment by name, an inline rule in the segments
language, or a trigger), on which channels in which order, with which template per channel and
language, how often a person may be contacted, the holdout share and the A/B variants, and the
promo parameters. Every model forbids unknown fields, so a typo is refused with the closest
name (through :func:`crm.definitions.load_definition`, one pass for every mistake).

.. code-block:: yaml

    id: winback_sms_ru                 # unique, letters, digits, _ and -
    name: Возвращаем клиентов
    audience: {segment: winback_at_risk}        # or {rule: {...}} or a trigger:
    trigger: {kind: no_purchase, days: 120}
    schedule: monthly                  # once | daily | weekly | monthly: the message-key period
    channels: [sms, email]             # preference order
    templates:
      sms: {ru: {text: "{{ greeting }} Скидка {{ discount_percent }}%: {{ promo_code }}"}}
      email: {ru: {subject: "...", html: "...", text: "..."}}
    holdout: 0.1
    variants: [{name: A, share: 0.5}, {name: B, share: 0.5}]
    frequency: {per_day: 1, per_week: 3}
    quiet_hours: {start: "21:00", end: "09:00"}
    household_level: false
    promo: {discount_percent: 15, code_prefix: WB, valid_days: 14, over_budget: cap}
    attribution_days: 14
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm.definitions import DefinitionError, Problem, load_definition, parse_yaml, read_source

__all__ = [
    "CHANNELS",
    "TEMPLATE_VARIABLES",
    "TRIGGER_KINDS",
    "Audience",
    "Campaign",
    "EmailTemplate",
    "Frequency",
    "Promo",
    "QuietHours",
    "SmsTemplate",
    "Templates",
    "Trigger",
    "Variant",
    "check_campaign",
    "definition_sha256",
    "load_campaign",
]

#: The channels a campaign may use, in the vocabulary of ``consents.channel``.
CHANNELS = ("email", "sms")

#: Trigger kinds :mod:`campaigns.triggers` evaluates.
TriggerKind = Literal[
    "deal_stage",
    "deal_stalled",
    "birthday",
    "no_purchase",
    "repeat_purchase",
    "segment_entered",
    "segment_left",
    "missing_contact",
    "points_expiring",
    "tier_reached",
]
TRIGGER_KINDS: tuple[str, ...] = typing.get_args(TriggerKind)

_ID = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmailTemplate(_Model):
    """An email in one language: subject, HTML part and plain-text part (Jinja2)."""

    subject: str = Field(min_length=1)
    html: str = Field(min_length=1)
    text: str = Field(min_length=1)


class SmsTemplate(_Model):
    """An SMS in one language (Jinja2)."""

    text: str = Field(min_length=1)


class Templates(_Model):
    """Templates per channel and language (``ru``, ``en``…)."""

    email: dict[str, EmailTemplate] = Field(default_factory=dict)
    sms: dict[str, SmsTemplate] = Field(default_factory=dict)

    def for_channel(self, channel: str) -> dict[str, EmailTemplate] | dict[str, SmsTemplate]:
        """The language → template mapping of ``channel``."""
        return self.email if channel == "email" else self.sms


class Trigger(_Model):
    """What fires the campaign for one customer (see :mod:`campaigns.triggers`).

    ``stage`` for ``deal_stage`` / ``deal_stalled`` (the stage name, e.g. "Booking");
    ``days`` for ``deal_stalled`` (days in the stage), ``no_purchase`` (days since the last
    paid order), ``birthday`` (days before the birthday, 0 = on the day), ``points_expiring``
    (points expiring within this many days); ``segment`` for ``segment_entered`` /
    ``segment_left``; ``field`` (``email`` or ``phone``) for ``missing_contact``; ``tier``
    for ``tier_reached``; ``cadence_factor`` for ``repeat_purchase`` (remind when the days
    since the last order reach this multiple of the customer's own mean gap); ``min_points``
    for ``points_expiring``; ``catch_up_days``: how far back a late run looks for events.
    """

    kind: TriggerKind
    stage: str | None = None
    pipeline: str | None = None
    days: int | None = Field(default=None, ge=0, le=3650)
    segment: str | None = None
    field: Literal["email", "phone"] | None = None
    tier: str | None = None
    cadence_factor: float = Field(default=1.5, gt=0, le=10)
    min_points: int = Field(default=1, ge=1)
    catch_up_days: int = Field(default=7, ge=0, le=366)

    @model_validator(mode="after")
    def _needs(self) -> Trigger:
        needs: dict[str, tuple[str, ...]] = {
            "deal_stage": ("stage",),
            "deal_stalled": ("stage", "days"),
            "no_purchase": ("days",),
            "points_expiring": ("days",),
            "segment_entered": ("segment",),
            "segment_left": ("segment",),
            "missing_contact": ("field",),
            "tier_reached": ("tier",),
        }
        missing = [name for name in needs.get(self.kind, ()) if getattr(self, name) is None]
        if missing:
            raise ValueError(f"trigger {self.kind!r} needs {', '.join(missing)}")
        return self


class Audience(_Model):
    """Who is considered: the members of a segment, or an inline rule (segments language)."""

    segment: str | None = None
    rule: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> Audience:
        if (self.segment is None) == (self.rule is None):
            raise ValueError("audience needs exactly one of segment or rule")
        return self


class Variant(_Model):
    """An A/B variant with its share of the treated audience; its own templates optional."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    share: float = Field(gt=0, le=1)
    templates: Templates | None = None


class Frequency(_Model):
    """Messages a person may get across all campaigns (``None``: the platform default)."""

    per_day: int | None = Field(default=None, ge=1)
    per_week: int | None = Field(default=None, ge=1)


class QuietHours(_Model):
    """Local hours without messages, ``start`` to ``end`` (may wrap midnight: 21:00-09:00)."""

    start: str = "21:00"
    end: str = "09:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time of day; write HH:MM, e.g. 21:00")
        return value

    def minutes(self) -> tuple[int, int]:
        """``start`` and ``end`` as minutes after local midnight."""
        (h1, m1), (h2, m2) = (map(int, t.split(":")) for t in (self.start, self.end))
        return h1 * 60 + m1, h2 * 60 + m2


class Promo(_Model):
    """The incentive: a discount, bonus points or a multiplier, per-recipient codes, validity.

    ``point_value`` is what one bonus point costs the business (currency units); the incentive
    cost of a recipient is ``bonus_points × point_value + discount_percent / 100 × their
    average order value`` (``bonus_multiplier`` grants ``(multiplier - 1) ×`` the points of one
    average order at ``points_per_currency``). ``over_budget``: when that cost is above the
    customer's personal CRM budget (S4), ``cap`` scales the incentive down to the budget and
    ``no_incentive`` sends the variant without it.
    """

    discount_percent: float | None = Field(default=None, gt=0, le=90)
    bonus_points: int | None = Field(default=None, ge=1)
    bonus_multiplier: float | None = Field(default=None, gt=1, le=10)
    points_per_currency: float = Field(default=0.01, gt=0)
    point_value: float = Field(default=1.0, gt=0)
    code_prefix: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,12}$")
    valid_days: int = Field(default=14, ge=1, le=366)
    over_budget: Literal["cap", "no_incentive"] = "cap"


class Campaign(_Model):
    """One campaign definition (see the module docstring for the YAML)."""

    id: str
    name: str = Field(min_length=1)
    description: str = ""
    audience: Audience | None = None
    trigger: Trigger | None = None
    schedule: Literal["once", "daily", "weekly", "monthly"] = "once"
    channels: list[Literal["email", "sms"]] = Field(min_length=1)
    templates: Templates
    holdout: float = Field(default=0.0, ge=0, lt=1)
    variants: list[Variant] = Field(default_factory=lambda: [Variant(name="A", share=1.0)])
    frequency: Frequency = Field(default_factory=Frequency)
    quiet_hours: QuietHours | None = None
    household_level: bool = False
    promo: Promo | None = None
    attribution_days: int = Field(default=14, ge=1, le=365)
    timezone: str | None = None  # for people without one (default: the program's)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("use 1-48 letters, digits, '_' or '-' (no spaces)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        if self.audience is None and self.trigger is None:
            raise ValueError("a campaign needs an audience (segment or rule) or a trigger")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels lists a channel twice")
        for channel in self.channels:
            if not self.templates.for_channel(channel):
                raise ValueError(f"channel {channel!r} has no template (templates.{channel})")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("two variants share a name")
        total = sum(v.share for v in self.variants)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"variant shares add up to {total:g}, not 1")
        return self

    def languages(self, channel: str) -> list[str]:
        """The languages the campaign has a template for on ``channel``."""
        return sorted(self.templates.for_channel(channel))

    def templates_of(self, variant: str) -> Templates:
        """The templates of ``variant`` (its own, or the campaign's)."""
        for v in self.variants:
            if v.name == variant and v.templates is not None:
                return v.templates
        return self.templates

    def period(self, local_day: dt.date) -> str:
        """The message-key period of a scheduled send on ``local_day``: one message per period."""
        if self.schedule == "once":
            return "once"
        if self.schedule == "daily":
            return local_day.isoformat()
        if self.schedule == "weekly":
            year, week, _ = local_day.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{local_day:%Y-%m}"


def definition_sha256(text: str) -> str:
    """The SHA-256 of a definition's text: a new version is loaded only when it changes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_campaign(source: str | Path) -> tuple[Campaign, str]:
    """Load and validate one campaign file (a path or YAML text).

    Returns
    -------
    (Campaign, str)
        The model and the definition's text (stored as the version's definition).

    Raises
    ------
    crm.definitions.DefinitionError
        Every mistake of the file with its line and field, the closest name suggested.
    """
    text, _ = read_source(source, "campaign")
    return load_definition(source, Campaign, what="campaign"), text


#: What a campaign template may use besides the recipient's context (campaigns.context) and
#: profile columns: the run's per-recipient incentive and the campaign's parameters, each with
#: a sample value for :func:`check_campaign`.
TEMPLATE_VARIABLES: dict[str, Any] = {
    "discount_percent": 15,
    "bonus_points": 500,
    "bonus_multiplier": 2.0,
    "incentive_cost": 150.0,
    "incentive_capped": False,
    "no_incentive": False,
    "valid_until": dt.date(2026, 12, 15),
    "campaign_name": "Campaign",
    "variant": "A",
    "message_ref": "2026-12",
    "points_balance": 1200,
    "tier": "silver",
    "city": "Москва",
    "orders": 3,
    "revenue": 12000.0,
    "avg_order_value": 4000.0,
    "favourite_category": "books",
    "personal_budget": 300.0,
    "last_order_at": dt.datetime(2026, 8, 1, tzinfo=dt.UTC),
    "birth_date": dt.date(1990, 12, 1),
}


def check_campaign(
    source: str | Path,
    *,
    fields: Iterable[str] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> tuple[Campaign, list[Problem]]:
    """Load a campaign and check what the model cannot: templates and the inline audience rule.

    Every template of every variant is compiled and rendered once for a sample recipient by
    :func:`campaigns.preview.check_templates` (unknown variables and filters, forbidden
    attributes, runaway templates); an inline ``audience.rule`` is parsed by the segments
    language and its fields checked against the profiles': by name against ``fields``, and
    by kind (an operator that does not fit the field, a value of the wrong type) against
    ``schema`` when one is given. Problems carry the file's name, the line of the field in
    the campaign file and, for an unknown name, the closest known one.

    Parameters
    ----------
    source : str or Path
        The campaign file (or its YAML text).
    fields : iterable of str, optional
        The profile columns a rule may read (``crm.snapshot.PROFILE_FIELDS``).
    schema : mapping, optional
        Field → kind (:func:`segments.schema.schema_from_frame` of the scored profiles).

    Raises
    ------
    crm.definitions.DefinitionError
        When the file itself is invalid (see :func:`load_campaign`): every mistake of the
        model together with those of the audience rule, in one pass.
    """
    from campaigns.preview import check_templates

    text, name = read_source(source, "campaign")
    doc = parse_yaml(text, "campaign")
    try:
        campaign, _ = load_campaign(source)
    except DefinitionError as exc:
        rule = _raw_rule(doc.data)
        found = _rule_problems(rule, doc, name, fields, schema) if rule is not None else []
        raise DefinitionError([*exc.problems, *found], exc.source) from None
    problems: list[Problem] = []
    names = [v.name for v in campaign.variants]
    for variant in campaign.variants:
        templates = campaign.templates_of(variant.name)
        base: tuple[str, ...] = (
            ("templates",) if variant.templates is None else ("variants", variant.name, "templates")
        )
        for p in check_templates(templates, variables=TEMPLATE_VARIABLES, source=name):
            parts = tuple(p.field.split("."))
            parts = parts[1:] if parts[:1] == ("templates",) else parts
            loc: tuple[str | int, ...] = (*base, *parts)
            if variant.templates is not None:
                loc = ("variants", names.index(variant.name), "templates", *parts)
            inner = f" (line {p.line} of the template)" if p.line and p.line > 1 else ""
            problems.append(
                Problem(name, doc.line_of(loc), ".".join(map(str, loc)), p.message + inner)
            )
    if campaign.audience is not None and campaign.audience.rule is not None:
        problems.extend(_rule_problems(campaign.audience.rule, doc, name, fields, schema))
    return campaign, sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _raw_rule(data: Any) -> dict[str, Any] | None:
    audience = data.get("audience") if isinstance(data, dict) else None
    rule = audience.get("rule") if isinstance(audience, dict) else None
    return rule if isinstance(rule, dict) else None


def _key_paths(
    node: Any, key: str, path: tuple[str | int, ...] = ()
) -> list[tuple[str | int, ...]]:
    """Where ``key`` is a mapping key inside ``node``, in document order."""
    found: list[tuple[str | int, ...]] = []
    if isinstance(node, dict):
        for k, value in node.items():
            if k == key:
                found.append((*path, k))
            found.extend(_key_paths(value, key, (*path, k)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_key_paths(value, key, (*path, i)))
    return found


def _rule_problems(
    rule: dict[str, Any],
    doc: Any,
    name: str,
    fields: Iterable[str] | None,
    schema: Mapping[str, Any] | None,
) -> list[Problem]:
    """The inline rule's mistakes by the segments language, at their lines in the campaign."""
    from segments.errors import SegmentDefinitionError
    from segments.rules import load_segments

    text = yaml.safe_dump({"segments": [{"name": "audience", "where": rule}]}, allow_unicode=True)
    try:
        load_segments(
            text,
            schema=dict(schema) if schema is not None else None,
            fields=list(fields) if fields is not None and schema is None else None,
        )
    except SegmentDefinitionError as exc:
        seen: dict[str, int] = {}
        problems = []
        for bad in exc.problems:
            field = str(bad.field)
            paths = _key_paths(rule, field)
            nth = seen.get(field, 0)
            seen[field] = nth + 1
            path = paths[min(nth, len(paths) - 1)] if paths else ()
            loc = ("audience", "rule", *path)
            where = ".".join(map(str, loc)) if path else f"audience.rule.{field}"
            problems.append(Problem(name, doc.line_of(loc), where, str(bad.message)))
        return problems
    return []
