"""Identity resolution (D6, D9): duplicate people, households, merges with a survivor rule.

On any frame of person records, given which column holds what::

    from crm.identity import find_duplicates
    roles = {"Фамилия": "last_name", "Имя": "first_name", "Телефон": "phone",
             "E-mail": "email", "Дата рождения": "birth_date", "Индекс": "postcode"}
    result = find_duplicates(export, roles)          # threshold=0.5 by default
    result.clusters     # record_id, cluster_id, cluster_size, confidence
    result.pairs        # id_a, id_b, score, weight, is_match, household, lvl_*/sim_* per field
    result.households   # id_a, id_b, shared: spouses and companions, linked, never merged
    result.maybe_same   # id_a, id_b, shared: one person or two of one name at one home,
                        # neither merged nor linked: for a person to decide

Import hook (D9): ``match_to_existing(new_rows, existing, roles)`` returns
``new_row_index, existing_customer_id, score`` for each incoming row that is a person
already in the base, so the import can attach the row to that customer instead of
creating a duplicate; rows not listed are new people (run :func:`find_duplicates` on the
file itself for duplicates within it).

Merges on the database (survivor rule, append-only merge log, undo) are in
:mod:`crm.identity.database`; :mod:`flows.identity` and ``crm dedup`` run them.
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
    maybe_same,
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
    "maybe_same",
    "pair_quality",
    "prepare",
]
