"""``crm nightly``: the whole nightly chain in data-flow order."""

from __future__ import annotations

import typer

from flows.cli._common import console, database_url, friendly_errors, parse_as_of, run_flow
from flows.cli.segments import load_segments_file, print_run

__all__ = ["nightly"]


@friendly_errors
def nightly(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Moment of the run (ISO 8601, default now)."
    ),
    segments_path: str = typer.Option(
        "segments/segments.example.yaml", "--segments", help="The segments file."
    ),
    loyalty_lookback_days: int = typer.Option(
        3, min=1, help="Loyalty: also book orders of this many days before yesterday (backfill)."
    ),
    full: bool = typer.Option(
        False,
        "--full",
        help="Redo hygiene and dedup over the whole base (a later night does only what changed).",
    ),
) -> None:
    """The nightly job: clean the base, merge duplicates, run the loyalty day, score and segment."""
    from flows.nightly import nightly_flow

    load_segments_file(segments_path)
    result = run_flow(
        nightly_flow,
        url=database_url(),
        as_of=parse_as_of(as_of),
        segments_path=segments_path,
        loyalty_lookback_days=loyalty_lookback_days,
        incremental=not full,
    )
    console.print(
        f"[bold]hygiene[/bold]: {100 * float(result['hygiene']['clean_share']):.1f}% clean records"
    )
    dedup = result["dedup"]
    console.print(
        f"[bold]dedup[/bold]: {dedup.get('merged', 0):,} duplicates merged, "
        f"{dedup.get('households_added', 0):,} household links"
    )
    loyalty = result["loyalty"]
    console.print(
        "[bold]loyalty[/bold]: " + ", ".join(f"{k} {v:,}" for k, v in loyalty.items() if v)
    )
    print_run(result["segments"])
