"""``make demo`` leaves a database every ``crm`` command finds without any setting."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from crm.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _make_variable(name: str) -> str:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{name}\s*:=\s*(.*?)\s*$", text, re.M)
    assert match, f"Makefile has no {name}"
    return match.group(1)


def test_the_demo_fills_the_default_database() -> None:
    default = Settings(_env_file=None).resolved_database_url  # type: ignore[call-arg]
    assert default == f"sqlite:///{_make_variable('DEMO_DB')}"
    assert "CRM_DATABASE_URL" not in _make_variable("DEMO_ENV")


def _demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", ROOT / ".ci" / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_runs_what_the_makefile_says() -> None:
    recipe = (ROOT / "Makefile").read_text(encoding="utf-8").split("\ndemo:", 1)[1].split("\n\n")[0]
    assert ".ci/demo.py --customers $(DEMO_CUSTOMERS) --as-of $(DEMO_AS_OF)" in recipe
    source = (ROOT / ".ci" / "demo.py").read_text(encoding="utf-8")
    for command in ('"sample"', '"import", "contacts"', '"nightly"', '"status"'):
        assert f"_crm({command}" in source.replace("\n        ", "")


def test_a_failing_demo_step_stops_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm.settings import get_settings

    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.db'}")
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            _demo_module()._crm("import", "contacts", str(tmp_path / "no-such-export.csv"))
    finally:
        get_settings.cache_clear()
    assert stopped.value.code == 1
