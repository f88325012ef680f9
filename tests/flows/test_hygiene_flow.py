"""``crm clean`` on the database (SQLite and PostgreSQL): fixes land, reasons kept, a rerun changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crm import store
from crm.hygiene.database import (
    HygieneRun,
    apply_clean,
    latest_quality,
    plan_clean,
    quality_history,
    read_base,
)
from crm.settings import get_settings

UTC = dt.UTC
AS_OF = dt.datetime(2026, 6, 1, tzinfo=UTC)
TABLES = {
    "customers": "customer_id",
    "contact_points": "contact_point_id",
    "suppressions": "suppression_id",
    "data_ops_tasks": "task_id",
    "field_changes": "change_id",
    "quality_runs": "quality_run_id",
    "quality_issues": "issue",
}


def _t(year: int, month: int = 1) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=UTC)


def load_base(url: str) -> None:
    """Five customers, Russian and English, each with one kind of dirt."""
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "first_name": ["ПЕТРОВ", "jane", "Сидорова Анна Павловна", "Olga", "test"],
            "last_name": ["Иван", "SMITH", None, "Ivanova", "Кузнецов"],
            "middle_name": ["Сергеевич", None, None, None, None],
            "gender": [None, None, None, "f", None],
            "job_title": ["ген. директор", "Founder & CEO", None, None, "Космонавт"],
            "city": ["Мск", "london", "СПб", None, "Урюпинск"],
            "language": ["ru", "en", "ru", "en", "ru"],
            "lifecycle_stage": ["customer", "customer", "repeat_customer", "lead", "lead"],
            "status": ["active", "active", "active", "active", "active"],
            "created_at": [_t(2024), _t(2024), _t(2024), _t(2019), _t(2024)],
        }
    )
    store.write_frame(url, customers, "customers")
    points = pd.DataFrame(
        {
            "contact_point_id": [1, 2, 3, 4, 5, 6],
            "customer_id": [1, 1, 2, 3, 4, 5],
            "kind": ["email", "phone", "email", "phone", "email", "phone"],
            "value": [
                "Ivan.Petrov@Mail.RU",
                "8 (916) 123-45-67",
                "jane@gmial.com",
                "+7 916 765 43 21",
                "olga@example.co.uk",
                "12345",
            ],
            "is_primary": True,
            "created_at": _t(2024),
        }
    )
    store.write_frame(url, points, "contact_points")
    events = pd.DataFrame(
        {
            "event_id": [1, 2],
            "customer_id": [4, 1],
            "channel": ["email", "email"],
            "kind": ["bounced", "opened"],
            "detail": ["hard", None],
            "occurred_at": [_t(2020), _t(2026, 3)],
        }
    )
    store.write_frame(url, events, "marketing_events")
    consents = pd.DataFrame(
        {
            "consent_id": [1],
            "customer_id": [1],
            "channel": ["email"],
            "granted": [True],
            "source": "site_form",
            "recorded_at": _t(2024),
        }
    )
    store.write_frame(url, consents, "consents")


def run_clean(url: str, as_of: dt.datetime, default_region: str = "RU") -> HygieneRun:
    """The hygiene job's three steps, as the flow's tasks run them."""
    base = read_base(url)
    return apply_clean(url, base, plan_clean(base, as_of, default_region=default_region), as_of)


def _snapshot(url: str) -> dict[str, list[list[object]]]:
    out = {}
    for table, key in TABLES.items():
        frame = store.read_frame(url, f"SELECT * FROM {table}").sort_values(key)
        out[table] = frame.astype(str).values.tolist()
    return out


def test_clean_fixes_the_base_and_a_rerun_changes_nothing(db_url: str) -> None:
    load_base(db_url)
    run = run_clean(db_url, AS_OF, default_region="RU")
    customers = store.read_frame(db_url, "customers").set_index("customer_id")
    assert customers.loc[
        1, ["first_name", "last_name", "gender", "job_title", "city"]
    ].tolist() == [
        "Иван",
        "Петров",
        "m",
        "Генеральный директор",
        "Москва",
    ]
    assert customers.loc[2, ["first_name", "last_name", "job_title", "city"]].tolist() == [
        "Jane",
        "Smith",
        "CEO",
        "London",
    ]
    assert customers.loc[3, ["last_name", "first_name", "middle_name", "gender"]].tolist() == [
        "Сидорова",
        "Анна",
        "Павловна",
        "f",
    ]
    assert pd.isna(customers.loc[5, "first_name"]) and customers.loc[5, "job_title"] == "Космонавт"

    points = store.read_frame(db_url, "contact_points").set_index("contact_point_id")
    assert points.loc[1, "normalized"] == "ivan.petrov@mail.ru"
    assert points.loc[2, ["normalized", "phone_type"]].tolist() == ["+79161234567", "mobile"]
    assert points.loc[3, ["is_valid", "invalid_reason"]].tolist() == [False, "domain_typo"]
    assert points.loc[6, ["is_valid", "invalid_reason"]].tolist() == [False, "too_short"]
    assert points.loc[1, "value"] == "Ivan.Petrov@Mail.RU"  # what was entered is kept

    sup = store.read_frame(db_url, "suppressions")
    got = {(r.customer_id, r.scope, r.reason) for r in sup.itertuples()}
    assert {
        (4, "email", "hard_bounce"),
        (4, "customer", "unreachable"),
        (4, "customer", "stale"),
        (5, "phone", "invalid_phone"),
    } <= got
    assert customers.loc[4, "status"] == "suppressed"  # kept, not deleted

    changes = store.read_frame(db_url, "field_changes")
    old = changes[(changes["row_id"] == 5) & (changes["field"] == "first_name")]
    assert old["old_value"].tolist() == ["test"]  # the removed fake is in the audit

    tasks = store.read_frame(db_url, "data_ops_tasks")
    assert ((tasks["customer_id"] == 2) & (tasks["task"] == "fix_email_typo")).any()

    last, issues = latest_quality(db_url)
    assert last is not None and int(last["quality_run_id"]) == run.quality_run_id
    assert int(last["records"]) == 5
    assert set(issues["issue"]) >= {"name_fake", "email_domain_typo", "phone_invalid"}

    before = _snapshot(db_url)
    again = run_clean(db_url, AS_OF, default_region="RU")
    assert again.written == {}
    assert _snapshot(db_url) == before


def test_flow_stores_one_run_per_moment(db_url: str, prefect_harness: None) -> None:
    from flows.hygiene import hygiene_flow

    load_base(db_url)
    run = hygiene_flow(url=db_url, as_of=AS_OF)
    assert run.result.summary["records"] == 5 and run.quality_run_id > 0
    hygiene_flow(url=db_url, as_of=AS_OF)
    hygiene_flow(url=db_url, as_of=AS_OF + dt.timedelta(days=1))
    runs = quality_history(db_url)
    assert len(runs) == 2
    assert runs["as_of"].tolist() == [
        pd.Timestamp(AS_OF),
        pd.Timestamp(AS_OF + dt.timedelta(days=1)),
    ]


def test_a_written_run_returns_its_report_not_its_per_record_frames(
    db_url: str, prefect_harness: None
) -> None:
    # Prefect keeps a subflow's return value for the rest of the process: a nightly run that
    # got the first night's million-row frames back would carry them through every later step
    from flows.hygiene import hygiene_flow

    load_base(db_url)
    planned = hygiene_flow(url=db_url, as_of=AS_OF, dry_run=True).result
    assert len(planned.card) == 5 and len(planned.issues) and len(planned.customers)
    run = hygiene_flow(url=db_url, as_of=AS_OF)
    r = run.result
    assert r.summary == planned.summary and r.stats == planned.stats
    assert r.breakdown.equals(planned.breakdown)
    for frame, like in (
        (r.customers, planned.customers),
        (r.contact_points, planned.contact_points),
        (r.changes, planned.changes),
        (r.card, planned.card),
        (r.issues, planned.issues),
        (r.tasks, planned.tasks),
        (r.suppressions.writes, planned.suppressions.writes),
    ):
        assert len(frame) == 0
        assert list(frame.columns) == list(like.columns)
        assert frame.dtypes.equals(like.dtypes)


def test_clean_and_quality_commands(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.cli import app

    load_base(sqlite_url)
    monkeypatch.setenv("CRM_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        dry = runner.invoke(app, ["clean", "--as-of", "2026-06-01T00:00:00+00:00", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "dry run" in dry.output
        assert (
            store.read_frame(sqlite_url, "SELECT COUNT(*) AS n FROM quality_runs")["n"].iloc[0] == 0
        )
        first = runner.invoke(app, ["clean", "--as-of", "2026-06-01T00:00:00+00:00"])
        assert first.exit_code == 0, first.output
        text = " ".join(first.output.split())
        assert "% clean records" in text and "Космонавт" in text
        report = runner.invoke(app, ["quality", "--history"])
        assert report.exit_code == 0, report.output
        text = " ".join(report.output.split())
        assert "over time" in text and "open data-ops tasks" in text and "hard_bounce" in text
    finally:
        get_settings.cache_clear()


def test_a_later_pass_checks_only_new_numbers_and_addresses_and_decides_what_a_full_one_does(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crm.hygiene.pipeline as pipeline

    load_base(db_url)
    run_clean(db_url, AS_OF)
    # the pass stores each address's flags with it, as the import does
    flags = store.read_frame(
        db_url, "contact_points", columns=["contact_point_id", "is_role", "is_free"],
        where="kind = 'email'",
    ).set_index("contact_point_id")  # fmt: skip
    assert flags.loc[1].tolist() == [False, True] and flags.loc[5].tolist() == [False, False]
    later = AS_OF + dt.timedelta(days=1)
    new_points = pd.DataFrame(
        {
            "contact_point_id": [7, 8],
            "customer_id": [2, 4],
            "kind": ["phone", "email"],
            "value": ["+44 20 7946 0958", "Анна.Smith@Yandex.RU"],
            "is_primary": [False, False],
            "created_at": [AS_OF + dt.timedelta(hours=3)] * 2,
        }
    )
    store.write_frame(db_url, new_points, "contact_points")
    parsed: list[list[str]] = []
    checked: list[list[str]] = []
    real_phones, real_emails = pipeline.normalise_phones, pipeline.normalise_emails

    def recording(values: pd.Series, *args: object) -> pd.DataFrame:
        parsed.append(values.tolist())
        return real_phones(values, *args)  # type: ignore[arg-type]

    def recording_emails(values: pd.Series) -> pd.DataFrame:
        checked.append(values.tolist())
        return real_emails(values)

    monkeypatch.setattr(pipeline, "normalise_phones", recording)
    monkeypatch.setattr(pipeline, "normalise_emails", recording_emails)
    base = read_base(db_url)
    incremental = plan_clean(base, later)
    full = plan_clean(base, later, full=True)
    # the pass at AS_OF parsed numbers 2, 4 and 6 and stored their forms: only 7 is new
    assert parsed == [
        ["+44 20 7946 0958"],
        ["8 (916) 123-45-67", "+7 916 765 43 21", "12345", "+44 20 7946 0958"],
    ]
    # addresses 1 and 5 are valid and stored with their flags; 3 (a typo) is checked again
    assert checked == [
        ["jane@gmial.com", "Анна.Smith@Yandex.RU"],
        ["Ivan.Petrov@Mail.RU", "jane@gmial.com", "olga@example.co.uk", "Анна.Smith@Yandex.RU"],
    ]
    assert incremental.contact_points["contact_point_id"].tolist() == [7, 8]
    assert incremental.contact_points["normalized"].tolist()[0] == "+442079460958"
    for name in ("contact_points", "customers", "changes", "issues", "breakdown", "tasks"):
        pd.testing.assert_frame_equal(getattr(incremental, name), getattr(full, name), obj=name)
    pd.testing.assert_frame_equal(incremental.suppressions.writes, full.suppressions.writes)
    assert incremental.summary == full.summary and incremental.stats == full.stats
