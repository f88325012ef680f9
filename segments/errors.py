"""Exceptions of the ``segments`` package.

Every exception raised on purpose by ``segments`` derives from :class:`SegmentsError`,
so a caller (a flow, the CLI) can catch the whole family with one ``except``. Each
specific class carries the field (column or parameter) at fault, and its message says
what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConvergenceError",
    "InvalidDataError",
    "InvalidParameterError",
    "MissingColumnsError",
    "SegmentMapError",
    "SegmentsError",
]


class SegmentsError(Exception):
    """Base class of every error raised by the ``segments`` package."""


class MissingColumnsError(SegmentsError, KeyError):
    """A frame lacks columns a function needs.

    Attributes
    ----------
    columns : tuple of str
        The missing column names.
    frame : str
        What the frame is (``"orders"``, ``"X"``…), for the message.
    """

    def __init__(self, columns: Iterable[str], frame: str = "frame") -> None:
        self.columns = tuple(columns)
        self.frame = frame
        super().__init__(
            f"{frame} is missing column(s) {', '.join(map(repr, self.columns))}; "
            "add them or pass the matching *_col argument"
        )

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


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
