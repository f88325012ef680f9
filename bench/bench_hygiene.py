"""Benchmark: hygiene normalisers and the whole ``crm clean`` pass against plain per-row baselines.

The data comes from :func:`crm.sample.generate` (bilingual, messy: phones in many formats,
upper-case and mistyped emails, swapped and packed names). Each method runs in its own
subprocess that reads the frames from Parquet before the clock starts, so its peak resident
memory (``ru_maxrss``) is its own.

* ``phones``: :func:`crm.hygiene.normalise_phones` (vectorised clean-up, one ``phonenumbers``
  parse per distinct value) vs the plain way: ``phonenumbers.parse`` + validate + format per row.
* ``emails``: :func:`crm.hygiene.normalise_emails` (strict-pattern fast path, ``email-validator``
  once per distinct remaining value, list look-ups per distinct domain) vs
  ``email_validator.validate_email`` per row.
* ``names``: :func:`crm.hygiene.normalise_names` vs the same proper-case rule applied per row
  and per field (no distinct-value caching; no split/swap/fake rules, so the baseline does less).
* ``clean_base``: the whole pass (names, titles, cities, phones, emails, decay, completeness,
  robot, KPI) — no baseline, reported for scale.

Run ``.venv/bin/python -m bench.bench_hygiene [--size 100000 --size 1000000]``; the table is
written to ``bench/results/hygiene.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench._worker import run_worker, write_report

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "hygiene.md"
METHODS = (
    "phones",
    "phones_baseline",
    "emails",
    "emails_baseline",
    "names",
    "names_baseline",
    "clean_base",
)


def _work(method: str, data: Path) -> int:
    customers = pd.read_parquet(data / "customers.parquet")
    points = pd.read_parquet(data / "contact_points.parquet")
    phones = points.loc[points["kind"] == "phone", "value"]
    emails = points.loc[points["kind"] == "email", "value"]
    rows = len(customers)
    start = time.perf_counter()
    if method == "phones":
        from crm.hygiene import normalise_phones

        normalise_phones(phones, "RU")
        rows = len(phones)
    elif method == "phones_baseline":
        import phonenumbers

        def one(raw: str) -> str | None:
            try:
                n = phonenumbers.parse(raw, "RU")
            except phonenumbers.NumberParseException:
                return None
            if not phonenumbers.is_valid_number(n):
                return None
            phonenumbers.number_type(n)
            return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)

        [one(v) for v in phones.tolist()]
        rows = len(phones)
    elif method == "emails":
        from crm.hygiene import normalise_emails

        normalise_emails(emails)
        rows = len(emails)
    elif method == "emails_baseline":
        import email_validator

        def check(raw: str) -> str | None:
            try:
                return email_validator.validate_email(
                    raw.strip(), check_deliverability=False
                ).normalized.lower()
            except email_validator.EmailNotValidError:
                return None

        [check(v) for v in emails.tolist()]
        rows = len(emails)
    elif method == "names":
        from crm.hygiene import normalise_names

        normalise_names(customers[["first_name", "last_name", "middle_name", "gender"]])
    elif method == "names_baseline":
        from crm.hygiene.names import _proper

        for col in ("first_name", "last_name", "middle_name"):
            [_proper(v) if isinstance(v, str) else None for v in customers[col].tolist()]
    elif method == "clean_base":
        from crm.hygiene import clean_base

        consents = pd.read_parquet(data / "consents.parquet")
        orders = pd.read_parquet(data / "orders.parquet")
        events = pd.read_parquet(data / "events.parquet")
        as_of = pd.Timestamp(json.loads((data / "meta.json").read_text())["as_of"])
        clean_base(customers, points, consents, as_of=as_of, orders=orders, events=events)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "rows": rows}))
    return 0


def _prepare(size: int, folder: Path) -> None:
    from crm import sample

    data = sample.generate(size, seed=7, orders_per_customer=2.0, events_per_customer=1.0)
    data["customers"].to_parquet(folder / "customers.parquet")
    data["contact_points"].to_parquet(folder / "contact_points.parquet")
    data["consents"].to_parquet(folder / "consents.parquet")
    data["orders"][["customer_id", "ordered_at"]].to_parquet(folder / "orders.parquet")
    events = data["marketing_events"]
    events[["customer_id", "channel", "kind", "detail", "occurred_at"]].to_parquet(
        folder / "events.parquet"
    )
    (folder / "meta.json").write_text(json.dumps({"as_of": sample.DEFAULT_AS_OF.isoformat()}))


def _run(method: str, folder: Path) -> dict[str, float]:
    return run_worker("bench_hygiene", method, "--data", folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="Customer records (repeatable).")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _work(args.worker, args.data)
    sizes = args.size or [100_000]
    lines = [
        "| customers | step | rows | seconds | rows/s | peak RSS (MB) | vs baseline |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _prepare(size, folder)
            results = {m: _run(m, folder) for m in METHODS}
        for m in METHODS:
            r = results[m]
            base = results.get(f"{m}_baseline")
            speed = f"{base['seconds'] / r['seconds']:.1f}× faster" if base else ""
            lines.append(
                f"| {size:,} | {m} | {int(r['rows']):,} | {r['seconds']:.2f} | "
                f"{r['rows'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} | {speed} |"
            )
            print(lines[-1], flush=True)
    cmd = " ".join(f"--size {s}" for s in sizes)
    write_report(RESULTS, "Hygiene benchmark", f"bench.bench_hygiene {cmd}", [], lines)
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
