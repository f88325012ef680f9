"""Apply the hygiene pass to the database: read the base, write back changed rows, store the KPI.

The hygiene job is :func:`read_base` → :func:`plan_clean` → :func:`apply_clean`; the Prefect
flow :mod:`flows.hygiene` runs those three steps as its tasks, and ``crm clean`` runs the flow.
Bulk reads and writes go through :mod:`crm.store` (Arrow/ADBC); only changed rows are
written, so a rerun with the same ``as_of`` changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from crm import store
from crm.hygiene.decay import SUPPRESSION_KEY
from crm.hygiene.pipeline import CUSTOMER_FIELDS, CleanResult, clean_base

__all__ = [
    "HygieneRun",
    "apply_clean",
    "latest_quality",
    "plan_clean",
    "previous_pass",
    "quality_history",
    "read_base",
]


@dataclass(frozen=True)
class HygieneRun:
    """What one run found and wrote."""

    quality_run_id: int
    result: CleanResult
    written: dict[str, int]


def read_base(url: str) -> dict[str, pd.DataFrame]:
    """The frames :func:`clean_base` needs, read set-wise from the database."""
    return {
        "customers": store.read_frame(url, "customers"),
        "contact_points": store.read_frame(url, "contact_points"),
        "consents": store.read_frame(
            url, "consents", columns=["customer_id", "channel", "granted", "recorded_at"]
        ),
        "orders": store.read_frame(
            url, "orders", columns=["customer_id", "ordered_at"], where="status = 'paid'"
        ),
        "activities": store.read_frame(
            url,
            "activities",
            columns=["customer_id", "occurred_at"],
            where="customer_id IS NOT NULL",
        ),
        "events": store.read_frame(
            url,
            "marketing_events",
            columns=["customer_id", "channel", "kind", "detail", "occurred_at"],
            where="kind IN ('bounced', 'complained', 'opened', 'clicked')",
        ),
        "suppressions": store.read_frame(url, "suppressions"),
        "tasks": store.read_frame(url, "data_ops_tasks"),
        "quality_runs": store.read_frame(url, "quality_runs", columns=["as_of"]),
    }


def previous_pass(base: dict[str, pd.DataFrame], as_of: dt.datetime) -> pd.Timestamp | None:
    """The moment of the latest stored pass before ``as_of`` (None before the first one)."""
    runs = base.get("quality_runs")
    if runs is None or not len(runs):
        return None
    at = pd.Timestamp(as_of)
    at = at.tz_localize("UTC") if at.tzinfo is None else at
    stamps = pd.to_datetime(runs["as_of"], utc=True)
    earlier = stamps[(stamps < at).to_numpy()]
    return earlier.max() if len(earlier) else None


def apply_clean(
    url: str, base: dict[str, pd.DataFrame], result: CleanResult, as_of: dt.datetime
) -> HygieneRun:
    """Write one pass's decisions to the database (changed rows only) and store its KPI."""
    written: dict[str, int] = {}
    customers = base["customers"]
    plan = result.suppressions
    # customers: changed fields and status changes, written as full rows (NOT NULL columns stay)
    changed = result.customers.set_index("customer_id")
    ids = changed.index.union(pd.Index(plan.statuses["customer_id"]))
    if len(ids):
        rows = customers.set_index("customer_id").loc[ids].copy()
        cols = list(CUSTOMER_FIELDS)
        rows.loc[changed.index, cols] = changed[cols]
        if len(plan.statuses):
            st = plan.statuses.set_index("customer_id")["status"]
            rows.loc[st.index, "status"] = st
        rows["updated_at"] = pd.Timestamp(as_of)
        # only what changes plus the NOT NULL columns an INSERT … ON CONFLICT must carry
        keep = [*cols, "status", "updated_at", "lifecycle_stage", "is_loyalty_member", "created_at"]
        out = store.write_frame(
            url,
            rows.reset_index()[["customer_id", *keep]],
            "customers",
            mode="upsert",
            key=["customer_id"],
            update=[*cols, "status", "updated_at"],
        )
        written["customers"] = out.updated
    if len(result.contact_points):
        out = store.write_frame(
            url,
            result.contact_points,
            "contact_points",
            mode="upsert",
            key=["contact_point_id"],
            update=[
                *("normalized", "is_valid", "invalid_reason", "phone_type"),
                *("is_role", "is_free", "is_disposable"),
            ],
        )
        written["contact_points"] = out.updated
    if len(result.changes):
        written["field_changes"] = store.write_frame(
            url,
            result.changes,
            "field_changes",
            mode="upsert",
            key=["table_name", "row_id", "field", "changed_at"],
            update=[],
        ).inserted
    if len(plan.writes):
        out = store.write_frame(
            url,
            plan.writes,
            "suppressions",
            mode="upsert",
            key=SUPPRESSION_KEY,
            update=["detail", "evidence_at", "suppressed_at", "lifted_at"],
        )
        written["suppressions"] = out.inserted + out.updated
    if len(result.tasks):
        out = store.write_frame(
            url, result.tasks, "data_ops_tasks", mode="upsert", key=["customer_id", "task"]
        )
        written["data_ops_tasks"] = out.inserted + out.updated

    run = pd.DataFrame(
        [
            {
                "as_of": pd.Timestamp(as_of),
                "records": result.summary["records"],
                "clean_records_raw": result.summary["clean_records_raw"],
                "clean_share_raw": result.summary["clean_share_raw"],
                "clean_records": result.summary["clean_records"],
                "clean_share": result.summary["clean_share"],
                "customers_changed": result.stats["customers_changed"],
                "contact_points_changed": result.stats["contact_points_changed"],
                "suppressed": result.stats["suppressed"],
                "lifted": result.stats["lifted"],
                "tasks_open": result.tasks_open,
                "mean_completeness": float(result.card["score"].mean())
                if len(result.card)
                else 0.0,
                "finished_at": pd.Timestamp(as_of),
            }
        ]
    )
    # keyed by as_of: a rerun for the same moment keeps the first measurement
    store.write_frame(url, run, "quality_runs", mode="upsert", key=["as_of"], update=[])
    run_id = int(
        store.read_frame(
            url,
            "quality_runs",
            columns=["quality_run_id"],
            where="as_of = ?",
            params=[store.instant_param(url, as_of)],
        )["quality_run_id"].iloc[0]
    )
    issues = result.breakdown[
        ["issue", "field", "severity", "records_raw", "records", "share_raw", "share"]
    ]
    store.write_frame(
        url,
        issues.assign(quality_run_id=run_id),
        "quality_issues",
        mode="upsert",
        key=["quality_run_id", "issue"],
        update=[],
    )
    return HygieneRun(quality_run_id=run_id, result=result, written=written)


