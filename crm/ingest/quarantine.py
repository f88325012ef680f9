"""The quarantine and the batch record: where bad rows wait, with their line and reason.

Quarantine rows are keyed by (file checksum, line): importing the same file again rewrites
them instead of adding new ones. One ``import_batches`` row records each run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from crm.store import WriteResult

__all__ = ["close_batch", "open_batch", "reason_counts", "write_quarantine"]


def open_batch(url: str, entity: str, p: Path, sha: str, total: int, as_of: dt.datetime) -> int:
    """Record the start of an import; returns its ``batch_id``."""
    from crm.db import make_engine, session_scope
    from crm.models import ImportBatch

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            batch = ImportBatch(
                entity=entity,
                source_file=str(p),
                file_sha256=sha,
                rows_total=total,
                started_at=as_of,
            )
            session.add(batch)
            session.flush()
            return int(batch.batch_id)
    finally:
        engine.dispose()


def close_batch(
    url: str,
    batch_id: int,
    result: WriteResult,
    quarantined: int,
    matched: int,
    status: str,
    as_of: dt.datetime,
) -> None:
    """Record the end of an import: its counts and ``status`` (``done`` or ``rejected``)."""
    from crm import store

    store.execute(
        url,
        "UPDATE import_batches SET rows_inserted = ?, rows_updated = ?, rows_unchanged = ?, "
        "rows_quarantined = ?, rows_matched = ?, status = ?, finished_at = ? WHERE batch_id = ?",
        [
            result.inserted,
            result.updated,
            result.unchanged,
            quarantined,
            matched,
            status,
            store.instant_param(url, as_of),
            batch_id,
        ],
    )


def write_quarantine(
    url: str,
    bad: pd.DataFrame,
    *,
    batch_id: int,
    entity: str,
    path: Path,
    sha: str,
    as_of: dt.datetime,
) -> None:
    """Upsert the bad rows (``line, field, reason, raw``) into ``quarantine`` for this batch."""
    from crm import store

    if bad.empty:
        return
    quarantine = bad.assign(
        batch_id=batch_id,
        entity=entity,
        source_file=str(path),
        source_file_sha256=sha,
        created_at=as_of,
    )
    store.write_frame(
        url,
        quarantine,
        "quarantine",
        mode="upsert",
        key=["source_file_sha256", "line"],
        update=["batch_id", "field", "reason", "raw"],
    )


def reason_counts(bad: pd.DataFrame) -> dict[str, int]:
    """How many rows each reason sent to quarantine (quoted values elided, so they add up)."""
    if bad.empty:
        return {}
    counted = bad["reason"].str.replace(r"'[^']*'", "'…'", regex=True).value_counts()
    return {str(k): int(v) for k, v in counted.items()}
