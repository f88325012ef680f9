"""``crm clean``, ``crm quality`` and ``crm dedup``: the hygiene pass, the data-quality report,
duplicate merges."""

from __future__ import annotations

import typer
from rich.table import Table

from flows.cli._common import (
    console,
    database_url,
    friendly_errors,
    now,
    parse_as_of,
    run_flow,
)

__all__ = ["clean", "dedup", "quality"]


def _pct(x: float) -> str:
    return f"{100 * float(x):.1f}%"


@friendly_errors
def clean(
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Moment of the run, ISO 8601 (default now); a rerun with the same moment changes nothing.",
    ),
    stale_days: int = typer.Option(
        3 * 365, "--stale-days", min=1, help="Days without activity after which a record is stale."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    show: int = typer.Option(10, help="How many unmapped titles and cities to list."),
) -> None:
    """Normalise and validate the base, suppress what decayed, refresh the data-ops tasks, store the KPI."""
    from flows.hygiene import hygiene_flow

    run = run_flow(
        hygiene_flow,
        url=database_url(),
        as_of=parse_as_of(as_of),
        stale_after_days=stale_days,
        dry_run=dry_run,
    )
    r, s = run.result, run.result.summary
    console.print(
        f"[bold]% clean records[/bold]: {_pct(s['clean_share'])} after the automatic fixes "
        f"({_pct(s['clean_share_raw'])} as found) — {int(s['records_after']):,} active records"
        + (
            " [yellow](dry run: nothing written)[/yellow]"
            if dry_run
            else f" — run {run.quality_run_id}"
        )
    )
    table = Table(title="what this run did")
    table.add_column("step")
    table.add_column("rows", justify="right")
    for name, value in r.stats.items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    console.print(table)
    _issues_table(r.breakdown)
    for title, frame in (
        ("unmapped job titles", r.unmapped_titles),
        ("unmapped cities", r.unmapped_cities),
    ):
        if len(frame) and show:
            t = Table(title=f"{title} (add them to the vocabulary; first {show})")
            for col in frame.columns:
                t.add_column(str(col))
            for row in frame.head(show).itertuples(index=False):
                t.add_row(*(str(v) for v in row))
            console.print(t)


