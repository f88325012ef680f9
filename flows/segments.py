"""Flow: profiles → RFM → customer value → lead scores → segment memberships (S1–S6, D3).

Reads the base through :mod:`crm.store`, calls the pure rooms and writes the results back
in **one transaction** (:func:`crm.store.write_frames`):

- ``customer_profiles``: the scored profile of every active customer (replaced as a whole:
  it is derived data, so a rerun with the same ``as_of`` leaves the same rows);
- ``lead_scores``: each target lead's rule score with its factors, and the trained model's
  probability (replaced as a whole);
- ``segment_memberships``: a row opened for every customer who entered a marketer-defined
  segment, closed (``left_at``) for every one who left; ``segment_runs``: size, entered and
  left per segment and moment. Entered/left are the difference with the open memberships,
  so a rerun after a crash or with the same ``as_of`` enters nobody twice.

It also writes the scored profiles as a Parquet snapshot (``<data_dir>/profiles.parquet``)
for `crm segments preview` and the notebooks, and publishes the segment sizes, the RFM
distribution and the lead model's holdout figures as artifacts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from crm import store
from crm.db import migrate
from crm.models import CustomerProfile, LeadScore
from crm.profiles import build_profiles
from crm.settings import get_settings
from crm.snapshot import read_snapshot, snapshot_path, write_snapshot
from loyalty.ledger import balances
from loyalty.tiers import current_tiers
from segments.funnel import funnel_report, lead_funnel
from segments.rfm import RFMScorer, btyd_summary, rfm_frame
from segments.rules import SegmentDefinition, evaluate_many, load_segments, membership_changes
from segments.scoring import (
    LeadScoringModel,
    ScoringRules,
    account_scores,
    evaluate_time_holdout,
    explain,
    lead_features,
    lead_labels,
    load_scoring_rules,
    rule_scores,
)
from segments.value import BetaGeoModel, GammaGammaModel, customer_value, personal_budget

__all__ = [
    "DEFAULT_SCORING_RULES",
    "DEFAULT_SEGMENTS",
    "ScoredBase",
    "read_base",
    "read_snapshot",
    "score_base",
    "segments_flow",
    "snapshot_path",
]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEGMENTS = str(ROOT / "segments" / "segments.example.yaml")
DEFAULT_SCORING_RULES = str(ROOT / "segments" / "scoring.example.yaml")

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

#: The stored part of a scored profile: the ``customer_profiles`` columns (model order).
_PROFILE_TABLE_COLUMNS = tuple(c.name for c in CustomerProfile.__table__.columns)


# --------------------------------------------------------------------------- reading
def read_base(url: str) -> dict[str, pd.DataFrame]:
    """Every frame the run needs, read set-wise through Arrow, plus ``loyalty`` balances."""
    from flows.loyalty import read_ledger, read_tier_history

    tables = {name: store.read_frame(url, name, columns=cols) for name, cols in _TABLES.items()}
    tables["ledger"] = read_ledger(url)
    tables["tier_history"] = read_tier_history(url)
    return tables


def _loyalty(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame | None:
    ledger = tables.get("ledger")
    if ledger is None or ledger.empty:
        return None
    bal = balances(ledger, as_of)[["balance"]].rename(columns={"balance": "points_balance"})
    history = tables.get("tier_history")
    if history is not None and not history.empty:
        bal = bal.join(current_tiers(history, as_of)[["tier"]], how="outer")
        bal["points_balance"] = bal["points_balance"].fillna(0).astype("int64")
    return bal.rename_axis("customer_id").reset_index()


# --------------------------------------------------------------------------- scoring
@dataclass
class ScoredBase:
    """What :func:`score_base` computes: one scored profile per customer and the lead scores."""

    as_of: pd.Timestamp
    profiles: pd.DataFrame
    lead_scores: pd.DataFrame
    notes: dict[str, Any] = field(default_factory=dict)


def _rfm(paid: pd.DataFrame, as_of: pd.Timestamp, n_bins: int) -> tuple[pd.DataFrame, Any]:
    rfm = rfm_frame(paid, as_of)
    if len(rfm) < n_bins:
        return rfm.iloc[:0], None
    scorer = RFMScorer(n_bins=n_bins).fit(rfm)
    return rfm.join(scorer.segment_frame(rfm)), scorer


def _value(
    paid: pd.DataFrame, as_of: pd.Timestamp, margin: float, share: float, horizon: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    summary = btyd_summary(paid, as_of, period="D")
    repeat = summary[summary["frequency"] > 0]
    if len(summary) < 50 or len(repeat) < 20:
        return pd.DataFrame(index=summary.index[:0]), {"value": "too few buyers to fit"}
    bgnbd = BetaGeoModel().fit(summary)
    gamma = GammaGammaModel().fit(repeat)
    values = customer_value(summary, bgnbd, gamma, horizon=horizon)
    budget = personal_budget(values, margin, share)
    values["personal_budget"] = budget.customers["budget"]
    notes = {
        "bgnbd": {k: round(float(v), 4) for k, v in dict(bgnbd.params_).items()},
        "gamma_gamma": {k: round(float(v), 4) for k, v in dict(gamma.params_).items()},
    }
    return values, notes


#: At most this many closed leads train the lead model (a seeded sample above it).
_MAX_TRAIN = 200_000


def _leads(
    tables: dict[str, pd.DataFrame], rules: ScoringRules, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, dict[str, Any]]:
    leads = tables["leads"]
    leads = leads[(leads["created_at"] <= as_of).to_numpy()]
    context = {
        "customers": tables["customers"],
        "companies": tables["companies"],
        "activities": tables["activities"],
        "events": tables["marketing_events"],
    }
    scored = rule_scores(leads, rules, as_of, **context)
    # the five biggest contributions of each lead, as one readable line
    c = scored.contributions.sort_values(["lead_id", "points"], ascending=[True, False])
    c = c[(c["points"].abs() >= 0.05).to_numpy()]
    c = c[(c.groupby("lead_id", sort=False).cumcount() < 5).to_numpy()]
    text = c["factor"].astype(str) + " " + c["points"].map("{:+.1f}".format)
    top = text.groupby(c["lead_id"].to_numpy(), sort=False).agg("; ".join)
    out = scored.scores[["lead_id", "customer_id", "company_id", "score"]].rename(
        columns={"score": "rule_score"}
    )
    out["factors"] = out["lead_id"].map(top)
    out["model_probability"] = np.nan
    notes: dict[str, Any] = {
        "accounts": account_scores(scored.scores, tables["customers"], rules),
        "funnel": lead_funnel(leads, tables["deals"], by=("source",), total=True),
    }
    features = lead_features(leads, as_of, rules=rules, **context)
    labels = lead_labels(leads, tables["deals"], as_of).reindex(features.index)
    known = labels.dropna()
    if len(known) > _MAX_TRAIN:
        # a seeded sample: the fit's quality plateaus long before a million leads, its cost not
        known = known.sample(n=_MAX_TRAIN, random_state=0).sort_index()
    if len(known) >= 200 and known.nunique() == 2 and known.value_counts().min() >= 20:
        report = evaluate_time_holdout(features.loc[known.index], known)
        notes["lead_model"] = report
        model = LeadScoringModel().fit(features.loc[known.index], known.astype(int))
        proba = pd.Series(model.predict_proba(features)[:, 1], index=features.index)
        out["model_probability"] = out["lead_id"].map(proba)
        reasons = explain(model, features, top=3)
        why = reasons.groupby("lead_id", sort=False)["feature"].agg(", ".join)
        out["factors"] = (
            out["factors"].fillna("") + " | model: " + out["lead_id"].map(why).fillna("")
        )
    else:
        notes["lead_model"] = "too few closed leads to train on"
    return out, notes


def score_base(
    tables: dict[str, pd.DataFrame],
    as_of: dt.datetime,
    *,
    scoring_rules: ScoringRules,
    n_bins: int = 5,
    margin: float = 0.3,
    share: float = 0.1,
    horizon_months: int = 12,
) -> ScoredBase:
    """Profiles with RFM, value, personal budget, loyalty share and lead score per customer.

    A pure combination of the rooms' functions (no database): the flow, the CLI and the
    notebooks call it on frames from :func:`read_base` or built by hand.
    """
    at = pd.Timestamp(as_of).tz_convert("UTC")
    frames = {**tables, "loyalty": _loyalty(tables, at)}
    profiles = build_profiles(frames, at)
    orders = tables["orders"]
    paid = orders[
        (orders["status"] == "paid").to_numpy()
        & (orders["ordered_at"] <= at).to_numpy()
        & orders["customer_id"].isin(profiles.index).to_numpy()
    ]
    rfm, scorer = _rfm(paid, at, n_bins)
    rfm = rfm.rename(columns={"segment": "rfm_segment"})
    for col in ("recency", "r_score", "f_score", "m_score"):
        profiles[col] = rfm[col].reindex(profiles.index).astype("Int64") if col in rfm else pd.NA
    profiles["frequency"] = profiles["orders"]
    profiles["monetary"] = profiles["revenue"]
    profiles["rfm_code"] = rfm["rfm_code"].reindex(profiles.index) if len(rfm) else None
    profiles["rfm_segment"] = (
        rfm["rfm_segment"].astype("object").reindex(profiles.index) if len(rfm) else None
    )
    values, notes = _value(paid, at, margin, share, horizon_months)
    for col in (
        "expected_purchases",
        "probability_alive",
        "expected_spend",
        "predicted_value",
        "personal_budget",
    ):
        profiles[col] = values[col].reindex(profiles.index) if col in values else np.nan
    orders_n = profiles["orders"].to_numpy()
    profiles["loyalty_share"] = np.where(
        orders_n > 0, (orders_n - 1) / np.maximum(orders_n, 1), 0.0
    )
    leads, lead_notes = _leads(tables, scoring_rules, at)
    notes.update(lead_notes)
    open_leads = leads[leads["lead_id"].isin(_open_lead_ids(tables["leads"])).to_numpy()]
    best = open_leads.dropna(subset=["customer_id"]).groupby("customer_id")["rule_score"].max()
    profiles["lead_score"] = best.reindex(profiles.index)
    if scorer is not None:
        notes["rfm_cut_points"] = {k: v.tolist() for k, v in scorer.cut_points_.items()}
    profiles["as_of"] = at
    return ScoredBase(as_of=at, profiles=profiles, lead_scores=leads, notes=notes)


def _open_lead_ids(leads: pd.DataFrame) -> pd.Index:
    return pd.Index(leads.loc[leads["status"].isin(("new", "verified")).to_numpy(), "lead_id"])


# --------------------------------------------------------------------------- memberships
def _sha(definition: SegmentDefinition) -> str:
    return hashlib.sha256(repr(definition.where).encode("utf-8")).hexdigest()


def plan_memberships(
    definitions: list[SegmentDefinition],
    profiles: pd.DataFrame,
    open_rows: pd.DataFrame,
    runs_at: pd.DataFrame,
    as_of: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rows to open, rows to close and the per-segment run summary for one evaluation.

    ``open_rows`` are the memberships without ``left_at``; ``runs_at`` any ``segment_runs``
    rows already stored for this ``as_of`` (a rerun keeps their entered/left counts).
    """
    open_rows = pd.DataFrame(
        {  # an empty table reads back with guessed types: give the columns theirs
            "segment": open_rows["segment"].astype(str).to_numpy(),
            "customer_id": open_rows["customer_id"].to_numpy(dtype="int64"),
            "entered_at": pd.to_datetime(open_rows["entered_at"], utc=True)
            .astype("datetime64[us, UTC]")
            .to_numpy(),
        }
    )
    current = evaluate_many(definitions, profiles, as_of)
    previous = open_rows[["segment", "customer_id"]]
    changes = membership_changes(previous, current, as_of, include_stayed=False)
    entered = changes[changes["change"] == "entered"]
    left = changes[changes["change"] == "left"]
    opened = pd.DataFrame(
        {
            "segment": entered["segment"].astype(str).to_numpy(),
            "customer_id": entered["customer_id"].to_numpy(dtype="int64"),
            "entered_at": as_of,
            "left_at": pd.Series([pd.NaT] * len(entered), dtype="datetime64[us, UTC]"),
        }
    )
    closed = open_rows.merge(
        left[["segment", "customer_id"]].astype({"segment": str}), on=["segment", "customer_id"]
    ).assign(left_at=as_of)[["segment", "customer_id", "entered_at", "left_at"]]
    sizes = current["segment"].astype(str).value_counts()
    n_in = opened["segment"].value_counts()
    n_out = closed["segment"].value_counts()
    before = runs_at.set_index("segment") if len(runs_at) else pd.DataFrame()
    rows = []
    for d in definitions:
        rows.append(
            {
                "segment": d.name,
                "as_of": as_of,
                "title": d.title,
                "definition_sha256": _sha(d),
                "members": int(sizes.get(d.name, 0)),
                "entered": int(n_in.get(d.name, 0))
                + (int(before.loc[d.name, "entered"]) if d.name in before.index else 0),
                "left": int(n_out.get(d.name, 0))
                + (int(before.loc[d.name, "left"]) if d.name in before.index else 0),
            }
        )
    return opened, closed, pd.DataFrame(rows)


