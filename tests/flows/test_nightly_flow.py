"""The nightly job (make demo's main job) on SQLite and PostgreSQL: every step runs, a rerun adds nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from crm import store
from crm.sample import generate, load
from crm.settings import get_settings
from flows.nightly import nightly_flow

AS_OF = dt.datetime(2026, 11, 2, 0, 30, tzinfo=dt.UTC)


def _counts(url: str) -> dict[str, int]:
    tables = ("loyalty_ledger", "segment_memberships", "merge_log", "suppressions", "quality_runs")
    return {t: int(store.read_frame(url, f"SELECT COUNT(*) AS n FROM {t}")["n"][0]) for t in tables}


def test_nightly_runs_every_step_and_a_rerun_adds_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    load(db_url, generate(customers=400, seed=5))
    try:
        result = nightly_flow(url=db_url, as_of=AS_OF, loyalty_lookback_days=1100)
        assert set(result) == {"hygiene", "dedup", "loyalty", "segments"}
        assert 0 < float(result["hygiene"]["clean_share"]) <= 1
        assert result["loyalty"]["purchase"] > 0  # the loaded history was booked
        assert result["segments"]["profiles"] > 0
        profiles = store.read_frame(db_url, "customer_profiles")
        assert profiles["rfm_segment"].notna().any()
        first = _counts(db_url)
        assert first["loyalty_ledger"] > 0 and first["segment_memberships"] > 0

        again = nightly_flow(url=db_url, as_of=AS_OF, loyalty_lookback_days=1100)
        assert again["segments"]["entered"] == 0 and again["dedup"].get("merged", 0) == 0
        second = _counts(db_url)
        # no second bonus, no second segment entry, no second merge
        for table in ("loyalty_ledger", "segment_memberships", "merge_log", "quality_runs"):
            assert second[table] == first[table], table
        # hygiene may suppress what a merge brought to a survivor (a hard bounce moved to it),
        # once: from then on the job is a fixed point
        nightly_flow(url=db_url, as_of=AS_OF, loyalty_lookback_days=1100)
        assert _counts(db_url) == second
    finally:
        get_settings.cache_clear()
