"""``crm segments``: check, preview and run the marketer's segments; the funnel report."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import NoReturn

import pandas as pd
import typer
from rich.table import Table

from flows.cli._common import console, database_url, err_console, friendly_errors, parse_as_of
from segments.errors import SegmentDefinitionError

__all__ = ["app", "load_segments_file", "print_run"]

app = typer.Typer(
    help="Marketer-defined segments: check a file, preview a segment, run them all.",
    no_args_is_help=True,
)

SEGMENTS_FILE = typer.Argument(
    "segments/segments.example.yaml", help="The segments file (YAML).", show_default=True
)


def load_segments_file(path: str):  # type: ignore[no-untyped-def]
    """Load a segments file; every problem printed as ``file:line: field: message``."""
    from segments.rules import load_segments

    try:
        return load_segments(Path(path))
    except SegmentDefinitionError as exc:
        _refuse(exc)


def _refuse(exc: SegmentDefinitionError) -> NoReturn:
    """Print every problem of a segments file as ``file:line: field: message`` and exit 1."""
    for problem in exc.problems or (exc,):
        where = f"{problem.source}:{problem.line}" if problem.line else problem.source
        err_console.print(
            f"[red]error:[/red] {where}: {problem.field}: {problem.message}", soft_wrap=True
        )
    raise typer.Exit(1)


_SHOWN = ("first_name", "last_name", "city", "rfm_segment", "orders", "revenue")


def _profiles(
    as_of: dt.datetime, fresh: bool, fields: list[str] | None = None
) -> tuple[pd.DataFrame, str]:
    from crm.snapshot import read_snapshot, snapshot_path

    path = snapshot_path()
    if path.exists() and not fresh:
        columns = None if fields is None else [*fields, *_SHOWN]
        return read_snapshot(path, columns=columns), f"snapshot {path}"
    # no snapshot yet (or --fresh): build and score the profiles from the database
    from flows.segments import DEFAULT_SCORING_RULES, read_base, score_base
    from segments.scoring import load_scoring_rules

    scored = score_base(
        read_base(database_url()),
        as_of,
        scoring_rules=load_scoring_rules(DEFAULT_SCORING_RULES),
    )
    return scored.profiles, "the database (no snapshot yet: `crm segments run` writes one)"


@app.command("check")
@friendly_errors
def check(path: str = SEGMENTS_FILE) -> None:
    """Validate a segments file against the profile fields; list its segments."""
    from crm.snapshot import read_snapshot
    from segments.rules import schema_from_frame, validate

    definitions = load_segments_file(path)
    try:
        schema = schema_from_frame(read_snapshot())
    except FileNotFoundError:
        schema = None
    if schema is not None:
        try:
            validate(definitions, schema)
        except SegmentDefinitionError as exc:
            _refuse(exc)
    table = Table(title=f"{path}: {len(definitions)} segment(s) valid")
    table.add_column("segment")
    table.add_column("title")
    table.add_column("fields")
    for d in definitions:
        table.add_row(d.name, d.title or "", ", ".join(d.fields))
    console.print(table)


@app.command("preview")
@friendly_errors
def preview(
    path: str = SEGMENTS_FILE,
    segment: str | None = typer.Option(
        None, "--segment", "-s", help="Which segment of the file (default: all, counts only)."
    ),
    sample: int = typer.Option(10, min=0, help="How many sample members to show."),
    as_of: str | None = typer.Option(None, "--as-of", help="Moment of the evaluation (ISO 8601)."),
    fresh: bool = typer.Option(
        False, "--fresh", help="Build the profiles from the database instead of the snapshot."
    ),
) -> None:
    """Count a segment's members and show a sample, on the latest scored profiles."""
    from segments.rules import PreparedProfiles, evaluate_many
    from segments.rules import preview as preview_segment

    definitions = load_segments_file(path)
    moment = parse_as_of(as_of)
    wanted = [d for d in definitions if segment is None or d.name == segment]
    fields = [f for d in wanted for f in d.fields]
    profiles, source = _profiles(moment, fresh, fields)
    started = time.perf_counter()
    prepared = PreparedProfiles(profiles)
    if segment is None:
        members = evaluate_many(definitions, prepared, moment)
        elapsed = time.perf_counter() - started
        sizes = members["segment"].value_counts(sort=False)
        table = Table(title=f"{len(definitions)} segment(s) over {len(profiles):,} profiles")
        table.add_column("segment")
        table.add_column("title")
        table.add_column("members", justify="right")
        for d in definitions:
            table.add_row(d.name, d.title or "", f"{int(sizes.get(d.name, 0)):,}")
        console.print(table)
    else:
        chosen = [d for d in definitions if d.name == segment]
        if not chosen:
            names = ", ".join(d.name for d in definitions)
            raise ValueError(f"no segment {segment!r} in {path}; the file has: {names}")
        count, rows = preview_segment(chosen[0], prepared, moment, sample=sample)
        elapsed = time.perf_counter() - started
        console.print(
            f"[bold]{chosen[0].name}[/bold] ({chosen[0].title or ''}): "
            f"{count:,} of {len(profiles):,} profiles"
        )
        shown = [c for c in _SHOWN if c in rows.columns]
        table = Table()
        table.add_column("customer_id", justify="right")
        for c in shown:
            table.add_column(c)
        for cid, row in rows[shown].iterrows():
            table.add_row(str(cid), *("" if pd.isna(v) else str(v) for v in row))
        if len(rows):
            console.print(table)
    console.print(f"[dim]profiles from {source}; evaluated in {elapsed:.3f} s[/dim]")


@app.command("run")
@friendly_errors
def run(
    path: str = SEGMENTS_FILE,
    as_of: str | None = typer.Option(
        None, "--as-of", help="Moment of the run (ISO 8601, default now); a rerun changes nothing."
    ),
) -> None:
    """Build and score every profile, evaluate the segments and store the memberships."""
    from flows.segments import segments_flow

    load_segments_file(path)
    result = segments_flow(url=database_url(), as_of=parse_as_of(as_of), segments_path=path)
    print_run(result)


def print_run(result: dict) -> None:  # type: ignore[type-arg]
    console.print(
        f"profiles scored: {result['profiles']:,}; leads scored: {result['lead_scores']:,}; "
        f"segment entries: {result['entered']:,}; exits: {result['left']:,}"
    )
    table = Table(title="segment sizes")
    table.add_column("segment")
    table.add_column("members", justify="right")
    for name, members in result["segments"].items():
        table.add_row(name, f"{members:,}")
    console.print(table)


@app.command("funnel")
@friendly_errors
def funnel(
    by: str = typer.Option("source", help="Lead column to group by (source, channel…)."),
) -> None:
    """Conversion inquiry → verified → deal → won per source (disqualified kept apart)."""
    from crm import store
    from segments.funnel import funnel_report, lead_funnel

    url = database_url()
    leads = store.read_frame(url, "leads")
    deals = store.read_frame(url, "deals")
    console.print(funnel_report(lead_funnel(leads, deals, by=tuple(by.split(",")))))
