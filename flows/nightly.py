"""The nightly job: clean the base, merge duplicates, run the loyalty day, score and segment.

One Prefect flow calling the rooms' flows as subflows in the order the data flows
(``docs/architecture.md``): hygiene first (normalised phones and emails feed the duplicate
search), then identity resolution (profiles are built on the survivors), then the loyalty day
(points balances and tiers feed the profiles), then the segments run, then the campaigns
(triggers and scheduled campaigns fill the outbox; ``campaign_paths`` are the campaign files,
the examples by default).

Each subflow is rerun-safe (its writes are keyed), so the whole job is too: a step that fails
transiently (the database busy, a provider down) is retried ``retries`` times, and a night that
failed after its retries is completed by running it again, which redoes nothing the earlier
run finished. Each run publishes one markdown run summary (``nightly-run-summary``) with the
wall time and peak memory of every step, and the tables an operator wants (``nightly-steps``,
``nightly-segment-sizes``).
"""

from __future__ import annotations

import datetime as dt
import resource
import time
from collections.abc import Callable
from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from crm import store
from crm.db import migrate
from crm.hygiene.database import previous_pass
from crm.settings import get_settings
from flows.campaigns import DEFAULT_CAMPAIGNS, campaigns_flow
from flows.hygiene import hygiene_flow
from flows.identity import dedup_flow
from flows.loyalty import DEFAULT_RULES, loyalty_daily_flow
from flows.memory import release_memory
from flows.segments import DEFAULT_SCORING_RULES, DEFAULT_SEGMENTS, segments_flow

__all__ = ["nightly_flow", "run_summary"]


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the process's peak so far, so a step's figure is the peak
    # of the job up to the end of that step
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _night_before(url: str, as_of: dt.datetime) -> dt.datetime | None:
    migrate(url)
    runs = store.read_frame(url, "quality_runs", columns=["as_of"])
    before = previous_pass({"quality_runs": runs}, as_of)
    return None if before is None else before.to_pydatetime()


def _run_step(
    steps: dict[str, dict[str, float]],
    name: str,
    step: Flow[..., Any],
    retries: int,
    retry_delay_seconds: float,
    **kwargs: Any,
) -> Any:
    start = time.perf_counter()
    result = step.with_options(retries=retries, retry_delay_seconds=retry_delay_seconds)(**kwargs)
    release_memory()
    steps[name] = {
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(_peak_rss_mb()),
    }
    return result


@flow(name="nightly")
def nightly_flow(
    url: str | None = None,
    as_of: dt.datetime | None = None,
    segments_path: str = DEFAULT_SEGMENTS,
    scoring_rules_path: str = DEFAULT_SCORING_RULES,
    loyalty_rules_path: str = DEFAULT_RULES,
    dedup_threshold: float = 0.5,
    loyalty_lookback_days: int = 3,
    campaign_paths: tuple[str, ...] | list[str] = DEFAULT_CAMPAIGNS,
    retries: int = 2,
    retry_delay_seconds: float = 30.0,
    incremental: bool = True,
) -> dict[str, Any]:
    """Run hygiene → dedup → loyalty day → segments → campaigns on the database at ``url``.

    ``as_of`` defaults to now; the loyalty day is the local day before ``as_of`` in the
    loyalty program's time zone (its rules file, :func:`flows.loyalty.loyalty_day`), so a run
    at 02:30 Moscow time books yesterday; late
    orders of ``loyalty_lookback_days`` days before it are picked up too (a first run over a
    loaded history passes its length: the ledger's idempotency keys make any overlap free).
    A step that fails is retried ``retries`` times, ``retry_delay_seconds`` apart.

    A later night is ``incremental``: the night before is the latest hygiene pass stored
    before ``as_of`` (``quality_runs``: each night's first step stores its moment), and
    hygiene parses only the phone numbers added since, dedup matches only the customers
    created, updated or given a contact point since then against the base
    (:func:`flows.identity.dedup_flow`'s ``since``). The first night, a rerun of the same
    night and ``incremental=False`` do the whole base.
    """
    logger = get_run_logger()
    settings = get_settings()
    url = url or settings.resolved_database_url
    as_of = as_of or dt.datetime.now(dt.UTC)
    steps: dict[str, dict[str, float]] = {}
    again: dict[str, Any] = {"retries": retries, "retry_delay_seconds": retry_delay_seconds}
    since = _night_before(url, as_of) if incremental else None
    cleaned = _run_step(
        steps, "hygiene", hygiene_flow, url=url, as_of=as_of, full=since is None, **again
    )
    hygiene = {**cleaned.result.summary, **cleaned.result.stats}
    dedup = _run_step(
        steps,
        "dedup",
        dedup_flow,
        threshold=dedup_threshold,
        url=url,
        as_of=as_of,
        since=since,
        **again,
    )
    loyalty = _run_step(
        steps,
        "loyalty",
        loyalty_daily_flow,
        as_of=as_of,  # the flow books the day before, in the loyalty program's time zone
        rules_path=loyalty_rules_path,
        lookback_days=loyalty_lookback_days,
        url=url,
        **again,
    )
    segments = _run_step(
        steps,
        "segments",
        segments_flow,
        url=url,
        as_of=as_of,
        segments_path=segments_path,
        scoring_rules_path=scoring_rules_path,
        **again,
    )
    campaigns = _run_step(
        steps,
        "campaigns",
        campaigns_flow,
        sources=list(campaign_paths),
        url=url,
        as_of=as_of,
        **again,
    )
    results: dict[str, Any] = {
        "hygiene": hygiene,
        "dedup": dedup,
        "loyalty": loyalty,
        "segments": segments,
        "campaigns": campaigns,
    }
    _publish(results, steps, as_of)
    logger.info(
        "nightly job done: %s profiles, %s segments; %s",
        segments["profiles"],
        len(segments["segments"]),
        ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in steps.items()),
    )
    return {**results, "steps": steps}


