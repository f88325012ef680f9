"""Flow: campaign definitions → triggers or the scheduled audience → policy → render → outbox (C1–C7).

For each campaign file the flow loads the definition (a new ``campaign_versions`` row when its
text changed), evaluates its trigger (or takes its segment's members / inline rule), applies the
audience policy, renders the messages with the one renderer (:func:`campaigns.batch.
render_messages`) and queues them in ``outbox``. Reading and writing go through
:mod:`crm.store`; every decision is made by the pure rooms (:mod:`campaigns.triggers`,
:mod:`campaigns.audience`, :mod:`campaigns.context`, :mod:`campaigns.batch`).

Reruns are idempotent. The run id is ``campaign:v<version>:<as_of>``; firings and messages carry
deterministic keys and are inserted with ``ON CONFLICT DO NOTHING``, in this order: promo codes,
firings, the outbox (in chunks), then the run's summary and exclusions. A run killed part-way
leaves a prefix of that; the rerun with the same ``as_of`` recomputes the same firings (keys
recorded by the same run id still count as this run's), the same messages and the same keys,
and inserts only what is missing. :func:`preview_message` renders one customer's message
through the very same path (:func:`prepare_run`), so the preview is byte for byte what is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from campaigns.audience import (
    PolicyDefaults,
    PolicyResult,
    apply_policy,
    households,
    personal_codes,
    resolve_survivors,
)
from campaigns.definitions import Campaign, definition_sha256, load_campaign
from campaigns.sms import cost_estimate, segment_counts, segment_warnings
from campaigns.triggers import evaluate_trigger, new_firings
from crm import store
from crm.asof import as_instant, local_date
from crm.columns import CUSTOMER_ID
from crm.profiles import build_profiles
from crm.settings import Settings, get_settings
from crm.snapshot import StaleSnapshotError, read_snapshot, stored_profiles
from flows.campaigns_db import write_firings, write_outbox, write_run

__all__ = [
    "DEFAULT_CAMPAIGNS",
    "PreparedRun",
    "campaign_flow",
    "campaigns_flow",
    "prepare_run",
    "preview_message",
    "register_campaign",
    "run_campaign",
]

ROOT = Path(__file__).resolve().parents[1]
#: The example campaigns the demo and the nightly chain run.
DEFAULT_CAMPAIGNS = tuple(str(p) for p in sorted((ROOT / "campaigns" / "examples").glob("*.yaml")))

_OUTBOX_CHUNK = 50_000

_BASE: dict[str, list[str] | None] = {
    "customers": None,
    "orders": ["order_id", "customer_id", "ordered_at", "amount", "status", "category"],
    "deals": [
        *("deal_id", "customer_id", "company_id", "lead_id", "pipeline_id", "stage_id"),
        *("amount", "status", "created_at", "closed_at"),
    ],
    "pipelines": ["pipeline_id", "name"],
    "pipeline_stages": ["stage_id", "pipeline_id", "name"],
    "leads": None,
    "activities": ["activity_id", "customer_id", "deal_id", "kind", "occurred_at", "done"],
    "marketing_events": ["event_id", "customer_id", "kind", "detail", "occurred_at"],
    "contact_points": None,
    "consents": ["customer_id", "channel", "granted", "recorded_at"],
    "suppressions": ["customer_id", "scope", "suppressed_at", "lifted_at"],
    "customer_tags": ["customer_id", "tag_id"],
    "tag_definitions": ["tag_id", "vocabulary", "code"],
    "relations": ["customer_id", "related_customer_id", "kind"],
    "segment_memberships": ["segment", "customer_id", "entered_at", "left_at"],
}


def _defaults(settings: Settings) -> PolicyDefaults:
    return PolicyDefaults(
        per_day=settings.frequency_per_day,
        per_week=settings.frequency_per_week,
        quiet_start=settings.quiet_hours_start,
        quiet_end=settings.quiet_hours_end,
        timezone=settings.default_timezone,
    )


# --------------------------------------------------------------------------- reading
def read_campaign_base(url: str) -> store.LazyFrames:
    """The frames triggers, profiles and the policy read, each fetched (through Arrow) the
    first time a campaign looks it up: a birthday campaign reads customers and contact
    points, not ten million orders and the whole ledger."""
    from flows.loyalty import read_ledger, read_tier_history

    return store.LazyFrames(
        url,
        _BASE,
        readers={"ledger": read_ledger, "tier_history": read_tier_history},
        aliases={"loyalty_ledger": "ledger", "loyalty_tier_history": "tier_history"},
    )


def _people(
    url: str, tables: Mapping[str, pd.DataFrame], at: pd.Timestamp
) -> tuple[pd.DataFrame, str]:
    """The scored profiles as of ``at`` and a sentence saying where they came from.

    When the last segments run on this database scored as of the same instant (the night
    runs segments, then campaigns, with one ``as_of``) and its snapshot
    (:mod:`crm.snapshot`) is that run's, the profiles are read from it: no second build of a
    million profiles. Otherwise (no run yet, a run as of another instant, no snapshot or
    one of another run) they are built here, with the personal CRM budget of the last
    segments run.
    """
    from flows.segments import _loyalty

    rows, scored_at = stored_profiles(url)
    if rows and scored_at == at:
        try:
            profiles = read_snapshot(url)
        except StaleSnapshotError:
            reason = "the snapshot is missing or of another run"
        else:
            return profiles, f"reused the segments run's {rows:,} scored profiles as of {at}"
    elif rows:
        reason = f"the last segments run is as of {scored_at}, not {at}"
    else:
        reason = "no segments run on this database yet"
    profiles = build_profiles({**tables, "loyalty": _loyalty(tables, at)}, at)
    scored = store.read_frame(
        url, "customer_profiles", columns=["customer_id", "personal_budget", "predicted_value"]
    )
    budget = scored.set_index(CUSTOMER_ID)
    profiles["personal_budget"] = budget["personal_budget"].reindex(profiles.index)
    profiles["predicted_value"] = budget["predicted_value"].reindex(profiles.index)
    return profiles, f"rebuilt {len(profiles):,} profiles as of {at} ({reason})"


def _keys_of(url: str, table: str, column: str, campaign_id: str, run_id: str) -> pd.Series:
    frame = store.read_frame(
        url,
        f"SELECT {column} FROM {table} WHERE campaign_id = ? AND run_id <> ?",
        params=[campaign_id, run_id],
    )
    return frame[column] if len(frame) else pd.Series([], dtype="object")


def _history(url: str, run_id: str, at: pd.Timestamp) -> pd.DataFrame:
    """Messages of other runs scheduled in the last 7 days or later (for the frequency caps)."""
    queued = store.read_frame(
        url, "SELECT customer_id, scheduled_for FROM outbox WHERE run_id <> ?", params=[run_id]
    )
    if queued.empty:
        return queued
    when = pd.to_datetime(queued["scheduled_for"], utc=True)
    return queued.loc[(when > at - pd.Timedelta(days=7)).to_numpy()]


# --------------------------------------------------------------------------- versions
def register_campaign(url: str, campaign: Campaign, text: str, now: dt.datetime) -> int:
    """The version of this definition: the latest when its text is unchanged, else a new one."""
    sha = definition_sha256(text)
    known = store.read_frame(
        url,
        "SELECT version, definition_sha256 FROM campaign_versions WHERE campaign_id = ?",
        params=[campaign.id],
    )
    if len(known):
        latest = known.sort_values("version").iloc[-1]
        if latest["definition_sha256"] == sha:
            return int(latest["version"])
    version = int(known["version"].max()) + 1 if len(known) else 1
    stamp = pd.Timestamp(now).tz_convert("UTC")
    store.write_frames(
        url,
        [
            store.Write(
                pd.DataFrame(
                    {
                        "campaign_id": [campaign.id],
                        "name": [campaign.name],
                        "version": [version],
                        "created_at": [stamp],
                        "updated_at": [stamp],
                    }
                ),
                "campaigns",
                mode="upsert",
                key=["campaign_id"],
                update=["name", "version", "updated_at"],
            ),
            store.Write(
                pd.DataFrame(
                    {
                        "campaign_id": [campaign.id],
                        "version": [version],
                        "definition_sha256": [sha],
                        "definition": [text],
                        "created_at": [stamp],
                    }
                ),
                "campaign_versions",
            ),
        ],
    )
    return version


# --------------------------------------------------------------------------- planning
@dataclass
class PreparedRun:
    """Everything one run would write: firings, the policy's decision, the rendered messages."""

    campaign: Campaign
    version: int
    run_id: str
    as_of: pd.Timestamp
    firings: pd.DataFrame
    policy: PolicyResult
    messages: pd.DataFrame  # outbox columns
    promo_codes: pd.DataFrame  # loyalty_promo_codes rows
    profiles: str = ""  # where the scored profiles came from (reused or rebuilt, and why)


