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

``--base FILE`` runs the step instead on a copy of an existing SQLite database as the first
night's loyalty step sees it, prepared once (not timed) by ``--prepare``: a copy of a
database (``bench_nightly --snapshot``'s ``night-1.db``, which is only read) upgraded to
the head revision, its loyalty tables (ledger, tier history, return marks) emptied and the
file vacuumed, which gives back night 1's inputs after its hygiene and dedup (vacuumed, so
the ledger is written into new pages as on the first night, not into journalled free ones).
Each run copies the prepared file into ``--work`` (default a temporary folder), runs the
step as of night 1's loyalty day (``--as-of``, default :data:`bench.bench_nightly.NIGHT_1`)
with the 1,100-day lookback as the flow runs it (the write, then the liability,
:func:`flows.loyalty.liability`), removes the copy, and prints one JSON line:
wall and CPU seconds per step, entries, points,
liability, resident memory at the step's start and its peak, load averages. Nothing is
written to the results file::

    .venv/bin/python -m bench.bench_loyalty_backfill --prepare /tmp/n1m-snap/night-1.db \\
        --base /tmp/me/night-1-before-loyalty.db
    flock /tmp/crm-bench.lock .venv/bin/python -m bench.bench_loyalty_backfill \\
        --base /tmp/me/night-1-before-loyalty.db --work /tmp/me
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench._worker import run_worker, write_report

__all__ = ["main", "prepare_base", "run_on_base", "seed_base"]

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
    from flows.loyalty import book, load_inputs
    from loyalty import load_rules

    rules = load_rules(RULES)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/backfill.db"
        migrate(url)
        orders = seed_base(url, customers)
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0, c0 = time.perf_counter(), time.process_time()
        inputs = load_inputs(url, AS_OF, AS_OF - pd.Timedelta(days=LOOKBACK), rules)
        t1 = time.perf_counter()
        done = book(url, inputs, rules, AS_OF, LOOKBACK, created_at=AS_OF)
        t2 = time.perf_counter()
        cpu = time.process_time() - c0
        bal = done.liability
    return {
        "customers": float(customers),
        "orders": float(orders),
        "entries": float(done.written["entries_written"]),
        "parts": float(done.parts),
        "members": float(len(bal)),
        "liability": float(bal["liability"].sum()),
        "load_s": t1 - t0,
        "plan_s": done.seconds["plan"],
        "write_s": done.seconds["write"],
        "publish_s": done.seconds["liability"],
        "total_s": t2 - t0,
        "cpu_s": cpu,
        "seed_rss_mb": base_rss,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _rss_mb() -> float:
    """The resident memory of this process now (not its peak), in MB."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_on_base(
    base: str, as_of: dt.datetime, work: str, parts: int | None = None
) -> dict[str, float]:
    """The first night's loyalty step on a copy of ``base`` in ``work``, timed step by step.

    ``parts`` overrides the number of customer parts the flow would choose
    (:func:`flows.loyalty.booking_parts`).

    The copy is upgraded and its loyalty tables emptied before the clock starts (see the
    module's docstring); it is removed at the end.
    """
    from crm import store
    from crm.db import migrate
    from flows import loyalty as fl
    from loyalty import load_rules

    rules = load_rules(RULES)
    _, end = fl.loyalty_day(rules, None, as_of)
    copy = Path(work) / "loyalty_backfill.db"
    shutil.copyfile(base, copy)
    try:
        url = f"sqlite:///{copy}"
        migrate(url)
        if len(store.read_frame(url, "SELECT entry_id FROM loyalty_ledger LIMIT 1")):
            raise SystemExit(f"{base} has ledger entries: prepare it first (--prepare)")
        start_rss, load_start = _rss_mb(), os.getloadavg()[0]
        steps: dict[str, float] = {}
        t0, c0 = time.perf_counter(), time.process_time()

        def timed(name: str, t: float, c: float) -> tuple[float, float]:
            now, cpu = time.perf_counter(), time.process_time()
            steps[f"{name}_s"], steps[f"{name}_cpu_s"] = round(now - t, 1), round(cpu - c, 1)
            return now, cpu

        since = end - pd.Timedelta(days=LOOKBACK)
        inputs = fl.load_inputs(url, end, since, rules)
        timed("load", t0, c0)
        # as the flow books it: part by part, each planned, priced and ingested
        done = fl.book(url, inputs, rules, end, LOOKBACK, created_at=end, parts=parts)
        bal = done.liability
        steps.update({f"{k}_s": round(v, 1) for k, v in done.seconds.items()})
        return {
            "entries": float(done.written["entries_written"]),
            "parts": float(done.parts),
            "points": float(bal["balance"].sum()),
            "members": float(len(bal)),
            "liability": float(bal["liability"].sum()),
            "tier_changes": float(done.written["tier_changes_written"]),
            **steps,
            "total_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1),
            "start_rss_mb": round(start_rss),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_start": load_start,
            "load_end": os.getloadavg()[0],
        }
    finally:
        copy.unlink(missing_ok=True)
        Path(f"{copy}-journal").unlink(missing_ok=True)


def prepare_base(source: str, out: str) -> None:
    """Copy ``source`` to ``out`` as the first night's loyalty step reads it (see the module)."""
    from crm import store
    from crm.db import migrate

    shutil.copyfile(source, out)
    url = f"sqlite:///{out}"
    migrate(url)
    with store.connect(url) as conn, conn.cursor() as cur:
        # without foreign-key checks SQLite empties a table by dropping its pages (nothing
        # references these three): with them, it deletes and journals 19M rows one by one
        for sql in (
            "PRAGMA foreign_keys=OFF",
            "DELETE FROM loyalty_return_marks",
            "DELETE FROM loyalty_tier_history",
            "DELETE FROM loyalty_ledger",
            "VACUUM",
        ):
            cur.execute(sql)
            cur.fetchall()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, action="append", help="members of the base")
    parser.add_argument("--base", help="an existing SQLite database: run on a copy of it")
    parser.add_argument("--work", help="the folder of --base's copy (default: a temporary one)")
    parser.add_argument("--as-of", help="--base's night (default bench_nightly's NIGHT_1)")
    parser.add_argument("--prepare", metavar="SOURCE", help="write --base from SOURCE first")
    parser.add_argument(
        "--parts", type=int, help="--base: book in this many customer parts (default: the flow's)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.customers or [1_000_000]
    if args.prepare:
        if not args.base:
            parser.error("--prepare needs --base (the file to write)")
        prepare_base(args.prepare, args.base)
        return 0
    if args.base:
        from bench.bench_nightly import NIGHT_1

        night = dt.datetime.fromisoformat(args.as_of) if args.as_of else NIGHT_1
        with tempfile.TemporaryDirectory(dir=args.work) as work:
            print(json.dumps(run_on_base(args.base, night, work, args.parts)))
        return 0
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
