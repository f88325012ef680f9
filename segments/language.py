"""The segments language: field kinds, operators and the definition tree (S1, S2).

What a marketer can write in a segments file (see :mod:`segments.rules` for the language
itself, with an example): :data:`KINDS` of profile fields, the :data:`OPERATORS` that apply
to each kind, and the frozen tree a file becomes: a :class:`SegmentDefinition` holding
:class:`Condition` leaves combined by :class:`Group` nodes. Also the pieces every other part
of the language shares: relative windows ("90 days"), the normal form text is compared in
(:func:`normalize_text`) and the kind-independent shape check of an operator's value.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import pandas as pd

__all__ = [
    "KINDS",
    "OPERATORS",
    "Condition",
    "FieldSpec",
    "Group",
    "Schema",
    "SegmentDefinition",
    "normalize_text",
]

#: Field kinds a schema may name.
KINDS: tuple[str, ...] = (
    "number",
    "integer",
    "string",
    "bool",
    "datetime",
    "date",
    "tags",
    "category",
)

_ALL_BUT_TAGS = frozenset(KINDS) - {"tags"}
_ORDERED = frozenset({"number", "integer", "datetime", "date"})
_TIME = frozenset({"datetime", "date"})
_TEXT = frozenset({"string", "category"})
_TAGS = frozenset({"tags"})

#: Operator → the field kinds it applies to.
OPERATORS: Mapping[str, frozenset[str]] = {
    "eq": frozenset(KINDS),
    "ne": _ALL_BUT_TAGS,
    "gt": _ORDERED,
    "gte": _ORDERED,
    "lt": _ORDERED,
    "lte": _ORDERED,
    "between": _ORDERED,
    "in": _ORDERED | _TEXT | _TAGS,
    "not_in": _ORDERED | _TEXT,
    "is_null": frozenset(KINDS),
    "not_null": frozenset(KINDS),
    "contains": _TEXT,
    "starts_with": _TEXT,
    "has_any": _TAGS,
    "has_all": _TAGS,
    "has_none": _TAGS,
    "within_last": _TIME,
    "not_within_last": _TIME,
    "older_than": _TIME,
    "within_next": _TIME,
    "birthday_within_next": _TIME,
    "birthday_within_last": _TIME,
}

_LIST_OPS = frozenset({"between", "in", "not_in", "has_any", "has_all", "has_none"})
_FLAG_OPS = frozenset({"is_null", "not_null"})
_WINDOW_OPS = frozenset(
    {
        "within_last",
        "not_within_last",
        "older_than",
        "within_next",
        "birthday_within_next",
        "birthday_within_last",
    }
)
_GROUPS = ("all", "any", "not")
_SEGMENT_KEYS = ("name", "title", "description", "where")
_UNITS = {
    **dict.fromkeys(("d", "day", "days", "день", "дня", "дней", "дн"), "days"),
    **dict.fromkeys(("w", "week", "weeks", "неделя", "недели", "недель", "нед"), "weeks"),
    **dict.fromkeys(("month", "months", "месяц", "месяца", "месяцев", "мес"), "months"),
}
_WINDOW_RE = re.compile(r"^\s*(\d+)\s*([^\W\d_]+)\s*$")


# ------------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Condition:
    """One comparison: ``field`` ``op`` ``value`` (as written in the YAML), at ``line``."""

    field: str
    op: str
    value: Any = True
    line: int | None = None


@dataclass(frozen=True)
class Group:
    """``all`` / ``any`` of ``items``, or ``not`` of its single item."""

    op: Literal["all", "any", "not"]
    items: tuple[Condition | Group, ...]
    line: int | None = None


@dataclass(frozen=True)
class SegmentDefinition:
    """A named segment: a condition tree over profile fields.

    Attributes
    ----------
    name : str
        Unique identifier (no spaces); the ``segment`` value of memberships.
    where : Condition or Group
        The condition tree.
    title, description : str
        For people (any language).
    line : int or None
        Line of the segment's entry in its file.
    source : str
        The file it came from (``"<segments>"`` for text).
    """

    name: str
    where: Condition | Group
    title: str = ""
    description: str = ""
    line: int | None = None
    source: str = "<segments>"

    def conditions(self) -> Iterator[Condition]:
        """Every comparison of the tree, depth first."""
        stack: list[Condition | Group] = [self.where]
        while stack:
            node = stack.pop()
            if isinstance(node, Condition):
                yield node
            else:
                stack.extend(reversed(node.items))

    @property
    def fields(self) -> tuple[str, ...]:
        """The profile fields the segment reads, in order of first use."""
        return tuple(dict.fromkeys(c.field for c in self.conditions()))


@dataclass(frozen=True)
class FieldSpec:
    """What a profile field holds: a kind from :data:`KINDS` and, optionally, allowed values.

    ``values`` lists the allowed values of a ``category`` field (RFM segment names) or the
    tag vocabulary of a ``tags`` field; ``None`` means anything goes.
    """

    kind: str
    values: tuple[str, ...] | None = field(default=None)


Schema = Mapping[str, FieldSpec | str | tuple[str, Iterable[str]]]


def normalize_text(value: object) -> str:
    """The form text is compared in: stripped, NFC, casefolded, "ё" read as "е".

    >>> normalize_text(" МОСКВА ") == normalize_text("москва")
    True
    >>> normalize_text("Королёв") == normalize_text("королев")
    True
    """
    text = unicodedata.normalize("NFC", str(value).strip()).casefold()
    return unicodedata.normalize("NFC", text).replace("ё", "е")


@dataclass(frozen=True)
class _Window:
    n: int
    unit: str  # days, weeks, months

    def days_from(self, day: dt.date, sign: int) -> int:
        """Length in days of the window that starts (sign=+1) or ends (sign=-1) at ``day``."""
        if self.unit != "months":
            return self.n * (7 if self.unit == "weeks" else 1)
        other = pd.Timestamp(day) + sign * pd.DateOffset(months=self.n)
        return abs((other.date() - day).days)

    def offset(self) -> pd.DateOffset | pd.Timedelta:
        if self.unit == "months":
            return pd.DateOffset(months=self.n)
        return pd.Timedelta(days=self.n * (7 if self.unit == "weeks" else 1))


@lru_cache(maxsize=1024)
def _parse_window(text: object) -> _Window | None:
    match = _WINDOW_RE.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    unit = _UNITS.get(match.group(2).casefold())
    n = int(match.group(1))
    return _Window(n, unit) if unit is not None and n > 0 else None


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _shape_problem(op: str, value: Any) -> str | None:
    """What is wrong with the value's shape for ``op`` (kind-independent), or None."""
    if op in _FLAG_OPS:
        return None if isinstance(value, bool) else f"expects true or false, got {value!r}"
    if op in _WINDOW_OPS:
        if _parse_window(value) is None:
            return (
                f"{value!r} is not a window; write a positive number and a unit, "
                "e.g. '90 days', '2 weeks', '3 months' (or 'дней', 'недель', 'месяцев')"
            )
        return None
    if op in ("has_any", "has_all", "has_none") and isinstance(value, str):
        return None
    if op in _LIST_OPS:
        if not isinstance(value, list | tuple) or not value:
            return f"expects a non-empty list like [a, b], got {value!r}"
        if op == "between" and len(value) != 2:
            return f"expects two values [low, high], got {len(value)}"
        if any(isinstance(v, dict | list) or v is None for v in value):
            return "list items must be plain values"
        return None
    if isinstance(value, dict | list | tuple) or value is None:
        return f"expects a single value, got {value!r}"
    return None
