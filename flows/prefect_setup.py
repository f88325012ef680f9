"""Prefect's settings for the ``crm`` commands, applied before Prefect is first imported.

Prefect reads its settings once, when it is imported, so these are set as environment defaults
at the top of :mod:`flows.cli` (a value the user exported wins):

- ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``: a command without ``PREFECT_API_URL``
  starts Prefect's ephemeral server, whose first start migrates Prefect's own database. Prefect
  waits 20 s by default, which a busy machine exceeds (``crm nightly`` on a 1M base failed with
  "Timed out while attempting to connect to ephemeral Prefect API server"); we wait 10 minutes.
- ``PREFECT_SERVER_ANALYTICS_ENABLED`` and ``DO_NOT_TRACK``: no telemetry calls, whose failures
  printed tracebacks on runs that succeeded.

:func:`flows.prefect_server.quiet_local_api` makes the ephemeral server (started by Prefect when a command's first
flow runs) write its own output to ``$PREFECT_HOME/ephemeral-server.log`` instead of the
command's terminal: its background services (event persister, task-run recorder) log
``database is locked`` and, when the command exits and the server is stopped, ``CancelledError``
tracebacks, on runs that succeeded. They stay in the log for whoever wants them.

:func:`heavy_task_runner` is the task runner the heavy stages (profiles, scores, segment
evaluation) run under, picked by the ``CRM_TASK_RUNNER`` setting: Prefect's default thread
pool, or Prefect's Dask task runner on the cluster at ``CRM_DASK_ADDRESS`` (a local cluster of
``CRM_DASK_WORKERS`` processes when it is empty).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

from crm.settings import Settings

__all__ = ["COMMAND_DEFAULTS", "apply_command_defaults", "heavy_task_runner"]

COMMAND_DEFAULTS: dict[str, str] = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


def apply_command_defaults(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set Prefect's settings for a ``crm`` command where the environment does not set them.

    Parameters
    ----------
    environ : mapping, optional
        The environment to update (default ``os.environ``).

    Returns
    -------
    dict
        The settings that were applied (those the environment did not already set).
    """
    env = os.environ if environ is None else environ
    applied = {k: v for k, v in COMMAND_DEFAULTS.items() if k not in env}
    env.update(applied)
    return applied


def heavy_task_runner(settings: Settings, api_url: str | None = None) -> Any:
    """The task runner for the heavy stages, as ``settings.task_runner`` says.

    Parameters
    ----------
    settings : Settings
        ``task_runner`` (``threads`` or ``dask``), ``dask_address``, ``dask_workers``.
    api_url : str, optional
        The Prefect API the flow reports to; a local cluster's worker processes are given it,
        so their task runs report to the same server (not to an ephemeral one of their own).

    Returns
    -------
    prefect.task_runners.TaskRunner
        ``ThreadPoolTaskRunner`` or ``prefect_dask.DaskTaskRunner``.
    """
    if settings.task_runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=max(1, settings.heavy_partitions))
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    env = {k: v for k, v in os.environ.items() if k.startswith(("PREFECT_", "CRM_"))}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": settings.dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "env": env,
        },
    )
