"""The operator's loyalty rules: a YAML file checked into a typed model.

The operator (a marketer, not a programmer) writes earning rules, tiers, promotion waves,
bonuses, referral rewards and the burn rule in YAML (see ``loyalty/rules.example.yaml``).
:func:`load_rules` refuses an invalid file with the line and the field at fault, so the
operator can fix it without reading a traceback.

Example
-------
>>> rules = load_rules(Path("loyalty/rules.example.yaml"))
>>> rules.program.validity_days
365
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm.definitions import DefinitionError, parse_yaml, validate_document
from loyalty.errors import RulesError

__all__ = [
    "ActivityBonus",
    "Bonuses",
    "BurnRule",
    "Program",
    "Promotion",
    "PurchaseRule",
    "ReferralRule",
    "Rules",
    "Tier",
    "Tiers",
    "load_rules",
    "parse_rules",
]

_CODE = r"^[a-z][a-z0-9_]*$"
Name = str | dict[str, str] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Program(_Strict):
    """Program-wide settings: money value of a point, hold and validity periods."""

    name: Name = None
    currency: str = "RUB"
    point_value: float = Field(1.0, gt=0, description="money value of one point when burning")
    hold_days: int = Field(14, ge=0, description="purchase points stay pending (return window)")
    validity_days: int = Field(365, gt=0, description="points expire this long after crediting")
    max_points_per_order: int | None = Field(None, ge=0)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use e.g. Europe/Moscow)") from None
        return value


class _Scoped(_Strict):
    """Shared filters: which orders a rule or promotion applies to."""

    categories: list[str] | None = None
    channels: list[str] | None = None
    min_amount: float = Field(0.0, ge=0)
    start: dt.date | None = None
    end: dt.date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> _Scoped:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class PurchaseRule(_Scoped):
    """Points for a purchase: ``percent`` of the amount or fixed ``points`` per order.

    Every matching rule adds its own ledger entry; ``cap_per_order`` limits this rule.
    """

    id: str = Field(pattern=_CODE)
    name: Name = None
    percent: float | None = Field(None, gt=0, le=100)
    points: int | None = Field(None, gt=0)
    cap_per_order: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_kind(self) -> PurchaseRule:
        if (self.percent is None) == (self.points is None):
            raise ValueError("give exactly one of percent or points")
        return self


class Tier(_Strict):
    """A tier level: reached at ``threshold`` (spend or points over the window)."""

    code: str = Field(pattern=_CODE)
    name: Name = None
    threshold: float = Field(ge=0)
    multiplier: float = Field(1.0, ge=1)


class Tiers(_Strict):
    """Tier levels by spend or points over a rolling window, with a minimum stay."""

    basis: Literal["spend", "points"] = "spend"
    window_days: int = Field(365, gt=0)
    min_stay_days: int = Field(0, ge=0, description="no downgrade sooner than this after a change")
    levels: list[Tier] = Field(default_factory=lambda: [Tier(code="base", threshold=0)])

    @field_validator("levels")
    @classmethod
    def _ordered(cls, levels: list[Tier]) -> list[Tier]:
        if not levels:
            raise ValueError("give at least one level")
        if levels[0].threshold != 0:
            raise ValueError("the first level must have threshold 0 (everyone starts there)")
        th = [lv.threshold for lv in levels]
        if any(b <= a for a, b in itertools.pairwise(th)):
            raise ValueError(f"thresholds must increase strictly, got {th}")
        codes = [lv.code for lv in levels]
        if len(set(codes)) != len(codes):
            raise ValueError(f"tier codes must be unique, got {codes}")
        return levels


class Promotion(_Scoped):
    """A promotion wave: a points multiplier and/or fixed bonus between two local dates."""

    id: str = Field(pattern=_CODE)
    name: Name = None
    start: dt.date  # type: ignore[assignment]
    end: dt.date  # type: ignore[assignment]
    multiplier: float = Field(1.0, ge=1)
    bonus_points: int = Field(0, ge=0)
    tiers: list[str] | None = None


class ActivityBonus(_Strict):
    """Points for an activity (review, app install, profile completed, social share)."""

    points: int = Field(gt=0)
    once: bool = Field(False, description="at most once per customer")
    name: Name = None


class Bonuses(_Strict):
    """One-off bonuses: welcome (on joining) and birthday (once a year)."""

    welcome: int = Field(0, ge=0)
    birthday: int = Field(0, ge=0)


class ReferralRule(_Strict):
    """Referral rewards for both sides once the friend's first order is paid."""

    referrer_points: int = Field(0, ge=0)
    friend_points: int = Field(0, ge=0)
    min_order_amount: float = Field(0.0, ge=0)


class BurnRule(_Strict):
    """How points pay for an order: at most ``max_share`` of it, above ``min_order_amount``."""

    max_share: float = Field(0.3, gt=0, le=1)
    min_order_amount: float = Field(0.0, ge=0)
    min_points: int = Field(0, ge=0)


class Rules(_Strict):
    """The whole loyalty program as the operator configured it."""

    program: Program = Program()
    purchase_rules: list[PurchaseRule] = Field(default_factory=list)
    tiers: Tiers = Tiers()
    promotions: list[Promotion] = Field(default_factory=list)
    bonuses: Bonuses = Bonuses()
    activity: dict[str, ActivityBonus] = Field(default_factory=dict)
    referral: ReferralRule = ReferralRule()
    burn: BurnRule = BurnRule()

    @model_validator(mode="after")
    def _references(self) -> Rules:
        for what, items in (("purchase rule", self.purchase_rules), ("promotion", self.promotions)):
            ids = [r.id for r in items]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"{what} ids must be unique, repeated: {dup}")
        codes = {lv.code for lv in self.tiers.levels}
        for promo in self.promotions:
            unknown = sorted(set(promo.tiers or ()) - codes)
            if unknown:
                raise ValueError(f"promotion {promo.id!r} names unknown tier(s) {unknown}")
        return self

    def tier_index(self, code: str) -> int:
        """Position of a tier code among the levels (0 = base)."""
        for i, lv in enumerate(self.tiers.levels):
            if lv.code == code:
                return i
        raise RulesError("tiers.levels", f"no tier {code!r}")


# ---------------------------------------------------------------- loading
def parse_rules(text: str | Path, source: str | None = None) -> Rules:
    """Parse rules from YAML ``text`` (or a path) through the one definitions loader.

    Raises
    ------
    RulesError
        With every problem of the file, each with its dotted field and 1-based line.
    """
    try:
        doc = parse_yaml(text, what="loyalty rules")
        if source is not None:
            doc.source = source
        return validate_document(doc, Rules)
    except DefinitionError as exc:
        raise RulesError(exc.problems) from None


def load_rules(path: str | Path) -> Rules:
    """Read and validate the rules file at ``path`` (see :func:`parse_rules`)."""
    return parse_rules(Path(path))
