"""Errors of the CRM core. Each carries what is at fault so the message can say how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "CRMError",
    "ImportFileError",
    "ImportRejectedError",
    "MappingError",
    "MissingColumnsError",
    "StoreError",
    "require_columns",
]


class CRMError(Exception):
    """Base of every error the CRM core raises on purpose."""


class StoreError(CRMError):
    """A bulk read or write was asked for something the store cannot do."""


class ImportFileError(CRMError):
    """An import file cannot be read at all (missing, wrong format, no header)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class ImportRejectedError(CRMError):
    """Too many rows of an import were quarantined: the file is probably not the right one.

    Nothing of it landed; the quarantined rows are recorded with their reasons (batch
    ``batch_id``) so the cause can be read there.
    """

    def __init__(
        self, path: str, quarantined: int, total: int, limit: float, batch_id: int
    ) -> None:
        share = quarantined / total if total else 1.0
        super().__init__(
            f"{path}: {quarantined:,} of {total:,} rows quarantined ({share:.0%}, more than the "
            f"--max-rejects share {limit:.0%}); nothing landed. Reasons: table quarantine, "
            f"batch {batch_id}"
        )
        self.path = path
        self.quarantined = quarantined
        self.total = total
        self.batch_id = batch_id


class MappingError(CRMError):
    """A column mapping names a column the file does not have, or a field the entity does not have."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"mapping field {field!r}: {message}")
        self.field = field


class MissingColumnsError(KeyError):
    """A frame lacks columns a function needs.

    The rooms (``segments``, ``loyalty``) subclass it into their own error families, each
    with the ``hint`` its callers need.

    Attributes
    ----------
    columns : tuple of str
        The missing column names.
    frame : str
        What the frame is (``"orders"``, ``"ledger"``), for the message.
    """

    hint = "add them"

    def __init__(self, columns: Iterable[str], frame: str = "frame") -> None:
        self.columns = tuple(columns)
        self.frame = frame
        super().__init__(
            f"{frame} is missing column(s) {', '.join(map(repr, self.columns))}; {self.hint}"
        )

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


def require_columns(
    frame: Any,
    columns: Iterable[str | None],
    what: str = "frame",
    error: type[MissingColumnsError] = MissingColumnsError,
) -> None:
    """Raise ``error`` naming every column of ``columns`` that ``frame`` lacks.

    ``None`` entries (an optional column the caller was not given) are skipped.
    """
    missing = [str(c) for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise error(missing, what)