def plan_clean(
    base: dict[str, pd.DataFrame],
    as_of: dt.datetime,
    default_region: str = "RU",
    stale_after_days: int = 3 * 365,
    full: bool = False,
) -> CleanResult:
    """What the hygiene pass decides for the base :func:`read_base` returned (nothing written).

    After a first pass, the numbers that pass parsed are not parsed again
    (:func:`previous_pass`, ``normalised_before`` of :func:`clean_base`); ``full`` parses all.
    """
    return clean_base(
        base["customers"],
        base["contact_points"],
        base["consents"],
        as_of=as_of,
        orders=base["orders"],
        activities=base["activities"],
        events=base["events"],
        suppressions=base["suppressions"],
        tasks=base["tasks"],
        default_region=default_region,
        stale_after_days=stale_after_days,
        normalised_before=None if full else previous_pass(base, as_of),
    )


def quality_history(url: str) -> pd.DataFrame:
    """Every stored run's KPI, oldest first (what ``crm quality --history`` plots)."""
    return store.read_frame(url, "quality_runs").sort_values("as_of").reset_index(drop=True)


def latest_quality(url: str) -> tuple[pd.Series | None, pd.DataFrame]:
    """The latest stored run and its breakdown by issue (``None`` and an empty frame if none)."""
    runs = quality_history(url)
    if not len(runs):
        return None, pd.DataFrame()
    last = runs.iloc[-1]
    issues = store.read_frame(
        url, "quality_issues", where="quality_run_id = ?", params=[int(last["quality_run_id"])]
    )
    return last, issues.sort_values(["records_raw", "issue"], ascending=[False, True]).reset_index(
        drop=True
    )
