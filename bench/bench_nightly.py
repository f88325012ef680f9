"""Benchmark: the whole nightly job (:func:`flows.nightly.nightly_flow`) on a generated base.

Generates ``--customers`` customers with ``--orders-per-customer`` orders each
(:func:`crm.sample.generate`, seeded) into a fresh SQLite database, then runs:

* ``night 1``: the first night, with the loyalty history backfill
  (``loyalty_lookback_days=1100``: every loaded order is booked);
* ``import``: the next day's contacts export (``crm.sample.import_contacts``, 1% of the base:
  new and changed contacts, the path a later night's hygiene and dedup see);
* ``night 2``: the next night (one day later, ``loyalty_lookback_days=3``), incremental:
  hygiene parses only the numbers added since night 1, dedup matches only the new and changed
  customers against the base;
* with ``--dask``, ``night 2 on Dask``: the same night 2 on a copy of the database taken
  after the import, with the heavy stages on a local Dask cluster of 2 worker processes
  (``CRM_TASK_RUNNER=dask``), next to the single process.

Each step runs in its own process (:func:`bench._worker.run_worker`), so its peak resident
memory is its own; a night starts Prefect's local server before its clock starts. Per night,
the table gives each stage's wall time and the job's peak memory at the end of that stage
(``ru_maxrss``, from the run summary), and the slowest tasks (Prefect's task runs): the
profile of where the night goes. Run
``.venv/bin/python -m bench.bench_nightly [--customers 1000000] [--orders-per-customer 10]``.
``--base FILE`` starts from a generated base saved there (generated and saved the first
time: the same seed and sizes give the same base). The table is written to
``bench/results/nightly.md``; a hand-written section headed ``## What the figures say`` at
its end is kept on a rerun.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._worker import kept_section, run_worker

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "nightly.md"
SEED = 42
NOTES = "## What the figures say"
NIGHT_1 = dt.datetime(2026, 11, 1, 23, 30, tzinfo=dt.UTC)  # 02:30 Moscow time, 2 Nov
NIGHT_2 = NIGHT_1 + dt.timedelta(days=1)
STAGE_FLOWS = {"hygiene", "dedup", "loyalty-daily", "segments"}
# today's `crm nightly` before this work, measured on a generated 1M base (issue 17)
BEFORE = {
    "first night, no backfill": {
        "hygiene": 200,
        "dedup": 199,
        "loyalty": 15,
        "segments": 240,
        "total": 660,
        "peak_gb": 8.8,
    },
    "next night, with the backfill": {
        "hygiene": 129,
        "dedup": 109,
        "loyalty": 795,
        "segments": 383,
        "total": 1443,
        "peak_gb": 17.4,
    },
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_generate(url: str, customers: str, orders: str) -> dict[str, Any]:
    from crm.db import migrate
    from crm.sample import generate, load

    start = time.perf_counter()
    migrate(url)
    data = generate(customers=int(customers), seed=SEED, orders_per_customer=float(orders))
    generated = time.perf_counter() - start
    counts = load(url, data)
    return {
        "seconds_generate": round(generated, 1),
        "seconds_load": round(time.perf_counter() - start - generated, 1),
        "customers": counts.get("customers", 0),
        "orders": counts.get("orders", 0),
        "peak_rss_mb": round(_peak_mb()),
    }


def _worker_import(url: str, customers: str, orders: str, out: str) -> dict[str, Any]:
    from crm.ingest import import_file
    from crm.sample import generate, import_contacts

    # the same seeded base as the loaded one, so the export matches it as a CRM's would
    data = generate(customers=int(customers), seed=SEED, orders_per_customer=float(orders))
    path = Path(out) / "import_contacts.csv"
    import_contacts(data, share=0.01).to_csv(path, index=False)
    del data
    start = time.perf_counter()
    summary = import_file(url, "contacts", path, as_of=NIGHT_1 + dt.timedelta(hours=12))
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "rows": summary.total,
        "inserted": summary.inserted,
        "updated": summary.updated,
        "matched": summary.matched_existing,
        "peak_rss_mb": round(_peak_mb()),
    }


def _worker_night(url: str, as_of: str, lookback: str) -> dict[str, Any]:
    from flows.prefect_setup import apply_command_defaults

    apply_command_defaults()
    from prefect.client.orchestration import get_client
    from prefect.server.api.server import SubprocessASGIServer

    from flows.nightly import nightly_flow
    from flows.prefect_server import quiet_local_api

    quiet_local_api()
    server = SubprocessASGIServer()
    server.start(timeout=900)  # before the clock: Prefect's own start is not the night's work
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    result = nightly_flow(
        url=url, as_of=dt.datetime.fromisoformat(as_of), loyalty_lookback_days=int(lookback)
    )
    total = time.perf_counter() - start
    load_end = os.getloadavg()[0]
    peak = _peak_mb()
    time.sleep(3)  # task runs are recorded from events, a moment after they finish
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(limit=200)
    seconds = [(round(r.total_run_time.total_seconds(), 1), r.name.rsplit("-", 1)[0]) for r in runs]
    # a subflow shows as a task run of its parent, named after the flow: that is a stage, not a task
    seconds = [(sec, name) for sec, name in seconds if name not in STAGE_FLOWS]
    tasks = [{"task": name, "seconds": sec} for sec, name in sorted(seconds, reverse=True)]
    return {
        "seconds": round(total, 1),
        "peak_rss_mb": round(peak),
        "load": [round(load_start, 1), round(load_end, 1)],
        "steps": result["steps"],
        "tasks": tasks[:12],
        "profiles": result["segments"]["profiles"],
        "merged": result["dedup"].get("merged", 0),
        "ledger_entries": result["loyalty"].get("entries_written", 0),
        "points_granted": result["loyalty"].get("points_granted", 0),
        "entered": result["segments"]["entered"],
    }


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "generate": _worker_generate,
    "import": _worker_import,
    "night": _worker_night,
}


def _night_table(name: str, night: dict[str, Any]) -> list[str]:
    lines = [
        f"### {name}: {night['seconds']:,.0f} s, peak {night['peak_rss_mb'] / 1024:,.1f} GB",
        "",
        "Load average (1 min) at its start / end: {} / {} on {} cores.".format(
            *night.get("load", ["?", "?"]), os.cpu_count()
        ),
        "",
        "| stage | seconds | share | peak memory so far (GB) |",
        "|---|---:|---:|---:|",
    ]
    for stage, s in night["steps"].items():
        lines.append(
            f"| {stage} | {s['seconds']:,.1f} | {100 * s['seconds'] / night['seconds']:.0f}% "
            f"| {s['peak_rss_mb'] / 1024:,.1f} |"
        )
    lines += [
        "",
        f"{night['profiles']:,} profiles, {night['merged']:,} merges, "
        f"{night['ledger_entries']:,} ledger entries ({night['points_granted']:,} points), "
        f"{night['entered']:,} segment entries.",
        "",
        "Slowest tasks (the profile of the night):",
        "",
        "| task | seconds |",
        "|---|---:|",
        *(f"| {t['task']} | {t['seconds']:,.1f} |" for t in night["tasks"]),
        "",
    ]
    return lines


def write_results(args: argparse.Namespace, run: dict[str, Any]) -> str:
    """The markdown of ``bench/results/nightly.md`` for one benchmark run."""
    gen, imp = run["generate"], run.get("import")
    lines = [
        "# Nightly job benchmark",
        "",
        f"Command: `.venv/bin/python -m bench.bench_nightly --customers {args.customers} "
        f"--orders-per-customer {args.orders_per_customer}{' --dask' if args.dask else ''}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; SQLite; measured {run['date']}. Each night's load "
        "average is given with it: above the number of cores, other jobs shared them and the "
        "figures are pessimistic.",
        "",
        f"Base: {gen['customers']:,} customers, {gen['orders']:,} orders "
        f"(generated in {gen['seconds_generate']:,.0f} s, loaded in {gen['seconds_load']:,.0f} s, "
        f"peak {gen['peak_rss_mb'] / 1024:,.1f} GB; not part of a night).",
        "",
        "Targets: first night (with the loyalty backfill) under 10 minutes, later nights under "
        "5 minutes, peak memory under 8 GB.",
        "",
    ]
    labels = {
        "night 1": "Night 1 (first night, loyalty history backfill)",
        "night 2": "Night 2 (the next day, after a 1% contacts import; incremental)",
        "night 2 on Dask": "Night 2 again, on a copy: heavy stages on a local Dask cluster "
        "(2 worker processes)",
    }
    for name, label in labels.items():
        if name in run:
            lines += _night_table(label, run[name])
    if imp:
        lines += [
            f"Import between the nights: {imp['rows']:,} rows in {imp['seconds']:,.1f} s "
            f"({imp['inserted']:,} new, {imp['updated']:,} updated, {imp['matched']:,} matched).",
            "",
        ]
    lines += [
        "## Before (today's `crm nightly` as measured in issue 17, same machine class)",
        "",
        "| night | hygiene | dedup | loyalty | segments | total | peak GB |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {k} | {v['hygiene']} | {v['dedup']} | {v['loyalty']} | {v['segments']} "
            f"| {v['total']} | {v['peak_gb']} |"
            for k, v in BEFORE.items()
        ),
        "",
    ]
    text = "\n".join(lines) + kept_section(RESULTS, NOTES)
    RESULTS.write_text(text, encoding="utf-8")
    return text


def snapshot(folder: Path | None, database: Path, name: str) -> None:
    """Copy ``database`` to ``folder/name`` (nothing without a folder)."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(database, folder / name)


