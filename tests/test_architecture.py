"""Keep the rooms honest (see ../shared/architecture.md)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PURE = ("segments", "campaigns", "loyalty")
FORBIDDEN_IN_PURE = (
    "prefect",
    "fastapi",
    "flows",
    "api",
    "sqlalchemy",
    "crm.store",
    "crm.db",
    "crm.settings",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("room", PURE)
def test_pure_rooms_do_not_touch_orchestration_gateway_or_database(room: str) -> None:
    offenders = []
    for path in sorted((ROOT / room).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_PURE):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_crm_core_does_not_import_other_rooms() -> None:
    offenders = []
    for path in sorted((ROOT / "crm").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for name in _imports(path):
            if name.split(".")[0] in (
                "segments",
                "campaigns",
                "loyalty",
                "flows",
                "api",
                "prefect",
                "fastapi",
            ):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def _deployments() -> list[dict]:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    return spec.get("deployments", [])


def test_prefect_yaml_has_deployments_with_timezone_schedules() -> None:
    deployments = _deployments()
    assert deployments
    for dep in deployments:
        for sched in dep.get("schedules", []) or []:
            assert sched.get("timezone"), f"{dep['name']}: a schedule needs a timezone"


@pytest.mark.parametrize("entrypoint", [d["entrypoint"] for d in _deployments()])
def test_every_prefect_entrypoint_imports(entrypoint: str) -> None:
    from prefect import Flow

    path, func = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert isinstance(getattr(module, func), Flow)


def test_every_module_declares_all() -> None:
    missing = []
    for room in ("crm", *PURE):
        for path in sorted((ROOT / room).rglob("*.py")):
            if "migrations" in path.parts or path.name == "__init__.py" or "data" in path.parts:
                continue
            if "__all__" not in path.read_text(encoding="utf-8"):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"modules without __all__: {missing}"
