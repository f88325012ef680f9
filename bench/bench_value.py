"""Benchmark: BG/NBD + Gamma-Gamma fits of :mod:`segments.value` against ``lifetimes``.

The BTYD summary is simulated (seeded) from the models' own generative process, in days:
each customer's age ``T`` is uniform over a year (0–364 days), purchase rate
``lambda ~ Gamma(r, alpha)`` and dropout ``p ~ Beta(a, b)`` with CDNOW's parameters in days
(r 0.243, alpha 30.9, a 0.793, b 2.426). The repeat purchases seen are
``x = min(J, N)`` with ``J ~ Geometric(p)`` purchases until dropout and ``N ~ Poisson(lambda
T)`` arrivals; the last one falls at ``T * Beta(x, N - x + 1)``, rounded up to a whole day
(as a summary from orders has whole periods). Average order values are Gamma-Gamma
(p 6.25, q 3.74, v 1544: a mean order of about 3,500), in kopecks.

Each method runs in its own subprocess that simulates the same summary before the clock
starts, so its peak resident memory (``ru_maxrss``) is its own; a second, untimed fit
under ``tracemalloc`` measures the peak the fit itself allocates:

* ``ours``: ``BetaGeoModel().fit`` + ``GammaGammaModel().fit`` on the summary;
* ``lifetimes``: ``BetaGeoFitter().fit`` + ``GammaGammaFitter().fit`` on the same summary,
  one row per customer (how it is usually called);
* ``lifetimes_grouped``: lifetimes given our grouping of identical rows as ``weights``
  (grouping time included), to show how much of the gain is the grouping alone.

The three must agree on the parameters (checked: 1e-3 relative). Run
``.venv/bin/python -m bench.bench_value [--customers 1000000]``; the table is written to
``bench/results/value.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench._worker import run_worker, write_report

__all__ = ["main", "simulate_summary"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "value.md"
METHODS = ("ours", "lifetimes", "lifetimes_grouped")
BGNBD = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 1544.0}


def simulate_summary(n: int, seed: int = 42) -> pd.DataFrame:
    """A daily BTYD summary of ``n`` customers from the BG/NBD and Gamma-Gamma processes."""
    rng = np.random.default_rng(seed)
    age = rng.integers(0, 365, n).astype(np.float64)
    lam = rng.gamma(BGNBD["r"], 1 / BGNBD["alpha"], n)
    drop = rng.beta(BGNBD["a"], BGNBD["b"], n)
    until_dropout = rng.geometric(drop)
    arrivals = rng.poisson(lam * age)
    x = np.minimum(until_dropout, arrivals)
    x = np.minimum(x, age).astype(np.int64)  # at most one purchase period per day
    has = x > 0
    last = np.zeros(n)
    last[has] = age[has] * rng.beta(x[has], arrivals[has] - x[has] + 1)
    recency = np.where(has, np.clip(np.ceil(last), 1, age), 0.0)
    nu = rng.gamma(GAMMA_GAMMA["q"], 1 / GAMMA_GAMMA["v"], n)
    spend = np.zeros(n)
    spend[has] = rng.gamma(GAMMA_GAMMA["p"] * x[has], 1 / (x[has] * nu[has]))
    summary = pd.DataFrame(
        {
            "frequency": x.astype(np.float64),
            "recency": recency,
            "T": age,
            "monetary_value": np.maximum(np.round(spend, 2), 0.01) * has,
        },
        index=pd.RangeIndex(1, n + 1, name="customer_id"),
    )
    summary.attrs["period"] = "D"
    return summary


def _lifetimes_fit(summary: pd.DataFrame, grouped: bool) -> tuple[pd.Series, pd.Series]:
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    if grouped:  # how a lifetimes user condenses the summary into patterns
        pattern = summary.groupby(["frequency", "recency", "T"]).size().reset_index()
        bg = BetaGeoFitter().fit(
            pattern["frequency"], pattern["recency"], pattern["T"], weights=pattern[0]
        )
        repeat = summary[summary["frequency"] > 0]
        spend = repeat.groupby(["frequency", "monetary_value"]).size().reset_index()
        gg = GammaGammaFitter().fit(spend["frequency"], spend["monetary_value"], weights=spend[0])
    else:
        f, r, age = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
        m = summary["monetary_value"].to_numpy()
        bg = BetaGeoFitter().fit(f, r, age)
        gg = GammaGammaFitter().fit(f[f > 0], m[f > 0])
    return bg.params_, gg.params_


def _fit(method: str, summary: pd.DataFrame) -> dict[str, Any]:
    from segments.value import BetaGeoModel, GammaGammaModel, customer_value

    out: dict[str, Any] = {}
    start = time.perf_counter()
    if method == "ours":
        bgnbd = BetaGeoModel().fit(summary)
        out["bgnbd_seconds"] = time.perf_counter() - start
        spend = GammaGammaModel().fit(summary)
        out["seconds"] = time.perf_counter() - start
        bg, gg = bgnbd.params_, spend.params_
        out["distinct"] = bgnbd.n_distinct_
        out["iterations"] = [bgnbd.n_iter_, spend.n_iter_]
        clock = time.perf_counter()
        values = customer_value(summary, bgnbd, spend, horizon=12)
        out["value_seconds"] = time.perf_counter() - clock
        out["mean_value"] = float(values["predicted_value"].mean())
    else:
        bg, gg = _lifetimes_fit(summary, grouped=method == "lifetimes_grouped")
        out["seconds"] = time.perf_counter() - start
    out["bgnbd"] = {k: float(bg[k]) for k in ("r", "alpha", "a", "b")}
    out["gamma_gamma"] = {k: float(gg[k]) for k in ("p", "q", "v")}
    return out


def _work(method: str, n: int) -> dict[str, Any]:
    summary = simulate_summary(n)
    out = _fit(method, summary)  # timed
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # memory of a second, untimed fit: peak of what it allocates beyond the summary
    tracemalloc.start()
    _fit(method, summary)
    out["alloc_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    out["repeat_customers"] = int((summary["frequency"] > 0).sum())
    return out


def _run(method: str, n: int) -> dict[str, Any]:
    return run_worker("bench_value", method, "--customers", n)


def _params(res: dict[str, Any]) -> np.ndarray:
    bg, gg = res["bgnbd"], res["gamma_gamma"]
    return np.array([*bg.values(), *gg.values()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, action="append", help="customers in the summary")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.customers or [1_000_000]
    if args.worker:
        print(json.dumps(_work(args.worker, sizes[0])))
        return 0
    rows, params = [], []
    for n in sizes:
        res = {}
        for m in METHODS:
            res[m] = _run(m, n)
            print(m, json.dumps(res[m]), flush=True)
        ours = _params(res["ours"])
        for m in METHODS:
            r = res[m]
            gap = float(np.max(np.abs(_params(r) / ours - 1)))
            if gap > 1e-3:
                raise SystemExit(f"{m}: parameters differ from ours by {gap:.2e} (relative)")
            speed = (
                f"{float(r['seconds']) / float(res['ours']['seconds']):.0f}×" if m != "ours" else ""
            )
            split = (
                f"BG/NBD {float(r['bgnbd_seconds']):.2f} s on {int(r['distinct']):,} distinct rows"
                if m == "ours"
                else ""
            )
            rows.append(
                f"| {n:,} | {m} | {float(r['seconds']):.2f} | {speed} | "
                f"{float(r['rss_mb']):,.0f} | {float(r['alloc_mb']):,.0f} | "
                f"{gap:.1e} | {split} |"
            )
        bg, gg = res["ours"]["bgnbd"], res["ours"]["gamma_gamma"]
        params.append(
            f"| {n:,} | "
            + " | ".join(f"{v:.4f}" for v in [*bg.values(), *gg.values()])
            + f" | {int(res['ours']['repeat_customers']):,} | "
            f"{float(res['ours']['value_seconds']):.2f} |"
        )
    cmd = " ".join(f"--customers {s}" for s in sizes)
    truth = [*BGNBD.values(), *GAMMA_GAMMA.values()]
    text = write_report(
        RESULTS,
        "Customer value benchmark (BG/NBD + Gamma-Gamma fits)",
        f"bench.bench_value {cmd}",
        [
            f"numpy {np.__version__}. A daily BTYD summary simulated from the BG/NBD and Gamma-Gamma processes (seed 42, "
            "ages uniform over a year, CDNOW's parameters in days); every method fits both "
            "models on the same summary in its own process. `seconds` = BG/NBD fit + "
            "Gamma-Gamma fit. `lifetimes` is called with one row per customer, "
            "`lifetimes_grouped` with our grouping of identical rows as `weights`. Peak RSS "
            "is the whole process (the simulation included); `fit alloc` is the peak of what a "
            "second, untimed fit allocates (tracemalloc, NumPy arrays included). "
            "`param gap` = largest relative difference of the 7 parameters from ours.",
        ],
        [
            "| customers | method | seconds | vs ours | peak RSS (MB) | fit alloc (MB) "
            "| param gap | notes |",
            "|---:|---|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
            "Fitted parameters (ours), against the simulated "
            + ", ".join(f"{k} {v:g}" for k, v in zip([*BGNBD, *GAMMA_GAMMA], truth, strict=True))
            + "; `customer_value` is the 12-month value of every customer from the fitted "
            "models:",
            "",
            "| customers | r | alpha | a | b | p | q | v | repeat customers | customer_value (s) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *params,
        ],
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