# --------------------------------------------------------------------------- tasks
@task(name="read the base")
def _read(url: str) -> dict[str, pd.DataFrame]:
    return read_base(url)


@task(name="build and score profiles")
def _score(
    tables: dict[str, pd.DataFrame], as_of: dt.datetime, rules_path: str, n_bins: int
) -> ScoredBase:
    s = get_settings()
    return score_base(
        tables,
        as_of,
        scoring_rules=load_scoring_rules(rules_path),
        n_bins=n_bins,
        margin=s.margin,
        share=s.budget_share,
        horizon_months=max(1, round(s.value_horizon_days / 30)),
    )


@task(name="evaluate segments")
def _segments(
    url: str, scored: ScoredBase, segments_path: str, as_of: dt.datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    definitions = load_segments(segments_path)
    open_rows = store.read_frame(
        url,
        "segment_memberships",
        columns=["segment", "customer_id", "entered_at", "left_at"],
        where="left_at IS NULL",
    )
    runs = store.read_frame(url, "segment_runs", columns=["segment", "as_of", "entered", "left"])
    at = pd.Timestamp(as_of).tz_convert("UTC")
    runs_at = runs[(runs["as_of"] == at).to_numpy()] if len(runs) else runs
    return plan_memberships(definitions, scored.profiles, open_rows, runs_at, at)


@task(name="write scores and memberships")
def _write(
    url: str,
    scored: ScoredBase,
    plan: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> dict[str, int]:
    opened, closed, runs = plan
    profiles = scored.profiles.reset_index()[list(_PROFILE_TABLE_COLUMNS)]
    leads = scored.lead_scores.assign(as_of=scored.as_of)[
        [c.name for c in LeadScore.__table__.columns]
    ]
    store.write_frames(
        url,
        [
            store.Write(profiles, "customer_profiles", mode="replace_all"),
            store.Write(leads, "lead_scores", mode="replace_all"),
            store.Write(closed, "segment_memberships", mode="upsert", key=_MEMBER_KEY),
            store.Write(opened, "segment_memberships", mode="upsert", key=_MEMBER_KEY),
            store.Write(runs, "segment_runs", mode="upsert", key=["segment", "as_of"]),
        ],
    )
    write_snapshot(scored.profiles)
    return {
        "profiles": len(profiles),
        "lead_scores": len(leads),
        "entered": len(opened),
        "left": len(closed),
    }


_MEMBER_KEY = ["segment", "customer_id", "entered_at"]


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
                f"| {int(r.company_id)} | {r.contacts} | {r.account_score:.1f} | {r.missing_roles or ''} |"
                for r in best.itertuples()
            ),
        ]
    funnel = scored.notes.get("funnel")
    if isinstance(funnel, pd.DataFrame):
        lines += ["", funnel_report(funnel, title="Funnel by source (D3)")]
    model = scored.notes.get("lead_model")
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

    ``as_of`` defaults to now (the flow is the top-level caller that may read the clock).
    """
    logger = get_run_logger()
    url = url or get_settings().resolved_database_url
    as_of = as_of or dt.datetime.now(dt.UTC)
    migrate(url)
    load_segments(segments_path)  # refuse a bad definitions file before any work
    tables = _read(url)
    scored = _score(tables, as_of, scoring_rules_path, n_bins)
    plan = _segments(url, scored, segments_path, as_of)
    counts = _write(url, scored, plan)
    logger.info("segments run: %s", counts)
    _publish(scored, plan[2], as_of)
    return {**counts, "segments": plan[2].set_index("segment")["members"].to_dict()}
