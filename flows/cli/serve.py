"""``crm serve``: Prefect's local server with its UI, the ``crm-local`` pool, the deployments, a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from flows.cli._common import console, err_console, friendly_errors

__all__ = ["serve"]

ROOT = Path(__file__).resolve().parents[2]


def _prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address of the Prefect server and its UI."),
    port: int = typer.Option(4200, help="Port of the Prefect server and its UI."),
    pool: str = typer.Option("crm-local", help="The work pool prefect.yaml names."),
    deploy: bool = typer.Option(True, help="Register every deployment of prefect.yaml."),
    worker: bool = typer.Option(True, help="Start a worker that runs the pool's flow runs."),
) -> None:
    """Start Prefect's server with its UI, create the work pool, deploy, start a worker; Ctrl-C stops all."""
    from flows.prefect_server import ensure_work_pool, wait_for_api

    api_url = f"http://{host}:{port}/api"
    env = {**os.environ, "PREFECT_API_URL": api_url}
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(
            subprocess.Popen(
                _prefect("server", "start", "--host", host, "--port", str(port)), env=env
            )
        )
        console.print(f"starting Prefect's server on http://{host}:{port} …")
        wait_for_api(api_url)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            created = ensure_work_pool(pool)
        console.print(f"work pool [bold]{pool}[/bold] {'created' if created else 'exists'}")
        if deploy:
            subprocess.run(
                _prefect("--no-prompt", "deploy", "--all"), env=env, cwd=ROOT, check=True
            )
        if worker:
            children.append(
                subprocess.Popen(_prefect("worker", "start", "--pool", pool), env=env, cwd=ROOT)
            )
        console.print(
            f"\n[bold]Prefect UI: http://{host}:{port}[/bold]\n"
            "  Runs: every flow run, its subflows and tasks, their logs\n"
            "  Artifacts: nightly-run-summary (the night at a glance), data-quality, "
            "segment-sizes, loyalty-daily-run\n"
            "  Deployments: 'nightly' (02:30 Europe/Moscow) runs the chain; the others are ad hoc "
            "(Quick run)\n"
            f"  From a shell: PREFECT_API_URL={api_url} prefect deployment run 'nightly/nightly'\n"
            "Ctrl-C stops the server and the worker."
        )
        children[0].wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in reversed(children):
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if children and children[0].returncode not in (0, None, -signal.SIGINT, 130):
            err_console.print(f"the Prefect server exited with code {children[0].returncode}")
