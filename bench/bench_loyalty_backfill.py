"""Benchmark: the loyalty step of a one-time history backfill (``--loyalty-lookback-days 1100``).

A generated base (seeded numpy): ``--customers`` loyalty members created over three years,
three orders per customer on average over the 1,100 days before the run (5 % of them
returned, 3 % of the others returned in part), and one customer in twenty referred by
another. It is loaded into a fresh SQLite database before the clock starts. Then the loyalty day runs as the nightly job runs it,
step by step: read the inputs (:func:`flows.loyalty.load_inputs`), compute every entry of
the history (:func:`flows.loyalty.plan_day`), write ledger and tiers
(:func:`flows.loyalty.write_plan`: a backfill is appended in bulk, checked by the unique
index), and the liability the flow publishes (:func:`loyalty.balances` over the ledger as
written, :func:`flows.loyalty.ledger_after`: what was read plus the plan, not read back). The
worker's peak resident memory (``ru_maxrss``) covers the whole loyalty step.

Run ``.venv/bin/python -m bench.bench_loyalty_backfill [--customers 1000000]``; the table is
written to ``bench/results/loyalty_backfill.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench._worker import run_worker, write_report

__all__ = ["main", "seed_base"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "loyalty_backfill.md"
RULES = ROOT / "loyalty" / "rules.example.yaml"
AS_OF = pd.Timestamp("2026-11-30 20:59:59.999999", tz="UTC")  # end of 30 Nov in Moscow
LOOKBACK = 1100


def seed_base(url: str, customers: int, seed: int = 5) -> int:
    """Load ``customers`` members, their orders and referrals into ``url``; returns orders."""
    from crm import store

    rng = np.random.default_rng(seed)
    start = AS_OF - pd.Timedelta(days=LOOKBACK)
    ids = np.arange(1, customers + 1, dtype=np.int64)
    created = start + pd.to_timedelta(rng.integers(0, LOOKBACK * 86_400, customers), unit="s")
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "customer_id": ids,
                "external_id": pd.Series(ids).astype("str").radd("B"),
                "first_name": "Анна",
                "created_at": created,
                "updated_at": created,
                "is_loyalty_member": True,
                "status": "active",
            }
        ),
        "customers",
    )
    n = customers * 3
    who = rng.integers(1, customers + 1, n)
    when = created[who - 1] + pd.to_timedelta(rng.integers(0, 400 * 86_400, n), unit="s")
    when = when.where(when <= AS_OF, AS_OF - pd.Timedelta(hours=1))
    oid = np.arange(1, n + 1, dtype=np.int64)
    amount = np.round(rng.lognormal(np.log(2500), 0.8, n), 2)
    status = np.where(rng.random(n) < 0.05, "returned", "paid")
    # 3 % of the paid orders returned in part (10-90 % of the money), from a stream of its
    # own so the base's other draws stay as they were
    part = np.random.default_rng([seed, 1])
    partial = (status == "paid") & (part.random(n) < 0.03)
    returned_amount = np.where(partial, np.round(amount * part.integers(1, 10, n) / 10, 2), np.nan)
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "order_id": oid,
                "external_id": pd.Series(oid).astype("str").radd("O"),
                "customer_id": who,
                "ordered_at": when,
                "amount": amount,
                "currency": "RUB",
                "status": status,
                "channel": np.array(["store", "online", "app"], dtype=object)[
                    rng.integers(0, 3, n)
                ],
                "category": np.array(["kids", "home", "food"], dtype=object)[rng.integers(0, 3, n)],
                "returned_amount": returned_amount,
            }
        ),
        "orders",
    )
    friends = ids[rng.random(customers) < 0.05]
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "relation_id": np.arange(1, len(friends) + 1),
                "customer_id": friends,
                "related_customer_id": np.maximum(friends - 1, 1),
                "kind": "referred_by",
                "created_at": created[friends - 1],
            }
        ),
        "relations",
    )
    return n


def _work(customers: int) -> dict[str, float]:
    from crm.db import migrate
    from flows.loyalty import ledger_after, load_inputs, plan_day, write_plan
    from loyalty import balances, load_rules

    rules = load_rules(RULES)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/backfill.db"
        migrate(url)
        orders = seed_base(url, customers)
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0, c0 = time.perf_counter(), time.process_time()
        inputs = load_inputs(url, AS_OF, AS_OF - pd.Timedelta(days=LOOKBACK), rules)
        t1 = time.perf_counter()
        plan = plan_day(inputs, rules, AS_OF, LOOKBACK)
        t2 = time.perf_counter()
        written = write_plan(url, plan, AS_OF)
        t3 = time.perf_counter()
        entries = len(plan.entries)
        ledger = ledger_after(inputs, plan)
        del inputs, plan
        bal = balances(ledger, AS_OF, point_value=rules.program.point_value)
        t4 = time.perf_counter()
        cpu = time.process_time() - c0
    return {
        "customers": float(customers),
        "orders": float(orders),
        "entries": float(entries),
        "written": float(written["entries_written"]),
        "members": float(len(bal)),
        "liability": float(bal["liability"].sum()),
        "load_s": t1 - t0,
        "plan_s": t2 - t1,
        "write_s": t3 - t2,
        "publish_s": t4 - t3,
        "total_s": t4 - t0,
        "cpu_s": cpu,
        "seed_rss_mb": base_rss,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, action="append", help="members of the base")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.customers or [1_000_000]
    if args.worker:
        print(json.dumps(_work(sizes[0])))
        return 0
    rows = []
    for size in sizes:
        r = run_worker("bench_loyalty_backfill", "backfill", "--customers", size)
        rows.append(
            f"| {size:,} | {int(r['orders']):,} | {int(r['entries']):,} | {r['load_s']:.1f} | "
            f"{r['plan_s']:.1f} | {r['write_s']:.1f} | {r['publish_s']:.1f} | "
            f"**{r['total_s']:.1f}** | {r['cpu_s']:.1f} | {r['rss_mb']:,.0f} |"
        )
        print(rows[-1], flush=True)
    cmd = " ".join(f"--customers {s}" for s in sizes)
    write_report(
        RESULTS,
        "Loyalty history backfill benchmark",
        f"bench.bench_loyalty_backfill {cmd}",
        [
            f"The loyalty step of a first nightly run with `--loyalty-lookback-days {LOOKBACK}`: "
            "read the inputs, compute the entries of the whole history, write ledger and tiers "
            "(bulk append checked by the unique index), publish the liability. Peak RSS is the "
            "worker's, including the generated base it loaded first; CPU s is the worker's processor time over the loyalty step (on a shared machine the wall time is mostly waiting). Target: under 120 s and "
            "4 GB at 1M customers.",
        ],
        [
            "| customers | orders | entries | read s | compute s | write s | publish s | "
            "loyalty step s | its CPU s | peak RSS (MB) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
        ],
        database="SQLite",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
