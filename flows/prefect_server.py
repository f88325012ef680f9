"""The ephemeral Prefect server of a ``crm`` command, with its output in a log file.

A command run without ``PREFECT_API_URL`` gets a temporary Prefect server, started by Prefect
when the first flow runs. That server inherits the command's stderr, where its background
services (event persister, task-run recorder) print ``database is locked`` while a heavy run
holds the machine, and ``CancelledError`` tracebacks when the command exits and the server is
stopped, on runs that succeeded. :func:`quiet_local_api` registers a server that writes those
to ``$PREFECT_HOME/ephemeral-server.log`` instead, for whoever wants them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, PREFECT_HOME

__all__ = ["LoggedASGIServer", "quiet_local_api"]


class LoggedASGIServer(SubprocessASGIServer):
    """Prefect's subprocess server, its stdout and stderr appended to ``log_path``."""

    log_path: Path

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        # the child inherits our stderr at fork: point fd 2 at the log for that moment only
        with open(self.log_path, "ab") as out:
            saved = os.dup(2)
            try:
                os.dup2(out.fileno(), 2)
                return super()._run_uvicorn_command()
            finally:
                os.dup2(saved, 2)
                os.close(saved)


def quiet_local_api() -> Path | None:
    """Make the ephemeral server this process may start write to a log file, not the terminal.

    Does nothing when ``PREFECT_API_URL`` names a server (``crm serve``, a real deployment)
    or when an ephemeral server already runs. The server is still started by Prefect, lazily,
    when the first flow runs (with the startup timeout of :mod:`flows.prefect_setup`).

    Returns
    -------
    Path or None
        The log file the server writes to, or None when nothing was changed.
    """
    if PREFECT_API_URL.value():
        return None
    current = SubprocessASGIServer._instances.get(None)
    if isinstance(current, LoggedASGIServer):
        return current.log_path
    if current is not None and current.running:
        return None
    log = Path(PREFECT_HOME.value()) / "ephemeral-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    SubprocessASGIServer._instances.pop(None, None)
    server = LoggedASGIServer()  # the default (port None) instance Prefect's client asks for
    server.log_path = log
    return log
