"""The ``crm`` command's core: upgrade, sample, import, status, and one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crm import store
from crm.settings import get_settings
from flows.cli import app

runner = CliRunner()


def _text(output: str) -> str:
    """Output with rich's line wrapping undone (it wraps at 80 columns off a terminal)."""
    return " ".join(output.split())


@pytest.fixture
def configured(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """Point the settings at the test database and run in a scratch folder."""
    if db_url.startswith("sqlite"):
        (tmp_path / "fresh").mkdir()
        db_url = (
            f"sqlite:///{tmp_path / 'fresh' / 'crm.db'}"  # not migrated yet: db upgrade does it
        )
    monkeypatch.setenv("CRM_DATABASE_URL", db_url)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield db_url, tmp_path
    get_settings.cache_clear()


def test_upgrade_sample_import_status(configured: tuple[str, Path]) -> None:
    url, tmp_path = configured
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "is at revision heads" in _text(upgraded.output)

    made = runner.invoke(app, ["sample", "--customers", "300", "--load", "--out", "tmp"])
    assert made.exit_code == 0, made.output
    assert "300 customers, seed 42 (loaded)" in _text(made.output)
    assert (tmp_path / "tmp" / "customers.parquet").exists()
    assert (tmp_path / "tmp" / "import_contacts.csv").exists()
    assert len(store.read_frame(url, "customers")) == 300

    imported = runner.invoke(app, ["import", "contacts", "tmp/import_contacts.csv"])
    assert imported.exit_code == 0, imported.output
    assert "tmp/import_contacts.csv (contacts): 10 rows" in _text(imported.output)
    assert "why rows were quarantined" in _text(imported.output)
    batches = store.read_frame(url, "import_batches")
    assert batches[["rows_total", "status"]].values.tolist() == [[10, "done"]]
    # the export holds people already in the base under another system's ids (D9): they are
    # matched to them, not inserted again
    assert "matched to existing people" in _text(imported.output)
    assert int(batches.loc[0, "rows_inserted"]) == 0
    assert int(batches.loc[0, "rows_quarantined"]) == 3
    assert int(batches.loc[0, "rows_matched"]) == 7
    assert len(store.read_frame(url, "customers")) == 300 + int(batches.loc[0, "rows_inserted"])

    shown = runner.invoke(app, ["status"])
    assert shown.exit_code == 0, shown.output
    rows = {
        cells[0]: cells[1]
        for line in shown.output.splitlines()
        if len(cells := [c.strip() for c in line.split("│") if c.strip()]) >= 2
    }
    assert rows["quarantine"] == str(int(batches.loc[0, "rows_quarantined"]))
    assert rows["import_batches"] == "1"
    assert rows["orders"] == str(len(store.read_frame(url, "orders", columns=["order_id"])))


def test_import_with_an_explicit_mapping(configured: tuple[str, Path]) -> None:
    url, tmp_path = configured
    (tmp_path / "export.csv").write_text(
        "Код клиента,Почта\nA1,anna@mail.ru\nA2,not-an-email\n", encoding="utf-8"
    )
    result = runner.invoke(
        app,
        [
            "import",
            "contacts",
            "export.csv",
            "--map",
            "Код клиента=external_id",
            "-m",
            "Почта=email",
        ],
    )
    assert result.exit_code == 0, result.output
    out = _text(result.output)
    assert "1 new" in out and "1 quarantined" in out
    assert "email 'not-an-email' is not an email address" in out
    assert store.read_frame(url, "customers")["external_id"].tolist() == ["A1"]


def test_missing_file_is_one_line_and_exit_code_1(configured: tuple[str, Path]) -> None:
    result = runner.invoke(app, ["import", "contacts", "nope.csv"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: nope.csv: no such file"
    assert "Traceback" not in result.output


def test_bad_mapping_and_unknown_entity_are_one_line_errors(configured: tuple[str, Path]) -> None:
    _url, tmp_path = configured
    (tmp_path / "c.csv").write_text("ID,Имя\nC1,Анна\n", encoding="utf-8")
    cases = {
        ("import", "contacts", "c.csv", "--map", "Почта=email"): "mapping field 'Почта'",
        ("import", "contacts", "c.csv", "--map", "Почта"): "write --map as COLUMN=field",
        ("import", "unicorns", "c.csv"): "unknown entity",
    }
    for args, message in cases.items():
        result = runner.invoke(app, list(args))
        assert result.exit_code == 1, args
        assert _text(result.stderr).startswith("error: "), result.stderr
        assert message in _text(result.stderr)
        assert "Traceback" not in result.output


def test_status_reports_freshness(db_url: str) -> None:
    from crm.status import table_status

    store.write_frame(
        db_url,
        pd.DataFrame(
            {
                "customer_id": [1],
                "first_name": ["Анна"],
                "created_at": [pd.Timestamp("2026-05-04 10:20:30", tz="UTC")],
            }
        ),
        "customers",
    )
    status = table_status(db_url).set_index("table")
    assert status.loc["customers", "rows"] == 1
    assert status.loc["customers", "newest"].startswith("2026-05-04 10:20:30")
    assert status.loc["orders", "rows"] == 0 and pd.isna(status.loc["orders", "newest"])


def test_a_bad_as_of_names_the_option_and_the_formats() -> None:
    example = Path(__file__).resolve().parents[2] / "segments" / "segments.example.yaml"
    result = runner.invoke(app, ["segments", "preview", str(example), "--as-of", "yesterday"])
    assert result.exit_code == 2
    text = _text(result.output.replace("│", " "))
    assert "--as-of" in text
    assert "'yesterday' is not a date; use YYYY-MM-DD or an ISO instant" in text


def test_commands_are_registered_in_one_place_not_by_importing_their_modules() -> None:
    import typer

    import flows.cli.hygiene

    assert not any(isinstance(v, typer.Typer) for v in vars(flows.cli.hygiene).values())
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert {"status", "sample", "import", "clean", "quality", "dedup", "nightly"} <= names
    assert {"db", "segments", "loyalty"} <= names


def test_a_sqlite_url_in_a_missing_folder_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'typo' / 'crm.db'}")
    get_settings.cache_clear()
    try:
        for args in (["db", "upgrade"], ["status"]):
            result = runner.invoke(app, args)
            assert result.exit_code == 1
            assert "typo" in _text(result.output) and "does not exist" in _text(result.output)
        assert not (tmp_path / "typo").exists()
    finally:
        get_settings.cache_clear()


def test_reading_a_database_that_is_not_there_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'nothing.db'}")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["status"])
        assert result.exit_code == 1
        assert "no database at" in _text(result.output) and "crm db upgrade" in _text(result.output)
        assert not (tmp_path / "nothing.db").exists()
    finally:
        get_settings.cache_clear()


def test_the_import_flow_runs_the_one_import_job(
    sqlite_url: str, tmp_path: Path, prefect_harness: str
) -> None:
    from flows.imports import import_flow

    path = tmp_path / "contacts.csv"
    path.write_text(
        "external_id,first_name,last_name,email\n"
        "c1,Анна,Петрова,anna@mail.ru\n"
        "c2,Jane,Smith,not-an-email\n",
        encoding="utf-8",
    )
    summary = import_flow("contacts", str(path), url=sqlite_url)
    again = import_flow("contacts", str(path), url=sqlite_url)
    assert (summary.total, summary.inserted, summary.quarantined) == (2, 1, 1)
    assert summary.reasons == {"email '…' is not an email address": 1}  # logs mask the address
    assert (again.inserted, again.unchanged, again.quarantined) == (0, 1, 1)  # a rerun adds nothing
    assert store.read_frame(sqlite_url, "customers")["first_name"].tolist() == ["Анна"]


@pytest.mark.parametrize(("flag", "incremental"), [([], True), (["--full"], False)])
def test_nightly_is_incremental_unless_told_full(
    flag: list[str], incremental: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.cli.nightly as command

    seen: dict[str, object] = {}

    def recording(flow: object, **kwargs: object) -> dict[str, object]:
        seen.update(kwargs)
        raise SystemExit(0)  # what the flow would do is not this test's business

    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.db'}")
    monkeypatch.setattr(command, "run_flow", recording)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["nightly", *flag, "--as-of", "2026-11-02T02:30:00+03:00"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert seen["incremental"] is incremental


@pytest.mark.parametrize(
    ("url", "given", "started"),
    [
        ("sqlite:///{tmp}/crm.db", [], 1),
        ("postgresql+psycopg://crm@127.0.0.1:1/crm", [], 3),
        ("postgresql+psycopg://crm@127.0.0.1:1/crm", ["--workers", "1"], 1),
        ("sqlite:///{tmp}/crm.db", ["--workers", "2"], 2),
    ],
)
def test_crm_api_starts_one_process_on_sqlite_and_one_per_core_on_postgresql(
    url: str,
    given: list[str],
    started: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    monkeypatch.setenv("CRM_DATABASE_URL", url.format(tmp=tmp_path))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["api", "--port", "8123", *given])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert [(c["app"], c["port"], c["workers"]) for c in calls] == [
        ("api.app:create_app", 8123, started)
    ]
