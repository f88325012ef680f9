"""Benchmark: the loyalty batch (a day's orders), FIFO expiry and the gateway's per-order quote.

Data is seeded and synthetic (numpy): one day of orders over customers with a tier each,
categories and channels, priced like the sample generator's; the ledger for expiry holds
a year and a half of purchase lots and redemptions per customer. Rules are
``loyalty/rules.example.yaml`` (3 purchase rules, 3 tiers, 2 promotion waves, the day
inside the Black Friday wave). Each method runs in its own subprocess that builds its data
before the clock starts, so its peak resident memory (``ru_maxrss``) is its own.

* ``earn``: :func:`loyalty.purchase_entries` (points matrix, one entry per order and rule)
  vs ``earn_baseline``: the same rules applied order by order in plain Python.
* ``expiry``: :func:`loyalty.expiry_entries` (cumulative sums and an as-of join) vs
  ``expiry_baseline``: a per-customer FIFO queue of lots in plain Python.
* ``quote``: :func:`loyalty.calculate_order` called once per order, p50/p99 latency.
* ``per call``: the median cost of one call of each public ledger function on a frame of
  a few rows (a checkout, a return, a balance), the fixed overhead a gateway call pays.

Both baselines must give the same total points as the vectorised path (checked).
Run ``.venv/bin/python -m bench.bench_loyalty [--size 1000000]``; the table is written to
``bench/results/loyalty.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd

from bench._worker import run_worker, write_report

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "loyalty.md"
RULES = ROOT / "loyalty" / "rules.example.yaml"
METHODS = ("earn", "earn_baseline", "expiry", "expiry_baseline", "quote")
CATEGORIES = np.array(["kids", "home", "electronics", "beauty", "food", "sport"], dtype=object)
CHANNELS = np.array(["store", "online", "app", "phone"], dtype=object)
TIERS = np.array(["base", "silver", "gold"], dtype=object)


def day_orders(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` paid orders of 2026-11-28 (inside the example's Black Friday wave)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-11-27 21:00", tz="UTC")  # local midnight in Moscow
    return pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1),
            "customer_id": rng.integers(1, max(n // 3, 2), n),
            "ordered_at": start + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
            "amount": np.round(rng.lognormal(np.log(2500), 0.8, n), 2),
            "status": "paid",
            "category": CATEGORIES[rng.integers(0, len(CATEGORIES), n)],
            "channel": CHANNELS[rng.choice(4, n, p=[0.45, 0.35, 0.15, 0.05])],
            "tier": TIERS[rng.choice(3, n, p=[0.8, 0.15, 0.05])],
        }
    )


def lots_ledger(n_lots: int, seed: int = 11) -> pd.DataFrame:
    """Purchase lots over 18 months for ``n_lots / 10`` customers, and redemptions."""
    from loyalty import append, empty_ledger, make_entries

    rng = np.random.default_rng(seed)
    customers = max(n_lots // 10, 1)
    t0 = pd.Timestamp("2025-06-01", tz="UTC")
    cid = rng.integers(1, customers + 1, n_lots)
    when = t0 + pd.to_timedelta(rng.integers(0, 540 * 86_400, n_lots), unit="s")
    pts = rng.integers(10, 300, n_lots)
    earn = make_entries(
        key=pd.Series(np.arange(n_lots)).astype("str").radd("lot:"),
        customer_id=cid,
        kind="earn",
        points=pts,
        reason="purchase",
        occurred_at=pd.Series(when),
        available_at=pd.Series(when) + pd.Timedelta(days=14),
        validity_days=365,
        source_kind="order",
    )
    # each customer spends a third of what they earned, once, in the middle of the period
    total = pd.Series(pts).groupby(cid).sum()
    spend = make_entries(
        key=pd.Series(total.index).astype("str").radd("burn:"),
        customer_id=total.index.to_numpy(),
        kind="burn",
        points=-(total.to_numpy() // 3),
        reason="redemption",
        occurred_at=t0 + pd.Timedelta(days=300),
        source_kind="redemption",
    )
    spend = spend[spend["points"] < 0]
    return append(append(empty_ledger(), earn), spend)


def _earn_baseline(orders: pd.DataFrame, rules) -> int:  # type: ignore[no-untyped-def]
    import zoneinfo

    tz = zoneinfo.ZoneInfo(rules.program.timezone)
    mult = {lv.code: lv.multiplier for lv in rules.tiers.levels}
    total = 0
    for row in orders.itertuples(index=False):
        day = row.ordered_at.astimezone(tz).date()

        def ok(r, day=day, row=row) -> bool:  # type: ignore[no-untyped-def]
            return (
                row.amount >= r.min_amount - 1e-9
                and (r.categories is None or row.category in r.categories)
                and (r.channels is None or row.channel in r.channels)
                and (r.start is None or day >= r.start)
                and (r.end is None or day <= r.end)
            )

        base = 0
        for r in rules.purchase_rules:
            if ok(r):
                p = math.floor(row.amount * r.percent / 100 + 1e-9) if r.percent else r.points
                base += min(p, r.cap_per_order) if r.cap_per_order is not None else p
        parts = [base, math.floor(base * (mult[row.tier] - 1) + 1e-9)]
        for p in rules.promotions:
            if ok(p) and (p.tiers is None or row.tier in p.tiers):
                parts.append(math.floor(base * (p.multiplier - 1) + 1e-9) + p.bonus_points)
        cap = rules.program.max_points_per_order
        got = sum(parts)
        total += min(got, cap) if cap is not None else got
    return total


def _expiry_baseline(ledger: pd.DataFrame, as_of: pd.Timestamp) -> int:
    """FIFO per customer with a queue of lots, event by event."""
    total = 0
    led = ledger.sort_values(["customer_id", "occurred_at"])
    for _cid, rows in led.groupby("customer_id", sort=False):
        lots = rows[rows["points"] > 0].sort_values("available_at")
        debits = rows[rows["points"] < 0]
        events = [
            (t, 1, int(-p)) for t, p in zip(debits["occurred_at"], debits["points"], strict=True)
        ]
        events += [(t, 0, i) for i, t in enumerate(lots["expires_at"]) if t <= as_of]
        queue = deque([int(p) for p in lots["points"]])
        head = 0
        for _t, what, value in sorted(events):
            if what == 1:  # spend from the oldest lots
                while value > 0 and queue:
                    take = min(value, queue[0])
                    queue[0] -= take
                    value -= take
                    if queue[0] == 0:
                        queue.popleft()
                        head += 1
            else:  # lot ``value`` expires: whatever is left of it
                while head < value and queue:
                    queue.popleft()
                    head += 1
                if head == value and queue:
                    total += queue.popleft()
                    head += 1
    return total


#: the per-call figures: CPU seconds (``time.process_time``), the median of this many calls
PER_CALL_REPEAT = 500


def _per_call(repeat: int = PER_CALL_REPEAT) -> dict[str, float]:
    """Median CPU milliseconds of one call of each public function on a ledger of a few rows.

    CPU time rather than wall time: on a shared machine a wall-clock median includes the
    time spent waiting for a core, which is the machine's, not the function's.
    """
    from loyalty import (
        append,
        balances,
        calculate_order,
        checkout_entry,
        empty_ledger,
        expiry_entries,
        load_rules,
        purchase_entries,
        redemption_entry,
        reversal_entries,
    )

    rules = load_rules(RULES)
    orders = day_orders(3)
    led = append(empty_ledger(), purchase_entries(orders, rules))
    at = pd.Timestamp("2027-06-01", tz="UTC")
    returned = pd.DataFrame({"order_id": [1]})
    order = orders.iloc[0].to_dict()
    calls = {
        "purchase_entries (3 orders)": lambda: purchase_entries(orders, rules),
        "calculate_order (the gateway's quote)": lambda: calculate_order(
            order, rules, tier="silver", available_points=1000, use_points=200
        ),
        "checkout_entry": lambda: checkout_entry(
            customer_id=1, order_id=99, points=10, available=100, as_of=at, ledger=led
        ),
        "redemption_entry": lambda: redemption_entry(
            customer_id=1,
            prize_id=1,
            points_price=10,
            quantity=1,
            available=100,
            stock=5,
            key="k",
            as_of=at,
            ledger=led,
        ),
        "append": lambda: append(led, led),
        "balances": lambda: balances(led, at),
        "expiry_entries": lambda: expiry_entries(led, at),
        "reversal_entries": lambda: reversal_entries(led, returned, at),
    }
    out = {}
    for name, call in calls.items():
        call()
        cpu = []
        for _ in range(repeat):
            t = time.process_time()
            call()
            cpu.append(time.process_time() - t)
        out[name] = float(np.median(cpu) * 1000)
    return out


def _per_call_section(small: dict[str, float], before: dict[str, float] | None) -> list[str]:
    load = os.getloadavg()
    head = "| function | ms per call (CPU) |" + (" before (same run) |" if before else "")
    rule = "|---|---:|" + ("---:|" if before else "")
    rows = [
        f"| {name} | {ms:.3f} |" + (f" {before[name]:.3f} |" if before and name in before else "")
        for name, ms in small.items()
    ]
    return [
        f"{PER_CALL_HEADING} (median CPU time of {PER_CALL_REPEAT} calls, "
        "`time.process_time`; what a checkout or a gateway request pays whatever the data; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end):",
        "",
        head,
        rule,
        *rows,
    ]


PER_CALL_HEADING = "Per call on a ledger of a few rows"


def _work(method: str, size: int) -> dict[str, float]:
    from loyalty import calculate_order, expiry_entries, load_rules, purchase_entries

    if method == "percall":
        return _per_call()
    rules = load_rules(RULES)
    out: dict[str, float] = {}
    if method.startswith("earn"):
        orders = day_orders(size)
        start = time.perf_counter()
        if method == "earn":
            entries = purchase_entries(orders, rules)
            out["points"] = float(entries["points"].sum())
            out["entries"] = float(len(entries))
        else:
            out["points"] = float(_earn_baseline(orders, rules))
        out["rows"] = float(size)
    elif method.startswith("expiry"):
        ledger = lots_ledger(size)
        as_of = pd.Timestamp("2026-11-28", tz="UTC")
        start = time.perf_counter()
        if method == "expiry":
            out["points"] = float(-expiry_entries(ledger, as_of)["points"].sum())
        else:
            out["points"] = float(_expiry_baseline(ledger, as_of))
        out["rows"] = float(len(ledger))
    else:
        orders = day_orders(min(size, 5000)).to_dict("records")
        calculate_order(orders[0], rules)  # warm-up
        lat = []
        start = time.perf_counter()
        for o in orders:
            t = time.perf_counter()
            calculate_order(o, rules, tier=o["tier"], available_points=1000, use_points=200)
            lat.append(time.perf_counter() - t)
        out["rows"] = float(len(orders))
        out["p50_ms"] = float(np.percentile(lat, 50) * 1000)
        out["p99_ms"] = float(np.percentile(lat, 99) * 1000)
    out["seconds"] = time.perf_counter() - start
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run(method: str, size: int) -> dict[str, float]:
    return run_worker("bench_loyalty", method, "--size", size)


def _per_call_runs(
    before: str | None, rounds: int = 5
) -> tuple[dict[str, float], dict[str, float] | None]:
    """Per-call figures of this code (and of ``before``), the best median of a few rounds.

    With ``before``, each round runs the old code's worker right after ours, so both see
    the same load; the lowest median of the rounds is kept for each function.
    """

    def one(root: Path) -> dict[str, float]:
        # this file's measurement, run on the code of ``root`` (its loyalty package first)
        env = {**os.environ, "PYTHONPATH": str(root)}
        out = subprocess.run(
            [sys.executable, __file__, "--worker", "percall", "--size", "0"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    ours: dict[str, float] = {}
    old: dict[str, float] = {}
    for _ in range(rounds):
        for name, ms in one(ROOT).items():
            ours[name] = min(ms, ours.get(name, ms))
        if before:
            for name, ms in one(Path(before)).items():
                old[name] = min(ms, old.get(name, ms))
    return ours, (old or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="orders / ledger rows")
    parser.add_argument(
        "--per-call",
        action="store_true",
        help="only the per-call table: replace it in the results file, keep the rest",
    )
    parser.add_argument(
        "--before",
        help="a checkout of the code before (its root); its per-call figures are measured in "
        "the same run, alternating with ours",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.size or [1_000_000]
    if args.worker:
        print(json.dumps(_work(args.worker, sizes[0])))
        return 0
    if args.per_call:
        small, before = _per_call_runs(args.before)
        section = _per_call_section(small, before)
        print(*section, sep="\n", flush=True)
        text = RESULTS.read_text()
        cut = text.index(PER_CALL_HEADING)
        RESULTS.write_text(text[:cut] + "\n".join(section) + "\n")
        return 0
    rows = []
    for size in sizes:
        res = {m: _run(m, size) for m in METHODS}
        for fast, slow in (("earn", "earn_baseline"), ("expiry", "expiry_baseline")):
            if res[fast]["points"] != res[slow]["points"]:
                raise SystemExit(
                    f"{fast}: {res[fast]['points']} points, baseline {res[slow]['points']}"
                )
        for m in METHODS:
            r = res[m]
            base = {"earn": "earn_baseline", "expiry": "expiry_baseline"}.get(m)
            vs = f"{res[base]['seconds'] / r['seconds']:.0f}× faster" if base else ""
            extra = (
                f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
                if m == "quote"
                else f"{int(r['points']):,} points"
                + (f" in {int(r['entries']):,} entries" if "entries" in r else "")
            )
            rows.append(
                f"| {size:,} | {m} | {int(r['rows']):,} | {r['seconds']:.2f} | "
                f"{r['rows'] / r['seconds']:,.0f} | {r['rss_mb']:,.0f} | {extra} | {vs} |"
            )
            print(rows[-1], flush=True)
    small, before = _per_call_runs(args.before)
    section = _per_call_section(small, before)
    print(*section, sep="\n", flush=True)
    cmd = "  ".join(f"--size {s}" for s in sizes)
    write_report(
        RESULTS,
        "Loyalty benchmark",
        f"bench.bench_loyalty {cmd}".replace("  ", " "),
        [
            "`earn`: a day's orders through the example rules (3 purchase rules, tier multipliers, "
            "2 promotion waves). `expiry`: FIFO expiry over a ledger of purchase lots and "
            "redemptions (size = lots, 10 per customer). `quote`: the gateway's per-order "
            "calculation, one call at a time (up to 5,000 orders). Baselines are plain Python, "
            "row by row / customer by customer, and give the same points.",
        ],
        [
            "| size | step | rows | seconds | rows/s | peak RSS (MB) | result | vs baseline |",
            "|---:|---|---:|---:|---:|---:|---|---:|",
            *rows,
            "",
            *section,
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
