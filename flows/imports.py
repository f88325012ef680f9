"""Flow: import one CRM export (``crm import``): good rows land, bad rows go to quarantine (D9).

The one import job is :func:`crm.ingest.import_file` (read → validate and match → land in one
transaction, idempotent on the file's checksum and each row's ``external_id``); this flow runs
it as a task so a scheduled import and ``crm import`` are the same run and both show in
Prefect's UI, with the batch's counts as an artifact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from crm.db import migrate
from crm.ingest import ImportSummary, import_file
from crm.settings import get_settings

__all__ = ["import_flow"]


@task(name="validate, match and land the file")
def _import(
    url: str,
    entity: str,
    path: str,
    as_of: dt.datetime,
    mapping: Mapping[str, str] | None,
    region: str,
) -> ImportSummary:
    return import_file(url, entity, path, as_of=as_of, mapping=mapping, default_region=region)


@flow(name="import")
def import_flow(
    entity: str,
    path: str,
    mapping: dict[str, str] | None = None,
    url: str | None = None,
    as_of: dt.datetime | None = None,
) -> ImportSummary:
    """Import ``path`` as ``entity`` rows into the database at ``url`` (default: the settings').

    ``as_of`` (default now: the flow is a top-level caller) stamps the batch and the new rows.
    """
    settings = get_settings()
    url = url or settings.resolved_database_url
    as_of = as_of or dt.datetime.now(dt.UTC)
    migrate(url)
    summary = _import(url, entity, path, as_of, mapping, settings.default_region)
    get_run_logger().info(
        "%s (%s): %s rows, %s new, %s updated, %s quarantined",
        summary.source_file,
        entity,
        f"{summary.total:,}",
        f"{summary.inserted:,}",
        f"{summary.updated:,}",
        f"{summary.quarantined:,}",
    )
    create_table_artifact(
        key="import-batch",
        table=[
            {
                "rows": summary.total,
                "new": summary.inserted,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
                "quarantined": summary.quarantined,
                "matched to known people": summary.matched_existing,
            }
        ],
        description=f"Import of {summary.source_file} ({entity}), batch {summary.batch_id}",
    )
    return summary