def _members(
    campaign: Campaign, tables: Mapping[str, pd.DataFrame], people: pd.DataFrame, at: pd.Timestamp
) -> np.ndarray | None:
    """Customer ids of the campaign's audience (segment or rule), or None without one."""
    audience = campaign.audience
    if audience is None:
        return None
    if audience.segment is not None:
        m = tables["segment_memberships"]
        entered = pd.to_datetime(m["entered_at"], utc=True)
        left = pd.to_datetime(m["left_at"], utc=True)
        now = (
            (m["segment"] == audience.segment).to_numpy()
            & (entered <= at).to_numpy()
            & (left.isna() | (left > at)).to_numpy()
        )
        return np.unique(m.loc[now, CUSTOMER_ID].to_numpy(dtype="int64"))
    import yaml

    from segments.rules import evaluate, load_segments

    text = yaml.safe_dump(
        {"segments": [{"name": campaign.id, "where": audience.rule}]}, allow_unicode=True
    )
    (definition,) = load_segments(text)
    return np.asarray(evaluate(definition, people, as_of=at), dtype="int64")


def _candidates(
    url: str,
    campaign: Campaign,
    version: int,
    run_id: str,
    tables: Mapping[str, pd.DataFrame],
    people: pd.DataFrame,
    at: pd.Timestamp,
    tz: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    members = _members(campaign, tables, people, at)
    if campaign.trigger is not None:
        fired = evaluate_trigger(campaign.trigger, campaign.id, tables, at, tz)
        fired = new_firings(
            fired, _keys_of(url, "trigger_firings", "firing_key", campaign.id, run_id)
        )
        if members is not None:
            fired = fired.loc[fired[CUSTOMER_ID].isin(members).to_numpy()]
        firings = fired.assign(
            campaign_id=campaign.id, campaign_version=version, fired_at=at, run_id=run_id
        ).reset_index(drop=True)
        cand = firings[[CUSTOMER_ID, "event_ref"]].rename(columns={"event_ref": "message_ref"})
        return cand, firings
    period = campaign.period(local_date(at, campaign.timezone or tz))
    ids = members if members is not None else np.zeros(0, dtype="int64")
    return pd.DataFrame({CUSTOMER_ID: ids, "message_ref": period}), pd.DataFrame()


def _message_keys(campaign: Campaign, version: int, ids: Any, refs: Any) -> np.ndarray:
    ids_s = pd.Series(np.asarray(ids, dtype="int64")).astype(str).to_numpy(dtype=object)
    refs_s = pd.Series(refs, dtype="object").astype(str).to_numpy(dtype=object)
    return f"{campaign.id}:v{version}:" + ids_s + ":" + refs_s


def _render(
    recipients: pd.DataFrame,
    campaign: Campaign,
    at: pd.Timestamp,
    settings: Settings,
    codes: pd.DataFrame | None,
    processes: int,
) -> pd.DataFrame:
    from campaigns.batch import render_messages
    from campaigns.context import build_contexts

    contexts = build_contexts(
        recipients,
        promo_codes=codes,
        default_language=recipients["language"].iloc[0] if len(recipients) else "ru",
        default_currency=settings.default_currency,
        default_timezone=settings.default_timezone,
    )
    valid = campaign.promo.valid_days if campaign.promo is not None else 0
    params = {
        "campaign_name": campaign.name,
        "valid_until": (local_date(at, settings.default_timezone) + dt.timedelta(days=valid)),
    }
    parts = []
    for variant in campaign.variants:  # a handful: each variant has its own templates
        rows = contexts.loc[(contexts["variant"] == variant.name).to_numpy()]
        if rows.empty:
            continue
        parts.append(
            render_messages(
                rows,
                campaign.templates_of(variant.name).model_dump(),
                as_of=at,
                secret=settings.secret_key.get_secret_value(),
                base_url=settings.public_base_url,
                email_from=settings.email_from,
                params=params,
                processes=processes,
            )
        )
    if not parts:
        return pd.DataFrame(index=recipients.index)
    return pd.concat(parts).reindex(recipients.index)


def prepare_run(
    url: str,
    campaign: Campaign,
    version: int,
    as_of: Any,
    *,
    settings: Settings | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    only_customer: int | None = None,
    processes: int = 1,
    created_at: dt.datetime | None = None,
) -> PreparedRun:
    """Decide and render one campaign run without writing anything.

    ``only_customer`` restricts the run to one person (the preview): the same firings, policy,
    codes and renderer as the send path, so the message is byte for byte the one queued.
    """
    settings = settings or get_settings()
    tz = settings.default_timezone
    at = as_instant(as_of, tz)
    run_id = f"{campaign.id}:v{version}:{at.isoformat()}"
    tables = tables if tables is not None else read_campaign_base(url)
    people, profiles_source = _people(url, tables, at)
    cand, firings = _candidates(url, campaign, version, run_id, tables, people, at, tz)
    if only_customer is not None:
        cand = cand.loc[(cand[CUSTOMER_ID] == only_customer).to_numpy()]
        if cand.empty:  # not fired / not a member today: preview the scheduled message
            ref = campaign.period(local_date(at, tz)) if campaign.trigger is None else "preview"
            cand = pd.DataFrame({CUSTOMER_ID: [only_customer], "message_ref": [ref]})
        if len(firings):
            firings = firings.loc[(firings[CUSTOMER_ID] == only_customer).to_numpy()]
    survivors = resolve_survivors(tables["customers"])
    person = (
        survivors.reindex(cand[CUSTOMER_ID].to_numpy()).fillna(cand[CUSTOMER_ID]).astype("int64")
    )
    keys = _message_keys(campaign, version, person.to_numpy(), cand["message_ref"].to_numpy())
    earlier = _keys_of(url, "outbox", "message_key", campaign.id, run_id)
    done = person.to_numpy()[pd.Series(keys).isin(earlier).to_numpy()]
    policy = apply_policy(
        cand,
        people,
        campaign,
        at,
        survivors=survivors,
        history=_history(url, run_id, at),
        household_of=households(tables.get("relations")),
        already_sent=done,
        defaults=_defaults(settings),
    )
    rec = policy.recipients
    rec["message_key"] = _message_keys(campaign, version, rec[CUSTOMER_ID], rec["message_ref"])
    codes = _promo_codes(campaign, rec, at, settings)
    rendered = _render(
        rec,
        campaign,
        at,
        settings,
        codes[[CUSTOMER_ID, "promo_code"]] if len(codes) else None,
        processes,
    )
    stamp = pd.Timestamp(created_at or at).tz_convert("UTC")
    messages = pd.DataFrame(
        {
            "message_key": rec["message_key"].to_numpy(),
            "campaign_id": campaign.id,
            "campaign_version": version,
            "run_id": run_id,
            "customer_id": rec[CUSTOMER_ID].to_numpy(dtype="int64"),
            "channel": rec["channel"].to_numpy(),
            "variant": rec["variant"].to_numpy(),
            "language": rec["language"].to_numpy(),
            "address": rec["address"].to_numpy(),
            "scheduled_for": rec["scheduled_for"].array,
            "created_at": stamp,
        }
    )
    for col in ("subject", "body_html", "body_text", "sms_text", "sms_encoding", "mime"):
        messages[col] = (
            rendered[col].to_numpy(dtype=object) if col in rendered else np.full(len(rec), None)
        )
    segs = rendered["sms_segments"] if "sms_segments" in rendered else pd.Series(index=rec.index)
    messages["sms_segments"] = pd.array(segs.to_numpy(), dtype="Int64")
    return PreparedRun(
        campaign=campaign,
        version=version,
        run_id=run_id,
        as_of=at,
        firings=firings,
        policy=policy,
        messages=messages,
        promo_codes=codes,
        profiles=profiles_source,
    )


def _promo_codes(
    campaign: Campaign, rec: pd.DataFrame, at: pd.Timestamp, settings: Settings
) -> pd.DataFrame:
    """One single-use loyalty promo code per recipient with an incentive (``promo.code_prefix``)."""
    promo = campaign.promo
    if promo is None or promo.code_prefix is None or rec.empty:
        return pd.DataFrame()
    has = ~rec["no_incentive"].to_numpy(dtype=bool)
    keys = rec["message_key"].to_numpy()[has]
    codes = personal_codes(keys, settings.secret_key.get_secret_value(), promo.code_prefix)
    return pd.DataFrame(
        {
            CUSTOMER_ID: rec[CUSTOMER_ID].to_numpy()[has],
            "promo_code": codes,
            "code": codes,
            "kind": "single",
            "discount_percent": rec["discount_percent"].to_numpy()[has],
            "bonus_points": rec["bonus_points"].to_numpy(dtype="int64")[has],
            "valid_from": at,
            "valid_to": at + pd.Timedelta(days=promo.valid_days),
            "max_uses": 1,
            "max_uses_per_customer": 1,
            "uses": 0,
            "active": True,
            "created_at": at,
        }
    )


# --------------------------------------------------------------------------- writing
def _summary(prepared: PreparedRun, queued: int, dry_run: bool, now: dt.datetime) -> pd.DataFrame:
    counts = prepared.policy.counts
    cost = None
    if "sms_segments" in prepared.messages and len(prepared.messages):
        segments = prepared.messages["sms_segments"].fillna(0).astype("int64").sum()
        cost = float(segments) * get_settings().sms_segment_cost
    return pd.DataFrame(
        {
            "run_id": [prepared.run_id],
            "campaign_id": [prepared.campaign.id],
            "campaign_version": [prepared.version],
            "as_of": [prepared.as_of],
            "dry_run": [dry_run],
            "audience": [prepared.policy.audience],
            "excluded": [int(counts.drop("sent").sum())],
            "holdout": [int(counts["holdout"])],
            "queued": [queued],
            "estimated_cost": pd.Series([cost], dtype="float64"),
            "status": ["done"],
            "started_at": [pd.Timestamp(now).tz_convert("UTC")],
            "finished_at": [pd.Timestamp(now).tz_convert("UTC")],
        }
    )


def write_prepared(
    url: str, prepared: PreparedRun, now: dt.datetime, chunk_rows: int = _OUTBOX_CHUNK
) -> int:
    """Write a prepared run (idempotent; see the module docstring for the order). Returns the
    number of messages new in the outbox."""
    if len(prepared.promo_codes):
        codes = prepared.promo_codes.drop(columns=[CUSTOMER_ID, "promo_code"])
        store.write_frame(url, codes, "loyalty_promo_codes", mode="upsert", key=["code"], update=[])
    if len(prepared.firings):
        write_firings(url, prepared.firings)
    queued = 0
    messages = prepared.messages
    for start in range(0, len(messages), chunk_rows):  # chunks, not rows
        queued += write_outbox(url, messages.iloc[start : start + chunk_rows]).inserted
    if len(messages) == 0:
        queued = 0
    exclusions = prepared.policy.exclusions.assign(
        run_id=prepared.run_id, campaign_id=prepared.campaign.id
    )
    total = int(
        store.read_frame(
            url, "SELECT COUNT(*) AS n FROM outbox WHERE run_id = ?", params=[prepared.run_id]
        )["n"].iloc[0]
    )
    write_run(url, _summary(prepared, total, False, now), exclusions)
    return queued


def run_campaign(
    url: str,
    source: str | Path,
    as_of: Any,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    processes: int = 1,
    chunk_rows: int = _OUTBOX_CHUNK,
) -> dict[str, Any]:
    """Load, plan, render and (unless ``dry_run``) queue one campaign; the run's summary.

    ``now`` is the wall clock of the caller (``created_at`` of the messages); ``as_of`` the
    moment the run decides for.
    """
    settings = settings or get_settings()
    now = now or dt.datetime.now(dt.UTC)
    campaign, text = load_campaign(source)
    if dry_run:
        known = store.read_frame(
            url,
            "SELECT MAX(version) AS v FROM campaign_versions WHERE campaign_id = ?",
            params=[campaign.id],
        )
        v = known["v"].iloc[0] if len(known) else None
        version = int(v) if v is not None and not pd.isna(v) else 1
    else:
        version = register_campaign(url, campaign, text, now)
    prepared = prepare_run(
        url,
        campaign,
        version,
        as_of,
        settings=settings,
        tables=tables,
        processes=processes,
        created_at=now,
    )
    queued = 0 if dry_run else write_prepared(url, prepared, now, chunk_rows)
    counts = prepared.policy.counts
    sms = prepared.messages.loc[(prepared.messages["channel"] == "sms").to_numpy(), "sms_text"]
    warnings = segment_warnings(segment_counts(sms.dropna())) if len(sms) else []
    cost = cost_estimate(
        prepared.messages.loc[sms.index, "sms_segments"].fillna(0).astype("int64"),
        settings.sms_segment_cost,
    )
    return {
        "campaign_id": campaign.id,
        "version": version,
        "run_id": prepared.run_id,
        "audience": prepared.policy.audience,
        "firings": len(prepared.firings),
        "messages": len(prepared.messages),
        "queued": queued,
        "dry_run": dry_run,
        "counts": {k: int(v) for k, v in counts.items() if v},
        "channels": prepared.messages["channel"].value_counts().to_dict(),
        "sms_cost": float(cost["cost"].iloc[-1]) if len(sms) else 0.0,  # the "total" row
        "warnings": warnings,
        "profiles": prepared.profiles,
    }


def preview_message(
    url: str,
    source: str | Path,
    customer_id: int,
    as_of: Any,
    *,
    settings: Settings | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """One customer's message as the send path would queue it, or the reason they get none.

    Returns
    -------
    (message, reason)
        The outbox row as a dict (``None`` when excluded) and the exclusion reason (or None).
    """
    campaign, _ = load_campaign(source)
    known = store.read_frame(
        url,
        "SELECT MAX(version) AS v FROM campaign_versions WHERE campaign_id = ?",
        params=[campaign.id],
    )
    v = known["v"].iloc[0] if len(known) else None
    version = int(v) if v is not None and not pd.isna(v) else 1
    prepared = prepare_run(
        url, campaign, version, as_of, settings=settings, only_customer=customer_id
    )
    if len(prepared.messages):
        row = prepared.messages.iloc[0]
        return {k: (None if _missing(row[k]) else row[k]) for k in prepared.messages.columns}, None
    reasons = prepared.policy.exclusions["reason"]
    return None, str(reasons.iloc[0]) if len(reasons) else None


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, bytes | str) and bool(pd.isna(value)))


