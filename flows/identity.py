"""Flow: find duplicate customers, link households, merge with the survivor rule (D6).

Reads active customers and their contact points, finds clusters of records of one person
(:func:`crm.identity.find_duplicates`), links households in ``relations`` and merges each
cluster into its survivor (the record with the oldest won deal, then the oldest record),
recording every merge and every moved row in the append-only merge log. A rerun changes
nothing; a merge undone with ``crm dedup --undo`` is never redone.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from crm import store
from crm.db import migrate
from crm.identity import DuplicateResult, find_duplicates
from crm.identity.database import (
    PEOPLE_ROLES,
    apply_merges,
    cannot_link,
    link_households,
    read_people,
)
from crm.identity.merge import household_links, merge_plan
from crm.settings import get_settings

__all__ = ["dedup_flow"]


@task(name="read active customers")
def read_customers(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_people(url), cannot_link(url)


@task(name="find duplicates and households")
def find_clusters(people: pd.DataFrame, banned: pd.DataFrame, threshold: float) -> DuplicateResult:
    return find_duplicates(
        people, PEOPLE_ROLES, threshold=threshold, id_col="customer_id", cannot_link=banned
    )


@task(name="choose survivors")
def plan_merges(
    url: str, result: DuplicateResult, people: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    members = result.clusters.loc[result.clusters["cluster_size"] > 1, "record_id"]
    deals = store.read_frame(
        url, "SELECT customer_id, status, created_at, closed_at FROM deals WHERE status = 'won'"
    )
    plan = merge_plan(
        result.clusters, result.pairs, people, deals[deals["customer_id"].isin(members)]
    )
    return plan, household_links(result.households, plan)


@task(name="link households")
def write_households(url: str, links: pd.DataFrame, as_of: dt.datetime) -> int:
    return link_households(url, links, as_of).inserted


@task(name="merge duplicates")
def write_merges(url: str, plan: pd.DataFrame, run_id: str, as_of: dt.datetime) -> pd.DataFrame:
    return apply_merges(url, plan, run_id, as_of)


@flow(name="dedup")
def dedup_flow(
    threshold: float = 0.5, dry_run: bool = False, url: str | None = None
) -> dict[str, int]:
    """Deduplicate the active customers of the database at ``url`` (default: settings).

    Parameters
    ----------
    threshold : float
        Match probability from which two records are one person.
    dry_run : bool
        Find and report only; write nothing.
    """
    logger = get_run_logger()
    url = url or get_settings().resolved_database_url
    migrate(url)
    as_of = dt.datetime.now(dt.UTC)
    run_id = str(flow_run.id or f"local-{as_of:%Y%m%dT%H%M%S}")
    people, banned = read_customers(url)
    summary = {"customers": len(people), "merged": 0, "rows_moved": 0, "households_added": 0}
    if len(people) < 2:
        logger.info("fewer than two active customers: nothing to deduplicate")
        return summary
    result = find_clusters(people, banned, threshold)
    plan, links = plan_merges(url, result, people)
    summary.update(
        clusters=int(result.stats["clusters"]),  # type: ignore[call-overload]
        to_merge=len(plan),
        household_pairs=len(links),
    )
    if not dry_run:
        done = write_merges(url, plan, run_id, as_of)
        summary["merged"] = len(done)
        summary["rows_moved"] = int(done["moved"].sum()) if len(done) else 0
        summary["households_added"] = write_households(url, links, as_of)
    logger.info("dedup %s: %s", "dry run" if dry_run else "run", summary)
    seconds: dict[str, float] = result.stats["seconds"]  # type: ignore[assignment]
    create_markdown_artifact(
        key="dedup-summary",
        markdown="\n".join(
            [
                f"# Dedup {'(dry run)' if dry_run else ''}",
                "",
                "| | |",
                "|---|---|",
                *[f"| {k} | {v:,} |" for k, v in summary.items()],
                f"| threshold | {threshold} |",
                f"| seconds (find) | {sum(seconds.values()):.1f} |",
            ]
        ),
        description="Duplicate customers found and merged, households linked",
    )
    if len(plan):
        create_table_artifact(
            key="dedup-merges",
            table=[
                {str(k): v for k, v in row.items()}
                for row in plan.head(500).astype(object).to_dict("records")
            ],
            description="Merges (first 500): survivor, merged record, score, confidence",
        )
    return summary
