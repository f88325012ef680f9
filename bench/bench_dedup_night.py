"""The dedup stage of a night, alone, on a copy of a nightly snapshot (issue 17, issue 13).

``bench_nightly --snapshot DIR`` leaves the database after night 1 (``night-1.db``) and
after the contacts import (``import.db``, what night 2 starts from); ``--base`` leaves the
generated base before any night (``base.db``). This copies one of them, runs that night's
hygiene as the night does (a Prefect flow, untimed: its normalised contact points are
dedup's input), then the dedup stage's three tasks as :func:`flows.identity.dedup_flow`
runs them (read, find and plan, merge and link), each timed, and prints the figures as
JSON. The copy is deleted at the end.

Run under the bench lock::

    flock /tmp/crm-bench.lock env PYTHONPATH=$PWD .venv/bin/python -m bench.bench_dedup_night \\
        --db /tmp/n1m-snap/import.db --night 2 --workdir /tmp/me
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "run_stage"]


def run_stage(db: Path, night: int, workdir: Path, compare_full: bool = False) -> dict[str, Any]:
    """Copy ``db`` into ``workdir``, run night ``night``'s hygiene, then time its dedup stage.

    With ``compare_full`` (a later night) a full run over every pair is planned too, on the
    same inputs, before the write, and the merges it proposes for the changed customers are
    set against the incremental run's.
    """
    from flows.prefect_setup import apply_command_defaults

    apply_command_defaults()
    from prefect.server.api.server import SubprocessASGIServer

    from bench.bench_nightly import NIGHT_1, NIGHT_2
    from crm.identity.database import load_inputs, write_plan
    from crm.identity.job import plan_dedup
    from flows.hygiene import hygiene_flow
    from flows.nightly import _night_before
    from flows.prefect_server import quiet_local_api

    quiet_local_api()
    server = SubprocessASGIServer()
    server.start(timeout=900)  # as bench_nightly's night: Prefect's start is not timed

    as_of = NIGHT_1 if night == 1 else NIGHT_2
    copy = workdir / "night.db"
    shutil.copyfile(db, copy)
    url = f"sqlite:///{copy}"
    try:
        since = _night_before(url, as_of) if night > 1 else None
        hygiene_flow(url=url, as_of=as_of, full=since is None)
        seconds: dict[str, float] = {}
        load = os.getloadavg()[0]
        t = time.perf_counter()
        inputs = load_inputs(url, since)
        seconds["read active customers"] = time.perf_counter() - t
        t = time.perf_counter()
        plan = plan_dedup(inputs)
        seconds["find duplicates and plan merges"] = time.perf_counter() - t
        check: dict[str, Any] = {}
        if compare_full and inputs.changed is not None:
            t = time.perf_counter()
            full = plan_dedup(dataclasses.replace(inputs, changed=None)).merges
            check["full run seconds"] = round(time.perf_counter() - t, 1)
            mine = full["survivor_id"].isin(inputs.changed) | full["merged_id"].isin(inputs.changed)
            pairs = ["survivor_id", "merged_id"]
            want = set(map(tuple, full.loc[mine, pairs].to_numpy().tolist()))
            got = set(map(tuple, plan.merges[pairs].to_numpy().tolist()))
            check.update(
                full_merges=len(full),
                full_merges_of_changed=len(want),
                incremental_merges=len(got),
                same=want == got,
                only_full=sorted(want - got)[:20],
                only_incremental=sorted(got - want)[:20],
            )
        t = time.perf_counter()
        run = write_plan(url, plan, f"bench-night-{night}", as_of)
        seconds["merge duplicates and link households"] = time.perf_counter() - t
        return {
            "night": night,
            "since": None if since is None else since.isoformat(),
            "customers": plan.customers,
            "changed": plan.stats["changed"],
            "rounds": [len(r) for r in plan.rounds],
            "merged": run.merged,
            "household_pairs": len(run.households),
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "stage_seconds": round(sum(seconds.values()), 1),
            "per_round_first_search": plan.result.stats["seconds"],
            "against a full run": check,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
        }
    finally:
        copy.unlink(missing_ok=True)
        server.stop()


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--db``, ``--night`` (1 or 2), ``--workdir``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="snapshot database to copy")
    parser.add_argument("--night", type=int, choices=(1, 2), required=True)
    parser.add_argument("--workdir", type=Path, default=None, help="where the copy goes")
    parser.add_argument(
        "--compare-full", action="store_true", help="also plan a full run and compare (night 2)"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dedup-night-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(workdir / "prefect"))
    print(
        json.dumps(
            run_stage(args.db, args.night, workdir, args.compare_full), indent=1, default=str
        )
    )


if __name__ == "__main__":
    main()
