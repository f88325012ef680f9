"""Segment memberships over time: who entered and who left, and what a run stores.

:func:`membership_changes` compares two membership snapshots; :func:`plan_memberships` turns
one evaluation into the rows a run opens and closes and its per-segment summary, so that a
rerun with the same ``as_of`` enters nobody twice.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crm.columns import CUSTOMER_ID
from segments.errors import MissingColumnsError
from segments.evaluation import _as_of

__all__ = ["membership_changes"]


def membership_changes(
    previous: pd.DataFrame | None,
    current: pd.DataFrame,
    as_of: Any,
    id_col: str = CUSTOMER_ID,
    include_stayed: bool = True,
) -> pd.DataFrame:
    """Who entered, left or stayed in each segment between two membership snapshots.

    Parameters
    ----------
    previous, current : DataFrame
        Memberships with ``segment`` and ``customer_id`` (as :func:`evaluate_many` returns);
        ``previous`` may be None or empty on the first run (everyone enters).
    as_of : aware datetime or date
        When ``current`` was computed; stamped on every row.
    include_stayed : bool, default True
        Also return the members present in both snapshots.

    Returns
    -------
    DataFrame
        ``segment, customer_id, change, as_of`` with ``change`` one of ``"entered"``,
        ``"left"``, ``"stayed"``, sorted by segment, change and customer. A segment that
        vanished from the definitions shows all its members as left.
    """
    if previous is None:
        previous = pd.DataFrame({"segment": [], id_col: []})
    for name, frame in (("previous", previous), ("current", current)):
        missing = [c for c in ("segment", id_col) if c not in frame.columns]
        if missing:
            raise MissingColumnsError(missing, name)
    ts, _ = _as_of(as_of)

    def keys(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[["segment", id_col]].drop_duplicates()
        return out.astype({"segment": object})

    before, after = keys(previous), keys(current)
    if len(before) == 0:
        before = before.astype({id_col: after[id_col].dtype})
    merged = before.merge(after, on=["segment", id_col], how="outer", indicator=True)
    change = merged["_merge"].map({"left_only": "left", "right_only": "entered", "both": "stayed"})
    out = pd.DataFrame(
        {
            "segment": merged["segment"].astype(str),
            id_col: merged[id_col],
            "change": change.astype(str),
        }
    )
    if not include_stayed:
        out = out[out["change"] != "stayed"]
    out = out.sort_values(["segment", "change", id_col], kind="stable").reset_index(drop=True)
    out["as_of"] = ts
    return out
