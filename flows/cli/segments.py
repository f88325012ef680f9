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
    """Load a segments file and check its fields against the profile's, before any work.

    Every problem is printed as ``file:line: field: message``, and the command exits 1.
    """
    from crm.snapshot import PROFILE_FIELDS
    from segments.rules import load_segments

    try:  # the file's structure and its field names, in one pass
        return load_segments(Path(path), fields=PROFILE_FIELDS)
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
    url: str, as_of: dt.datetime, fresh: bool, fields: list[str] | None = None
) -> tuple[pd.DataFrame, str]:
    """The scored profiles of the database at ``url``: its snapshot, or built afresh.

    A database without scored profiles is refused in a sentence (NoProfilesError); one whose
    snapshot is missing or of another run is scored from its tables, as with ``--fresh``.
    """
    from crm.snapshot import StaleSnapshotError, read_snapshot, snapshot_path

    if not fresh:
        columns = None if fields is None else [*fields, *_SHOWN]
        try:
            return read_snapshot(url, columns=columns), f"snapshot {snapshot_path(url)}"
        except StaleSnapshotError:
            pass
    from flows.segments import DEFAULT_SCORING_RULES, load_inputs, score_inputs, scoring_settings
    from segments.scoring import load_scoring_rules

    scored = score_inputs(
        load_inputs(url, as_of),
        load_scoring_rules(DEFAULT_SCORING_RULES),
        as_of,
        **scoring_settings(),
    )
    return scored.profiles, "the database (scored now; `crm segments run` keeps a snapshot)"


@app.command("check")
@friendly_errors
def check(path: str = SEGMENTS_FILE) -> None:
    """Validate a segments file against the profile fields; list its segments."""
    from crm.snapshot import NoProfilesError, StaleSnapshotError, read_snapshot
    from segments.rules import schema_from_frame, validate

    definitions = load_segments_file(path)
    try:  # the kinds of the fields, when this database has a snapshot to read them from
        schema = schema_from_frame(read_snapshot(database_url()))
    except (NoProfilesError, StaleSnapshotError):
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
    profiles, source = _profiles(database_url(), moment, fresh, fields)
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
    from flows.segments import run_segments

    load_segments_file(path)  # a bad file is refused before any profile is built
    print_run(run_segments(database_url(), parse_as_of(as_of), segments_path=path))


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
    from flows.cli._common import safe_url
    from segments.errors import EmptyBaseError
    from segments.funnel import funnel_report, lead_funnel

    url = database_url()
    leads = store.read_frame(url, "leads")
    if leads.empty:
        raise EmptyBaseError(
            "leads", f"{safe_url(url)} has no leads yet; import some (`crm import`) first"
        )
    deals = store.read_frame(url, "deals")
    console.print(funnel_report(lead_funnel(leads, deals, by=tuple(by.split(",")))))
