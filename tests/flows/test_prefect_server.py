"""Prefect's server and its client agree with the locked versions: what ran can be listed.

With fastapi 0.151+ the server refused its own client's filter bodies (``"flows": null``) with
422 on every ``/filter`` endpoint, so ``prefect flow ls``, ``prefect flow-run ls`` and
``prefect artifact ls`` failed; these are the calls those commands make.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName


@flow(name="crm-server-probe")
def _probe_flow(n: int) -> int:
    create_markdown_artifact("# probe\n\nrows read: 3", key="crm-probe-summary")
    create_table_artifact([{"segment": "vip", "size": n}], key="crm-probe-sizes")
    return n * 2


def test_server_lists_flows_runs_and_artifacts(prefect_harness: str) -> None:
    assert prefect_harness.startswith("http://127.0.0.1:")
    assert _probe_flow(21) == 42

    with get_client(sync_client=True) as client:
        # the bodies `prefect flow ls` / `flow-run ls` / `artifact ls` send: every filter None
        flows = client.read_flows(limit=15)
        runs = client.read_flow_runs(limit=15)
        artifacts = client.read_artifacts(limit=15)
        named = client.read_flows(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["crm-server-probe"]))
        )

    assert "crm-server-probe" in {f.name for f in flows}
    assert len(named) == 1
    probe_runs = [r for r in runs if r.flow_id == named[0].id]
    assert probe_runs and probe_runs[0].state is not None and probe_runs[0].state.is_completed()
    by_key = {a.key: a for a in artifacts}
    assert by_key["crm-probe-summary"].type == "markdown"
    assert "rows read: 3" in str(by_key["crm-probe-summary"].data)
    assert by_key["crm-probe-sizes"].type == "table"