# --------------------------------------------------------------------------- flows
@task(name="read the campaign base", cache_policy=NO_CACHE)
def _read_task(url: str) -> store.LazyFrames:
    return read_campaign_base(url)


@task(name="run campaign", cache_policy=NO_CACHE)
def _run_task(
    url: str, source: str, as_of: dt.datetime, dry_run: bool, tables: Mapping[str, pd.DataFrame]
) -> dict[str, Any]:
    return run_campaign(url, source, as_of, dry_run=dry_run, tables=tables)


@flow(name="campaign")
def campaign_flow(
    source: str, url: str | None = None, as_of: dt.datetime | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Run one campaign file (``crm campaign run``)."""
    return campaigns_flow(sources=[source], url=url, as_of=as_of, dry_run=dry_run)[0]


@flow(name="campaigns")
def campaigns_flow(
    sources: Sequence[str] = DEFAULT_CAMPAIGNS,
    url: str | None = None,
    as_of: dt.datetime | None = None,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Evaluate the triggers and scheduled campaigns and fill the outbox (rerun-safe).

    Campaigns run one after the other, so each sees the messages the previous ones queued
    (the frequency caps are across campaigns: they read the outbox, not ``tables``). The base
    is read once for all of them (:func:`read_campaign_base`): nothing a campaign writes is in
    it. ``as_of`` defaults to now.
    """
    logger = get_run_logger()
    url = url or get_settings().resolved_database_url
    at = as_of or dt.datetime.now(dt.UTC)
    tables = _read_task(url)
    results = [_run_task(url, str(s), at, dry_run, tables) for s in sources]
    for r in results:
        logger.info("campaign %s: %s", r["campaign_id"], r)
    lines = [
        "# Campaigns run",
        "",
        f"as of {pd.Timestamp(at).isoformat()}{' (dry run)' if dry_run else ''}",
        "",
        "| campaign | version | audience | messages | new in outbox | exclusions |",
        "|---|---:|---:|---:|---:|---|",
        *(
            f"| {r['campaign_id']} | {r['version']} | {r['audience']} | {r['messages']} | "
            f"{r['queued']} | "
            + ", ".join(f"{k} {v}" for k, v in r["counts"].items() if k != "sent")
            + " |"
            for r in results
        ),
        "",
        *(f"- {r['campaign_id']}: profiles {r['profiles']}" for r in results),
    ]
    create_markdown_artifact(key="campaigns-run", markdown="\n".join(lines))
    return results


# --------------------------------------------------------------------------- the report
def report_campaign(url: str, campaign_id: str) -> dict[str, Any]:
    """The report of one campaign over all its runs (``crm campaign report``).

    Returns
    -------
    dict
        ``runs`` (the runs' summaries), ``table`` (per variant and channel, plus the holdout),
        ``reasons`` (exclusions by reason), ``uplift`` (:class:`campaigns.report.Uplift`
        or None without a holdout) and ``variants`` (per variant: uplift and its 95%
        interval, :func:`campaigns.report.variant_uplift`).
    """
    from campaigns.report import campaign_report, variant_uplift

    # by table name, so stored instants come back as instants on every database
    mine = "campaign_id = ?"
    runs = store.read_frame(url, "campaign_runs", where=mine, params=[campaign_id])
    if runs.empty:
        raise ValueError(f"campaign {campaign_id!r} has no runs yet; run it with crm campaign run")
    text = store.read_frame(
        url,
        "SELECT definition FROM campaign_versions WHERE campaign_id = ? ORDER BY version DESC",
        params=[campaign_id],
    )
    window = load_campaign(text["definition"].iloc[0])[0].attribution_days
    outbox = store.read_frame(
        url,
        "outbox",
        columns=["campaign_id", "run_id", "customer_id", "channel", "variant", "scheduled_for"],
        where=mine,
        params=[campaign_id],
    )
    exclusions = store.read_frame(
        url,
        "campaign_exclusions",
        columns=["run_id", "customer_id", "reason"],
        where=mine,
        params=[campaign_id],
    )
    ids = pd.concat([outbox[CUSTOMER_ID], exclusions[CUSTOMER_ID]]).unique()
    orders = store.read_frame(
        url, "orders", columns=["customer_id", "ordered_at", "amount", "status"]
    )
    orders = orders.loc[orders[CUSTOMER_ID].isin(ids).to_numpy()]
    events = store.read_frame(
        url,
        "marketing_events",
        columns=["campaign_id", "customer_id", "channel", "kind"],
        where=mine,
        params=[campaign_id],
    )
    table, reasons, result = campaign_report(
        outbox, exclusions, runs, orders, events, attribution_days=window
    )
    return {
        "runs": runs,
        "table": table,
        "reasons": reasons,
        "uplift": result,
        "variants": variant_uplift(table),
    }
