"""The lead-scoring rules a marketer writes in YAML (S3): the model of the file and its loader.

``segments/scoring.example.yaml`` is the example: *fit* (company industry and size band, the
contact's buying role and seniority), *BANT* thresholds, decayed *behaviour*, caps, and the
buying committee an account is expected to have. :func:`load_scoring_rules` reads a file
through :mod:`crm.definitions`, so every mistake is reported at once with its line.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm.columns import ACTIVITY_KINDS, EVENT_KINDS
from crm.definitions import DefinitionError, Problem, YamlDocument, parse_yaml, validate_document
from segments.errors import ScoringRulesError

__all__ = [
    "EXAMPLE_RULES",
    "AccountRules",
    "Bant",
    "Behaviour",
    "Caps",
    "Fit",
    "Need",
    "RoleRule",
    "ScoringRules",
    "Threshold",
    "TimingWindow",
    "load_scoring_rules",
]

#: The example rules file shipped with the package.
EXAMPLE_RULES = Path(__file__).with_name("scoring.example.yaml")

_CODE = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleRule(_Strict):
    """A buying role and the job-title keywords that mean it (case-insensitive substrings)."""

    code: str = Field(pattern=_CODE)
    keywords: list[str] = Field(min_length=1)

    @field_validator("keywords")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not k.strip() for k in value):
            raise ValueError("a keyword may not be blank")
        return value


class Fit(_Strict):
    """Points for who the lead is: company industry and size band, contact role and seniority."""

    industry: dict[str, float] = {}
    size_band: dict[str, float] = {}
    role: dict[str, float] = {}
    seniority: dict[str, float] = {}


class Threshold(_Strict):
    """``points`` when the stated budget is at least ``min``."""

    min: float = Field(ge=0)
    points: float


class TimingWindow(_Strict):
    """``points`` when the purchase is planned within ``within_days``."""

    within_days: int = Field(gt=0)
    points: float


class Need(_Strict):
    """Points for a stated need: ``present`` for any, or the value's own points."""

    present: float = 0.0
    values: dict[str, float] = {}


class Bant(_Strict):
    """Budget, authority, need and timing points."""

    budget: list[Threshold] = []
    authority: float = 0.0
    need: Need = Need()
    timing: list[TimingWindow] = []

    @field_validator("budget")
    @classmethod
    def _increasing_budget(cls, value: list[Threshold]) -> list[Threshold]:
        mins = [t.min for t in value]
        if any(b <= a for a, b in itertools.pairwise(mins)):
            raise ValueError("budget thresholds must be listed with increasing min")
        return value

    @field_validator("timing")
    @classmethod
    def _increasing_timing(cls, value: list[TimingWindow]) -> list[TimingWindow]:
        days = [t.within_days for t in value]
        if any(b <= a for a, b in itertools.pairwise(days)):
            raise ValueError("timing windows must be listed with increasing within_days")
        return value


class Behaviour(_Strict):
    """Points per activity kind and email event kind, decayed with a half-life."""

    half_life_days: float = Field(14.0, gt=0)
    lookback_days: float = Field(180.0, gt=0)
    only_done: bool = True
    activities: dict[str, float] = {}
    events: dict[str, float] = {}

    @field_validator("activities")
    @classmethod
    def _known_activities(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(value) - set(ACTIVITY_KINDS))
        if bad:
            raise ValueError(f"unknown activity kind(s) {bad}; use {list(ACTIVITY_KINDS)}")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(value) - set(EVENT_KINDS))
        if bad:
            raise ValueError(f"unknown event kind(s) {bad}; use {list(EVENT_KINDS)}")
        return value


class Caps(_Strict):
    """Upper bounds per group and for the total (``None``: no cap)."""

    fit: float | None = Field(None, ge=0)
    bant: float | None = Field(None, ge=0)
    behaviour: float | None = Field(None, ge=0)
    total: float | None = Field(None, ge=0)


class AccountRules(_Strict):
    """The buying committee expected in a company, and the discount per missing role."""

    expected_roles: list[str] = []
    missing_role_penalty: float = Field(0.0, ge=0, le=1)


class ScoringRules(_Strict):
    """A whole rules file (see ``segments/scoring.example.yaml``)."""

    roles: list[RoleRule] = []
    fit: Fit = Fit()
    bant: Bant = Bant()
    behaviour: Behaviour = Behaviour()
    caps: Caps = Caps()
    account: AccountRules = AccountRules()

    @property
    def role_codes(self) -> tuple[str, ...]:
        """Role codes in first-seen order, plus ``"other"``."""
        codes = dict.fromkeys(r.code for r in self.roles)
        codes["other"] = None
        return tuple(codes)


def _undeclared_roles(rules: ScoringRules, doc: YamlDocument) -> list[Problem]:
    """Role codes used under ``fit.role`` and ``account.expected_roles`` must be declared."""
    known = set(rules.role_codes)
    declare = f"declare it under roles: {sorted(known)}"
    problems = [
        Problem(doc.source, doc.line_of(("fit", "role", role)), f"fit.role.{role}",
                f"unknown role {role!r}; {declare}")
        for role in rules.fit.role
        if role not in known
    ]  # fmt: skip
    problems += [
        Problem(doc.source, doc.line_of(("account", "expected_roles", i)),
                f"account.expected_roles[{i}]", f"unknown role {role!r}; {declare}")
        for i, role in enumerate(rules.account.expected_roles)
        if role not in known
    ]  # fmt: skip
    return problems


def load_scoring_rules(path_or_text: str | Path, source: str | None = None) -> ScoringRules:
    """Read and validate lead-scoring rules from a YAML file or YAML text.

    Parameters
    ----------
    path_or_text : str or pathlib.Path
        A path, or the YAML text itself; told apart as every definition file is
        (:func:`crm.definitions.read_source`: a ``Path`` or a string naming a file is a file,
        another string with a newline or a ``:`` is text).
    source : str, optional
        Name used in error messages (default: the path, or ``"<text>"``).

    Returns
    -------
    ScoringRules

    Raises
    ------
    ScoringRulesError
        Listing every problem (``.problems``), each with its field (``bant.budget[1].min``)
        and 1-based line; ``.field`` and ``.line`` are the first one's.

    >>> load_scoring_rules("behaviour: {half_life_days: 7}").behaviour.half_life_days
    7.0
    """
    try:
        doc = parse_yaml(path_or_text, what="scoring rules")
        if source is not None:
            doc.source = source
        rules = validate_document(doc, ScoringRules)
    except DefinitionError as exc:
        problems = [replace(p, source=source) if source else p for p in exc.problems]
        raise ScoringRulesError(problems) from None
    problems = _undeclared_roles(rules, doc)
    if problems:
        raise ScoringRulesError(problems)
    return rules
