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

__all__ = ["LoggedASGIServer", "ensure_work_pool", "quiet_local_api", "wait_for_api"]


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


def ensure_work_pool(name: str = "crm-local", pool_type: str = "process") -> bool:
    """Create the work pool that ``prefect.yaml`` names on the configured Prefect API, if missing.

    Parameters
    ----------
    name : str
        The pool's name (``crm-local`` in ``prefect.yaml``).
    pool_type : str
        The worker type: ``process`` runs each flow run in a subprocess of the worker.

    Returns
    -------
    bool
        True when the pool was created, False when it existed already.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type=pool_type))
        except ObjectAlreadyExists:
            return False
    return True


def wait_for_api(api_url: str, timeout: float = 600.0) -> None:
    """Wait until the Prefect API at ``api_url`` answers its health check.

    Raises
    ------
    TimeoutError
        When it does not within ``timeout`` seconds (the message names the URL).
    """
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api_url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the Prefect server at {api_url} did not answer within {timeout:.0f} s")
