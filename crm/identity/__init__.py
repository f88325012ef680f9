"""Identity resolution (D6, D9): duplicate people, households, merges with a survivor rule.

Pure functions on frames; the database side is :mod:`flows.identity`.
"""

from crm.identity.errors import IdentityError, MergeNotFoundError, MergeStateError, RoleError
from crm.identity.keys import ROLE_KINDS, prepare
from crm.identity.model import FellegiSunter
from crm.identity.resolve import (
    DEFAULT_DIFFERENT_IF,
    DuplicateResult,
    estimate_u,
    find_duplicates,
    match_to_existing,
    pair_quality,
)

__all__ = [
    "DEFAULT_DIFFERENT_IF",
    "ROLE_KINDS",
    "DuplicateResult",
    "FellegiSunter",
    "IdentityError",
    "MergeNotFoundError",
    "MergeStateError",
    "RoleError",
    "estimate_u",
    "find_duplicates",
    "match_to_existing",
    "pair_quality",
    "prepare",
]
