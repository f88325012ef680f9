"""Marketer-defined segments (S1, S2): YAML definitions, validation, fast evaluation, snapshots.

A marketer writes segments in YAML; each condition remembers its line, so a mistake is reported
as ``line N, field F: what is wrong; how to fix`` before anything runs, and every mistake of a
file is reported at once. Evaluation is vectorised over a whole profiles frame (one row per
customer, any columns) and relative windows ("the last 90 days") are computed against an
explicit ``as_of``.

The language
------------
.. code-block:: yaml

    segments:
      - name: vip_moscow                   # unique, no spaces
        title: "VIP Москва"                # optional, for people
        description: Champions in Moscow   # optional
        where:
          all:                             # all / any: a non-empty list (or a mapping)
            - rfm_segment: {in: [Champions, Loyal]}
            - city: Москва                 # a bare scalar means eq; a bare list means in
            - revenue: {gte: 50000, lt: 1000000}   # several operators on one field: all of them
            - last_order_at: {within_last: 90 days}
            - not: {tags: {has_any: ["interest:sport"]}}
            - any: [{email_consent: true}, {sms_consent: true}]
            - birth_date: {birthday_within_next: 7 days}

A mapping with several keys is ``all`` of them; ``not`` takes one condition (a mapping);
``field: null`` means ``is_null: true``.

====================================  =====================================================
operators                             field kinds
====================================  =====================================================
``eq ne``                             every kind but tags (``eq``/``in`` on tags: has_any)
``gt gte lt lte between``             number, integer, datetime, date (``between: [lo, hi]``,
                                      both ends included)
``in not_in``                         number, integer, string, category, datetime, date
``is_null not_null``                  every kind (``is_null: true``); tags: no tags at all
``contains starts_with``              string, category
``has_any has_all has_none``          tags (a list of tags, or one tag)
``within_last not_within_last``       datetime, date (a window: ``"90 days"``,
``older_than within_next``            ``"2 weeks"``, ``"3 months"``, ``"7 дней"``)
``birthday_within_next``              date, datetime (month and day only)
``birthday_within_last``
====================================  =====================================================

Text (string, category and tags) is compared after :func:`normalize_text`: stripped, NFC,
``str.casefold`` and "ё" read as "е", so ``city: москва`` matches "Москва" and "Королёв"
matches "королев" (Russian writes ё as е often enough that a marketer expects this).

Windows (``w`` = the window, ``t`` = the value; for date columns the same with whole days
against ``as_of``'s date, ``d0``):

* ``within_last w``: ``as_of - w < t <= as_of``; ``within_next w``: ``as_of <= t < as_of + w``;
* ``older_than w``: ``t <= as_of - w``;
* ``not_within_last w``: a known ``t`` outside ``within_last`` (older, or in the future);
* ``birthday_within_next N days``: the birthday (month, day) falls on one of the ``N`` days
  ``d0, d0 + 1, …, d0 + N - 1`` (today counts; 28 December + 7 days reaches 3 January), and
  ``birthday_within_last N days`` on ``d0 - N + 1, …, d0``. Someone born on 29 February has the
  birthday on 28 February in common years (as in :mod:`loyalty.bonuses`). Months are
  calendar months (``as_of + 1 month``), a week 7 days.

Missing values (three-valued logic, simplified)
-----------------------------------------------
A missing value (NaN, NaT, None) never satisfies a comparison: ``eq``, ``ne``, ``gt``, ``in``,
``not_in``, ``contains``, windows, birthdays are all False on it; only ``is_null`` is True.
``not`` simply negates the boolean mask, so it *includes* the missing rows:
``city: {ne: Москва}`` is "a known city other than Moscow" while
``not: {city: Москва}`` is "not known to be in Moscow" (other cities and no city). Missing
tags (None) read as no tags. This is SQL's ``WHERE`` with ``NOT`` taken as "not true" rather
than the full three-valued ``NOT``; it is what marketers expect of "not in Moscow" lists.

Relative times
--------------
``as_of`` is a timezone-aware datetime, or a date (the end of that day in UTC, as in
:mod:`crm.profiles`: that day's orders count as "within the last 90 days"). Datetime columns
(naive ones read as UTC) are compared with ``as_of`` itself; date columns (and birthdays) with
``as_of``'s calendar date in its own time zone, so pass ``as_of`` in the business's zone for
local birthdays (a birthday kept in a tz-aware datetime column is read by its UTC date).

Evaluation
----------
Every condition becomes a numpy boolean mask over the rows; ``all``/``any``/``not`` combine
masks. A field is prepared once per :class:`PreparedProfiles` (the first time a condition
reads it) into arrays that make each later condition a single array operation:

* text and categories → integer codes of the normalised distinct values: ``eq``/``in`` mark
  the wanted codes in a small table and index it with the codes; ``contains``/``starts_with``
  test the distinct values only (tens or thousands, not a million rows);
* tags → postings (for each tag the sorted rows that hold it; the columns of a sparse
  rows × tags matrix): ``has_any`` sets the rows of the wanted tags, ``has_all`` counts them;
* datetimes → int64 nanoseconds (UTC), dates → int64 days, numbers → float64 / int64, each with
  a "known" mask; birthdays → ``month * 32 + day`` codes looked up in the window's table.

Within one :func:`evaluate_many` call identical conditions in different segments share a mask.
100 segments over 1M profiles take about a second, a one-segment preview a third of one from a
raw frame and milliseconds on a prepared one (``bench/results/segments.md``).

Example
-------
>>> schema = schema_from_frame(profiles, {"rfm_segment": SEGMENTS})   # RFM names are checked
>>> definitions = load_segments("segments/segments.example.yaml", schema)
>>> prepared = PreparedProfiles(profiles, categories={"rfm_segment": SEGMENTS})
>>> members = evaluate_many(definitions, prepared, as_of=date(2026, 11, 1))  # segment, customer_id
>>> count, sample = preview(definitions[0], prepared, as_of=date(2026, 11, 1), sample=10)
>>> changes = membership_changes(last_run, members, as_of=date(2026, 11, 1))  # entered / left
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from crm.columns import CUSTOMER_ID
from segments.errors import InvalidParameterError, MissingColumnsError, SegmentDefinitionError

__all__ = [
    "KINDS",
    "OPERATORS",
    "Condition",
    "FieldSpec",
    "Group",
    "PreparedProfiles",
    "SegmentDefinition",
    "evaluate",
    "evaluate_many",
    "load_segments",
    "membership_changes",
    "normalize_text",
    "preview",
    "schema_from_frame",
    "validate",
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
_NS_PER_DAY = 86_400 * 10**9
_MD_SLOTS = 13 * 32 + 1  # month * 32 + day, plus one always-False slot that code -1 reads


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


# ------------------------------------------------------------------------------ parsing
class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.segment: str | None = None
        self.found: list[SegmentDefinitionError] = []

    def add(self, field_: str, message: str, line: int | None) -> None:
        self.found.append(SegmentDefinitionError(field_, message, line, self.segment, self.source))

    def raise_if_any(self) -> None:
        if self.found:
            first = self.found[0]
            raise SegmentDefinitionError(
                first.field, first.message, first.line, first.segment, self.source, self.found
            )


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Parser:
    """Walks the composed YAML nodes, so that every condition knows its line."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self._constructor = yaml.SafeLoader("")
        # every condition that parsed, with its segment, even inside a segment that did not:
        # the schema checks run on them too, so one pass reports all of a file's problems
        self.parsed: list[tuple[str | None, Condition]] = []
        self._name_line = 1

    def keep(self, cond: Condition) -> Condition:
        self.parsed.append((self.problems.segment, cond))
        return cond

    def value(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def items(self, node: yaml.MappingNode, where: str) -> list[tuple[str, yaml.Node, int]]:
        out: list[tuple[str, yaml.Node, int]] = []
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            line = _line(key_node)
            if not isinstance(key, str):
                self.problems.add(where, f"key {key!r} is not a name; write a field name", line)
                continue
            if key in seen:
                self.problems.add(
                    key, f"duplicate key (first at line {seen[key]}); keep one of them", line
                )
                continue
            seen[key] = line
            out.append((key, value_node, line))
        return out

    def segments(self, root: yaml.Node | None) -> list[SegmentDefinition]:
        if root is None:
            self.problems.add("segments", "the file is empty; add a 'segments:' list", 1)
            return []
        entries: yaml.Node | None = root
        if isinstance(root, yaml.MappingNode):
            entries = None
            for key, value_node, line in self.items(root, "segments"):
                if key == "segments":
                    entries = value_node
                else:
                    self.problems.add(
                        key,
                        f"unknown top-level key; {_suggest(key, ['segments'])}"
                        "the file holds one 'segments:' list",
                        line,
                    )
            if entries is None:
                self.problems.add("segments", "no 'segments:' list; add one", _line(root))
                return []
        if not isinstance(entries, yaml.SequenceNode) or not entries.value:
            self.problems.add(
                "segments",
                "'segments' must be a non-empty list of segments; start each with '- name:'",
                _line(entries) if entries is not None else 1,
            )
            return []
        out = []
        names: dict[str, int] = {}
        for item in entries.value:
            definition = self.segment(item)
            name, line = self.problems.segment, self._name_line
            if name is not None and name in names:
                self.problems.add(
                    "name",
                    f"duplicate segment name {name!r} (first at line {names[name]}); "
                    "give each segment its own name",
                    line,
                )
                continue
            if name is not None:
                names[name] = line
            if definition is not None:
                out.append(definition)
        return out

    def segment(self, node: yaml.Node) -> SegmentDefinition | None:
        self.problems.segment = None
        self._name_line = _line(node)
        if not isinstance(node, yaml.MappingNode):
            self.problems.add(
                "segments", "each segment is a mapping with name and where", _line(node)
            )
            return None
        keys = {k: (v, line) for k, v, line in self.items(node, "segment")}
        name_line = self._name_line = keys.get("name", (None, _line(node)))[1]
        name = self.value(keys["name"][0]) if "name" in keys else None
        if isinstance(name, str) and name.strip() and not re.search(r"\s", name.strip()):
            name = name.strip()
            self.problems.segment = name
        else:
            self.problems.add(
                "name",
                f"segment name {name!r} is missing or not a single word; "
                "write e.g. 'name: vip_moscow'",
                name_line,
            )
            name = None
        for key, (_, line) in keys.items():
            if key not in _SEGMENT_KEYS:
                self.problems.add(
                    key,
                    f"unknown segment key; {_suggest(key, _SEGMENT_KEYS)}"
                    f"a segment has {', '.join(_SEGMENT_KEYS)}",
                    line,
                )
        text = {}
        for key in ("title", "description"):
            raw = self.value(keys[key][0]) if key in keys else ""
            text[key] = "" if raw is None else str(raw)
        if "where" not in keys:
            self.problems.add("where", "no 'where:' conditions; add them", name_line)
            return None
        where = self.condition(keys["where"][0], keys["where"][1])
        if name is None or where is None:
            return None
        return SegmentDefinition(
            name, where, text["title"], text["description"], name_line, self.problems.source
        )

    def condition(self, node: yaml.Node, line: int) -> Condition | Group | None:
        if isinstance(node, yaml.SequenceNode):
            return self.group("all", node, line)
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.problems.add(
                "where",
                "a condition must be a mapping like 'city: Москва' or 'all: [...]'",
                _line(node),
            )
            return None
        parts: list[Condition | Group] = []
        ok = True
        for key, value_node, key_line in self.items(node, "where"):
            part: Condition | Group | None
            if key == "all":
                part = self.group("all", value_node, key_line)
            elif key == "any":
                part = self.group("any", value_node, key_line)
            elif key == "not":
                if isinstance(value_node, yaml.MappingNode):
                    inner = self.condition(value_node, key_line)
                    part = None if inner is None else Group("not", (inner,), key_line)
                else:
                    self.problems.add(
                        "not",
                        "'not' takes one condition (a mapping); for several, write "
                        "'not: {any: [...]}'",
                        key_line,
                    )
                    part = None
            else:
                part = self.field(key, value_node, key_line)
            ok = ok and part is not None
            if part is not None:
                parts.append(part)
        if not ok:
            return None
        return parts[0] if len(parts) == 1 else Group("all", tuple(parts), _line(node))

    def group(self, op: Literal["all", "any"], node: yaml.Node, line: int) -> Group | None:
        if isinstance(node, yaml.MappingNode) and node.value:
            children: list[Condition | Group | None] = []
            for key_node, value_node in node.value:
                single = yaml.MappingNode("tag:yaml.org,2002:map", [(key_node, value_node)])
                single.start_mark = key_node.start_mark
                children.append(self.condition(single, _line(key_node)))
        elif isinstance(node, yaml.SequenceNode) and node.value:
            children = [self.condition(item, _line(item)) for item in node.value]
        else:
            self.problems.add(
                op,
                f"empty '{op}'; list at least one condition under it or remove it",
                line,
            )
            return None
        if any(c is None for c in children):
            return None
        return Group(op, tuple(c for c in children if c is not None), line)

    def field(self, name: str, node: yaml.Node, line: int) -> Condition | Group | None:
        if isinstance(node, yaml.SequenceNode):
            return self.comparison(name, "in", node, line)
        if not isinstance(node, yaml.MappingNode):
            value = self.value(node)
            if value is None:
                return self.keep(Condition(name, "is_null", True, line))
            return self.comparison(name, "eq", node, line)
        if not node.value:
            self.problems.add(name, "no operator; write e.g. '{gte: 10}' or a value", line)
            return None
        parts = []
        for op, value_node, op_line in self.items(node, name):
            if op not in OPERATORS:
                hint = (
                    f"'{op}' goes above the field, not inside it"
                    if op in _GROUPS
                    else f"{_suggest(op, OPERATORS)}operators are {', '.join(OPERATORS)}"
                )
                self.problems.add(name, f"unknown operator {op!r}; {hint}", op_line)
                continue
            parts.append(self.comparison(name, op, value_node, op_line))
        if len(parts) < len(node.value) or any(p is None for p in parts):
            return None
        conditions = tuple(p for p in parts if p is not None)
        return conditions[0] if len(conditions) == 1 else Group("all", conditions, line)

    def comparison(self, name: str, op: str, node: yaml.Node, line: int) -> Condition | None:
        value = self.value(node)
        problem = _shape_problem(op, value)
        if problem:
            self.problems.add(name, f"{op}: {problem}", line)
            return None
        if op in ("has_any", "has_all", "has_none") and isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            value = tuple(value)
        return self.keep(Condition(name, op, value, line))


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


def _read_source(source: str | Path) -> tuple[str, str]:
    if isinstance(source, Path):
        return source.read_text(encoding="utf-8"), str(source)
    if "\n" not in source and (source.endswith((".yaml", ".yml")) or Path(source).is_file()):
        return Path(source).read_text(encoding="utf-8"), source
    return source, "<segments>"


def load_segments(
    source: str | Path, schema: Schema | None = None, *, source_name: str | None = None
) -> list[SegmentDefinition]:
    """Parse segment definitions from a YAML file or text, with line numbers.

    Parameters
    ----------
    source : str or Path
        A path (a ``Path``, or a one-line string ending in ``.yaml``/``.yml`` or naming a file)
        or the YAML text itself.
    schema : mapping, optional
        Field name → kind (see :func:`validate`); when given the definitions are validated
        against it too, and its problems are reported together with the parsing ones.
    source_name : str, optional
        Name used in messages (default: the path, or ``"<segments>"``).

    Returns
    -------
    list of SegmentDefinition
        In file order.

    Raises
    ------
    SegmentDefinitionError
        Listing every problem found (``.problems``); ``.line``/``.field`` are the first one's.
    """
    text, name = _read_source(source)
    name = source_name or name
    problems = _Problems(name)
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problems.add(
            "<yaml>",
            f"not valid YAML ({exc.problem}); check indentation and quotes",
            mark.line + 1 if mark is not None else None,
        )
        problems.raise_if_any()
    parser = _Parser(problems)
    definitions = parser.segments(root)
    if schema is not None:
        _check_conditions(parser.parsed, _specs(schema), problems)
    problems.found.sort(key=lambda p: p.line or 0)
    problems.raise_if_any()
    return definitions


# ----------------------------------------------------------------------------- validation
def _specs(schema: Schema) -> Mapping[str, FieldSpec]:
    if isinstance(schema, _FrameSchema):
        return schema
    out = {}
    for name, spec in schema.items():
        if isinstance(spec, str):
            spec = FieldSpec(spec)
        elif isinstance(spec, tuple):
            kind, values = spec
            spec = FieldSpec(kind, tuple(values) if values is not None else None)
        if not isinstance(spec, FieldSpec) or spec.kind not in KINDS:
            raise InvalidParameterError(f"schema[{name!r}]", spec, f"one of {', '.join(KINDS)}")
        out[name] = spec
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _as_time(value: Any) -> pd.Timestamp | None:
    if _is_number(value) or isinstance(value, bool):
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(ts) else ts


def _value_problem(kind: str, spec: FieldSpec, value: Any) -> str | None:
    """Why ``value`` cannot be compared with a field of this kind, or None."""
    if kind in ("number", "integer"):
        if not _is_number(value):
            return f"expects a number, got {value!r}; write e.g. 50000 (no quotes, no units)"
    elif kind == "bool":
        if not isinstance(value, bool):
            return f"expects true or false, got {value!r}"
    elif kind in _TIME:
        if _as_time(value) is None:
            return f"expects a date like 2026-01-31 (or a datetime), got {value!r}"
    elif not isinstance(value, str):
        return f"expects text, got {value!r}; put it in quotes: '{value}'"
    elif spec.values is not None:
        allowed = {normalize_text(v): v for v in spec.values}
        if normalize_text(value) not in allowed:
            what = "tag" if kind == "tags" else "value"
            shown = ", ".join(list(spec.values)[:20]) + (", …" if len(spec.values) > 20 else "")
            return f"unknown {what} {value!r}; {_suggest(value, spec.values)}allowed: {shown}"
    return None


def _condition_problem(cond: Condition, specs: Mapping[str, FieldSpec]) -> str | None:
    if cond.op not in OPERATORS:
        return f"unknown operator {cond.op!r}; {_suggest(cond.op, OPERATORS)}operators are " + (
            ", ".join(OPERATORS)
        )
    shape = _shape_problem(cond.op, cond.value)
    if shape:
        return f"{cond.op}: {shape}"
    spec = specs.get(cond.field)
    if spec is None:
        return (
            f"unknown field {cond.field!r}; {_suggest(cond.field, specs)}"
            "the profiles have no such column"
        )
    if spec.kind not in OPERATORS[cond.op]:
        fits = [op for op, kinds in OPERATORS.items() if spec.kind in kinds]
        return (
            f"operator {cond.op!r} does not apply to a {spec.kind} field; "
            f"use one of {', '.join(fits)}"
        )
    if cond.op in _FLAG_OPS or cond.op in _WINDOW_OPS:
        return None  # shapes were checked while parsing
    values = cond.value if isinstance(cond.value, tuple | list) else (cond.value,)
    for value in values:
        problem = _value_problem(spec.kind, spec, value)
        if problem:
            return f"{cond.op}: {problem}"
    if cond.op == "between":
        lo, hi = values
        if spec.kind in _TIME:
            lo, hi = _as_time(lo), _as_time(hi)
            if lo is not None and hi is not None and lo.tzinfo is None and hi.tzinfo is not None:
                lo = lo.tz_localize(hi.tzinfo)
        try:
            wrong = lo > hi
        except TypeError:
            wrong = False
        if wrong:
            return f"between: the low end {values[0]!r} is above the high end {values[1]!r}"
    return None


def _validate_into(
    definitions: Sequence[SegmentDefinition], specs: Mapping[str, FieldSpec], problems: _Problems
) -> None:
    names: dict[str, int | None] = {}
    for definition in definitions:
        problems.segment = definition.name
        if definition.name in names:
            problems.add(
                "name",
                f"duplicate segment name {definition.name!r} (first at line "
                f"{names[definition.name]}); give each segment its own name",
                definition.line,
            )
        names.setdefault(definition.name, definition.line)
        _check_conditions([(definition.name, c) for c in definition.conditions()], specs, problems)


def _check_conditions(
    conditions: Iterable[tuple[str | None, Condition]],
    specs: Mapping[str, FieldSpec],
    problems: _Problems,
) -> None:
    for segment, cond in conditions:
        problems.segment = segment
        problem = _condition_problem(cond, specs)
        if problem:
            problems.add(cond.field, problem, cond.line)


def validate(definitions: Iterable[SegmentDefinition], schema: Schema) -> list[SegmentDefinition]:
    """Check definitions against the profile schema before they are used.

    Parameters
    ----------
    definitions : iterable of SegmentDefinition
    schema : mapping of str to FieldSpec, kind str or (kind, allowed values)
        Field name → what it holds, e.g. ``{"city": "string", "rfm_segment":
        FieldSpec("category", SEGMENTS)}``; :func:`schema_from_frame` derives one.

    Returns
    -------
    list of SegmentDefinition
        The definitions, unchanged, when they are all valid.

    Raises
    ------
    SegmentDefinitionError
        Listing every problem (unknown field with the closest name, an operator that does not
        fit the field's kind, a value of the wrong type or outside the allowed values,
        duplicate segment names), each with its line and field.
    """
    definitions = list(definitions)
    source = definitions[0].source if definitions else "<segments>"
    problems = _Problems(source)
    _validate_into(definitions, _specs(schema), problems)
    problems.raise_if_any()
    return definitions


def _first_values(series: pd.Series, k: int = 50) -> list[Any]:
    positions = np.flatnonzero(series.notna().to_numpy())[:k]
    return list(series.iloc[positions].to_numpy(dtype=object))


def _kind_of(series: pd.Series) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            return "datetime"
        ns = series.dropna().to_numpy().astype("datetime64[ns]").view("int64")
        return "date" if len(ns) and not (ns % _NS_PER_DAY).any() else "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    sample = _first_values(series)
    if not sample:
        return "string"
    listish = [isinstance(v, list | tuple | set | np.ndarray) for v in sample]
    if any(listish) and all(
        ok or isinstance(v, str) for ok, v in zip(listish, sample, strict=True)
    ):
        return "tags"  # lists of tags, perhaps with a lone tag written as a string
    if all(isinstance(v, bool | np.bool_) for v in sample):
        return "bool"
    if all(isinstance(v, dt.datetime) for v in sample):
        return "datetime"
    if all(isinstance(v, dt.date) for v in sample):
        return "date"
    if all(_is_number(v) for v in sample):
        return "number"
    return "string"


def schema_from_frame(
    frame: pd.DataFrame, categories: Mapping[str, Iterable[str]] | None = None
) -> dict[str, FieldSpec]:
    """Derive a schema (field → :class:`FieldSpec`) from a profiles frame's dtypes.

    Parameters
    ----------
    frame : DataFrame
        Profiles, one row per customer.
    categories : mapping, optional
        Field → allowed values. Makes a text field a ``category`` with those values (e.g.
        ``{"rfm_segment": SEGMENTS}``), or sets the vocabulary of a ``tags`` field.

    Returns
    -------
    dict of str to FieldSpec
        ``category`` dtype → category with its categories; bool → bool; integer → integer;
        float → number; tz-aware datetime → datetime; naive datetime at midnight → date,
        otherwise datetime; object columns by their values: lists → tags, ``datetime.date``
        → date, ``datetime`` → datetime, numbers → number, text → string.
    """
    return dict(_FrameSchema(frame, categories))


class _FrameSchema(Mapping[str, FieldSpec]):
    """:func:`schema_from_frame` computed field by field on first access (cheap previews)."""

    def __init__(
        self, frame: pd.DataFrame, categories: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.frame = frame
        self.categories = categories or {}
        self.names = [str(c) for c in frame.columns]
        self._known: dict[str, FieldSpec] = {}

    def __getitem__(self, name: str) -> FieldSpec:
        spec = self._known.get(name)
        if spec is None:
            if name not in self.frame.columns:
                raise KeyError(name)
            series = self.frame[name]
            kind = _kind_of(series)
            values: tuple[str, ...] | None = None
            if kind == "category":
                values = tuple(str(v) for v in series.cat.categories)
            if name in self.categories:
                values = tuple(str(v) for v in self.categories[name])
                if kind not in ("tags", "category"):
                    kind = "category"
            spec = self._known[name] = FieldSpec(kind, values)
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.frame.columns


# ----------------------------------------------------------------------------- evaluation
class _Numbers:
    def __init__(self, series: pd.Series, kind: str) -> None:
        if kind == "bool":
            flags = series if series.dtype == bool else series.astype("boolean")
            self.values = flags.to_numpy(dtype=np.float64, na_value=np.nan)
            self.known = ~np.isnan(self.values)
        elif pd.api.types.is_integer_dtype(series.dtype) and not series.hasnans:
            self.values = series.to_numpy(dtype=np.int64)
            self.known = np.ones(len(series), bool)
        else:
            self.values = pd.to_numeric(series, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            self.known = ~np.isnan(self.values)


class _Text:
    """Normalised codes: ``codes[i]`` indexes ``uniques`` (-1 = missing)."""

    def __init__(self, series: pd.Series) -> None:
        if isinstance(series.dtype, pd.CategoricalDtype):
            raw_codes = series.cat.codes.to_numpy()
            raw = list(series.cat.categories)
        else:
            raw_codes, raw_index = pd.factorize(series, use_na_sentinel=True)
            raw = list(raw_index)
        normal = [normalize_text(v) for v in raw]
        merged, uniques = pd.factorize(np.array(normal, dtype=object))
        remap = np.append(merged, -1).astype(np.int64)  # raw code -1 stays -1
        self.codes = remap[raw_codes]
        self.uniques: list[str] = list(uniques)
        self.lookup = {u: i for i, u in enumerate(self.uniques)}

    def table(self, test: Any) -> np.ndarray:
        """Mask over ``uniques`` (plus a False slot read by missing rows) → mask over rows."""
        hits = np.fromiter((bool(test(u)) for u in self.uniques), bool, len(self.uniques))
        return np.append(hits, False)[self.codes]

    def isin(self, values: Iterable[Any]) -> np.ndarray:
        hits = np.zeros(len(self.uniques) + 1, bool)
        for v in values:
            code = self.lookup.get(normalize_text(v))
            if code is not None:
                hits[code] = True
        return hits[self.codes]


class _Tags:
    """Tag postings: the rows holding each tag code (CSC layout of a rows × tags matrix)."""

    def __init__(self, series: pd.Series) -> None:
        values = series.to_numpy(dtype=object)
        n = len(values)
        present = ~pd.isna(values)  # None / NaN: no tags
        lists = values if present.all() else values[present]
        if not set(map(type, lists)) <= {list, tuple, set, np.ndarray}:
            # a lone string is one tag; anything else that is not a list, no tags
            cleaned = np.empty(len(lists), dtype=object)
            for i, v in enumerate(lists):
                listish = isinstance(v, list | tuple | set | np.ndarray)
                cleaned[i] = [v] if isinstance(v, str) else v if listish else ()
            lists = cleaned
        sizes = np.fromiter(map(len, lists), np.int64, len(lists))
        lengths = np.zeros(n, np.int64)
        lengths[present] = sizes
        flat = np.fromiter(itertools.chain.from_iterable(lists), object, int(sizes.sum()))
        raw_codes, raw = pd.factorize(flat)
        merged, uniques = pd.factorize(np.array([normalize_text(t) for t in raw], dtype=object))
        codes = merged[raw_codes] if len(raw_codes) else raw_codes.astype(np.int64)
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        # postings: rows grouped by tag; a stable sort keeps each tag's rows ascending, and
        # 16-bit codes (any real vocabulary) make it a radix sort
        small = codes.astype(np.int16) if len(uniques) < 2**15 else codes
        order = np.argsort(small, kind="stable")
        codes, rows = codes[order], rows[order]
        if len(codes) > 1:  # the same tag twice on one row counts once
            keep = np.ones(len(codes), bool)
            keep[1:] = (codes[1:] != codes[:-1]) | (rows[1:] != rows[:-1])
            codes, rows = codes[keep], rows[keep]
        self.n = n
        self.count = lengths
        self.rows = rows
        self.indptr = np.searchsorted(codes, np.arange(len(uniques) + 1))
        self.lookup = {u: i for i, u in enumerate(uniques)}

    def hits(self, tags: Iterable[Any]) -> tuple[np.ndarray, int]:
        """Rows holding each wanted tag (concatenated) and how many distinct tags were wanted."""
        wanted = {normalize_text(t) for t in tags}
        codes = [self.lookup[t] for t in wanted if t in self.lookup]
        parts = [self.rows[self.indptr[c] : self.indptr[c + 1]] for c in codes]
        return (np.concatenate(parts) if parts else np.empty(0, np.int64)), len(wanted)

    def has_any(self, tags: Iterable[Any]) -> np.ndarray:
        mask = np.zeros(self.n, bool)
        mask[self.hits(tags)[0]] = True
        return mask

    def has_all(self, tags: Iterable[Any]) -> np.ndarray:
        rows, k = self.hits(tags)
        return np.bincount(rows, minlength=self.n) == k


class _Times:
    """Datetimes as int64 nanoseconds (UTC) or dates as int64 days since 1970-01-01."""

    def __init__(self, series: pd.Series, kind: str) -> None:
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            series = pd.to_datetime(series, errors="coerce", utc=kind == "datetime")
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        arr = series.to_numpy().astype("datetime64[ns]")
        self.known = ~np.isnat(arr)
        self.kind = kind
        self.ns = arr.view(np.int64)
        self.values = self.ns if kind == "datetime" else arr.astype("datetime64[D]").view(np.int64)
        self._md: np.ndarray | None = None

    def month_day(self) -> np.ndarray:
        """``month * 32 + day`` per row, -1 when missing (for birthdays)."""
        if self._md is None:
            index = pd.DatetimeIndex(self.ns.view("datetime64[ns]"))
            md = np.where(self.known, index.month * 32 + index.day, -1)
            self._md = md.astype(np.int16)
        return self._md


def _as_of(as_of: Any) -> tuple[pd.Timestamp, dt.date]:
    if isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime):
        # a bare date means the end of that day, as in crm.profiles: that day's orders count
        end = pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        return end, as_of
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        ts = None
    if ts is None or pd.isna(ts) or ts.tzinfo is None:
        raise InvalidParameterError("as_of", as_of, "a timezone-aware datetime or a date")
    return ts.tz_convert("UTC"), ts.date()


def _birthday_table(day: dt.date, start: int, days: int) -> np.ndarray:
    table = np.zeros(_MD_SLOTS, bool)
    for i in range(min(days, 366)):
        d = day + dt.timedelta(days=start + i)
        table[d.month * 32 + d.day] = True
        if d.month == 2 and d.day == 28 and not calendar.isleap(d.year):
            table[2 * 32 + 29] = True  # born on 29 February: 28 February in common years
    return table


class PreparedProfiles:
    """A profiles frame with per-field preparations cached, for evaluating many segments.

    Preparing a field costs one pass over it (normalising text to codes, tag postings,
    datetimes to integers); every later condition on the field is a numpy operation on those
    arrays. :func:`evaluate`, :func:`evaluate_many` and :func:`preview` build one from a plain
    frame; build it yourself to reuse the preparations across calls (a preview screen).

    Parameters
    ----------
    profiles : DataFrame
        One row per customer.
    categories : mapping, optional
        Allowed values per field, passed to :func:`schema_from_frame`.
    id_col : str, default ``"customer_id"``
        Column of customer ids (the index is used when there is no such column).
    """

    def __init__(
        self,
        profiles: pd.DataFrame,
        categories: Mapping[str, Iterable[str]] | None = None,
        id_col: str = CUSTOMER_ID,
    ) -> None:
        self.frame = profiles
        self.id_col = id_col
        self.schema: Mapping[str, FieldSpec] = _FrameSchema(profiles, categories)
        ids = profiles[id_col] if id_col in profiles.columns else profiles.index.to_series()
        self.ids = ids.to_numpy()
        self.n = len(profiles)
        self._prepared: dict[str, Any] = {}

    def column(self, name: str) -> Any:
        """The cached preparation of a field."""
        prepared = self._prepared.get(name)
        if prepared is None:
            if name not in self.frame.columns:
                raise MissingColumnsError([name], "profiles")
            kind = self.schema[name].kind
            series = self.frame[name]
            if kind in ("number", "integer", "bool"):
                prepared = _Numbers(series, kind)
            elif kind in _TEXT:
                prepared = _Text(series)
            elif kind == "tags":
                prepared = _Tags(series)
            else:
                prepared = _Times(series, kind)
            self._prepared[name] = prepared
        return prepared

    def _time_value(self, kind: str, value: Any) -> int:
        ts = pd.Timestamp(value)
        if kind == "date":
            return int(np.datetime64(ts.date(), "D").astype(np.int64))
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return int(ts.as_unit("ns").value)

    def mask(self, cond: Condition, as_of: Any) -> np.ndarray:
        """Boolean mask of the rows satisfying one condition (see the module notes)."""
        kind = self.schema[cond.field].kind if cond.field in self.schema else None
        if kind is None:
            raise MissingColumnsError([cond.field], "profiles")
        col = self.column(cond.field)
        op, value = cond.op, cond.value
        if op in _FLAG_OPS:
            known = col.count > 0 if kind == "tags" else _known(col)
            return ~known if (op == "is_null") == bool(value) else known.copy()
        if kind == "tags":
            items = value if isinstance(value, tuple | list) else (value,)
            if op == "has_all":
                return col.has_all(items)
            hit = col.has_any(items)
            return ~hit if op == "has_none" else hit
        if kind in _TEXT:
            return _text_mask(col, op, value)
        if op in _WINDOW_OPS:
            return self._window_mask(col, op, value, as_of)
        if kind in _TIME:
            value = (
                tuple(self._time_value(kind, v) for v in value)
                if isinstance(value, tuple | list)
                else self._time_value(kind, value)
            )
        elif kind == "bool":
            value = tuple(float(v) for v in value) if isinstance(value, tuple) else float(value)
        return _compare(col.values, col.known, op, value)

    def _window_mask(self, col: _Times, op: str, value: Any, as_of: Any) -> np.ndarray:
        window = _parse_window(value)
        if window is None:  # validated while parsing; a hand-built Condition may still be bad
            raise InvalidParameterError(op, value, "a window such as '90 days'")
        ts, day = _as_of(as_of)
        if op.startswith("birthday"):
            if op == "birthday_within_next":
                table = _birthday_table(day, 0, window.days_from(day, +1))
            else:
                n = window.days_from(day, -1)
                table = _birthday_table(day, 1 - n, n)
            return table[col.month_day()]
        if col.kind == "date":
            now = int(np.datetime64(day, "D").astype(np.int64))
            back = now - window.days_from(day, -1)
            ahead = now + window.days_from(day, +1)
        else:
            now = int(ts.as_unit("ns").value)
            back = int((ts - window.offset()).as_unit("ns").value)
            ahead = int((ts + window.offset()).as_unit("ns").value)
        v, known = col.values, col.known
        if op == "within_last":
            return known & (v > back) & (v <= now)
        if op == "not_within_last":
            return known & ((v <= back) | (v > now))
        if op == "older_than":
            return known & (v <= back)
        return known & (v >= now) & (v < ahead)  # within_next


def _known(col: Any) -> np.ndarray:
    if isinstance(col, _Text):
        return col.codes >= 0
    return col.known


def _text_mask(col: _Text, op: str, value: Any) -> np.ndarray:
    if op in ("eq", "in"):
        return col.isin(value if isinstance(value, tuple | list) else (value,))
    if op in ("ne", "not_in"):
        hit = col.isin(value if isinstance(value, tuple | list) else (value,))
        return ~hit & (col.codes >= 0)
    needle = normalize_text(value)
    if op == "contains":
        return col.table(lambda u: needle in u)
    return col.table(lambda u: u.startswith(needle))  # starts_with


def _compare(values: np.ndarray, known: np.ndarray, op: str, value: Any) -> np.ndarray:
    if op == "eq":
        return known & (values == value)
    if op == "ne":
        return known & (values != value)
    if op == "gt":
        return known & (values > value)
    if op == "gte":
        return known & (values >= value)
    if op == "lt":
        return known & (values < value)
    if op == "lte":
        return known & (values <= value)
    if op == "between":
        lo, hi = value
        return known & (values >= lo) & (values <= hi)
    hit = np.isin(values, np.asarray(value))
    return known & (hit if op == "in" else ~hit)


def _prepared(profiles: pd.DataFrame | PreparedProfiles) -> PreparedProfiles:
    return profiles if isinstance(profiles, PreparedProfiles) else PreparedProfiles(profiles)


class _Evaluator:
    """Evaluates condition trees for one ``as_of``, sharing identical conditions' masks."""

    def __init__(self, prepared: PreparedProfiles, as_of: Any, cache_bytes: int = 256 << 20):
        self.prepared = prepared
        self.as_of = as_of
        _as_of(as_of)  # refuse a naive datetime before any work
        self.cache: dict[tuple[str, str, Any], np.ndarray] = {}
        self.limit = max(cache_bytes // max(prepared.n, 1), 8)

    def __call__(self, node: Condition | Group) -> np.ndarray:
        if isinstance(node, Condition):
            value = tuple(node.value) if isinstance(node.value, list) else node.value
            key = (node.field, node.op, value)
            mask = self.cache.get(key)
            if mask is None:
                mask = self.prepared.mask(node, self.as_of)
                if len(self.cache) < self.limit:
                    self.cache[key] = mask
            return mask
        masks = [self(item) for item in node.items]
        if node.op == "not":
            return ~masks[0]
        if len(masks) == 1:
            return masks[0]
        combine = np.logical_and if node.op == "all" else np.logical_or
        out = combine(masks[0], masks[1])
        for mask in masks[2:]:
            combine(out, mask, out=out)
        return out


def evaluate(
    definition: SegmentDefinition, profiles: pd.DataFrame | PreparedProfiles, as_of: Any
) -> pd.Index:
    """Customer ids of the members of one segment.

    Parameters
    ----------
    definition : SegmentDefinition
    profiles : DataFrame or PreparedProfiles
        One row per customer with the fields the definition reads.
    as_of : aware datetime or date
        The moment relative windows are computed against.

    Returns
    -------
    Index
        Member ids (``customer_id`` column, or the index), in frame order.

    Raises
    ------
    SegmentDefinitionError
        When the definition does not fit the frame's schema (see :func:`validate`).
    """
    prepared = _prepared(profiles)
    validate([definition], prepared.schema)
    mask = _Evaluator(prepared, as_of)(definition.where)
    return pd.Index(prepared.ids[mask], name=prepared.id_col)


def evaluate_many(
    definitions: Sequence[SegmentDefinition],
    profiles: pd.DataFrame | PreparedProfiles,
    as_of: Any,
) -> pd.DataFrame:
    """Memberships of several segments, as one long frame.

    Fields are prepared once and identical conditions shared between segments, so 100
    segments over 1M profiles take about a second (``bench/results/segments.md``).

    Returns
    -------
    DataFrame
        ``segment`` (categorical, in definition order) and ``customer_id`` (the id column's
        name), one row per member, in definition order then frame order.
    """
    prepared = _prepared(profiles)
    validate(definitions, prepared.schema)
    run = _Evaluator(prepared, as_of)
    names = [d.name for d in definitions]
    ids, sizes = [], []
    for definition in definitions:
        positions = np.flatnonzero(run(definition.where))
        ids.append(prepared.ids[positions])
        sizes.append(len(positions))
    segment = pd.Categorical.from_codes(
        np.repeat(np.arange(len(names), dtype=np.int32), sizes), dtype=pd.CategoricalDtype(names)
    )
    all_ids = np.concatenate(ids) if ids else prepared.ids[:0]
    return pd.DataFrame({"segment": segment, prepared.id_col: all_ids})


def preview(
    definition: SegmentDefinition,
    profiles: pd.DataFrame | PreparedProfiles,
    as_of: Any,
    sample: int = 10,
    seed: int = 0,
) -> tuple[int, pd.DataFrame]:
    """How many customers a segment holds and a seeded random sample of their profiles.

    Parameters
    ----------
    sample : int, default 10
        Rows in the sample (all members when fewer).
    seed : int, default 0
        The same seed gives the same sample of the same frame.

    Returns
    -------
    (int, DataFrame)
        Member count, and the sampled profile rows in frame order.
    """
    prepared = _prepared(profiles)
    validate([definition], prepared.schema)
    positions = np.flatnonzero(_Evaluator(prepared, as_of)(definition.where))
    if sample < 0:
        raise InvalidParameterError("sample", sample, "a count >= 0")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(positions, size=min(sample, len(positions)), replace=False))
    return len(positions), prepared.frame.iloc[chosen]


def membership_changes(
    previous: pd.DataFrame | None,
    current: pd.DataFrame,
    as_of: Any,
    id_col: str = CUSTOMER_ID,
    include_stayed: bool = True,
) -> pd.DataFrame:
    """Who entered, left or stayed in each segment between two membership snapshots.

    Parameters
    ----------
    previous, current : DataFrame
        Memberships with ``segment`` and ``customer_id`` (as :func:`evaluate_many` returns);
        ``previous`` may be None or empty on the first run (everyone enters).
    as_of : aware datetime or date
        When ``current`` was computed; stamped on every row.
    include_stayed : bool, default True
        Also return the members present in both snapshots.

    Returns
    -------
    DataFrame
        ``segment, customer_id, change, as_of`` with ``change`` one of ``"entered"``,
        ``"left"``, ``"stayed"``, sorted by segment, change and customer. A segment that
        vanished from the definitions shows all its members as left.
    """
    if previous is None:
        previous = pd.DataFrame({"segment": [], id_col: []})
    for name, frame in (("previous", previous), ("current", current)):
        missing = [c for c in ("segment", id_col) if c not in frame.columns]
        if missing:
            raise MissingColumnsError(missing, name)
    ts, _ = _as_of(as_of)

    def keys(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[["segment", id_col]].drop_duplicates()
        return out.astype({"segment": object})

    before, after = keys(previous), keys(current)
    if len(before) == 0:
        before = before.astype({id_col: after[id_col].dtype})
    merged = before.merge(after, on=["segment", id_col], how="outer", indicator=True)
    change = merged["_merge"].map({"left_only": "left", "right_only": "entered", "both": "stayed"})
    out = pd.DataFrame(
        {
            "segment": merged["segment"].astype(str),
            id_col: merged[id_col],
            "change": change.astype(str),
        }
    )
    if not include_stayed:
        out = out[out["change"] != "stayed"]
    out = out.sort_values(["segment", "change", id_col], kind="stable").reset_index(drop=True)
    out["as_of"] = ts
    return out
