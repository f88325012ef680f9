"""Benchmark: marketer-defined segments (:mod:`segments.rules`) over a large profiles frame.

Data is seeded and synthetic (numpy): one profile row per customer with the kinds of columns
``crm.profiles`` produces (Cyrillic cities and job titles as ``str``, an RFM segment as a
category, money as floats, counts as ints, consents as bools, tz-aware UTC instants with NaT,
birth dates as ``datetime.date`` objects, tags as lists of ``"vocabulary:code"``). The
segments are generated with a seed too: 100 varied definitions of 2–6 conditions each (text
equality and ``in`` in other letter cases, substrings, numeric ranges, categories, tags
any/all/none, time windows, birthdays, ``any``/``not`` groups), written as YAML and parsed by
:func:`segments.rules.load_segments`.

* ``evaluate_many``: :func:`segments.rules.evaluate_many` from the raw frame (field
  preparation included) vs ``baseline``: each segment evaluated on its own with plain pandas
  boolean expressions (``.str`` methods, comparisons, ``Series.map`` over the tag lists),
  nothing shared between conditions or segments. Both must give the same member count per
  segment (checked).
* ``preview``: :func:`segments.rules.preview` of one segment (the VIP example) from the raw
  frame; ``preview_prepared``: the same on a :class:`~segments.rules.PreparedProfiles` that
  already served a first preview (a preview screen editing one definition);
  ``preview_baseline``: that segment in plain pandas and ``DataFrame.sample``.

Each method runs in its own subprocess that builds its data before the clock starts, so its
peak resident memory (``ru_maxrss``) is its own. Run
``.venv/bin/python -m bench.bench_segments [--profiles 1000000] [--segments 100]``; the table
is written to ``bench/results/segments.md``.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bench._worker import run_worker, write_report
from segments.rfm import SEGMENTS

__all__ = ["main", "make_definitions", "make_profiles"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "segments.md"
METHODS = ("evaluate_many", "baseline", "preview", "preview_prepared", "preview_baseline")
AS_OF = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
CITIES = np.array(
    [
        "Москва",
        "Санкт-Петербург",
        "Казань",
        "Новосибирск",
        "Екатеринбург",
        "Нижний Новгород",
        "Королёв",
        "Самара",
        "Краснодар",
        "London",
        "Berlin",
        "Минск",
    ],
    dtype=object,
)
CITY_P = np.array([30, 15, 8, 6, 6, 5, 3, 5, 5, 2, 2, 3], float)
TITLES = np.array(
    [
        "Генеральный директор",
        "ген. директор",
        "CEO",
        "Коммерческий директор",
        "Sales Director",
        "Главный бухгалтер",
        "Accountant",
        "Юрист",
        "Маркетолог",
        "Head of Marketing",
        "Менеджер",
        "IT-директор",
    ],
    dtype=object,
)
RFM = SEGMENTS  # the RFM segment names, as segments.rfm names them
TAGS = np.array(
    [f"interest:{x}" for x in ("sport", "travel", "kids", "pets", "beauty", "electronics")]
    + [f"rooms:{x}" for x in ("1", "2", "3", "4+")]
    + [f"floor:{x}" for x in ("low", "middle", "high")]
    + [f"buying_for:{x}" for x in ("self", "family", "investment")],
    dtype=object,
)
STAGES = np.array(["subscriber", "lead", "opportunity", "customer", "repeat_customer", "churned"])
SOURCES = np.array(["site_form", "email", "messenger", "call", "social", "offline"])
TIERS = np.array(["base", "silver", "gold"])


def make_profiles(n: int, seed: int = 5) -> pd.DataFrame:
    """``n`` synthetic profiles with the columns and dtypes of ``crm.profiles``."""
    rng = np.random.default_rng(seed)
    orders = rng.poisson(2.0, n) * (rng.random(n) < 0.75)
    revenue = np.where(orders > 0, np.round(orders * rng.lognormal(np.log(6000), 0.9, n), 2), 0.0)
    as_of = pd.Timestamp(AS_OF)
    last = as_of - pd.to_timedelta(rng.integers(0, 900 * 86_400, n), unit="s")
    last = last.where(orders > 0)
    first = last - pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    created = as_of - pd.to_timedelta(rng.integers(0, 1500 * 86_400, n), unit="s")
    activity = as_of - pd.to_timedelta(rng.integers(0, 400 * 86_400, n), unit="s")
    activity = activity.where(rng.random(n) < 0.7)
    born = dt.date(1950, 1, 1)
    days = rng.integers(0, 55 * 365, n)
    birth = np.array([born + dt.timedelta(days=int(d)) for d in days], dtype=object)
    birth[rng.random(n) < 0.2] = None
    b2b = rng.random(n) < 0.25
    k = rng.choice(5, n, p=[0.35, 0.3, 0.2, 0.1, 0.05])
    tag_codes = rng.integers(0, len(TAGS), int(k.sum()))
    splits = np.cumsum(k)[:-1]
    tags = [sorted(set(t)) for t in np.split(TAGS[tag_codes], splits)]
    rfm = pd.Categorical(np.array(RFM, dtype=object)[rng.integers(0, len(RFM), n)], categories=RFM)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "company_id": pd.array(np.where(b2b, rng.integers(1, n // 20 + 2, n), 0), "Int64"),
            "gender": rng.choice(np.array(["m", "f"]), n),
            "birth_date": birth,
            "city": pd.array(CITIES[rng.choice(len(CITIES), n, p=CITY_P / CITY_P.sum())], "str"),
            "language": rng.choice(np.array(["ru", "en"]), n, p=[0.85, 0.15]),
            "source": SOURCES[rng.integers(0, len(SOURCES), n)],
            "lifecycle_stage": STAGES[rng.integers(0, len(STAGES), n)],
            "job_title": pd.array(
                np.where(b2b, TITLES[rng.integers(0, len(TITLES), n)], None), "str"
            ),
            "is_loyalty_member": rng.random(n) < 0.4,
            "created_at": created,
            "orders": orders.astype(np.int64),
            "revenue": revenue,
            "first_order_at": first,
            "last_order_at": last,
            "events_opened_90d": rng.poisson(1.2, n),
            "events_clicked_90d": rng.poisson(0.3, n),
            "last_activity_at": activity,
            "email_consent": rng.random(n) < 0.6,
            "sms_consent": rng.random(n) < 0.4,
            "has_mobile": rng.random(n) < 0.8,
            "tags": pd.Series(tags, dtype=object),
            "rfm_segment": rfm,
            "lead_score": np.round(rng.random(n) * 100, 1),
            "tier": TIERS[rng.choice(3, n, p=[0.8, 0.15, 0.05])],
        }
    )
    frame.loc[~b2b, "company_id"] = pd.NA
    frame.loc[rng.random(n) < 0.05, "city"] = None
    return frame


def _condition(rng: np.random.Generator) -> dict[str, Any]:
    pick = int(rng.integers(0, 20))
    city = str(rng.choice(CITIES))
    cased = [city, city.lower(), city.upper()][int(rng.integers(0, 3))]
    tags = [str(t) for t in rng.choice(TAGS, int(rng.integers(1, 4)), replace=False)]
    rfm = [
        str(s)
        for s in rng.choice(np.array(RFM, dtype=object), int(rng.integers(1, 4)), replace=False)
    ]
    days = int(rng.choice([7, 14, 30, 60, 90, 180, 365]))
    return [
        {"city": cased},
        {"city": {"in": [str(c).lower() for c in rng.choice(CITIES, 3, replace=False)]}},
        {"city": {"ne": city}},
        {"job_title": {"contains": str(rng.choice(["директор", "DIRECTOR", "бухгалтер"]))}},
        {"job_title": {"starts_with": str(rng.choice(["ген", "ceo", "head"]))}},
        {"revenue": {"gte": int(rng.choice([1000, 5000, 20000, 50000]))}},
        {"revenue": {"between": [5000, int(rng.choice([20000, 60000, 150000]))]}},
        {"orders": {"gte": int(rng.integers(1, 5))}},
        {"rfm_segment": {"in": rfm}},
        {"last_order_at": {"within_last": f"{days} days"}},
        {"last_order_at": {"older_than": f"{days} days"}},
        {"created_at": {"within_last": f"{int(rng.integers(1, 13))} months"}},
        {"tags": {"has_any": tags}},
        {"tags": {"has_all": tags[:2]}},
        {"not": {"tags": {"has_any": tags[:1]}}},
        {"any": [{"email_consent": True}, {"sms_consent": True}]},
        {"birth_date": {"birthday_within_next": str(rng.choice(["7 days", "2 weeks", "1 month"]))}},
        {"lifecycle_stage": {"not_in": [str(s) for s in rng.choice(STAGES, 2, replace=False)]}},
        {"events_opened_90d": {"gt": 0}},
        {"lead_score": {"gte": int(rng.integers(20, 90))}, "is_loyalty_member": True},
    ][pick]


def make_definitions(count: int, seed: int = 3) -> str:
    """YAML text of ``count`` generated segments, 2–6 conditions each."""
    rng = np.random.default_rng(seed)
    segments = []
    for i in range(count):
        conditions = [_condition(rng) for _ in range(int(rng.integers(2, 7)))]
        if rng.random() < 0.2:
            conditions = [{"any": conditions[:2]}, *conditions[2:]]
        segments.append({"name": f"generated_{i:03d}", "where": {"all": conditions}})
    return yaml.safe_dump({"segments": segments}, allow_unicode=True, sort_keys=False)


VIP = """\
segments:
  - name: vip_moscow
    where:
      all:
        - rfm_segment: {in: [Champions, Loyal]}
        - city: москва
        - revenue: {gte: 20000}
        - last_order_at: {within_last: 90 days}
        - not: {tags: {has_any: ["interest:sport"]}}
        - any: [{email_consent: true}, {sms_consent: true}]
