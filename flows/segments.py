"""Flow: profiles → RFM → customer value → lead scores → segment memberships (S1–S6, D3).

One job in three steps, each a plain function, with thin Prefect tasks on top (the shape of
:mod:`flows.loyalty`): :func:`load_inputs` reads the base through :mod:`crm.store`;
:func:`plan_run` builds the profiles (:func:`crm.profiles.build_profiles`), scores them
(:func:`segments.scored_base.score_base`) and plans the memberships
(:func:`segments.memberships.plan_memberships`), with no database and no clock;
:func:`write_run` writes the result in **one transaction** (:func:`crm.store.write_frames`):

- ``customer_profiles``: the scored profile of every active customer (replaced as a whole:
  it is derived data, so a rerun with the same ``as_of`` leaves the same rows);
- ``lead_scores``: each target lead's rule score with its factors, and the trained model's
  probability (replaced as a whole);
- ``segment_memberships``: a row opened for every customer who entered a marketer-defined
  segment, closed (``left_at``) for every one who left; ``segment_runs``: size, entered and
  left per segment and moment. Entered/left are the difference with the open memberships,
  so a rerun after a crash or with the same ``as_of`` enters nobody twice.

It also writes the scored profiles as this database's Parquet snapshot
(:mod:`crm.snapshot`) for ``crm segments preview`` and the notebooks. :func:`run_segments`
is the job without Prefect (``crm segments run``); :func:`segments_flow` runs the same three
steps as tasks and publishes the segment sizes, the RFM distribution and the lead model's
holdout figures as artifacts. The segments file is checked before anything is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from crm import store
from crm.asof import as_instant
from crm.db import migrate
from crm.models import CustomerProfile, LeadScore
from crm.profiles import build_profiles, customer_partition, partition_condition
from crm.settings import get_settings
from crm.snapshot import PROFILE_FIELDS, write_snapshot
from flows.prefect_setup import heavy_task_runner
from loyalty.lots import POINTS_COLUMNS, points_balances
from loyalty.tiers import current_tiers
from segments.evaluation import evaluate_many
from segments.funnel import funnel_report
from segments.language import SegmentDefinition
from segments.loader import EXAMPLE_SEGMENTS, load_segments
from segments.memberships import plan_memberships
from segments.scored_base import BaseFit, ScoredBase, fit_base, score_base, score_fitted
from segments.scoring import EXAMPLE_RULES, ScoringRules, load_scoring_rules

__all__ = [
    "DEFAULT_SCORING_RULES",
    "DEFAULT_SEGMENTS",
    "FIT_TABLES",
    "Inputs",
    "RunPlan",
    "combine_parts",
    "fit_inputs",
    "load_definitions",
    "load_inputs",
    "plan_run",
    "read_tables",
    "run_segments",
    "score_inputs",
    "score_part",
    "scoring_settings",
    "segments_flow",
    "write_run",
]

DEFAULT_SEGMENTS = str(EXAMPLE_SEGMENTS)
DEFAULT_SCORING_RULES = str(EXAMPLE_RULES)

#: Tables (and columns) the run reads; ``None`` reads every column.
_TABLES: dict[str, list[str] | None] = {
    "customers": None,
    "companies": ["company_id", "industry", "size_band", "employees"],
    "orders": ["order_id", "customer_id", "ordered_at", "amount", "status", "category"],
    "deals": [
        *("deal_id", "customer_id", "company_id", "lead_id", "amount", "status"),
        *("created_at", "closed_at"),
    ],
    "leads": None,
    "activities": ["activity_id", "customer_id", "kind", "occurred_at", "done"],
    "marketing_events": ["event_id", "customer_id", "kind", "detail", "occurred_at"],
    "contact_points": None,
    "consents": ["customer_id", "channel", "granted", "recorded_at"],
    "suppressions": ["customer_id", "scope", "suppressed_at", "lifted_at"],
    "customer_tags": ["customer_id", "tag_id"],
    "tag_definitions": ["tag_id", "vocabulary", "code"],
}

#: The frames without a ``customer_id``: every part reads them whole.
_UNPARTITIONED = frozenset({"companies", "tag_definitions"})

#: The stored part of a scored profile: the ``customer_profiles`` columns (model order).
_PROFILE_TABLE_COLUMNS = tuple(c.name for c in CustomerProfile.__table__.columns)
_MEMBER_KEY = ["segment", "customer_id", "entered_at"]


@dataclass
class Inputs:
    """What a segments run reads: the base's frames and the stored memberships."""

    tables: dict[str, pd.DataFrame]
    open_rows: pd.DataFrame
    runs_at: pd.DataFrame


