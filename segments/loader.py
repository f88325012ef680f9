"""Reading a segments file: every condition with its line, every mistake in one pass.

The file goes through the one definitions loader, :mod:`crm.definitions`: the path or text
(told apart as for every definition file), YAML syntax, nesting depth and duplicate keys, then
a pydantic model of the file's shape (a ``segments:`` list of entries with ``name``,
``title``, ``description`` and ``where``; an unknown key gets the closest name). The ``where``
tree is read by :class:`_Walker` into :class:`~segments.language.Condition` and
:class:`~segments.language.Group` nodes, each with the line :meth:`YamlDocument.line_of`
gives its path. Problems of the shape, of the conditions and (given ``fields`` or a schema) of
the field names are all collected and raised together as one
:class:`~segments.errors.SegmentDefinitionError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm.definitions import DefinitionError, YamlDocument, parse_yaml, validate_document
from segments.language import (
    _GROUPS,
    OPERATORS,
    Condition,
    Group,
    Schema,
    SegmentDefinition,
    _shape_problem,
    _suggest,
)
from segments.validation import _check_conditions, _check_fields, _Problems, _specs

__all__ = ["EXAMPLE_SEGMENTS", "load_segments"]

#: The example segments file shipped with the package.
EXAMPLE_SEGMENTS = Path(__file__).with_name("segments.example.yaml")

Loc = tuple[str | int, ...]


class _Entry(BaseModel):
    """One segment of the file; ``where`` is read by :class:`_Walker`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: Any = ""
    description: Any = ""
    where: Any

    @field_validator("name", mode="before")
    @classmethod
    def _one_word(cls, value: Any) -> str:
        if isinstance(value, str) and value.strip() and not re.search(r"\s", value.strip()):
            return value.strip()
        raise ValueError(
            f"segment name {value!r} is not a single word; write e.g. 'name: vip_moscow'"
        )


class _File(BaseModel):
    """A segments file: one non-empty ``segments:`` list."""

    model_config = ConfigDict(extra="forbid")

    segments: list[_Entry] = Field(min_length=1)


def _short_field(path: str) -> str:
    """The last name in a definitions path (``segments[0].were`` → ``were``)."""
    names = [part for part in re.split(r"[.\[\]]", path) if part and not part.isdigit()]
    return names[-1] if names else path


class _Walker:
    """Reads the ``where`` trees of a parsed file, each node with its line."""

    def __init__(self, doc: YamlDocument, problems: _Problems) -> None:
        self.doc = doc
        self.problems = problems
        # every condition that parsed, with its segment, even inside a segment that did not:
        # the field checks run on them too, so one pass reports all of a file's problems
        self.parsed: list[tuple[str | None, Condition]] = []

    def line(self, loc: Loc) -> int | None:
        return self.doc.line_of(loc)

    def keep(self, cond: Condition) -> Condition:
        self.parsed.append((self.problems.segment, cond))
        return cond

    def condition(self, value: Any, loc: Loc) -> Condition | Group | None:
        if isinstance(value, list):
            return self.group("all", value, loc)
        if not isinstance(value, dict) or not value:
            self.problems.add(
                "where",
                "a condition must be a mapping like 'city: Москва' or 'all: [...]'",
                self.line(loc),
            )
            return None
        parts: list[Condition | Group] = []
        ok = True
        for key, sub in value.items():
            key_loc = (*loc, str(key))
            line = self.line(key_loc)
            part: Condition | Group | None
            if not isinstance(key, str):
                self.problems.add("where", f"key {key!r} is not a name; write a field name", line)
                part = None
            elif key in ("all", "any"):
                part = self.group(key, sub, key_loc)  # type: ignore[arg-type]
            elif key == "not":
                if isinstance(sub, dict):
                    inner = self.condition(sub, key_loc)
                    part = None if inner is None else Group("not", (inner,), line)
                else:
                    self.problems.add(
                        "not",
                        "'not' takes one condition (a mapping); for several, write "
                        "'not: {any: [...]}'",
                        line,
                    )
                    part = None
            else:
                part = self.field(key, sub, key_loc)
            ok = ok and part is not None
            if part is not None:
                parts.append(part)
        if not ok:
            return None
        first_line = self.line((*loc, str(next(iter(value)))))
        return parts[0] if len(parts) == 1 else Group("all", tuple(parts), first_line)

    def group(self, op: Literal["all", "any"], value: Any, loc: Loc) -> Group | None:
        line = self.line(loc)
        if isinstance(value, dict) and value:
            children = [self.condition({k: v}, loc) for k, v in value.items()]
        elif isinstance(value, list) and value:
            children = [self.condition(item, (*loc, i)) for i, item in enumerate(value)]
        else:
            self.problems.add(
                op, f"empty '{op}'; list at least one condition under it or remove it", line
            )
            return None
        if any(c is None for c in children):
            return None
        return Group(op, tuple(c for c in children if c is not None), line)

    def field(self, name: str, value: Any, loc: Loc) -> Condition | Group | None:
        line = self.line(loc)
        if isinstance(value, list):
            return self.comparison(name, "in", value, line)
        if not isinstance(value, dict):
            if value is None:
                return self.keep(Condition(name, "is_null", True, line))
            return self.comparison(name, "eq", value, line)
        if not value:
            self.problems.add(name, "no operator; write e.g. '{gte: 10}' or a value", line)
            return None
        parts = []
        for op, sub in value.items():
            op_line = self.line((*loc, str(op)))
            if op not in OPERATORS:
                hint = (
                    f"'{op}' goes above the field, not inside it"
                    if op in _GROUPS
                    else f"{_suggest(str(op), OPERATORS)}operators are {', '.join(OPERATORS)}"
                )
                self.problems.add(name, f"unknown operator {op!r}; {hint}", op_line)
                continue
            parts.append(self.comparison(name, op, sub, op_line))
        if len(parts) < len(value) or any(p is None for p in parts):
            return None
        conditions = tuple(p for p in parts if p is not None)
        return conditions[0] if len(conditions) == 1 else Group("all", conditions, line)

    def comparison(self, name: str, op: str, value: Any, line: int | None) -> Condition | None:
        problem = _shape_problem(op, value)
        if problem:
            self.problems.add(name, f"{op}: {problem}", line)
            return None
        if op in ("has_any", "has_all", "has_none") and isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            value = tuple(value)
        return self.keep(Condition(name, op, value, line))