"""


# ----------------------------------------------------------------- the plain-pandas baseline
def _norm(series: pd.Series) -> pd.Series:
    s = series.astype("string").str.strip().str.normalize("NFC").str.casefold()
    return s.str.normalize("NFC").str.replace("ё", "е", regex=False)


def _naive(node: Any, frame: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    from segments.rules import Condition, normalize_text

    if not isinstance(node, Condition):
        masks = [_naive(item, frame, as_of) for item in node.items]
        if node.op == "not":
            return ~masks[0]
        out = masks[0]
        for m in masks[1:]:
            out = (out & m) if node.op == "all" else (out | m)
        return out
    s, op, v = frame[node.field], node.op, node.value
    if node.field == "tags":
        wanted = {normalize_text(t) for t in (v if isinstance(v, tuple) else (v,))}
        if op == "has_all":
            return s.map(lambda ts: wanted <= {t.casefold() for t in ts}).astype(bool)
        hit = s.map(lambda ts: any(t.casefold() in wanted for t in ts)).astype(bool)
        return ~hit if op == "has_none" else hit
    if op.startswith("birthday"):
        born = pd.to_datetime(s)
        key = born.dt.month * 32 + born.dt.day
        n = (pd.Timestamp(as_of.date()) + pd.DateOffset(months=1) - pd.Timestamp(as_of.date())).days
        n = {"7 days": 7, "2 weeks": 14}.get(v, n)
        days = [as_of.date() + dt.timedelta(days=i) for i in range(n)]
        allowed = {d.month * 32 + d.day for d in days}
        if any(d.month == 2 and d.day == 28 and not calendar.isleap(d.year) for d in days):
            allowed.add(2 * 32 + 29)
        return key.isin(allowed)
    if op in ("within_last", "older_than"):
        amount, unit = v.split()
        delta = (
            pd.DateOffset(months=int(amount))
            if unit == "months"
            else pd.Timedelta(days=int(amount))
        )
        if op == "within_last":
            return (s > as_of - delta) & (s <= as_of)
        return s <= as_of - delta
    if (
        isinstance(s.dtype, pd.CategoricalDtype)
        or s.dtype == object
        or pd.api.types.is_string_dtype(s.dtype)
    ):
        text = _norm(s)
        if op in ("eq", "in", "ne", "not_in"):
            wanted = [normalize_text(x) for x in (v if isinstance(v, tuple) else (v,))]
            hit = text.isin(wanted).fillna(False).astype(bool)
            return hit if op in ("eq", "in") else ~hit & s.notna()
        if op == "contains":
            return text.str.contains(normalize_text(v), regex=False).fillna(False).astype(bool)
        return text.str.startswith(normalize_text(v)).fillna(False).astype(bool)
    if op == "eq":
        return s == v
    if op == "gt":
        return s > v
    if op == "gte":
        return s >= v
    if op == "between":
        return s.between(*v)
    raise NotImplementedError(op)


def _baseline(definitions: list[Any], frame: pd.DataFrame, as_of: pd.Timestamp) -> list[int]:
    return [
        int(_naive(d.where, frame, as_of).fillna(False).astype(bool).sum()) for d in definitions
    ]


# ------------------------------------------------------------------------------- workers
def _work(method: str, n: int, count: int) -> dict[str, Any]:
    from segments.rules import PreparedProfiles, evaluate_many, load_segments, preview

    frame = make_profiles(n)
    out: dict[str, Any] = {"rows": n}
    if method in ("evaluate_many", "baseline"):
        definitions = load_segments(make_definitions(count))
        start = time.perf_counter()
        if method == "evaluate_many":
            members = evaluate_many(definitions, frame, AS_OF)
            sizes = members.groupby("segment", observed=False).size()
            out["sizes"] = [int(sizes[d.name]) for d in definitions]
        else:
            out["sizes"] = _baseline(definitions, frame, pd.Timestamp(AS_OF))
        out["segments"] = len(definitions)
    else:
        (vip,) = load_segments(VIP)
        prepared = PreparedProfiles(frame)
        if method == "preview_prepared":
            preview(vip, prepared, AS_OF)
        start = time.perf_counter()
        if method == "preview_baseline":
            mask = _naive(vip.where, frame, pd.Timestamp(AS_OF)).fillna(False).astype(bool)
            count_ = int(mask.sum())
            _sample = frame[mask.to_numpy()].sample(n=min(10, count_), random_state=0)
        else:
            source = prepared if method == "preview_prepared" else frame
            count_, _sample = preview(vip, source, AS_OF)
        out["sizes"] = [count_]
        out["segments"] = 1
    out["seconds"] = time.perf_counter() - start
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run(method: str, n: int, count: int) -> dict[str, Any]:
    return run_worker("bench_segments", method, "--profiles", n, "--segments", count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000, help="profile rows")
    parser.add_argument("--segments", type=int, default=100, help="generated segments")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_work(args.worker, args.profiles, args.segments)))
        return 0
    res = {m: _run(m, args.profiles, args.segments) for m in METHODS}
    if res["evaluate_many"]["sizes"] != res["baseline"]["sizes"]:
        diff = [
            i
            for i, (a, b) in enumerate(
                zip(res["evaluate_many"]["sizes"], res["baseline"]["sizes"], strict=True)
            )
            if a != b
        ]
        raise SystemExit(f"evaluate_many and the baseline disagree on segments {diff}")
    previews = {m: res[m]["sizes"][0] for m in METHODS if m.startswith("preview")}
    if len(set(previews.values())) != 1:
        raise SystemExit(f"the previews disagree: {previews}")
    rows = []
    for m in METHODS:
        r = res[m]
        base = {"evaluate_many": "baseline", "preview": "preview_baseline"}.get(m)
        if m == "preview_prepared":
            base = "preview_baseline"
        vs = f"{res[base]['seconds'] / r['seconds']:,.0f}× faster" if base else ""
        members = sum(r["sizes"])
        rows.append(
            f"| {args.profiles:,} | {m} | {r['segments']} | {r['seconds']:.3f} | "
            f"{r['segments'] / r['seconds']:,.1f} | {members:,} | {r['rss_mb']:,.0f} | {vs} |"
        )
        print(rows[-1], flush=True)
    sizes = np.array(res["evaluate_many"]["sizes"])
    write_report(
        RESULTS,
        "Segments benchmark",
        f"bench.bench_segments --profiles {args.profiles} --segments {args.segments}",
        [
            f"{args.segments} generated segments of 2–6 conditions (text in other letter cases, "
            "substrings, numeric ranges, RFM categories, tags any/all/none, time windows, "
            "birthdays, any/not groups) over synthetic profiles with crm.profiles' column kinds. "
            "`evaluate_many` starts from the raw frame (field preparation included); `baseline` "
            "evaluates each segment on its own with plain pandas expressions (`.str` methods, "
            "comparisons, `Series.map` over tag lists) and gives the same member count for "
            "every segment (checked). `preview`: one segment (VIP: 6 conditions) from the raw "
            "frame; `preview_prepared`: the same on a `PreparedProfiles` that served one "
            "preview before; `preview_baseline`: that segment in plain pandas and "
            "`DataFrame.sample`. Segment sizes: median "
            f"{int(np.median(sizes)):,}, max {int(sizes.max()):,}.",
        ],
        [
            "| profiles | step | segments | seconds | segments/s | members | peak RSS (MB) | vs baseline |",
            "|---:|---|---:|---:|---:|---:|---:|---:|",
            *rows,
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
