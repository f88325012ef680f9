"""``make demo`` in one process: the sample, an import, the night, the status, the delivery.

Each step is the ``crm`` command a person would type (``crm sample``, ``crm import contacts``,
``crm nightly``, ``crm status``), run through the same command-line app in this process, then
``.ci/demo_deliver.py``'s delivery and "where to look". Two things make it fit in a few minutes
on a small machine (README, "The demo, timed"):

- Prefect's temporary server, which the night needs, is started in a background thread as
  the first thing, so its start (on a fresh clone: migrating Prefect's own database and
  registering its block types, about half a minute) overlaps the sample and the import
  instead of delaying the night. It is the server ``crm nightly`` would start itself (its
  output in ``$PREFECT_HOME/ephemeral-server.log``), and it stops when the demo exits.
- One Python process instead of five: pandas, Prefect and the rooms are imported once.

Usage: ``.venv/bin/python .ci/demo.py --customers 10000 --as-of 2026-11-30T10:30:00+03:00``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / ".ci")]


def _start_prefect() -> tuple[threading.Thread, list[BaseException]]:
    from flows.prefect_setup import apply_command_defaults

    apply_command_defaults()
    from prefect.server.api.server import SubprocessASGIServer

    from flows.prefect_server import quiet_local_api

    quiet_local_api()  # the default server Prefect's client asks for now writes to a log file
    server = SubprocessASGIServer()
    failed: list[BaseException] = []

    def start() -> None:
        try:
            server.start()
        except BaseException as exc:  # reported when the night needs the server
            failed.append(exc)

    thread = threading.Thread(target=start, name="prefect-server", daemon=True)
    thread.start()
    return thread, failed


def _crm(*args: str) -> None:
    """Run one ``crm`` command in this process; stop the demo if it fails."""
    from flows.cli import app

    print(f"\n$ crm {' '.join(args)}", flush=True)
    # click returns the exit code of typer.Exit (a command's one-line error) without exiting
    code = app(list(args), prog_name="crm", standalone_mode=False)
    if code:
        raise SystemExit(code)


def main() -> int:
    """Run the demo's steps in order and print how long each took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--as-of", required=True, help="the night's moment (ISO 8601)")
    parser.add_argument("--lookback-days", type=int, default=1100)
    args = parser.parse_args()

    started = time.perf_counter()
    phases: dict[str, float] = {}

    def mark(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = now - since
        return now

    server, failed = _start_prefect()
    t = time.perf_counter()
    _crm(
        "sample",
        "--customers",
        str(args.customers),
        "--seed",
        "42",
        "--out",
        "var/sample",
        "--load",
    )
    t = mark("sample", t)
    _crm("import", "contacts", "var/sample/import_contacts.csv")
    t = mark("import", t)
    server.join()
    if failed:
        raise SystemExit(f"Prefect's server did not start: {failed[0]}")
    t = mark("waiting for Prefect's server", t)
    _crm(
        "nightly",
        "--as-of",
        args.as_of,
        "--loyalty-lookback-days",
        str(args.lookback_days),
    )
    t = mark("night", t)
    _crm("status")
    t = mark("status", t)
    import demo_deliver

    demo_deliver.main()
    mark("delivery", t)
    total = time.perf_counter() - started
    print(
        f"\nthe demo took {total:.0f} s: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
