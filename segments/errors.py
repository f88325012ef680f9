"""Exceptions of the ``segments`` package.

Every exception raised on purpose by ``segments`` derives from :class:`SegmentsError`,
so a caller (a flow, the CLI) can catch the whole family with one ``except``. Each
specific class carries the field (column or parameter) at fault, and its message says
what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crm import errors as crm_errors
from crm.definitions import DefinitionError, Problem

__all__ = [
    "ConvergenceError",
    "EmptyBaseError",
    "InvalidDataError",
    "InvalidParameterError",
    "MissingColumnsError",
    "ScoringRulesError",
    "SegmentDefinitionError",
    "SegmentMapError",
    "SegmentsError",
    "require_columns",
]


class SegmentsError(Exception):
    """Base class of every error raised by the ``segments`` package."""


def require_columns(frame: Any, columns: Iterable[str | None], what: str = "frame") -> None:
    """Raise :class:`MissingColumnsError` naming every column of ``columns`` that ``frame`` lacks.

    ``None`` entries (an optional column the caller was not given) are skipped.
    """
    crm_errors.require_columns(frame, columns, what, MissingColumnsError)


class MissingColumnsError(SegmentsError, crm_errors.MissingColumnsError):
    """A frame lacks columns a function needs (``columns``, ``frame``: what it is)."""

    hint = "add them or pass the matching *_col argument"


class InvalidParameterError(SegmentsError, ValueError):
    """A parameter has a value outside what the function accepts.

    Attributes
    ----------
    field : str
        The parameter name.
    value : object
        The value given.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}={value!r} is not valid: expected {expected}")


class SegmentMapError(SegmentsError, ValueError):
    """An RFM segment map leaves score cells unnamed or names a cell twice.

    Attributes
    ----------
    field : str
        Always ``"segment_map"``.
    cells : tuple of str
        The ``"RF"`` score cells at fault (for example ``("11", "12")``).
    """

    def __init__(self, cells: Iterable[str], problem: str) -> None:
        self.field = "segment_map"
        self.cells = tuple(cells)
        super().__init__(
            f"segment_map {problem}: cell(s) {', '.join(self.cells)}; "
            "every R×F score cell must match exactly one pattern"
        )


class EmptyBaseError(SegmentsError, ValueError):
    """There is nothing to score or count yet: the base has no customers (or no leads).

    Attributes
    ----------
    field : str
        What is missing (``"customers"``, ``"leads"``).
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class ConvergenceError(SegmentsError, RuntimeError):
    """A maximum-likelihood fit did not converge.

    Attributes
    ----------
    field : str
        The model that failed (``"BetaGeoModel"``, ``"GammaGammaModel"``).
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(
            f"{field} did not converge: {message}; check the summary (frequency, recency, T, "
            "monetary_value) or pass a penalizer"
        )


class InvalidDataError(SegmentsError, ValueError):
    """A column holds values the computation cannot use (missing, negative, empty frame).

    Attributes
    ----------
    field : str
        The column at fault.
    rows : int
        How many rows are at fault (0 when the frame is empty).
    """

    def __init__(self, field: str, rows: int, problem: str) -> None:
        self.field = field
        self.rows = rows
        super().__init__(f"column {field!r}: {problem} ({rows} row(s)); clean or drop those rows")


class ScoringRulesError(DefinitionError, SegmentsError):
    """A lead-scoring rules file is invalid (every problem listed, see :mod:`crm.definitions`).

    Attributes
    ----------
    problems : tuple of crm.definitions.Problem
        Every problem found, in file order.
    field : str
        Where the first problem is (``"bant.budget[1].points"``).
    line : int or None
        1-based line of that field in the YAML text, when known.
    """

    def __init__(
        self,
        field: str | Iterable[Problem],
        message: str = "",
        line: int | None = None,
        source: str = "<text>",
    ) -> None:
        problems = [Problem(source, line, field, message)] if isinstance(field, str) else field
        super().__init__(problems)
        self.field = self.problems[0].field
        self.line = self.problems[0].line


class SegmentDefinitionError(SegmentsError, ValueError):
    """A marketer's segment definition (YAML) is invalid.

    One instance describes one problem; the instance that is raised also lists, in
    ``problems``, every problem found in the file (itself first), so the marketer fixes them
    all in one go.

    Attributes
    ----------
    field : str
        The profile field or definition key at fault (``"city"``, ``"where"``, ``"name"``).
    line : int or None
        1-based line in the YAML text, when known.
    segment : str or None
        The segment's name, when known.
    source : str
        The file name, or ``"<segments>"`` for text.
    problems : tuple of SegmentDefinitionError
        Every problem found (``(self,)`` for a single one).
    """

    def __init__(
        self,
        field: str,
        message: str,
        line: int | None = None,
        segment: str | None = None,
        source: str = "<segments>",
        problems: Iterable[SegmentDefinitionError] = (),
    ) -> None:
        self.field = field
        self.line = line
        self.segment = segment
        self.source = source
        self.message = message
        self.problems: tuple[SegmentDefinitionError, ...] = tuple(problems) or (self,)
        if len(self.problems) == 1:
            text = f"{source}: {self.problems[0].where()}: {self.problems[0].message}"
        else:
            listed = "\n".join(f"  {p.where()}: {p.message}" for p in self.problems)
            text = f"{source}: {len(self.problems)} problems in the segment definitions:\n{listed}"
        super().__init__(text)

    def where(self) -> str:
        """``"line N, field F"`` (``"field F"`` when the line is unknown)."""
        return f"line {self.line}, field {self.field}" if self.line else f"field {self.field}"
