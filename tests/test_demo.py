"""``make demo`` leaves a database every ``crm`` command finds without any setting."""

from __future__ import annotations

import re
from pathlib import Path

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
