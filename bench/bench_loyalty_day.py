"""Benchmark: one loyalty day rerun alone on a copy of a night's database, step by step.

Run it on a copy (it writes the day into it), e.g. of ``bench_nightly --snapshot``'s
``import.db`` for night 2::

    cp /tmp/n1m-snap/import.db /tmp/me/n2.db
    .venv/bin/python -m bench.bench_loyalty_day /tmp/me/n2.db --prepare 2026-11-01T23:30:00+00:00
    flock /tmp/crm-bench.lock .venv/bin/python -m bench.bench_loyalty_day /tmp/me/n2.db

``--prepare NIGHT_1`` (not timed) upgrades the copy to the head revision and writes the
return marks night 1 writes with today's code (every order returned by night 1's end, at its
share), for a snapshot taken before revision ``0021l14_day_reads``. The day then runs as the
flow runs it: :func:`flows.loyalty.load_inputs`, :func:`flows.loyalty.plan_day`,
:func:`flows.loyalty.write_plan`, and the liability the flow publishes; each step's wall
and CPU seconds, each read's seconds and rows, and the peak RSS are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from bench.bench_nightly import NIGHT_2

__all__ = ["main", "prepare", "run_day"]


def prepare(url: str, night_1: dt.datetime) -> int:
    """Upgrade ``url`` and write the marks of the returns booked by night 1; returns their count."""
    from crm import store
    from crm.db import migrate
    from flows import loyalty as fl
    from loyalty import load_rules, return_marks

    migrate(url)
    rules = load_rules(fl.DEFAULT_RULES)
    _, end = fl.loyalty_day(rules, None, night_1)
    orders = store.read_frame(
        url,
        "orders",
        columns=["order_id", "amount", "status", "returned_amount"],
        where="(status = 'returned' OR returned_amount > 0) AND ordered_at <= ?",
        params=[store.instant_param(url, end)],
    )
    marks = return_marks(fl.returned_orders(orders), end)
    store.write_frame(url, marks, "loyalty_return_marks", mode="upsert", key=["order_id"])
    return len(marks)


def run_day(url: str, as_of: dt.datetime, lookback: int) -> dict[str, Any]:
    """Run the loyalty day of ``as_of`` step by step and time each step and each read."""
    from crm import store
    from flows import loyalty as fl
    from loyalty import balances, load_rules

    rules = load_rules(fl.DEFAULT_RULES)
    _, end = fl.loyalty_day(rules, None, as_of)
    reads: list[tuple[float, int, str]] = []
    read = store.read_frame

    def timed_read(*args: Any, **kwargs: Any) -> pd.DataFrame:
        start = time.perf_counter()
        out = read(*args, **kwargs)
        reads.append((round(time.perf_counter() - start, 2), len(out), str(args[1])[:60]))
        return out

    store.read_frame = timed_read  # type: ignore[assignment]
    steps: dict[str, tuple[float, float]] = {}

    def step(name: str, call: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = call()
        steps[name] = (
            round(time.perf_counter() - wall, 1),
            round(time.process_time() - cpu, 1),
        )
        return out

    try:
        since = pd.Timestamp(end) - pd.Timedelta(days=lookback)
        inputs = step("load", lambda: fl.load_inputs(url, end, since, rules))
        plan = step("plan", lambda: fl.plan_day(inputs, rules, end, lookback))
        written = step("write", lambda: fl.write_plan(url, plan, end))

        def publish() -> None:
            balances(fl.ledger_after(inputs, plan), end, point_value=rules.program.point_value)
            if not inputs.whole_ledger:
                store.read_frame(
                    url,
                    "SELECT COUNT(DISTINCT customer_id) AS members, "
                    "COALESCE(SUM(points), 0) AS points FROM loyalty_ledger",
                )

        step("publish", publish)
    finally:
        store.read_frame = read  # type: ignore[assignment]
    return {
        "steps": steps,
        "total": round(sum(wall for wall, _ in steps.values()), 1),
        "ledger_rows_read": len(inputs.ledger),
        "whole_ledger": inputs.whole_ledger,
        "booked": plan.steps,
        "written": written,
        "reads": reads,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    """Parse the command line, prepare or run the day, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="a copy of a night's SQLite database (written to)")
    parser.add_argument("--as-of", default=NIGHT_2.isoformat(), help="the night's instant")
    parser.add_argument("--lookback", type=int, default=3)
    parser.add_argument("--prepare", metavar="NIGHT_1", help="upgrade and write night 1's marks")
    args = parser.parse_args()
    url = f"sqlite:///{args.database}"
    if args.prepare:
        print("marks written:", prepare(url, dt.datetime.fromisoformat(args.prepare)))
        return
    out = run_day(url, dt.datetime.fromisoformat(args.as_of), args.lookback)
    for seconds, rows, what in out.pop("reads"):
        print(f"  read {seconds:6.2f} s {rows:>10,} rows  {what}")
    for key, value in out.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
