"""Prefect's server and its client agree with the locked versions: what ran can be listed.

With fastapi 0.151+ the server refused its own client's filter bodies (``"flows": null``) with
422 on every ``/filter`` endpoint, so ``prefect flow ls``, ``prefect flow-run ls`` and
``prefect artifact ls`` failed; these are the calls those commands make.
"""

from __future__ import annotations

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
    # one schedule, the chain in data-flow order; the single steps are ad hoc only
    assert scheduled == {"nightly": [{"cron": "30 2 * * *", "timezone": "Europe/Moscow"}]}
    assert deployments["nightly"]["entrypoint"] == "flows/nightly.py:nightly_flow"
    assert {"hygiene", "dedup", "loyalty-day", "segments", "load-sample"} <= set(deployments)
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
