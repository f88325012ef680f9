"""Errors of the CRM core. Each carries what is at fault so the message can say how to fix it."""

from __future__ import annotations

__all__ = ["CRMError", "ImportFileError", "MappingError", "StoreError"]


class CRMError(Exception):
    """Base of every error the CRM core raises on purpose."""


class StoreError(CRMError):
    """A bulk read or write was asked for something the store cannot do."""


class ImportFileError(CRMError):
    """An import file cannot be read at all (missing, wrong format, no header)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class MappingError(CRMError):
    """A column mapping names a column the file does not have, or a field the entity does not have."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"mapping field {field!r}: {message}")
        self.field = field
