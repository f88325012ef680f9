"""Segment memberships over time: who entered and who left, and what a run stores.

:func:`membership_changes` compares two membership snapshots; :func:`plan_memberships` turns
one evaluation into the rows a run opens and closes and its per-segment summary, so that a
rerun with the same ``as_of`` enters nobody twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pandas as pd

from crm.columns import CUSTOMER_ID
from segments.errors import MissingColumnsError
from segments.evaluation import _as_of, evaluate_many
from segments.language import SegmentDefinition

__all__ = ["definition_sha256", "membership_changes", "plan_memberships"]


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


def definition_sha256(definition: SegmentDefinition) -> str:
    """A fingerprint of a segment's conditions: it changes when the ``where`` tree does."""
    return hashlib.sha256(repr(definition.where).encode("utf-8")).hexdigest()


def plan_memberships(
    definitions: Sequence[SegmentDefinition],
    profiles: pd.DataFrame,
    open_rows: pd.DataFrame,
    runs_at: pd.DataFrame,
    as_of: Any,
    *,
    current: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rows to open, rows to close and the per-segment run summary for one evaluation.

    Parameters
    ----------
    definitions : sequence of SegmentDefinition
    profiles : DataFrame
        The scored profiles, one row per customer.
    open_rows : DataFrame
        The stored memberships without ``left_at``: ``segment, customer_id, entered_at``.
    runs_at : DataFrame
        ``segment_runs`` rows already stored for this ``as_of`` (``segment, entered, left``):
        a rerun keeps their counts instead of starting from zero.
    as_of : date, datetime or ISO text
        The moment evaluated; stamped as ``entered_at`` / ``left_at``.
    current : DataFrame, optional
        The evaluation of ``definitions`` on ``profiles`` (:func:`evaluate_many`) when the
        caller already has it, e.g. concatenated from partitions of the base evaluated apart.

    Returns
    -------
    (opened, closed, runs)
        ``opened``: ``segment, customer_id, entered_at, left_at`` (NaT) for each entry;
        ``closed``: the open rows of those who left, with ``left_at``; ``runs``: one row per
        definition with ``segment, as_of, title, definition_sha256, members, entered, left``.
        Rerunning with the same inputs after writing them opens and closes nothing.
    """
    at, _ = _as_of(as_of)
    open_rows = pd.DataFrame(
        {  # an empty table reads back with guessed types: give the columns theirs
            "segment": open_rows["segment"].astype(str).to_numpy(),
            "customer_id": open_rows["customer_id"].to_numpy(dtype="int64"),
            "entered_at": pd.to_datetime(open_rows["entered_at"], utc=True)
            .astype("datetime64[us, UTC]")
            .array,
        }
    )
    if current is None:
        current = evaluate_many(definitions, profiles, at)
    changes = membership_changes(
        open_rows[["segment", "customer_id"]], current, at, include_stayed=False
    )
    entered = changes[(changes["change"] == "entered").to_numpy()]
    left = changes[(changes["change"] == "left").to_numpy()]
    opened = pd.DataFrame(
        {
            "segment": entered["segment"].astype(str).to_numpy(),
            "customer_id": entered["customer_id"].to_numpy(dtype="int64"),
            "entered_at": at,
            "left_at": pd.Series([pd.NaT] * len(entered), dtype="datetime64[us, UTC]"),
        }
    )
    closed = open_rows.merge(
        left[["segment", "customer_id"]].astype({"segment": str}), on=["segment", "customer_id"]
    ).assign(left_at=at)[["segment", "customer_id", "entered_at", "left_at"]]
    names = [d.name for d in definitions]
    before = (
        runs_at.set_index("segment")[["entered", "left"]]
        if len(runs_at)
        else pd.DataFrame(columns=["entered", "left"])
    )
    before = before.reindex(names).fillna(0).astype("int64")
    return (
        opened,
        closed,
        pd.DataFrame(
            {
                "segment": names,
                "as_of": at,
                "title": [d.title for d in definitions],
                "definition_sha256": [definition_sha256(d) for d in definitions],
                "members": current["segment"]
                .astype(str)
                .value_counts()
                .reindex(names, fill_value=0)
                .to_numpy(dtype="int64"),
                "entered": opened["segment"]
                .value_counts()
                .reindex(names, fill_value=0)
                .to_numpy(dtype="int64")
                + before["entered"].to_numpy(),
                "left": closed["segment"]
                .value_counts()
                .reindex(names, fill_value=0)
                .to_numpy(dtype="int64")
                + before["left"].to_numpy(),
            }
        ),
    )
