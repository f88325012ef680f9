"""Flow: clean the base on schedule (``crm clean``) and store the data-quality KPI (D5, D7, D8).

Reads customers, contact points, consents and the signs of life (orders, activities,
marketing events), runs :func:`crm.hygiene.pipeline.clean_base`, and writes back set-wise:

- changed customer fields and contact-point normal forms (upsert on the primary key), each
  change also appended to ``field_changes`` (old and new value) so nothing is lost silently;
- suppressions with their reason (new ones inserted, ones that no longer hold lifted;
  nothing deleted) and the customer status that follows from them;
- the data-ops task list (opened, updated, closed);
- the run's KPI and its breakdown (``quality_runs`` / ``quality_issues``, keyed by ``as_of``).

Only changed rows are written, so a rerun with the same ``as_of`` changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from crm.db import migrate
from crm.hygiene.database import HygieneRun, apply_clean, plan_clean, read_base
from crm.hygiene.pipeline import CleanResult
from crm.settings import get_settings

__all__ = ["hygiene_flow"]


@task(name="read the base")
def _read(url: str) -> dict[str, pd.DataFrame]:
    return read_base(url)


@task(name="normalise, validate, decay, measure")
def _plan(
    base: dict[str, pd.DataFrame], as_of: dt.datetime, region: str, stale: int, full: bool
) -> CleanResult:
    return plan_clean(base, as_of, default_region=region, stale_after_days=stale, full=full)


@task(name="write back and store the KPI")
def _write(
    url: str, base: dict[str, pd.DataFrame], result: CleanResult, as_of: dt.datetime
) -> HygieneRun:
    return apply_clean(url, base, result, as_of)


@flow(name="hygiene")
def hygiene_flow(
    url: str | None = None,
    as_of: dt.datetime | None = None,
    stale_after_days: int = 3 * 365,
    dry_run: bool = False,
    full: bool = False,
) -> HygieneRun:
    """Clean the base, suppress what decayed, refresh the robot's tasks and store the KPI.

    The one hygiene job: ``crm clean`` and the nightly chain run this flow. ``as_of``
    defaults to now (the flow is the top-level caller that may read the clock); with
    ``dry_run`` nothing is written and the run's id is 0. After a first pass only new and
    never-parsed phone numbers are parsed (the stored forms of the others are reused, with the
    same result); ``full`` parses every number again (after a change of rules or region).
    """
    logger = get_run_logger()
    settings = get_settings()
    url = url or settings.resolved_database_url
    as_of = as_of or dt.datetime.now(dt.UTC)
    migrate(url)
    base = _read(url)
    result = _plan(base, as_of, settings.default_region, stale_after_days, full)
    if dry_run:
        return HygieneRun(quality_run_id=0, result=result, written={})
    run = _write(url, base, result, as_of)
    del base
    s = result.summary
    logger.info(
        "clean records %.1f%% as found, %.1f%% after fixes; %s",
        100 * float(s["clean_share_raw"]),
        100 * float(s["clean_share"]),
        ", ".join(f"{k} {v:,}" for k, v in result.stats.items()),
    )
    create_markdown_artifact(
        key="data-quality",
        markdown=_markdown(run),
        description=f"Data quality at {as_of:%Y-%m-%d %H:%M} UTC",
    )
    create_table_artifact(
        key="data-quality-issues",
        table=result.breakdown[result.breakdown["records_raw"] > 0][
            ["issue", "severity", "records_raw", "records", "share"]
        ].to_dict("records"),  # type: ignore[arg-type]
        description="Issues by number of records, as found and still open",
    )
    return dataclasses.replace(run, result=_report(run.result))


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    """No rows, ``frame``'s columns and dtypes, in new arrays (a slice would keep the buffers)."""
    return pd.DataFrame(
        {name: pd.Series([], dtype=dtype) for name, dtype in frame.dtypes.items()},
        index=pd.Index([], dtype=frame.index.dtype, name=frame.index.name),
    )


def _report(result: CleanResult) -> CleanResult:
    """What a written run returns: its counts, KPI and breakdown, not its per-record frames.

    Once written, the changed rows, the audit, the completeness card and the issue list are
    in the database. A subflow's return value stays referenced by Prefect for the rest of
    the process (measured with Prefect 3.8.8: a nested flow's result was still alive after
    its parent ended), so a nightly run that got them back would carry a first night's
    million-row frames through every later step.
    """
    return dataclasses.replace(
        result,
        customers=_empty_like(result.customers),
        contact_points=_empty_like(result.contact_points),
        changes=_empty_like(result.changes),
        suppressions=dataclasses.replace(
            result.suppressions,
            writes=_empty_like(result.suppressions.writes),
            statuses=_empty_like(result.suppressions.statuses),
        ),
        tasks=_empty_like(result.tasks),
        card=_empty_like(result.card),
        issues=_empty_like(result.issues),
    )


def _markdown(run: HygieneRun) -> str:
    s, r = run.result.summary, run.result
    lines = [
        f"# Data quality (run {run.quality_run_id})",
        "",
        f"- **% clean records**: {100 * float(s['clean_share']):.1f}% after the automatic fixes "
        f"({100 * float(s['clean_share_raw']):.1f}% as found), {int(s['records_after']):,} active records",
        f"- customers changed: {r.stats['customers_changed']:,}; contact points normalised: "
        f"{r.stats['contact_points_changed']:,}",
        f"- new suppressions: {r.stats['suppressed']:,}; lifted: {r.stats['lifted']:,}",
        f"- open data-ops tasks: {r.tasks_open:,}",
        "",
        "| issue | severity | as found | still open |",
        "|---|---|---:|---:|",
    ]
    for row in r.breakdown.to_dict("records"):
        if row["records_raw"]:
            lines.append(
                f"| {row['issue']} | {row['severity']} | {int(row['records_raw']):,} "
                f"| {int(row['records']):,} |"
            )
    return "\n".join(lines)
