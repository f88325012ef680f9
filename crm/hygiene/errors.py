"""Errors of :mod:`crm.hygiene`. Each carries what is at fault so the message can say how to fix it."""

from __future__ import annotations

from crm.errors import CRMError

__all__ = ["HygieneError", "MissingColumnError", "VocabularyError"]


class HygieneError(CRMError):
    """Base of every error the hygiene package raises on purpose."""


class MissingColumnError(HygieneError):
    """A frame handed to a hygiene function lacks a column the rule needs."""

    def __init__(self, column: str, where: str) -> None:
        super().__init__(f"{where}: the frame has no column {column!r}; add it (it may be empty)")
        self.column = column
        self.where = where


class VocabularyError(HygieneError):
    """A vocabulary file (job titles, cities, domains…) has a malformed line."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}, line {line}: {message}")
        self.file = file
        self.line = line
