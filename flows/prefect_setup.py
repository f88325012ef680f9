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
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

__all__ = ["COMMAND_DEFAULTS", "apply_command_defaults"]

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
