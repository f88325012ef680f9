"""Every notebook in notebooks/ runs top to bottom on one prepared sample database, and renders.

The database is prepared once for the module (:func:`prepare`): generated sample data, two
weekly hygiene passes with a CRM export imported between them (the data-quality trend), the
nightly job as of two weeks before the data's last day (so the campaigns' 14-day attribution
window holds orders), and the gateway worker's delivery to local sinks (what ``make demo``
does, smaller). Each notebook reads it through ``CRM_DATABASE_URL`` and imports the rooms,
never ``flows`` or ``api``. The executed notebooks are written as HTML to
``CRM_NOTEBOOKS_HTML`` (``make notebooks``: ``var/notebooks``) or a temporary folder.
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CUSTOMERS = 1_500
SEED = 7
# the sample's data ends on 2026-11-01; the night runs two weeks before, at 10:30 Moscow time
# (outside the quiet hours), so its messages are due and the orders after it are responses
NIGHT = dt.datetime(2026, 10, 18, 7, 30, tzinfo=dt.UTC)
HYGIENE_WEEKS = (NIGHT - dt.timedelta(days=14), NIGHT - dt.timedelta(days=7))
# modules a notebook must never import: notebooks call the rooms, not the orchestration
FORBIDDEN = ("flows", "api")


def _deliver(url: str) -> dict[str, int]:
    spec = importlib.util.spec_from_file_location("demo_deliver", ROOT / ".ci" / "demo_deliver.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.deliver(url))


def prepare(folder: Path) -> dict[str, Any]:
    """Build the notebooks' database in ``folder``; returns its URL and what the night did.

    ``CRM_DATABASE_URL`` and ``CRM_DATA_DIR`` must already point into ``folder`` (the
    segments run writes its profile snapshot under the data folder) and a Prefect API must be
    reachable (the test session's server, or Prefect's ephemeral one).
    """
    from crm import sample, store
    from crm.db import migrate
    from crm.hygiene.database import apply_clean, plan_clean, read_base
    from crm.ingest import import_file
    from flows.nightly import nightly_flow

    url = f"sqlite:///{folder / 'crm.db'}"
    migrate(url)
    data = sample.generate(CUSTOMERS, seed=SEED)
    sample.load(url, data)
    export = folder / "import_contacts.csv"
    sample.import_contacts(data, share=0.1).to_csv(export, index=False)
    for i, week in enumerate(HYGIENE_WEEKS):
        if i == 1:  # a CRM export lands between the passes: new dirt the next pass finds
            import_file(url, "contacts", export, as_of=week - dt.timedelta(days=1))
        base = read_base(url)
        apply_clean(url, base, plan_clean(base, as_of=week), week)
    night = nightly_flow(url=url, as_of=NIGHT, loyalty_lookback_days=1100, retries=0)
    delivered = _deliver(url)
    queued = int(store.read_frame(url, "SELECT COUNT(*) AS n FROM outbox")["n"].iloc[0])
    return {"url": url, "night": night, "delivered": delivered, "queued": queued}


@pytest.fixture(scope="module")
def analyst_db(prefect_harness: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("analyst")
    from crm.settings import get_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_DATABASE_URL", f"sqlite:///{folder / 'crm.db'}")
        mp.setenv("CRM_DATA_DIR", str(folder))
        get_settings.cache_clear()
        try:
            yield prepare(folder)
        finally:
            get_settings.cache_clear()


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = os.environ.get("CRM_NOTEBOOKS_HTML")
    folder = Path(out) if out else tmp_path_factory.mktemp("html")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _code(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_imports_the_rooms_never_the_orchestration(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    imported = set().union(*(_imports(s) for s in _code(nb)))
    assert imported & {"crm", "segments", "campaigns", "loyalty"}, "a notebook uses the rooms"
    assert not imported & set(FORBIDDEN)


def test_the_import_check_sees_a_planted_flows_import() -> None:
    assert _imports("import pandas as pd\nfrom flows.nightly import nightly_flow") == {
        "pandas",
        "flows",
    }
    assert "api" in _imports("import api.worker")


def test_the_prepared_database_has_a_delivered_night(analyst_db: dict) -> None:
    from crm import store

    url = analyst_db["url"]
    runs = store.read_frame(url, "quality_runs")
    assert len(runs) == len(HYGIENE_WEEKS) + 1  # two weekly passes and the night's
    assert analyst_db["queued"] > 0
    delivered = analyst_db["delivered"]
    assert delivered["emails_received"] + delivered["sms_received"] == analyst_db["queued"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_renders(path: Path, analyst_db: dict, html_dir: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "CRM_DATABASE_URL": analyst_db["url"]}
    env["CRM_DATA_DIR"] = str(Path(analyst_db["url"].removeprefix("sqlite:///")).parent)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    with pytest.MonkeyPatch.context() as mp:
        for key in ("CRM_DATABASE_URL", "CRM_DATA_DIR", "MPLBACKEND"):
            mp.setenv(key, env[key])
        client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""
    # a missing glyph (a font without Cyrillic) is only a warning on stderr: refuse it here
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "missing from font" not in stderr and "Glyph" not in stderr, stderr
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    body, _ = HTMLExporter().from_notebook_node(nb)
    target = html_dir / path.with_suffix(".html").name
    target.write_text(body, encoding="utf-8")
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=\s]+)"', body)
    assert len(embedded) == len(figures)
    assert all(base64.b64decode(e)[:8] == b"\x89PNG\r\n\x1a\n" for e in embedded)
    if "plt." in "".join(_code(nb)):
        assert figures, f"{path.name} draws plots but none came out"
