"""Errors of identity resolution; each names the column, role or merge at fault."""

from __future__ import annotations

from crm.errors import CRMError

__all__ = ["IdentityError", "MergeNotFoundError", "MergeStateError", "RoleError"]


class IdentityError(CRMError):
    """Base of every error :mod:`crm.identity` raises on purpose."""


class RoleError(IdentityError):
    """A roles mapping names a column the frame lacks, or a kind that does not exist."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"column {column!r}: {message}")
        self.column = column


class MergeNotFoundError(IdentityError):
    """An undo names a merge id that is not in the merge log."""

    def __init__(self, merge_id: int) -> None:
        super().__init__(f"merge {merge_id} is not in the merge log (see `crm dedup --dry-run`)")
        self.merge_id = merge_id


class MergeStateError(IdentityError):
    """A merge cannot be undone in the state it is in (already undone, or not a merge)."""

    def __init__(self, merge_id: int, message: str) -> None:
        super().__init__(f"merge {merge_id}: {message}")
        self.merge_id = merge_id
