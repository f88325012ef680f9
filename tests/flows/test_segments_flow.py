"""The segments flow on SQLite and PostgreSQL: scores land, segments enter/leave, reruns add nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import flows.segments
from crm import store
from crm.profiles import partition_tables
from crm.sample import generate, load
from crm.settings import get_settings
from crm.snapshot import read_snapshot
from flows.segments import FIT_TABLES, read_tables, run_segments, segments_flow
from segments.errors import SegmentDefinitionError

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
    snapshot = read_snapshot(db_url)
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


def test_the_command_and_the_flow_run_the_same_job(
    db_url: str, env: Path, prefect_harness: None
) -> None:
    # crm segments run calls run_segments; the flow runs the same steps: same rows either way
    first = run_segments(db_url, AS_OF, segments_path=env)
    after_job = _state(db_url)
    again = segments_flow(url=db_url, as_of=AS_OF, segments_path=str(env))
    assert again["entered"] == again["left"] == 0
    assert again["segments"] == first["segments"] and _state(db_url) == after_job


def test_a_bad_file_is_refused_before_anything_is_read(
    db_url: str, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.segments

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the base was read before the file was checked")

    monkeypatch.setattr(flows.segments, "load_inputs", no_reading)
    bad = tmp_path / "bad.yaml"
    bad.write_text("segments:\n  - name: x\n    where:\n      revenu: {gte: 5}\n", "utf-8")
    with pytest.raises(SegmentDefinitionError) as info:
        run_segments(db_url, AS_OF, segments_path=bad)
    assert (info.value.line, info.value.field) == (4, "revenu")
    assert "did you mean 'revenue'?" in str(info.value)


@pytest.fixture
def empty_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database with nothing in it, and a data directory of its own."""
    monkeypatch.setenv("CRM_DATABASE_URL", db_url)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def test_an_empty_database_gets_plain_sentences(empty_env: str, tmp_path: Path) -> None:
    from flows.cli import app

    runner = CliRunner()
    ran = runner.invoke(app, ["segments", "run", "--as-of", "2026-11-01"])
    assert ran.exit_code == 1
    assert "error: there are no active customers to score yet" in ran.output
    assert "TypeError" not in ran.output and "Traceback" not in ran.output
    funnel = runner.invoke(app, ["segments", "funnel"])
    assert funnel.exit_code == 1 and "has no leads yet" in funnel.output
    assert "UFuncTypeError" not in funnel.output
    shown = runner.invoke(app, ["segments", "preview", "-s", "vip_moscow"])
    assert shown.exit_code == 1 and "has no scored profiles yet" in shown.output
    # a bad file on the empty base: the file's mistakes, not the empty base, are what is said
    bad = tmp_path / "bad.yaml"
    bad.write_text("segments:\n  - name: x\n    where:\n      revenu: {gte: 5}\n", "utf-8")
    refused = runner.invoke(app, ["segments", "run", str(bad)])
    assert refused.exit_code == 1
    assert "bad.yaml:4: revenu: unknown field 'revenu'; did you mean 'revenue'?" in refused.output
    assert "no active customers" not in refused.output


def test_preview_reads_the_database_it_is_pointed_at(
    db_url: str,
    env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    _sqlite_template: Path,
) -> None:
    from flows.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["segments", "run", str(env), "--as-of", "2026-11-01"]).exit_code == 0
    shown = runner.invoke(app, ["segments", "preview", str(env), "-s", "buyers"])
    assert shown.exit_code == 0 and "profiles from snapshot" in shown.output
    # another, empty database, same data directory: none yet, never the first one's numbers
    other = tmp_path / "other.db"
    shutil.copy(_sqlite_template, other)
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{other}")
    get_settings.cache_clear()
    elsewhere = runner.invoke(app, ["segments", "preview", str(env), "-s", "buyers"])
    assert elsewhere.exit_code == 1, elsewhere.output
    assert "has no scored profiles yet" in elsewhere.output and " of " not in elsewhere.output
    # the first database scored again at another moment: its snapshot follows
    monkeypatch.setenv("CRM_DATABASE_URL", db_url)
    get_settings.cache_clear()
    store.execute(db_url, "DELETE FROM customer_profiles")
    emptied = runner.invoke(app, ["segments", "preview", str(env), "-s", "buyers"])
    assert emptied.exit_code == 1 and "has no scored profiles yet" in emptied.output


def test_a_part_read_in_sql_is_the_part_cut_from_the_whole_base(db_url: str, env: Path) -> None:
    whole = read_tables(db_url)
    cut = partition_tables(whole, 3)
    sizes = []
    for k in range(3):
        part = read_tables(db_url, part=(k, 3))
        assert part.keys() == whole.keys()
        for name, frame in part.items():
            want = cut[k][name].reset_index(drop=True)
            pd.testing.assert_frame_equal(frame.reset_index(drop=True), want, obj=name)
        sizes.append(len(part["customers"]))
    assert sum(sizes) == len(whole["customers"]) and min(sizes) > 0  # each customer in one part


def test_a_run_in_parts_reads_each_part_where_it_is_scored_and_gives_the_same_rows(
    db_url: str,
    env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    shutil.copy(tmp_path / "segments.yaml", tmp_path / "again.yaml")
    whole = segments_flow(url=db_url, as_of=AS_OF, segments_path=str(env))
    want = _state(db_url)
    store.write_frames(  # the same run again from nothing, now in three parts
        db_url,
        [
            store.Write(pd.DataFrame(), table, mode="replace_all")
            for table in ("segment_memberships", "segment_runs", "lead_scores", "customer_profiles")
        ],
    )
    reads: list[tuple[object, object]] = []
    real = flows.segments.read_tables

    def spy(url: str, names: object = None, *, part: tuple[int, int] | None = None) -> object:
        reads.append((None if names is None else tuple(names), part))  # type: ignore[arg-type]
        return real(url, names, part=part)  # type: ignore[arg-type]

    monkeypatch.setattr(flows.segments, "read_tables", spy)
    monkeypatch.setenv("CRM_PARTITIONS", "3")
    get_settings.cache_clear()
    assert get_settings().heavy_partitions == 3
    in_parts = segments_flow(url=db_url, as_of=AS_OF, segments_path=str(tmp_path / "again.yaml"))
    # the flow's own read is the global fit's frames; the rest is read by each part's task
    assert sorted(reads, key=str) == sorted(
        [(FIT_TABLES, None), *((None, (k, 3)) for k in range(3))], key=str
    )
    assert in_parts == whole
    assert _state(db_url) == want