@dataclass
class RunPlan:
    """What a segments run writes: the scored base and the memberships to open and close."""

    scored: ScoredBase
    opened: pd.DataFrame
    closed: pd.DataFrame
    runs: pd.DataFrame


def load_definitions(path: str | Path) -> list[SegmentDefinition]:
    """The segments file, checked against the profile fields before any profile is built."""
    return load_segments(path, fields=PROFILE_FIELDS)


#: What the global fit of a partitioned run reads (:func:`fit_inputs`): the frames RFM, the
#: value models and the lead scores span the whole base with. The rest (contact points,
#: consents, the ledger, …) each part reads for its own customers only.
FIT_TABLES = (
    "customers",
    "companies",
    "orders",
    "deals",
    "leads",
    "activities",
    "marketing_events",
)


def read_tables(
    url: str, names: Iterable[str] | None = None, *, part: tuple[int, int] | None = None
) -> dict[str, pd.DataFrame]:
    """The base's frames a run reads, set-wise through Arrow: all of them, or ``names``.

    ``part=(k, n)`` reads only part ``k`` of ``n`` of every frame with a ``customer_id``
    (:func:`crm.profiles.partition_condition`, in SQL), the frames without one whole: what
    :func:`crm.profiles.partition_tables` would cut from the whole base, read by the worker
    that scores the part instead of being shipped to it. Of the ledger only
    :data:`loyalty.lots.POINTS_COLUMNS` are read (``ledger``): a profile shows the balance, and
    the whole ledger of a million customers is gigabytes.
    """
    from flows.loyalty import read_tier_history

    wanted = set(names) if names is not None else {*_TABLES, "ledger", "tier_history"}

    def where(name: str) -> str | None:
        if part is None or name in _UNPARTITIONED:
            return None
        return partition_condition(*part)

    tables = {
        name: store.read_frame(url, name, columns=cols, where=where(name))
        for name, cols in _TABLES.items()
        if name in wanted
    }
    if "ledger" in wanted:
        tables["ledger"] = store.read_frame(
            url, "loyalty_ledger", columns=list(POINTS_COLUMNS), where=where("ledger")
        )
    if "tier_history" in wanted:
        tables["tier_history"] = read_tier_history(url, where=where("tier_history"))
    return tables


def load_inputs(url: str, as_of: Any, names: Iterable[str] | None = None) -> Inputs:
    """The frames the run needs (:func:`read_tables`, all or ``names``), the open memberships."""
    at = as_instant(as_of)
    tables = read_tables(url, names)
    open_rows = store.read_frame(
        url,
        "segment_memberships",
        columns=["segment", "customer_id", "entered_at", "left_at"],
        where="left_at IS NULL",
    )
    runs = store.read_frame(url, "segment_runs", columns=["segment", "as_of", "entered", "left"])
    runs_at = runs[(runs["as_of"] == at).to_numpy()] if len(runs) else runs
    return Inputs(tables, open_rows, runs_at)


