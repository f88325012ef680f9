"""Checking segment definitions against a profile schema: every mistake, with line and field.

A definition that parsed may still not fit the profiles: an unknown field (the closest name
is suggested), an operator that does not apply to the field's kind, a value of the wrong type
or outside a category's allowed values, a ``between`` whose low end is above its high end,
two segments with one name. :func:`validate` reports all of them at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from segments.errors import InvalidParameterError, SegmentDefinitionError
from segments.language import (
    _FLAG_OPS,
    _TIME,
    _WINDOW_OPS,
    KINDS,
    OPERATORS,
    Condition,
    FieldSpec,
    Schema,
    SegmentDefinition,
    _shape_problem,
    _suggest,
    normalize_text,
)
from segments.schema import _FrameSchema, _is_number

__all__ = ["validate", "validate_fields"]


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


def _check_fields(
    conditions: Iterable[tuple[str | None, Condition]], fields: Iterable[str], problems: _Problems
) -> None:
    known = list(dict.fromkeys(fields))
    allowed = set(known)
    for segment, cond in conditions:
        if cond.field not in allowed:
            problems.segment = segment
            problems.add(
                cond.field,
                f"unknown field {cond.field!r}; {_suggest(cond.field, known)}"
                "the profiles have no such column",
                cond.line,
            )


def validate_fields(
    definitions: Iterable[SegmentDefinition], fields: Iterable[str]
) -> list[SegmentDefinition]:
    """Check that every field the definitions read is one of ``fields`` (names only).

    The cheap check a run makes before it builds any profile: the profile columns are known
    by name long before their kinds can be read off a frame (:func:`validate` does that).
    :func:`segments.loader.load_segments` makes it in the same pass as the file's structure
    when given ``fields``.

    Raises
    ------
    SegmentDefinitionError
        Listing every unknown field, each with its line and the closest known name.
    """
    definitions = list(definitions)
    problems = _Problems(definitions[0].source if definitions else "<segments>")
    _check_fields(((d.name, c) for d in definitions for c in d.conditions()), fields, problems)
    problems.raise_if_any()
    return definitions
