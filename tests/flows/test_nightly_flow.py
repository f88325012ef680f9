"""The nightly job (make demo's main job) on SQLite and PostgreSQL: every step runs, a rerun adds nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import flows.loyalty
from crm import store
from crm.db import migrate
from crm.ingest import import_file
from crm.sample import generate, import_contacts, load
from crm.settings import get_settings
from flows.nightly import nightly_flow, run_summary

AS_OF = dt.datetime(2026, 11, 2, 0, 30, tzinfo=dt.UTC)


def _counts(url: str) -> dict[str, int]:
    tables = ("loyalty_ledger", "segment_memberships", "merge_log", "suppressions", "quality_runs")
    return {t: int(store.read_frame(url, f"SELECT COUNT(*) AS n FROM {t}")["n"][0]) for t in tables}


def _latest_markdown(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return str(found[0].data)


def test_nightly_runs_every_step_and_a_rerun_adds_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    load(db_url, generate(customers=400, seed=5))
    try:
        result = nightly_flow(url=db_url, as_of=AS_OF, loyalty_lookback_days=1100)
        assert set(result) == {"hygiene", "dedup", "loyalty", "segments", "campaigns", "steps"}
        assert list(result["steps"]) == ["hygiene", "dedup", "loyalty", "segments", "campaigns"]
        assert all(s["seconds"] > 0 and s["peak_rss_mb"] > 0 for s in result["steps"].values())
        assert result["loyalty"]["points_granted"] > 0
        assert 0 < float(result["hygiene"]["clean_share"]) <= 1
        assert result["loyalty"]["purchase"] > 0  # the loaded history was booked
        assert result["segments"]["profiles"] > 0
        profiles = store.read_frame(db_url, "customer_profiles")
        assert profiles["rfm_segment"].notna().any()
        summary = _latest_markdown("nightly-run-summary")
        assert summary.startswith("# Nightly run, as of 2026-11-02 00:30 UTC")
        assert "| loyalty |" in summary and "% clean records" in summary
        first = _counts(db_url)
        assert first["loyalty_ledger"] > 0 and first["segment_memberships"] > 0

        again = nightly_flow(url=db_url, as_of=AS_OF, loyalty_lookback_days=1100)
        assert again["segments"]["entered"] == 0 and again["dedup"].get("merged", 0) == 0
        assert again["loyalty"]["points_granted"] == 0
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


def _failing(times: int) -> tuple[list[int], object]:
    """A stand-in for the loyalty write that fails its first ``times`` calls, as a busy database."""
    real = flows.loyalty.write_plan
    calls: list[int] = []

    def write_plan(*args: object, **kwargs: object) -> dict[str, int]:
        calls.append(1)
        if len(calls) <= times:
            raise RuntimeError("database is locked (injected)")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    return calls, write_plan


def test_a_failed_middle_step_leaves_its_tables_and_a_rerun_completes_the_night(
    sqlite_url: str,
    _sqlite_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    reference = tmp_path / "reference.db"
    reference.write_bytes(_sqlite_template.read_bytes())
    ref_url = f"sqlite:///{reference}"
    data = generate(customers=300, seed=11)
    load(sqlite_url, data)
    load(ref_url, data)
    kwargs = {"as_of": AS_OF, "loyalty_lookback_days": 1100, "retry_delay_seconds": 0}
    try:
        # the night without a failure, and its rerun: hygiene may suppress once what a merge
        # brought to a survivor (see the test above), and the failed night below is rerun too,
        # so the settled state is what both must reach
        nightly_flow(url=ref_url, **kwargs)
        nightly_flow(url=ref_url, **kwargs)

        # the loyalty day fails on its first try and on its one retry: the night fails there
        calls, write_plan = _failing(times=2)
        monkeypatch.setattr(flows.loyalty, "write_plan", write_plan)
        with pytest.raises(RuntimeError, match="database is locked"):
            nightly_flow(url=sqlite_url, retries=1, **kwargs)
        assert len(calls) == 2
        after_failure = _counts(sqlite_url)
        assert after_failure["quality_runs"] == 1 and after_failure["merge_log"] > 0  # done
        assert after_failure["loyalty_ledger"] == 0  # the failed step wrote nothing
        assert after_failure["segment_memberships"] == 0  # the step after it never ran

        # the rerun meets one more transient failure, retries it, and completes the night
        calls, write_plan = _failing(times=1)
        monkeypatch.setattr(flows.loyalty, "write_plan", write_plan)
        rerun = nightly_flow(url=sqlite_url, retries=1, **kwargs)
        assert len(calls) == 2
        assert rerun["loyalty"]["entries_written"] > 0
        assert rerun["dedup"]["merged"] == 0  # merged by the failed run, not again
    finally:
        get_settings.cache_clear()
    assert _counts(sqlite_url) == _counts(ref_url)
    balances = "SELECT customer_id, SUM(points) AS points FROM loyalty_ledger GROUP BY customer_id ORDER BY customer_id"
    pd.testing.assert_frame_equal(
        store.read_frame(sqlite_url, balances), store.read_frame(ref_url, balances)
    )


def test_run_summary_lists_each_step_with_its_figures() -> None:
    results = {
        "hygiene": {
            "records": 1200,
            "customers_changed": 300,
            "contact_points_changed": 450,
            "suppressed": 12,
            "clean_share": 0.925,
            "clean_share_raw": 0.5,
        },
        "dedup": {"customers": 1200, "merged": 40, "rows_moved": 95, "households_added": 7},
        "loyalty": {"entries_written": 900, "purchase": 850, "return": 10, "expiry": 40},
        "segments": {"profiles": 1160, "entered": 80, "left": 5, "segments": {"vip": 25}},
        "campaigns": [
            {"campaign_id": "winback", "audience": 60, "firings": 30, "messages": 28, "queued": 28},
            {"campaign_id": "birthday", "audience": 4, "firings": 4, "messages": 3, "queued": 0},
        ],
        "extra": {"checked": 7},
    }
    steps = {
        name: {"seconds": 2.0 * (i + 1), "peak_rss_mb": 100.0 * (i + 1)}
        for i, name in enumerate(results)
    }
    text = run_summary(results, steps, AS_OF)
    assert text.splitlines()[0] == "# Nightly run, as of 2026-11-02 00:30 UTC"
    assert "6 steps in 42 s; peak memory 600 MB." in text  # 2+4+6+8+10+12 s
    assert "| hygiene | 2.0 | 100 | 1,200 records read; 300 customers and 450 contact" in text
    assert "40 duplicates merged (95 rows re-pointed); 7 household links" in text
    assert (
        "900 ledger entries booked (850 purchase, 10 return, 40 expiry); 0 points granted" in text
    )
    assert "| segments | 8.0 | 400 | 1,160 profiles scored; 80 segment entries, 5 exits |" in text
    assert "| campaigns | 10.0 | 500 | 2 campaigns; 34 triggers fired; 31 messages, 28 new" in text
    assert "| winback | 60 | 30 | 28 | 28 |" in text and "| birthday | 4 | 4 | 3 | 0 |" in text
    assert "| extra | 12.0 | 600 | checked 7 |" in text  # a step without a description, as is
    assert "92.5% after the automatic fixes (50.0% as found)" in text
    assert "| vip | 25 |" in text


#: What a night decides, per table, with the columns it is sorted by to compare two nights.
RESULT_TABLES: dict[str, list[str]] = {
    "customer_profiles": ["customer_id"],
    "lead_scores": ["lead_id"],
    "segment_memberships": ["segment", "customer_id", "entered_at"],
    "segment_runs": ["segment", "as_of"],
    "merge_log": ["merged_id", "action"],
    "loyalty_ledger": ["idempotency_key"],
}
#: Columns that say when or under which row number a decision was stored, not what it was.
BOOKKEEPING = {"entry_id", "merge_id", "run_id", "recorded_at", "created_at"}


@pytest.fixture
def twin_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second fresh database of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'twin.db'}"
        migrate(url)
        yield url
        return
    import psycopg
    from sqlalchemy.engine import make_url

    template = request.getfixturevalue("_postgres_template")
    base = make_url(db_url)
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    name = f"crm_twin_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _results(url: str) -> dict[str, pd.DataFrame]:
    out = {}
    for table, key in RESULT_TABLES.items():
        frame = store.read_frame(url, table)
        frame = frame.drop(columns=[c for c in frame.columns if c in BOOKKEEPING])
        out[table] = frame.sort_values(key).reset_index(drop=True)
    return out


def _assert_same_results(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    for table in RESULT_TABLES:
        assert len(want[table]) > 0, table
        pd.testing.assert_frame_equal(got[table], want[table], obj=table)


def test_the_night_on_a_local_dask_cluster_gives_the_single_process_results(
    db_url: str,
    twin_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    data = generate(customers=300, seed=7)
    load(db_url, data)
    load(twin_url, data)
    kwargs = {"as_of": AS_OF, "loyalty_lookback_days": 1100, "retry_delay_seconds": 0}
    try:
        monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "single"))
        get_settings.cache_clear()
        assert get_settings().heavy_partitions == 1
        single = nightly_flow(url=db_url, **kwargs)

        # two worker processes, the base in four parts by a hash of the customer id
        monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "dask"))
        monkeypatch.setenv("CRM_TASK_RUNNER", "dask")
        monkeypatch.setenv("CRM_DASK_WORKERS", "2")
        get_settings.cache_clear()
        assert get_settings().heavy_partitions == 4
        on_dask = nightly_flow(url=twin_url, **kwargs)
    finally:
        get_settings.cache_clear()
    assert on_dask["segments"] == single["segments"]
    _assert_same_results(_results(twin_url), _results(db_url))


def _the_next_day(url: str, data: object, path: Path) -> None:
    """A CRM export of new and changed contacts (2%), and five paid orders of the next day."""
    import_file(url, "contacts", path, as_of=AS_OF + dt.timedelta(hours=12))
    orders = store.read_frame(url, "SELECT * FROM orders WHERE status = 'paid' ORDER BY order_id")
    new = orders.head(5).copy()
    new["order_id"] = orders["order_id"].max() + 1 + pd.RangeIndex(5)
    new["ordered_at"] = pd.Timestamp(AS_OF + dt.timedelta(hours=10))
    if "external_id" in new:
        new["external_id"] = "next-day-" + new["order_id"].astype(str)
    store.write_frame(url, new, "orders")


def test_an_incremental_later_night_decides_what_a_full_one_does(
    db_url: str,
    twin_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    data = generate(customers=400, seed=9)
    export = tmp_path / "contacts.csv"
    import_contacts(data, share=0.02).to_csv(export, index=False)
    kwargs = {"loyalty_lookback_days": 1100, "retry_delay_seconds": 0}
    later = AS_OF + dt.timedelta(days=1)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        for url in (db_url, twin_url):
            load(url, data)
            nightly_flow(url=url, as_of=AS_OF, **kwargs)
            _the_next_day(url, data, export)
        incremental = nightly_flow(url=db_url, as_of=later, **kwargs)
        full = nightly_flow(url=twin_url, as_of=later, incremental=False, **kwargs)
    finally:
        get_settings.cache_clear()
    assert incremental["dedup"]["customers"] == full["dedup"]["customers"]
    assert incremental["hygiene"]["records"] == full["hygiene"]["records"]
    assert incremental["segments"] == full["segments"]
    got, want = _results(db_url), _results(twin_url)
    _assert_same_results(got, want)
    # the second night saw the next day: its orders booked, the export's twins merged
    ledger = want["loyalty_ledger"]
    assert (pd.to_datetime(ledger["occurred_at"], utc=True) > AS_OF).any()
    for table in ("suppressions", "field_changes", "contact_points", "quality_issues"):
        key = {"quality_issues": ["quality_run_id", "issue"]}.get(table)
        a, b = store.read_frame(db_url, table), store.read_frame(twin_url, table)
        a, b = (f.drop(columns=[c for c in f.columns if c in BOOKKEEPING]) for f in (a, b))
        order = key or list(a.columns)
        pd.testing.assert_frame_equal(
            a.sort_values(order).reset_index(drop=True),
            b.sort_values(order).reset_index(drop=True),
            obj=table,
        )
