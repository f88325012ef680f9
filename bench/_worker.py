"""Running one benchmark step in a fresh process, so its peak memory is its own.

Each ``bench/bench_<topic>.py`` re-invokes itself with ``--worker METHOD …``; the worker
builds its data, times the step and prints a JSON line last. :func:`run_worker` starts it
and returns that line, read; a failing worker stops the benchmark with its stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["run_worker"]

ROOT = Path(__file__).resolve().parents[1]


def run_worker(module: str, method: str, *args: object) -> dict[str, Any]:
    """``python -m bench.<module> --worker <method> <args…>``: the JSON its last line prints."""
    cmd = [sys.executable, "-m", f"bench.{module}", "--worker", method, *map(str, args)]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode:
        raise SystemExit(f"bench.{module} {method} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
