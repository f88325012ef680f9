"""Prefect's server and its client agree with the locked versions: what ran can be listed.

With fastapi 0.151+ the server refused its own client's filter bodies (``"flows": null``) with
422 on every ``/filter`` endpoint, so ``prefect flow ls``, ``prefect flow-run ls`` and
``prefect artifact ls`` failed; these are the calls those commands make.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zoneinfo
from pathlib import Path

import httpx
import pytest
import yaml
from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterName,
)

ROOT = Path(__file__).resolve().parents[2]


@flow(name="crm-server-probe")
def _probe_flow(n: int) -> int:
    create_markdown_artifact("# probe\n\nrows read: 3", key="crm-probe-summary")
    create_table_artifact([{"segment": "vip", "size": n}], key="crm-probe-sizes")
    return n * 2


def test_server_lists_flows_runs_and_artifacts(prefect_harness: str) -> None:
    assert prefect_harness.startswith("http://127.0.0.1:")
    assert _probe_flow(21) == 42

    # the session's server is shared with the other flow tests: filter on this test's names
    probe = FlowFilter(name=FlowFilterName(any_=["crm-server-probe"]))
    keys = ArtifactFilter(key=ArtifactFilterKey(any_=["crm-probe-summary", "crm-probe-sizes"]))
    with get_client(sync_client=True) as client:
        # the bodies `prefect flow ls` / `flow-run ls` / `artifact ls` send: every filter None
        assert client.read_flows(limit=15)
        assert client.read_flow_runs(limit=15)
        assert client.read_artifacts(limit=15)
        flows = client.read_flows(flow_filter=probe)
        runs = client.read_flow_runs(flow_filter=probe)
        artifacts = client.read_artifacts(artifact_filter=keys)

    assert [f.name for f in flows] == ["crm-server-probe"]
    assert len(runs) == 1 and runs[0].flow_id == flows[0].id
    assert runs[0].state is not None and runs[0].state.is_completed()
    by_key = {a.key: a for a in artifacts}
    assert by_key["crm-probe-summary"].type == "markdown"
    assert "rows read: 3" in str(by_key["crm-probe-summary"].data)
    assert by_key["crm-probe-sizes"].type == "table"
    assert by_key["crm-probe-sizes"].flow_run_id == runs[0].id


def test_prefect_yaml_schedules_only_the_nightly_chain() -> None:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    deployments = {d["name"]: d for d in spec["deployments"]}
    scheduled = {name: d["schedules"] for name, d in deployments.items() if d.get("schedules")}
    # the chain in data-flow order once a night, the triggers hourly; single steps ad hoc only
    assert scheduled == {
        "nightly": [{"cron": "30 2 * * *", "timezone": "Europe/Moscow"}],
        "campaign-triggers": [{"cron": "0 9-21 * * *", "timezone": "Europe/Moscow"}],
    }
    assert deployments["nightly"]["entrypoint"] == "flows/nightly.py:nightly_flow"
    assert {"hygiene", "dedup", "loyalty-day", "segments", "campaigns", "load-sample"} <= set(
        deployments
    )
    assert deployments["campaign-triggers"]["entrypoint"] == "flows/campaigns.py:campaigns_flow"
    assert {d["work_pool"]["name"] for d in deployments.values()} == {"crm-local"}


def test_a_command_server_writes_to_a_log_not_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from flows.prefect_server import LoggedASGIServer, quiet_local_api

    monkeypatch.setattr(SubprocessASGIServer, "_instances", {})  # no server of the session
    with temporary_settings(
        updates={PREFECT_HOME: tmp_path / "home"}, restore_defaults={PREFECT_API_URL}
    ):
        log = quiet_local_api()
        assert log == tmp_path / "home" / "ephemeral-server.log"
        server = SubprocessASGIServer()  # what Prefect's client asks for when no API URL is set
        assert isinstance(server, LoggedASGIServer)
        try:
            server.start(timeout=600)
            assert httpx.get(f"{server.api_url}/health", timeout=30).status_code == 200
        finally:
            server.stop()
    assert log.exists()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        assert quiet_local_api() is None  # a real server is configured: nothing to do


def test_the_pool_and_every_deployment_register_on_the_server(prefect_harness: str) -> None:
    from flows.prefect_server import ensure_work_pool

    assert ensure_work_pool("crm-local") is True
    assert ensure_work_pool("crm-local") is False  # a second `crm serve` finds it
    deploy = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        env={**os.environ, "PREFECT_API_URL": prefect_harness},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments()}
        pool = client.read_work_pool("crm-local")
    assert pool.type == "process"
    assert set(deployments) == {
        "nightly",
        "load-sample",
        "hygiene",
        "dedup",
        "loyalty-day",
        "segments",
        "campaigns",
        "campaign-triggers",
    }
    assert {d.work_pool_name for d in deployments.values()} == {"crm-local"}
    nightly = deployments["nightly"].schedules
    assert len(nightly) == 1
    assert nightly[0].schedule.cron == "30 2 * * *"  # type: ignore[union-attr]
    assert nightly[0].schedule.timezone == "Europe/Moscow"
    assert len(deployments["campaign-triggers"].schedules) == 1
    with_schedule = {"nightly", "campaign-triggers"}
    assert all(not d.schedules for name, d in deployments.items() if name not in with_schedule)

    # what the server's scheduler does for the nightly deployment: insert its next runs
    # (with SQLAlchemy 2.1 Prefect 3.8's insert failed: "Can't evaluate bulk DML statement")
    nightly_id = deployments["nightly"].id
    scheduled = httpx.post(
        f"{prefect_harness}/deployments/{nightly_id}/schedule", json={}, timeout=120
    )
    assert scheduled.status_code in (200, 201), scheduled.text
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly_id]))
        )
    assert runs and all(r.state is not None and r.state.is_scheduled() for r in runs)
    moscow = zoneinfo.ZoneInfo("Europe/Moscow")
    times = {r.expected_start_time.astimezone(moscow).strftime("%H:%M") for r in runs}  # type: ignore[union-attr]
    assert times == {"02:30"}
