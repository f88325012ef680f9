"""Flow: find duplicate customers, link households, merge with the survivor rule (D6).

The same three steps as ``crm dedup`` (:func:`crm.identity.database.dedup`), as Prefect
tasks: read the active customers, their contact points, won deals and undone merges
(:func:`~crm.identity.database.load_inputs`); find the clusters of records of one person
and plan the merges round after round until nothing more is found
(:func:`crm.identity.job.plan_dedup`); merge each cluster into its survivor (the record with
the oldest won deal, then the oldest record), recording every merge and every moved row in
the append-only merge log, and link households (:func:`~crm.identity.database.write_plan`).
A rerun changes nothing; a merge undone with ``crm dedup --undo`` is never redone.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from crm.db import migrate
from crm.identity.database import DedupRun, load_inputs, write_plan
from crm.identity.job import DedupInputs, DedupPlan, plan_dedup
from crm.settings import get_settings

__all__ = ["dedup_flow"]


@task(name="read active customers", cache_policy=NO_CACHE)
def _load(url: str, since: dt.datetime | None) -> DedupInputs:
    return load_inputs(url, since)


@task(name="find duplicates and plan merges", cache_policy=NO_CACHE)
def _plan(inputs: DedupInputs, threshold: float) -> DedupPlan:
    return plan_dedup(inputs, threshold=threshold)


@task(name="merge duplicates and link households", cache_policy=NO_CACHE)
def _write(url: str, plan: DedupPlan, run_id: str, as_of: dt.datetime, dry_run: bool) -> DedupRun:
    return write_plan(url, plan, run_id, as_of, dry_run=dry_run)


def _publish(run: DedupRun, summary: dict[str, int], threshold: float) -> None:
    seconds: dict[str, float] = run.result.stats.get("seconds", {})  # type: ignore[assignment]
    create_markdown_artifact(
        key="dedup-summary",
        markdown="\n".join(
            [
                f"# Dedup {'(dry run)' if run.dry_run else ''}",
                "",
                "| | |",
                "|---|---|",
                *[f"| {k} | {v:,} |" for k, v in summary.items()],
                f"| threshold | {threshold} |",
                f"| seconds (first search) | {sum(seconds.values()):.1f} |",
            ]
        ),
        description="Duplicate customers found and merged, households linked",
    )
    if len(run.plan):
        create_table_artifact(
            key="dedup-merges",
            table=[
                {str(k): v for k, v in row.items()}
                for row in run.plan.head(500).astype(object).to_dict("records")
            ],
            description="Merges (first 500): survivor, merged record, score, confidence",
        )


@flow(name="dedup")
def dedup_flow(
    threshold: float = 0.5,
    dry_run: bool = False,
    url: str | None = None,
    as_of: dt.datetime | None = None,
    since: dt.datetime | None = None,
) -> dict[str, int]:
    """Deduplicate the active customers of the database at ``url`` (default: settings).

    Parameters
    ----------
    threshold : float
        Match probability from which two records are one person, in ``(0, 1]``.
    dry_run : bool
        Find and report only; write nothing.
    url : str, optional
        Database URL (default: the settings' database).
    as_of : datetime, optional
        The instant recorded for the merges and links (default: when the flow starts).
    since : datetime, optional
        A later night: only the customers created, updated or given a contact point
        since this instant are matched against the base (default: a full run).
    """
    logger = get_run_logger()
    url = url or get_settings().resolved_database_url
    as_of = as_of or dt.datetime.now(dt.UTC)
    migrate(url)
    run_id = str(flow_run.id or f"local-{as_of:%Y%m%dT%H%M%S}")
    plan = _plan(_load(url, since), threshold)
    run = _write(url, plan, run_id, as_of, dry_run)
    summary = {
        "customers": plan.customers,
        "clusters": int(plan.result.stats.get("clusters", 0)),  # type: ignore[call-overload]
        "rounds": len(plan.rounds),
        "to_merge": len(run.plan),
        "household_pairs": len(run.households),
        "merged": run.merged,
        "rows_moved": run.moved_rows,
        "households_added": run.households_added,
        "left_for_review": 0 if run.maybe_same is None else len(run.maybe_same),
        "review_added": run.maybe_same_added,
    }
    logger.info("dedup %s: %s", "dry run" if dry_run else "run", summary)
    _publish(run, summary, threshold)
    return summary
