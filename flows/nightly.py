"""The nightly job: clean the base, merge duplicates, run the loyalty day, score and segment.

One Prefect flow calling the rooms' flows as subflows in the order the data flows
(``docs/architecture.md``): hygiene first (normalised phones and emails feed the
duplicate search), then identity resolution (profiles are built on the survivors), then the
loyalty day (points balances and tiers feed the profiles), then the segments run, then the
campaigns (triggers and scheduled campaigns fill the outbox; ``campaign_paths`` are the
campaign files, the examples by default). Each subflow is rerun-safe, so the whole job is too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger

from crm.settings import get_settings
from flows.campaigns import DEFAULT_CAMPAIGNS, campaigns_flow
from flows.hygiene import hygiene_flow
from flows.identity import dedup_flow
from flows.loyalty import DEFAULT_RULES, loyalty_daily_flow
from flows.segments import DEFAULT_SCORING_RULES, DEFAULT_SEGMENTS, segments_flow

__all__ = ["nightly_flow"]


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
) -> dict[str, Any]:
    """Run hygiene → dedup → loyalty day → segments → campaigns on the database at ``url``.

    ``as_of`` defaults to now; the loyalty day is the local day before ``as_of`` in the
    loyalty program's time zone (its rules file, :func:`flows.loyalty.loyalty_day`), so a run
    at 02:30 Moscow time books yesterday; late
    orders of ``loyalty_lookback_days`` days before it are picked up too (a first run over a
    loaded history passes its length: the ledger's idempotency keys make any overlap free).
    """
    logger = get_run_logger()
    settings = get_settings()
    url = url or settings.resolved_database_url
    as_of = as_of or dt.datetime.now(dt.UTC)
    cleaned = hygiene_flow(url=url, as_of=as_of)
    hygiene = {**cleaned.result.summary, **cleaned.result.stats}
    dedup = dedup_flow(threshold=dedup_threshold, url=url, as_of=as_of)
    loyalty = loyalty_daily_flow(
        as_of=as_of,  # the flow books the day before, in the loyalty program's time zone
        rules_path=loyalty_rules_path,
        lookback_days=loyalty_lookback_days,
        url=url,
    )
    segments = segments_flow(
        url=url, as_of=as_of, segments_path=segments_path, scoring_rules_path=scoring_rules_path
    )
    logger.info(
        "nightly job done: %s profiles, %s segments",
        segments["profiles"],
        len(segments["segments"]),
    )
    campaigns = campaigns_flow(sources=list(campaign_paths), url=url, as_of=as_of)
    return {
        "hygiene": hygiene,
        "dedup": dedup,
        "loyalty": loyalty,
        "segments": segments,
        "campaigns": campaigns,
    }
