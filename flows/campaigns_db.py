"""Campaign writes through :mod:`crm.store`: the outbox, trigger firings, runs and exclusions.

Every write is set-wise and idempotent. The outbox and the trigger firings are appended with
``INSERT … ON CONFLICT (key) DO NOTHING`` (an upsert that updates no column), so a rerun after
a crash part-way queues nothing twice and fires nothing twice; runs and exclusions are upserted
by their keys. The gateway (issue 16) drains ``outbox`` and owns its later columns.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from campaigns.batch import OUTPUT_COLUMNS
from crm import store

__all__ = [
    "FIRING_COLUMNS",
    "OUTBOX_COLUMNS",
    "write_firings",
    "write_outbox",
    "write_run",
]

#: The columns a frame passed to :func:`write_outbox` may carry (``status`` defaults to queued).
OUTBOX_COLUMNS = (
    "message_key",
    "campaign_id",
    "campaign_version",
    "run_id",
    "customer_id",
    "channel",
    "variant",
    "language",
    "address",
    *OUTPUT_COLUMNS,  # what the renderer fills
    "scheduled_for",
    "created_at",
)

_TYPES = {
    "mime": pa.binary(),
    "sms_segments": pa.int64(),
    **{c: pa.string() for c in ("variant", "language", "subject", "body_html", "body_text")},
    **{c: pa.string() for c in ("sms_text", "sms_encoding")},
}

#: The columns of a trigger firing frame (:func:`write_firings`).
FIRING_COLUMNS = (
    "firing_key",
    "campaign_id",
    "campaign_version",
    "trigger",
    "customer_id",
    "event_ref",
    "event_at",
    "fired_at",
    "run_id",
)


def _only(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    unknown = [c for c in frame.columns if c not in columns]
    if unknown:
        raise ValueError(f"{what} frame has unknown column(s) {unknown}; allowed: {columns}")
    return frame


def write_outbox(url: str, messages: pd.DataFrame) -> store.WriteResult:
    """Queue rendered messages; a ``message_key`` already in the outbox is left as it is.

    Parameters
    ----------
    url : str
        Database URL.
    messages : pandas.DataFrame
        One row per message with :data:`OUTBOX_COLUMNS` (``mime`` as bytes, email only;
        ``scheduled_for`` and ``created_at`` as UTC instants).

    Returns
    -------
    crm.store.WriteResult
        ``inserted`` new messages; ``unchanged`` keys that were already queued.
    """
    frame = _only(messages, OUTBOX_COLUMNS, "outbox")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # a chunk of SMS only has no MIME at all: keep the column binary, not Arrow's null type
    for i, name in enumerate(table.column_names):
        if pa.types.is_null(table.column(i).type) and name in _TYPES:
            table = table.set_column(i, name, pa.nulls(table.num_rows, _TYPES[name]))
    return store.write_frame(url, table, "outbox", mode="upsert", key=["message_key"], update=[])


def write_firings(url: str, firings: pd.DataFrame) -> store.WriteResult:
    """Record trigger firings; a ``firing_key`` recorded before keeps its first run."""
    frame = _only(firings, FIRING_COLUMNS, "trigger firing")
    return store.write_frame(
        url, frame, "trigger_firings", mode="upsert", key=["firing_key"], update=[]
    )


def write_run(url: str, run: pd.DataFrame, exclusions: pd.DataFrame) -> list[store.WriteResult]:
    """Upsert one run's summary row and its per-customer exclusions in one transaction."""
    return store.write_frames(
        url,
        [
            store.Write(run, "campaign_runs", mode="upsert", key=["run_id"]),
            store.Write(
                exclusions, "campaign_exclusions", mode="upsert", key=["run_id", "customer_id"]
            ),
        ],
    )