def _n(value: Any) -> str:
    return f"{int(value or 0):,}"


def _total(runs: list[dict[str, Any]], key: str) -> str:
    return _n(sum(int(r.get(key) or 0) for r in runs))


_WHAT_IT_DID: dict[str, Callable[[Any], str]] = {
    "hygiene": lambda r: (
        f"{_n(r.get('records'))} records read; {_n(r.get('customers_changed'))} customers and "
        f"{_n(r.get('contact_points_changed'))} contact points cleaned; "
        f"{_n(r.get('suppressed'))} suppressed"
    ),
    "dedup": lambda r: (
        f"{_n(r.get('customers'))} active customers compared; {_n(r.get('merged'))} duplicates "
        f"merged ({_n(r.get('rows_moved'))} rows re-pointed); "
        f"{_n(r.get('households_added'))} household links"
    ),
    "loyalty": lambda r: (
        f"{_n(r.get('entries_written'))} ledger entries booked "
        f"({_n(r.get('purchase'))} purchase, {_n(r.get('return'))} return, "
        f"{_n(r.get('expiry'))} expiry); {_n(r.get('points_granted'))} points granted; "
        f"{_n(r.get('tier_changes_written'))} tier changes"
    ),
    "segments": lambda r: (
        f"{_n(r.get('profiles'))} profiles scored; {_n(r.get('entered'))} segment entries, "
        f"{_n(r.get('left'))} exits"
    ),
    # one result per campaign file
    "campaigns": lambda runs: (
        f"{len(runs)} campaigns; {_total(runs, 'firings')} triggers fired; "
        f"{_total(runs, 'messages')} messages, {_total(runs, 'queued')} new in the outbox"
    ),
}


def run_summary(
    results: dict[str, Any], steps: dict[str, dict[str, float]], as_of: dt.datetime
) -> str:
    """The run summary of one night as markdown: what each step did, its time and memory.

    Parameters
    ----------
    results : dict
        Each step's result by step name (``hygiene``, ``dedup``, ``loyalty``, ``segments``
        and any later step, whose counts are listed as they are).
    steps : dict
        Per step: ``seconds`` (wall time) and ``peak_rss_mb`` (the job's peak so far).
    as_of : datetime
        The moment of the run.
    """
    total = sum(s["seconds"] for s in steps.values())
    lines = [
        f"# Nightly run, as of {as_of:%Y-%m-%d %H:%M} UTC",
        "",
        f"{len(steps)} steps in {total:,.0f} s; peak memory "
        f"{max((s['peak_rss_mb'] for s in steps.values()), default=0):,.0f} MB.",
        "",
        "| step | seconds | peak memory (MB) | what it did |",
        "|---|---:|---:|---|",
    ]
    for name, timing in steps.items():
        result = results.get(name, {})
        describe = _WHAT_IT_DID.get(name)
        did = (
            describe(result)
            if describe
            else "; ".join(f"{k} {v:,}" for k, v in result.items() if isinstance(v, int | float))
        )
        lines.append(
            f"| {name} | {timing['seconds']:,.1f} | {timing['peak_rss_mb']:,.0f} | {did} |"
        )
    hygiene = results.get("hygiene", {})
    if "clean_share" in hygiene:
        lines += [
            "",
            f"**Data quality (% clean records)**: {100 * float(hygiene['clean_share']):.1f}% "
            f"after the automatic fixes ({100 * float(hygiene['clean_share_raw']):.1f}% as found).",
        ]
    sizes = results.get("segments", {}).get("segments", {})
    if sizes:
        lines += ["", "| segment | members |", "|---|---:|"]
        lines += [f"| {name} | {int(n):,} |" for name, n in sizes.items()]
    campaigns = results.get("campaigns") or []
    if campaigns:
        lines += [
            "",
            "| campaign | audience | triggers fired | messages | new in the outbox |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {c.get('campaign_id')} | {_n(c.get('audience'))} | {_n(c.get('firings'))} "
                f"| {_n(c.get('messages'))} | {_n(c.get('queued'))} |"
                for c in campaigns
            ),
            "",
            "Messages are delivered by the gateway worker (`crm worker`), after the night.",
        ]
    return "\n".join(lines)


def _publish(
    results: dict[str, Any], steps: dict[str, dict[str, float]], as_of: dt.datetime
) -> None:
    create_markdown_artifact(
        key="nightly-run-summary",
        markdown=run_summary(results, steps, as_of),
        description=f"Nightly run at {as_of:%Y-%m-%d %H:%M} UTC",
    )
    create_table_artifact(
        key="nightly-steps",
        table=[{"step": name, **timing} for name, timing in steps.items()],
        description="Wall time and peak memory (MB, the job's peak so far) per step",
    )
    sizes = results.get("segments", {}).get("segments", {})
    create_table_artifact(
        key="nightly-segment-sizes",
        table=[{"segment": name, "members": int(n)} for name, n in sizes.items()],
        description="Segment sizes after the run",
    )