def _loyalty(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame | None:
    """Points balance and current tier per customer, from the loyalty room, for the profiles."""
    ledger = tables.get("ledger")
    if ledger is None or ledger.empty:
        return None
    bal = points_balances(ledger, as_of).to_frame()
    history = tables.get("tier_history")
    if history is not None and not history.empty:
        bal = bal.join(current_tiers(history, as_of)[["tier"]], how="outer")
        bal["points_balance"] = bal["points_balance"].fillna(0).astype("int64")
    return bal.rename_axis("customer_id").reset_index()


def score_inputs(
    inputs: Inputs,
    scoring_rules: ScoringRules,
    as_of: Any,
    *,
    n_bins: int = 5,
    margin: float = 0.3,
    share: float = 0.1,
    horizon_months: int = 12,
) -> ScoredBase:
    """Build the profiles (with the loyalty room's points and tiers) and score them."""
    at = as_instant(as_of)
    frames = {**inputs.tables, "loyalty": _loyalty(inputs.tables, at)}
    return score_base(
        build_profiles(frames, at),
        inputs.tables,
        at,
        scoring_rules=scoring_rules,
        n_bins=n_bins,
        margin=margin,
        share=share,
        horizon_months=horizon_months,
    )


def plan_run(
    inputs: Inputs,
    definitions: list[SegmentDefinition],
    scoring_rules: ScoringRules,
    as_of: Any,
    **scoring: Any,
) -> RunPlan:
    """Score the base and plan the memberships (no database, no clock).

    ``scoring`` is passed to :func:`score_inputs` (``n_bins``, ``margin``, ``share``,
    ``horizon_months``).
    """
    at = as_instant(as_of)
    scored = score_inputs(inputs, scoring_rules, at, **scoring)
    opened, closed, runs = plan_memberships(
        definitions, scored.profiles, inputs.open_rows, inputs.runs_at, at
    )
    return RunPlan(scored, opened, closed, runs)


def fit_inputs(inputs: Inputs, scoring_rules: ScoringRules, as_of: Any, **scoring: Any) -> BaseFit:
    """The global statistics of a partitioned run: RFM cut points, value fits, lead scores.

    Fitted once on the whole base (:func:`segments.scored_base.fit_base`) and shipped to each
    part; ``scoring`` as :func:`score_inputs`.
    """
    customers = inputs.tables["customers"]
    live = customers.loc[(customers["status"] != "duplicate").to_numpy(), "customer_id"]
    return fit_base(pd.Index(live), inputs.tables, as_of, scoring_rules=scoring_rules, **scoring)


def score_part(
    tables: dict[str, pd.DataFrame],
    fit: BaseFit,
    definitions: list[SegmentDefinition],
    as_of: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One part of the base: its profiles, scored with the shared fit, and their memberships.

    ``tables`` are the part's frames (:func:`crm.profiles.partition_tables`), ``fit`` the
    shared :class:`~segments.scored_base.BaseFit` cut to the part's customers. Returns the
    scored profiles and the part's evaluation (:func:`segments.evaluation.evaluate_many`).
    """
    at = as_instant(as_of)
    frames = {**tables, "loyalty": _loyalty(tables, at)}
    scored = score_fitted(build_profiles(frames, at), fit)
    return scored, evaluate_many(definitions, scored, at)


def combine_parts(
    inputs: Inputs,
    definitions: list[SegmentDefinition],
    fit: BaseFit,
    parts: list[tuple[pd.DataFrame, pd.DataFrame]],
) -> RunPlan:
    """The run's plan from its scored parts: what :func:`plan_run` gives for the whole base."""
    profiles = pd.concat([p for p, _ in parts]).sort_index()
    current = pd.concat([c for _, c in parts], ignore_index=True)
    current["segment"] = pd.Categorical(
        current["segment"], categories=[d.name for d in definitions]
    )
    scored = ScoredBase(
        as_of=fit.as_of, profiles=profiles, lead_scores=fit.lead_scores, notes=fit.notes
    )
    opened, closed, runs = plan_memberships(
        definitions, profiles, inputs.open_rows, inputs.runs_at, fit.as_of, current=current
    )
    return RunPlan(scored, opened, closed, runs)


def scoring_settings() -> dict[str, Any]:
    """The settings a run scores with: margin, budget share and value horizon."""
    s = get_settings()
    return {
        "margin": s.margin,
        "share": s.budget_share,
        "horizon_months": max(1, round(s.value_horizon_days / 30)),
    }


def write_run(url: str, plan: RunPlan) -> dict[str, Any]:
    """Write scores and memberships in one transaction, then the snapshot; the run's counts."""
    scored = plan.scored
    profiles = scored.profiles.reset_index()[list(_PROFILE_TABLE_COLUMNS)]
    leads = scored.lead_scores.assign(as_of=scored.as_of)[
        [c.name for c in LeadScore.__table__.columns]
    ]
    store.write_frames(
        url,
        [
            store.Write(profiles, "customer_profiles", mode="replace_all"),
            store.Write(leads, "lead_scores", mode="replace_all"),
            store.Write(plan.closed, "segment_memberships", mode="upsert", key=_MEMBER_KEY),
            store.Write(plan.opened, "segment_memberships", mode="upsert", key=_MEMBER_KEY),
            store.Write(plan.runs, "segment_runs", mode="upsert", key=["segment", "as_of"]),
        ],
    )
    write_snapshot(scored.profiles, url)
    return {
        "profiles": len(profiles),
        "lead_scores": len(leads),
        "entered": len(plan.opened),
        "left": len(plan.closed),
        "segments": plan.runs.set_index("segment")["members"].astype(int).to_dict(),
    }


def run_segments(
    url: str,
    as_of: Any,
    segments_path: str | Path = DEFAULT_SEGMENTS,
    scoring_rules_path: str | Path = DEFAULT_SCORING_RULES,
    n_bins: int = 5,
) -> dict[str, Any]:
    """The whole run without Prefect (``crm segments run``): check, load, plan, write."""
    definitions = load_definitions(segments_path)
    rules = load_scoring_rules(scoring_rules_path)
    migrate(url)
    inputs = load_inputs(url, as_of)
    plan = plan_run(inputs, definitions, rules, as_of, n_bins=n_bins, **scoring_settings())
    return write_run(url, plan)


# --------------------------------------------------------------------------- tasks
@task(name="read the base", cache_policy=NO_CACHE)
def _load(url: str, as_of: dt.datetime, names: tuple[str, ...] | None = None) -> Inputs:
    return load_inputs(url, as_of, names)


@task(name="build and score profiles, evaluate segments", cache_policy=NO_CACHE)
def _plan(
    inputs: Inputs,
    definitions: list[SegmentDefinition],
    rules: ScoringRules,
    as_of: dt.datetime,
    n_bins: int,
) -> RunPlan:
    return plan_run(inputs, definitions, rules, as_of, n_bins=n_bins, **scoring_settings())


@task(name="fit RFM cut points, value models and lead scores", cache_policy=NO_CACHE)
def _fit(inputs: Inputs, rules: ScoringRules, as_of: dt.datetime, n_bins: int) -> BaseFit:
    return fit_inputs(inputs, rules, as_of, n_bins=n_bins, **scoring_settings())


@task(name="build and score a part of the base, evaluate its segments", cache_policy=NO_CACHE)
def _score_part(
    url: str,
    part: tuple[int, int],
    fit: BaseFit,
    definitions: list[SegmentDefinition],
    as_of: dt.datetime,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    # the part's frames are read here, on the worker: the flow's process never holds them
    return score_part(read_tables(url, part=part), fit, definitions, as_of)


@flow(name="score the base in parts")
def _score_parts(
    url: str,
    fits: list[BaseFit],
    definitions: list[SegmentDefinition],
    as_of: dt.datetime,
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    n = len(fits)
    futures = [
        _score_part.submit(url, (k, n), fit, definitions, as_of) for k, fit in enumerate(fits)
    ]
    return [f.result() for f in futures]


def _plan_in_parts(
    url: str,
    inputs: Inputs,
    definitions: list[SegmentDefinition],
    rules: ScoringRules,
    as_of: dt.datetime,
    n_bins: int,
    partitions: int,
) -> RunPlan:
    """Global statistics first, then the parts on the heavy stages' runner, then one plan.

    ``inputs`` holds only :data:`FIT_TABLES`; each part's task reads its own frames
    (:func:`read_tables` with ``part``) where it runs, so the flow's process ships a fit and a
    database URL to each worker, not gigabytes of frames.
    """
    from prefect.context import FlowRunContext

    fit = _fit(inputs, rules, as_of, n_bins)
    ids = inputs.tables["customers"]["customer_id"].to_numpy(dtype="int64")
    which = customer_partition(ids, partitions)
    fits = [fit.for_customers(pd.Index(ids[which == k])) for k in range(partitions)]
    inputs.tables.clear()  # what is left is the fit's: the parts need nothing more from here
    context = FlowRunContext.get()
    api_url = str(context.client.api_url) if context and context.client else None
    runner = heavy_task_runner(get_settings(), api_url)
    scored = _score_parts.with_options(task_runner=runner)(url, fits, definitions, as_of)
    return combine_parts(inputs, definitions, fit, scored)


@task(name="write scores and memberships", cache_policy=NO_CACHE)
def _write(url: str, plan: RunPlan) -> dict[str, Any]:
    return write_run(url, plan)


def _publish(scored: ScoredBase, runs: pd.DataFrame, as_of: dt.datetime) -> None:
    rfm = (
        scored.profiles["rfm_segment"]
        .value_counts()
        .rename_axis("rfm_segment")
        .reset_index(name="customers")
    )
    create_table_artifact(
        key="segment-sizes",
        table=runs[["segment", "title", "members", "entered", "left"]].to_dict("records"),  # type: ignore[arg-type]
        description=f"Segment sizes at {as_of:%Y-%m-%d %H:%M} UTC",
    )
    lines = [
        f"# Segments run at {as_of:%Y-%m-%d %H:%M} UTC",
        "",
        f"- profiles: {len(scored.profiles):,}; leads scored: {len(scored.lead_scores):,}",
        f"- personal budget, mean: {scored.profiles['personal_budget'].mean():,.2f}",
        "",
        "| RFM segment | customers |",
        "|---|---:|",
        *(f"| {r.rfm_segment} | {r.customers:,} |" for r in rfm.itertuples()),
    ]
    accounts = scored.notes.get("accounts")
    if isinstance(accounts, pd.DataFrame) and len(accounts):
        best = accounts.sort_values("account_score", ascending=False).head(20)
        lines += [
            "",
            "## Accounts (S3, S6): best 20, with the buying roles nobody covers",
            "",
            "| company | contacts | account score | missing roles |",
            "|---:|---:|---:|---|",
            *(
                f"| {int(r['company_id'])} | {r['contacts']} | {r['account_score']:.1f} "
                f"| {r['missing_roles'] or ''} |"
                for r in best.to_dict("records")
            ),
        ]
    funnel = scored.notes.get("funnel")
    if isinstance(funnel, pd.DataFrame):
        lines += ["", funnel_report(funnel, title="Funnel by source (D3)")]
    model: Any = scored.notes.get("lead_model")
    if hasattr(model, "to_markdown"):
        lines += ["", "## Lead model (time-based holdout)", "", model.to_markdown()]
    create_markdown_artifact(key="segments-run", markdown="\n".join(lines))


@flow(name="segments")
def segments_flow(
    url: str | None = None,
    as_of: dt.datetime | None = None,
    segments_path: str = DEFAULT_SEGMENTS,
    scoring_rules_path: str = DEFAULT_SCORING_RULES,
    n_bins: int = 5,
) -> dict[str, Any]:
    """Build and score the profiles, evaluate the segments, store everything (rerun-safe).

    The same steps as :func:`run_segments`, as tasks, plus the artifacts. ``as_of`` defaults
    to now (the flow is the top-level caller that may read the clock).
    """
    logger = get_run_logger()
    url = url or get_settings().resolved_database_url
    at = as_instant(as_of or dt.datetime.now(dt.UTC))
    definitions = load_definitions(segments_path)  # refuse a bad file before any work
    rules = load_scoring_rules(scoring_rules_path)
    migrate(url)
    partitions = get_settings().heavy_partitions
    if partitions > 1:  # the flow's process reads what the global fit needs, the parts the rest
        inputs = _load(url, at, FIT_TABLES)
        plan = _plan_in_parts(url, inputs, definitions, rules, at, n_bins, partitions)
    else:
        plan = _plan(_load(url, at), definitions, rules, at, n_bins)
    counts = _write(url, plan)
    logger.info("segments run: %s", {k: v for k, v in counts.items() if k != "segments"})
    _publish(plan.scored, plan.runs, at)
    return counts
