"""Running one benchmark step in a fresh process, and writing what it measured.

Each ``bench/bench_<topic>.py`` re-invokes itself with ``--worker METHOD …``; the worker
builds its data, times the step and prints a JSON line last. :func:`run_worker` starts it
and returns that line, read; a failing worker stops the benchmark with its stderr.

:func:`write_report` writes a benchmark's ``bench/results/<topic>.md`` in the one shape all
of them share: title, the command that reproduces it, the machine line (cores, Python,
pandas, the load while it ran), what was measured, then the tables.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "kept_section", "machine_line", "run_worker", "write_report"]

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


def machine_line(database: str | None = None) -> str:
    """The machine a figure was measured on, and how busy it was at the end of the run."""
    import pandas as pd

    where = f"; {database}" if database else ""
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, pandas {pd.__version__}{where}; load average "
        f"{os.getloadavg()[0]:.1f} at the end of the run (other jobs sharing the cores make "
        "figures pessimistic)."
    )


def kept_section(path: Path, heading: str) -> str:
    """The hand-written tail of a results file, from ``heading`` on ("" when it has none).

    A benchmark rewrites its results file on every run; what a person wrote under this
    heading (what the figures say, why a target is not met) is carried over to the new file.
    """
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    at = old.find(heading)
    return old[at:].rstrip("\n") + "\n" if at >= 0 else ""


def write_report(
    path: Path,
    title: str,
    command: str,
    about: Sequence[str],
    tables: Sequence[str],
    *,
    database: str | None = None,
) -> str:
    """Write a benchmark's results file and return its text.

    Parameters
    ----------
    path
        ``bench/results/<topic>.md``; its folder is created.
    title
        The heading, e.g. ``"Loyalty benchmark"``.
    command
        The arguments after ``python -m``, e.g. ``"bench.bench_loyalty --size 1000000"``.
    about
        Paragraphs saying what was measured and against what baseline.
    tables
        Markdown lines: table headers, rows, and any text between tables.
    database
        The database the figures are for, when the benchmark writes to one.
    """
    lines = [f"# {title}", "", f"Command: `.venv/bin/python -m {command}`", ""]
    lines += [machine_line(database), ""]
    for paragraph in about:
        lines += [paragraph, ""]
    lines += [*tables, ""]
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text