def main() -> None:
    """Parse the command line and run the benchmark (or one worker step)."""
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(WORKERS[sys.argv[2]](*sys.argv[3:])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--base",
        type=Path,
        help="a generated base to start from: copied when the file exists, else generated "
        "and saved there (the same seed and sizes give the same base)",
    )
    parser.add_argument(
        "--snapshot",
        type=Path,
        help="a folder to copy the database into after night 1 (night-1.db) and after the "
        "import (import.db), to rerun one stage of night 2 on it",
    )
    parser.add_argument(
        "--dask", action="store_true", help="also run night 2 on a local 2-worker Dask cluster"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="crm-bench-nightly-"))
    os.environ.update(
        {
            "PREFECT_HOME": str(work / "prefect"),
            "CRM_DATA_DIR": str(work / "var"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )
    url = f"sqlite:///{work / 'crm.db'}"
    n, k = args.customers, args.orders_per_customer
    run: dict[str, Any] = {"date": dt.date.today().isoformat()}
    try:
        if args.base and args.base.exists() and args.base.with_suffix(".json").exists():
            shutil.copy(args.base, work / "crm.db")
            run["generate"] = json.loads(args.base.with_suffix(".json").read_text())
        else:
            run["generate"] = run_worker("bench_nightly", "generate", url, n, k)
            if args.base:
                shutil.copy(work / "crm.db", args.base)
                args.base.with_suffix(".json").write_text(json.dumps(run["generate"]))
        print("generated", run["generate"], flush=True)
        os.environ["PREFECT_HOME"] = str(work / "prefect-night-1")  # each night's runs alone
        run["night 1"] = run_worker("bench_nightly", "night", url, NIGHT_1.isoformat(), 1100)
        print("night 1", run["night 1"], flush=True)
        write_results(args, run)
        snapshot(args.snapshot, work / "crm.db", "night-1.db")
        run["import"] = run_worker("bench_nightly", "import", url, n, k, work)
        print("import", run["import"], flush=True)
        snapshot(args.snapshot, work / "crm.db", "import.db")
        if args.dask:  # the same database after the import, for the same night on Dask
            shutil.copy(work / "crm.db", work / "crm-dask.db")
        os.environ["PREFECT_HOME"] = str(work / "prefect-night-2")
        run["night 2"] = run_worker("bench_nightly", "night", url, NIGHT_2.isoformat(), 3)
        print("night 2", run["night 2"], flush=True)
        if args.dask:
            write_results(args, run)
            os.environ.update(
                {
                    "PREFECT_HOME": str(work / "prefect-night-2-dask"),
                    "CRM_TASK_RUNNER": "dask",
                    "CRM_DASK_WORKERS": "2",
                }
            )
            dask_url = f"sqlite:///{work / 'crm-dask.db'}"
            night = run_worker("bench_nightly", "night", dask_url, NIGHT_2.isoformat(), 3)
            run["night 2 on Dask"] = night
            print("night 2 on Dask", night, flush=True)
        print(write_results(args, run))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