def _segments(doc: YamlDocument, problems: _Problems) -> tuple[list[SegmentDefinition], _Walker]:
    """Check the file's shape with the model and walk every ``where``, whatever else failed."""
    walker = _Walker(doc, problems)
    if doc.data is None:
        problems.add("segments", "the file is empty; add a 'segments:' list", 1)
        return [], walker
    if isinstance(doc.data, list):  # a bare list of segments is the list itself
        doc.data = {"segments": doc.data}
    try:
        validate_document(doc, _File)
    except DefinitionError as exc:
        for p in exc.problems:
            problems.add(_short_field(p.field), p.message, p.line)
    entries = doc.data.get("segments") if isinstance(doc.data, dict) else None
    out: list[SegmentDefinition] = []
    names: dict[str, int | None] = {}
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        loc: Loc = ("segments", i)
        raw = entry.get("name")
        name = raw.strip() if isinstance(raw, str) and raw.strip() else None
        name = None if name is None or re.search(r"\s", name) else name
        name_line = doc.line_of((*loc, "name"))
        problems.segment = name
        if name is not None and name in names:
            problems.add(
                "name",
                f"duplicate segment name {name!r} (first at line {names[name]}); "
                "give each segment its own name",
                name_line,
            )
            name = None
        elif name is not None:
            names[name] = name_line
        if "where" not in entry:
            continue
        where = walker.condition(entry["where"], (*loc, "where"))
        if name is None or where is None:
            continue
        text = {
            k: "" if entry.get(k) is None else str(entry.get(k)) for k in ("title", "description")
        }
        out.append(
            SegmentDefinition(
                name, where, text["title"], text["description"], name_line, problems.source
            )
        )
    return out, walker


def load_segments(
    source: str | Path,
    schema: Schema | None = None,
    *,
    source_name: str | None = None,
    fields: Iterable[str] | None = None,
) -> list[SegmentDefinition]:
    """Parse segment definitions from a YAML file or text, with line numbers.

    Parameters
    ----------
    source : str or Path
        A path or the YAML text itself, told apart as for every definition file
        (:func:`crm.definitions.read_source`: a ``Path`` or a string naming a file is a file,
        another string with a newline or a ``:`` is text, anything else a missing file).
    schema : mapping, optional
        Field name → kind (see :func:`validate`); when given the definitions are validated
        against it too, and its problems are reported together with the parsing ones.
    source_name : str, optional
        Name used in messages (default: the path, or ``"<segments>"``).
    fields : iterable of str, optional
        The profile's field names, when their kinds are not known yet (before a run builds
        the profiles): every condition on another name is reported, in the same pass.

    Returns
    -------
    list of SegmentDefinition
        In file order.

    Raises
    ------
    SegmentDefinitionError
        Listing every problem found (``.problems``); ``.line``/``.field`` are the first one's.
    """
    try:
        doc = parse_yaml(source, what="segments")
    except DefinitionError as exc:
        problems = _Problems(source_name or _text_name(exc.problems[0].source))
        for p in exc.problems:
            problems.add(_short_field(p.field), p.message, p.line)
        problems.raise_if_any()
        raise  # unreachable: a DefinitionError has at least one problem
    doc.source = source_name or _text_name(doc.source)
    problems = _Problems(doc.source)
    definitions, walker = _segments(doc, problems)
    if schema is not None:
        _check_conditions(walker.parsed, _specs(schema), problems)
    elif fields is not None:
        _check_fields(walker.parsed, fields, problems)
    problems.found.sort(key=lambda p: p.line or 0)
    problems.raise_if_any()
    return definitions


def _text_name(source: str) -> str:
    return "<segments>" if source == "<text>" else source
