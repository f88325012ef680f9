"""Keep the rooms honest (see docs/architecture.md)."""

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
    "starlette",
    "uvicorn",
    "flows",
    "api",
    "sqlalchemy",
    "adbc_driver_manager",
    "adbc_driver_sqlite",
    "adbc_driver_postgresql",
    "psycopg",
    "sqlite3",
)
# what of crm/ a pure room may use: time, the definitions loader, column names, errors
CRM_ALLOWED_IN_PURE = (
    "crm.asof",
    "crm.definitions",
    "crm.columns",
    "crm.errors",
    "crm.measures",
)
# only these open database connections (or engines); everything else goes through them
CONNECTION_MODULES = ("crm/store.py", "crm/db.py", "crm/migrations/")
DRIVERS = ("adbc_driver_manager", "adbc_driver_sqlite", "adbc_driver_postgresql", "psycopg")
CONNECTING_CALLS = ("create_engine", "create_async_engine")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, relative imports resolved and ``from a import b`` read as
    both ``a`` and ``a.b`` (``from crm import store`` imports ``crm.store``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _is(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def pure_room_offenders(root: Path, room: str) -> list[str]:
    """Imports in a pure room that reach orchestration, the gateway, a database or crm's
    non-pure parts."""
    offenders = []
    for path in sorted((root / room).rglob("*.py")):
        for name in sorted(_imports(path, root)):
            crm_part = name.split(".")[0] == "crm" and name != "crm"
            crm_ok = _is(name, CRM_ALLOWED_IN_PURE)
            if _is(name, FORBIDDEN_IN_PURE) or (crm_part and not crm_ok and not _crm_name(name)):
                offenders.append(f"{path.relative_to(root)} imports {name}")
    return offenders


def _crm_name(name: str) -> bool:
    # ``from crm.columns import CUSTOMER_ID`` also yields ``crm.columns.CUSTOMER_ID``
    return any(name.startswith(p + ".") for p in CRM_ALLOWED_IN_PURE)


def connection_offenders(root: Path) -> list[str]:
    """Modules other than crm/store.py and crm/db.py that import a driver or make an engine."""
    offenders = []
    for folder in ("crm", "segments", "campaigns", "loyalty", "flows", "api"):
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(CONNECTION_MODULES):
                continue
            for name in sorted(_imports(path, root)):
                if _is(name, DRIVERS) or name.rpartition(".")[2] in CONNECTING_CALLS:
                    offenders.append(f"{rel} imports {name}")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    func = node.func
                    called = (
                        func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    )
                    if called in CONNECTING_CALLS:
                        offenders.append(f"{rel}:{node.lineno} calls {called}")
    return offenders


@pytest.mark.parametrize("room", PURE)
def test_pure_rooms_do_not_touch_orchestration_gateway_or_database(room: str) -> None:
    offenders = pure_room_offenders(ROOT, room)
    assert not offenders, "\n".join(offenders)


def test_only_the_store_and_db_modules_open_connections() -> None:
    offenders = connection_offenders(ROOT)
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    "planted",
    [
        "from crm import store\n",
        "from crm.ingest import import_file\n",
        "import adbc_driver_sqlite.dbapi\n",
        "from ..flows import nightly\n",
        "from prefect import flow\n",
    ],
)
def test_the_architecture_test_catches_a_planted_violation(tmp_path: Path, planted: str) -> None:
    room = tmp_path / "segments"
    room.mkdir()
    (room / "__init__.py").write_text("", encoding="utf-8")
    (room / "clean.py").write_text("from crm.columns import CUSTOMER_ID\n", encoding="utf-8")
    assert pure_room_offenders(tmp_path, "segments") == []
    (room / "planted.py").write_text(planted, encoding="utf-8")
    assert pure_room_offenders(tmp_path, "segments"), f"not caught: {planted!r}"


def test_the_architecture_test_catches_a_planted_connection(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "job.py").write_text(
        "import sqlalchemy as sa\nengine = sa.create_engine('sqlite://')\n", encoding="utf-8"
    )
    assert connection_offenders(tmp_path) == ["flows/job.py:2 calls create_engine"]


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
                "typer",
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


def test_test_modules_have_unique_names() -> None:
    # tests/<room>/ folders are not packages (they would shadow the rooms), so two test files
    # of one name collide at collection ("import file mismatch")
    seen: dict[str, str] = {}
    clashes = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        rel = str(path.relative_to(ROOT))
        if path.name in seen:
            clashes.append(f"{seen[path.name]} and {rel}")
        seen.setdefault(path.name, rel)
    assert not clashes, "rename one of: " + "; ".join(clashes)
