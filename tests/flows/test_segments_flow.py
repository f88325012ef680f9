"""The segments flow on SQLite and PostgreSQL: scores land, segments enter/leave, reruns add nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prefect.testing.utilities import prefect_test_harness
from typer.testing import CliRunner

from crm import store
from crm.sample import generate, load
from crm.settings import get_settings
from flows.segments import read_snapshot, segments_flow

UTC = dt.UTC
AS_OF = dt.datetime(2026, 11, 1, tzinfo=UTC)

SEGMENTS = """\
segments:
  - name: buyers
    title: Покупатели / Buyers
    where:
      orders: {gte: 1}
  - name: big_spenders
    title: Крупные клиенты
    where:
      all:
        - revenue: {gte: 100000}
        - rfm_segment: {in: [Champions, Loyal, Can't lose, At risk, Need attention]}
  - name: moscow
    where:
      city: москва
"""


@pytest.fixture(scope="module")
def prefect_harness() -> Iterator[None]:
    with prefect_test_harness():
        yield


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CRM_DATABASE_URL", db_url)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    path = tmp_path / "segments.yaml"
    path.write_text(SEGMENTS, encoding="utf-8")
    load(db_url, generate(customers=600, seed=11))
    yield path
    get_settings.cache_clear()


def _state(url: str) -> dict[str, list[list[object]]]:
    queries = {
        "profiles": "SELECT * FROM customer_profiles ORDER BY customer_id",
        "leads": "SELECT * FROM lead_scores ORDER BY lead_id",
        "members": "SELECT * FROM segment_memberships ORDER BY segment, customer_id, entered_at",
        "runs": "SELECT * FROM segment_runs ORDER BY segment, as_of",
    }
    return {k: store.read_frame(url, q).astype(str).to_numpy().tolist() for k, q in queries.items()}


def test_flow_scores_segments_and_a_rerun_changes_nothing(
    db_url: str, env: Path, prefect_harness: None
) -> None:
    result = segments_flow(url=db_url, as_of=AS_OF, segments_path=str(env))
    profiles = store.read_frame(db_url, "customer_profiles")
    customers = store.read_frame(db_url, "customers")
    assert result["profiles"] == len(profiles) == (customers["status"] == "active").sum()
    buyers = profiles[profiles["orders"] > 0]
    assert buyers["rfm_segment"].notna().all() and buyers["r_score"].between(1, 5).all()
    assert profiles.loc[profiles["orders"] == 0, "rfm_segment"].isna().all()
    assert (buyers["predicted_value"] >= 0).all()
    # the personal budget is value x margin (0.3) x share (0.1) by default
    ratio = (buyers["personal_budget"] / buyers["predicted_value"]).dropna()
    assert ratio.round(6).eq(0.03).all()
    lead_scores = store.read_frame(db_url, "lead_scores")
    leads = store.read_frame(db_url, "leads")
    excluded = set(leads.loc[leads["status"].isin(["disqualified", "spam"]), "lead_id"])
    assert len(lead_scores) > 0 and not excluded & set(lead_scores["lead_id"])  # D2

    runs = store.read_frame(db_url, "segment_runs").set_index("segment")
    assert runs.loc["buyers", "members"] == len(buyers) == runs.loc["buyers", "entered"]
    members = store.read_frame(db_url, "segment_memberships")
    assert members["left_at"].isna().all()
    assert set(members.loc[members["segment"] == "buyers", "customer_id"]) == set(
        buyers["customer_id"]
    )
    moscow = set(customers.loc[customers["city"].str.casefold() == "москва", "customer_id"])
    moscow &= set(profiles["customer_id"])
    assert set(members.loc[members["segment"] == "moscow", "customer_id"]) == moscow

    before = _state(db_url)
    again = segments_flow(url=db_url, as_of=AS_OF, segments_path=str(env))
    assert again["entered"] == 0 and again["left"] == 0
    assert _state(db_url) == before  # a rerun with the same as_of leaves the same rows
    snapshot = read_snapshot()
    assert len(snapshot) == len(profiles) and "rfm_segment" in snapshot.columns


def test_members_enter_and_leave(db_url: str, env: Path, prefect_harness: None) -> None:
    segments_flow(url=db_url, as_of=AS_OF, segments_path=str(env))
    profiles = store.read_frame(db_url, "customer_profiles")
    newcomer = int(profiles.loc[profiles["orders"] == 0, "customer_id"].iloc[0])
    moscow = store.read_frame(
        db_url, "SELECT customer_id FROM segment_memberships WHERE segment = 'moscow'"
    )
    mover = int(moscow["customer_id"].iloc[0])
    store.write_frame(
        db_url,
        pd.DataFrame(
            {
                "customer_id": [newcomer],
                "ordered_at": [pd.Timestamp("2026-11-10", tz="UTC")],
                "amount": [1500.0],
                "status": ["paid"],
            }
        ),
        "orders",
    )
    store.execute(db_url, "UPDATE customers SET city = 'London' WHERE customer_id = ?", [mover])
    later = AS_OF + dt.timedelta(days=30)
    result = segments_flow(url=db_url, as_of=later, segments_path=str(env))
    assert result["entered"] >= 1 and result["left"] >= 1
    rows = store.read_frame(db_url, "segment_memberships")
    new = rows[(rows["segment"] == "buyers") & (rows["customer_id"] == newcomer)]
    assert len(new) == 1 and new["entered_at"].iloc[0] == pd.Timestamp(later)
    gone = rows[(rows["segment"] == "moscow") & (rows["customer_id"] == mover)]
    assert len(gone) == 1 and gone["left_at"].iloc[0] == pd.Timestamp(later)
    runs = store.read_frame(db_url, "segment_runs")
    at_later = runs[runs["as_of"] == pd.Timestamp(later)].set_index("segment")
    assert at_later.loc["buyers", "entered"] >= 1 and at_later.loc["moscow", "left"] >= 1
    # a rerun of the later moment keeps its entered/left counts and adds no rows
    segments_flow(url=db_url, as_of=later, segments_path=str(env))
    runs2 = store.read_frame(db_url, "segment_runs")
    pd.testing.assert_frame_equal(
        runs2.sort_values(["segment", "as_of"]).reset_index(drop=True),
        runs.sort_values(["segment", "as_of"]).reset_index(drop=True),
    )
    assert len(store.read_frame(db_url, "segment_memberships")) == len(rows)


def test_cli_check_preview_and_bad_file(
    db_url: str, env: Path, tmp_path: Path, prefect_harness: None
) -> None:
    from flows.cli import app

    runner = CliRunner()
    ran = runner.invoke(app, ["segments", "run", str(env), "--as-of", AS_OF.isoformat()])
    assert ran.exit_code == 0, ran.output
    assert "buyers" in ran.output
    shown = runner.invoke(app, ["segments", "preview", str(env), "-s", "buyers", "--sample", "3"])
    assert shown.exit_code == 0, shown.output
    count = store.read_frame(
        db_url, "SELECT COUNT(*) AS n FROM customer_profiles WHERE orders > 0"
    )["n"][0]
    assert f"{count:,} of" in shown.output
    checked = runner.invoke(app, ["segments", "check", str(env)])
    assert checked.exit_code == 0 and "3 segment(s) valid" in checked.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("segments:\n  - name: x\n    where:\n      revenu: {gte: 5}\n", encoding="utf-8")
    refused = runner.invoke(app, ["segments", "check", str(bad)])
    assert refused.exit_code == 1
    assert "bad.yaml:4" in refused.output and "revenu" in refused.output
    assert "revenue" in refused.output  # the closest field is suggested
