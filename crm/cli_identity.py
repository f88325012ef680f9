"""``crm dedup``: find duplicate customers, link households, merge, or undo a merge (D6)."""

from __future__ import annotations

import typer
from rich.table import Table

from crm.cli import _now, app, console, database_url, friendly_errors

__all__ = ["dedup"]


@app.command("dedup")
@friendly_errors
def dedup(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be merged; write nothing."
    ),
    threshold: float = typer.Option(
        0.5, min=0.01, max=1.0, help="Match probability from which two records are one person."
    ),
    undo: int | None = typer.Option(
        None, "--undo", metavar="MERGE_ID", help="Undo one merge (its id is in the merge log)."
    ),
    show: int = typer.Option(10, help="How many merges to list."),
) -> None:
    """Merge duplicate customers (the older won deal keeps the history) and link households.

    Every merge is written to the append-only merge log with the rows it moved, so
    `crm dedup --undo MERGE_ID` gives them back. A rerun changes nothing.
    """
    from crm.db import migrate
    from crm.identity.database import dedup as run_dedup
    from crm.identity.database import undo_merge

    url = database_url()
    migrate(url)
    as_of = _now()
    if undo is not None:
        given = undo_merge(url, undo, run_id=f"cli-undo-{as_of:%Y%m%dT%H%M%S}", as_of=as_of)
        console.print(f"merge {undo} undone: the record is active again, {given:,} rows given back")
        return
    run = run_dedup(
        url, as_of, threshold=threshold, dry_run=dry_run, run_id=f"cli-{as_of:%Y%m%dT%H%M%S}"
    )
    stats = run.result.stats
    verb = "would merge" if dry_run else "merged"
    console.print(
        f"{stats.get('records', 0):,} active customers, {stats.get('candidate_pairs', 0):,} "
        f"pairs compared: {len(run.plan):,} records {verb} into "
        f"{run.plan['survivor_id'].nunique() if len(run.plan) else 0:,} survivors; "
        f"{len(run.households):,} household links"
        + ("" if dry_run else f" ({run.households_added:,} new), {run.moved_rows:,} rows moved")
    )
    if len(run.plan) and show:
        table = Table(title=f"merges (first {show})" + (" — dry run" if dry_run else ""))
        cols = ["merge_id"] if "merge_id" in run.plan else []
        for col in (*cols, "survivor_id", "merged_id", "score", "confidence"):
            table.add_column(col, justify="right")
        for row in run.plan.head(show).itertuples(index=False):
            values = [getattr(row, c) for c in (*cols, "survivor_id", "merged_id")]
            table.add_row(
                *(str(int(v)) for v in values), f"{row.score:.3f}", f"{row.confidence:.3f}"
            )
        console.print(table)