def _issues_table(breakdown) -> None:  # type: ignore[no-untyped-def]
    table = Table(title="issues (records)")
    for col, justify in (
        ("issue", "left"),
        ("severity", "left"),
        ("as found", "right"),
        ("still open", "right"),
        ("share open", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in breakdown.to_dict("records"):
        if int(row["records_raw"]) or int(row["records"]):
            table.add_row(
                str(row["issue"]),
                str(row["severity"]),
                f"{int(row['records_raw']):,}",
                f"{int(row['records']):,}",
                _pct(row["share"]),
            )
    console.print(table)


@friendly_errors
def quality(
    history: bool = typer.Option(False, "--history", help="Show the KPI of every stored run."),
) -> None:
    """The data-quality report: % clean records of the latest run, its issues, the open data-ops tasks."""
    from crm import store
    from crm.db import migrate
    from crm.hygiene.database import latest_quality, quality_history

    url = database_url()
    migrate(url)
    last, issues = latest_quality(url)
    if last is None:
        console.print("no hygiene run stored yet: run [bold]crm clean[/bold] first")
        raise typer.Exit(0)
    if history:
        runs = quality_history(url)
        table = Table(title="% clean records over time")
        for col in (
            "run",
            "as of",
            "records",
            "clean as found",
            "clean after fixes",
            "completeness",
            "suppressed",
            "open tasks",
        ):
            table.add_column(col, justify="left" if col == "as of" else "right")
        for row in runs.to_dict("records"):
            table.add_row(
                str(row["quality_run_id"]),
                f"{row['as_of']:%Y-%m-%d %H:%M}",
                f"{int(row['records']):,}",
                _pct(row["clean_share_raw"]),
                _pct(row["clean_share"]),
                f"{float(row['mean_completeness']):.2f}",
                f"{int(row['suppressed']):,}",
                f"{int(row['tasks_open']):,}",
            )
        console.print(table)
    console.print(
        f"[bold]% clean records[/bold] at {last['as_of']:%Y-%m-%d %H:%M} UTC: {_pct(last['clean_share'])} "
        f"after the automatic fixes ({_pct(last['clean_share_raw'])} as found), "
        f"mean completeness {float(last['mean_completeness']):.2f}"
    )
    _issues_table(issues)
    tasks = store.read_frame(
        url,
        "SELECT task, priority, COUNT(*) AS cards FROM data_ops_tasks WHERE status = 'open' GROUP BY task, priority",
    )
    supp = store.read_frame(
        url,
        "SELECT reason, scope, COUNT(*) AS rows FROM suppressions WHERE lifted_at IS NULL GROUP BY reason, scope",
    )
    if len(tasks):
        t = Table(title="open data-ops tasks")
        for col in ("task", "priority", "cards"):
            t.add_column(col, justify="left" if col == "task" else "right")
        for row in tasks.sort_values(["priority", "task"]).to_dict("records"):
            t.add_row(str(row["task"]), str(row["priority"]), f"{int(row['cards']):,}")
        console.print(t)
    if len(supp):
        t = Table(title="suppressions in force")
        for col in ("reason", "scope", "rows"):
            t.add_column(col, justify="right" if col == "rows" else "left")
        for row in supp.sort_values("rows", ascending=False).to_dict("records"):
            t.add_row(str(row["reason"]), str(row["scope"]), f"{int(row['rows']):,}")
        console.print(t)


def _cell(value: object) -> str:
    return "–" if value is None or (isinstance(value, float) and value != value) else str(value)


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
    show: int = typer.Option(10, help="How many merges (or pairs to review) to list."),
    review: bool = typer.Option(
        False,
        "--review",
        help="List the pairs left for a person to decide: one person, or two of one name "
        "at one home (kind maybe_same); write nothing.",
    ),
    merge: tuple[int, int] | None = typer.Option(
        None, "--merge", metavar="A B", help="Decide a pair under review is one person: merge it."
    ),
    apart: tuple[int, int] | None = typer.Option(
        None,
        "--apart",
        metavar="A B",
        help="Decide a pair under review is two people of one home: never merged nor asked again.",
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="WHEN",
        help="Incremental: match only customers created or changed since WHEN (ISO date/time).",
    ),
) -> None:
    """Merge duplicate customers (the older won deal keeps the history) and link households.

    Every merge is written to the append-only merge log with the rows it moved, so
    `crm dedup --undo MERGE_ID` gives them back. A rerun changes nothing.

    Two cards of one name at one home, one without a birth date and each with its own
    contacts, may be one person or a parent and an adult child: they are neither merged
    nor linked as a household but left for review (`crm dedup --review`, then
    `--merge A B` or `--apart A B`).
    """
    from crm.db import migrate
    from crm.identity.database import decide_pair, maybe_same_pairs, undo_merge
    from crm.identity.database import dedup as run_dedup

    url = database_url()
    migrate(url)
    as_of = now()
    if undo is not None:
        given = undo_merge(url, undo, run_id=f"cli-undo-{as_of:%Y%m%dT%H%M%S}", as_of=as_of)
        console.print(f"merge {undo} undone: the record is active again, {given:,} rows given back")
        return
    if merge is not None or apart is not None:
        a, b = merge if merge is not None else apart  # type: ignore[misc]
        done = decide_pair(
            url,
            a,
            b,
            same=merge is not None,
            as_of=as_of,
            run_id=f"cli-review-{as_of:%Y%m%dT%H%M%S}",
        )
        if len(done):
            m = done.iloc[0]
            console.print(
                f"merge {int(m['merge_id'])}: {int(m['merged_id'])} merged into "
                f"{int(m['survivor_id'])}, {int(m['moved']):,} rows moved "
                f"(`crm dedup --undo {int(m['merge_id'])}` gives them back)"
            )
        else:
            console.print(f"{min(a, b)} and {max(a, b)}: two people of one home, never merged")
        return
    if review:
        pairs = maybe_same_pairs(url)
        console.print(
            f"{len(pairs):,} pairs to review (one person, or two of one name at one home)"
        )
        if len(pairs) and show:
            table = Table(title=f"to review (first {show}): each pair on two lines")
            for col in ("customer", "name", "born", "postcode", "email", "phone"):
                table.add_column(col, overflow="fold")
            fields = ("birth_date", "postcode", "email", "phone")
            for r in pairs.head(show).to_dict("records"):
                for end, col in (("a", "customer_id"), ("b", "related_customer_id")):
                    name = f"{_cell(r.get(f'first_name_{end}'))} {_cell(r.get(f'last_name_{end}'))}"
                    table.add_row(
                        str(r[col]),
                        name,
                        *(_cell(r.get(f"{f}_{end}")) for f in fields),
                        end_section=end == "b",
                    )
            console.print(table)
            console.print("decide with `crm dedup --merge A B` (one person) or `--apart A B`")
        return
    run = run_dedup(
        url,
        as_of,
        threshold=threshold,
        dry_run=dry_run,
        run_id=f"cli-{as_of:%Y%m%dT%H%M%S}",
        since=since,
    )
    stats = run.result.stats
    verb = "would merge" if dry_run else "merged"
    console.print(
        f"{stats.get('records', 0):,} active customers, {stats.get('candidate_pairs', 0):,} "
        f"pairs compared: {len(run.plan):,} records {verb} into "
        f"{run.plan['survivor_id'].nunique() if len(run.plan) else 0:,} survivors; "
        f"{len(run.households):,} household links, {run.stats.get('rounds', 0)} round(s)"
        + ("" if dry_run else f" ({run.households_added:,} new), {run.moved_rows:,} rows moved")
    )
    unsure = 0 if run.maybe_same is None else len(run.maybe_same)
    if unsure:
        console.print(
            f"{unsure:,} pairs left for review (one person, or two of one name at one home): "
            "`crm dedup --review`"
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
