"""Benchmark: personalised messages rendered, each customer on their chosen channel (C4).

Data is seeded and synthetic (numpy): ``size`` recipients, 60 % Russian (the example win-back,
``campaigns/examples/winback_sms_ru.yaml``: 70 % of them by SMS with a personal promo code, the
rest by email) and 40 % English (the example birthday email,
``campaigns/examples/birthday_email_en.yaml``, variant A); names in mixed case with some
missing, 5 % over their CRM budget (``no_incentive``). Each method runs in its own subprocess
that builds its data before the clock starts, so its peak memory (``ru_maxrss``) is its own;
every time includes building the personalisation contexts from the profile columns.

* ``ours``: :func:`campaigns.context.build_contexts` then
  :func:`campaigns.batch.render_messages` with 2 worker processes (rows split by a hash of
  the customer id): subject, HTML and text parts, SMS text with encoding and segment count,
  signed unsubscribe links and the MIME bytes of every email.
* ``ours_1proc``: the same in one process.
* ``naive``: the same contexts, then ``to_dict('records')`` and Jinja2's ``Template.render``
  per row and part, ``segment_count`` per SMS and an ``email.message.EmailMessage`` per email:
  what a first version would write. Run on ``--baseline-size`` rows and scaled to ``size``
  (stated in the table); its texts are checked equal to ``ours`` on those rows.
* ``fstring``: the floor: plain Python f-strings over zipped columns, the same texts without a
  template engine, escaping only the HTML names, no links, no MIME.

Run ``.venv/bin/python -m bench.bench_render [--size 1000000] [--baseline-size 100000]``; the
table is written to ``bench/results/render.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import platform
import resource
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bench._worker import run_worker

__all__ = ["main", "recipients", "templates"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "render.md"
EXAMPLES = ROOT / "campaigns" / "examples"
METHODS = ("ours", "ours_1proc", "naive", "fstring")
AS_OF = pd.Timestamp("2026-12-01 06:00", tz="UTC")
SECRET = "bench-secret"
EMAIL_FROM = "Shop <news@shop.example>"
PARAMS = {
    "discount_percent": 15,
    "bonus_points": 500,
    "valid_until": dt.date(2026, 12, 15),
}
RU_NAMES = np.array(
    ["иван", "Анна", "МАРИЯ", "Пётр", "ольга", "Сергей", "Анна-Мария", "дмитрий", None, "Елена"],
    dtype=object,
)
EN_NAMES = np.array(
    ["jane", "John", "MARY", "o'neil", "DeShawn", None, "Emily", "james", "Olivia", "noah"],
    dtype=object,
)


def templates() -> dict[str, Any]:
    """The example campaigns' templates: Russian SMS and email, English email (variant A)."""
    winback = yaml.safe_load((EXAMPLES / "winback_sms_ru.yaml").read_text(encoding="utf-8"))
    birthday = yaml.safe_load((EXAMPLES / "birthday_email_en.yaml").read_text(encoding="utf-8"))
    return {
        "sms": {"ru": winback["templates"]["sms"]["ru"]},
        "email": {
            "ru": winback["templates"]["email"]["ru"],
            "en": birthday["templates"]["email"]["en"],
        },
    }


def recipients(n: int, seed: int = 11) -> pd.DataFrame:
    """``n`` audience rows with the profile columns the contexts are built from."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    russian = rng.random(n) < 0.6
    sms = russian & (rng.random(n) < 0.7)
    first = np.where(
        russian,
        RU_NAMES[rng.integers(0, len(RU_NAMES), n)],
        EN_NAMES[rng.integers(0, len(EN_NAMES), n)],
    )
    channel = np.where(sms, "sms", "email").astype(object)
    key_prefix = np.where(russian, "winback_sms_ru:1:", "birthday_email_en:1:").astype(object)
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "message_key": key_prefix + ids.astype(str).astype(object) + ":2026-12",
            "channel": channel,
            "language": np.where(russian, "ru", "en").astype(object),
            "first_name": first,
            "last_name": np.where(russian, "Петров", "Smith").astype(object),
            "gender": np.where(rng.random(n) < 0.5, "m", "f").astype(object),
            "timezone": "Europe/Moscow",
            "no_incentive": rng.random(n) < 0.05,
        }
    )
    phones = "+7916" + pd.Series(ids % 10_000_000).astype(str).str.zfill(7)
    emails = "c" + pd.Series(ids).astype(str) + "@example.com"
    frame["address"] = np.where(sms, phones.to_numpy(dtype=object), emails.to_numpy(dtype=object))
    return frame


def promo_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """A personal code for every Russian recipient."""
    ru = frame.loc[frame["language"] == "ru", "customer_id"]
    return pd.DataFrame({"customer_id": ru, "promo_code": "WB" + ru.astype(str).str.zfill(8)})


def _contexts(frame: pd.DataFrame) -> pd.DataFrame:
    from campaigns.context import build_contexts

    return build_contexts(frame, promo_codes=promo_codes(frame))


def _naive(contexts: pd.DataFrame) -> dict[str, Any]:
    """``to_dict('records')`` and one ``Template.render`` per row and part, then
    ``segment_count`` per SMS and an ``EmailMessage`` per email; each phase timed."""
    from campaigns.links import unsubscribe_url
    from campaigns.sandbox import CHANNEL_PARTS, compile_templates
    from campaigns.sms import segment_count

    compiled = compile_templates(templates(), {**PARAMS, "track": lambda url: url})
    start = time.perf_counter()
    rendered = []
    for row in contexts.to_dict("records"):
        parts = compiled[(row["channel"], row["language"])]
        url = unsubscribe_url(
            "http://127.0.0.1:8000",
            SECRET,
            row["message_key"],
            row["customer_id"],
            row["channel"],
            issued_at=AS_OF,
        )
        texts = {
            column: parts[part].render(row, unsubscribe_url=url)
            for part, column in CHANNEL_PARTS[row["channel"]].items()
        }
        rendered.append((row, url, texts))
    render_s = time.perf_counter() - start
    out: dict[str, Any] = {"sms_text": [], "body_html": [], "mime": [], "segments": []}
    for row, url, texts in rendered:
        if row["channel"] == "sms":
            out["sms_text"].append(texts["sms_text"])
            out["segments"].append(segment_count(texts["sms_text"])[1])
        else:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = EMAIL_FROM, row["address"], texts["subject"]
            msg["List-Unsubscribe"] = f"<{url}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            msg.set_content(texts["body_text"])
            msg.add_alternative(texts["body_html"], subtype="html")
            out["body_html"].append(texts["body_html"])
            out["mime"].append(msg.as_bytes())
    out["render_s"] = render_s
    out["mime_s"] = time.perf_counter() - start - render_s
    return out


def _fstring(contexts: pd.DataFrame) -> list[str]:
    """The same texts from f-strings over zipped columns: no engine, no links, no MIME."""
    until_ru, until_en = "15 декабря 2026 г.", "December 15, 2026"
    out = []
    for channel, language, greeting, first, code, no_incentive in zip(
        contexts["channel"],
        contexts["language"],
        contexts["greeting"],
        contexts["first_name"],
        contexts["promo_code"],
        contexts["no_incentive"],
        strict=True,
    ):
        if channel == "sms":
            offer = (
                "Заходите: у нас много нового."
                if no_incentive
                else (f"Скидка 15% по коду {code} до 15 декабря.")
            )
            out.append(f"{greeting} Скучаем! {offer}")
        elif language == "ru":
            offer = (
                "Заходите: у нас много нового."
                if no_incentive
                else (f"Скидка 15% по коду {code} до {until_ru}.")
            )
            out.append(f"{first or 'Мы'}, скучаем по вам: скидка 15%")
            out.append(f"<p>{html.escape(greeting)}</p><p>{offer}</p>")
            out.append(f"{greeting}\n{offer}")
        else:
            gift = (
                ""
                if no_incentive
                else (f" We added 500 bonus points to your card; they are yours until {until_en}.")
            )
            out.append(f"Happy birthday{', ' + first if first else ''}! 500 points inside")
            out.append(f"<p>{html.escape(greeting)}</p><p>Happy birthday!{gift}</p>")
            out.append(f"{greeting}\nHappy birthday!{gift}")
    return out


def _work(method: str, size: int, baseline_size: int) -> dict[str, Any]:
    from campaigns.batch import render_messages

    rows = min(size, baseline_size) if method == "naive" else size
    frame = recipients(size).iloc[:rows]
    out: dict[str, Any] = {"rows": rows, "load": os.getloadavg()[0]}
    start = time.perf_counter()
    contexts = _contexts(frame)
    out["contexts_s"] = time.perf_counter() - start
    if method in ("ours", "ours_1proc"):
        result = render_messages(
            contexts,
            templates(),
            as_of=AS_OF,
            secret=SECRET,
            email_from=EMAIL_FROM,
            params=PARAMS,
            processes=2 if method == "ours" else 1,
        )
        out["seconds"] = time.perf_counter() - start
        sms = result["sms_segments"].dropna()
        out["detail"] = (
            f"{len(sms):,} SMS ({int(sms.sum()):,} segments), "
            f"{int(result['mime'].notna().sum()):,} emails, "
            f"{result['mime'].dropna().map(len).sum() / 2**20:,.0f} MiB of MIME"
        )
        if method == "ours_1proc":
            head = result.iloc[: min(size, baseline_size)]
            out["check"] = {
                "sms_text": head["sms_text"].dropna().tolist(),
                "body_html": head["body_html"].dropna().tolist(),
            }
    elif method == "naive":
        naive = _naive(contexts)
        out["seconds"] = time.perf_counter() - start
        out["detail"] = (
            f"{len(naive['sms_text']):,} SMS, {len(naive['mime']):,} emails; rendering "
            f"{naive['render_s']:.2f} s, EmailMessage and segment_count {naive['mime_s']:.2f} s"
        )
        out["check"] = {"sms_text": naive["sms_text"], "body_html": naive["body_html"]}
        begin = time.perf_counter()
        contexts.to_dict("records")
        out["to_dict_s"] = time.perf_counter() - begin
    else:
        texts = _fstring(contexts)
        out["seconds"] = time.perf_counter() - start
        out["detail"] = f"{len(texts):,} parts"
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="messages")
    parser.add_argument("--baseline-size", type=int, default=100_000, help="rows for naive")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_work(args.worker, args.size, args.baseline_size), default=str))
        return 0
    res = {
        m: run_worker("bench_render", m, "--size", args.size, "--baseline-size", args.baseline_size)
        for m in METHODS
    }
    check, naive = res["ours_1proc"].pop("check"), res["naive"].pop("check")
    if check != naive:
        raise SystemExit("naive and ours rendered different texts on the same rows")
    size = args.size
    lines = []
    for m in METHODS:
        r = res[m]
        scale = size / r["rows"]
        seconds = r["seconds"] * scale
        note = f" (measured on {int(r['rows']):,} rows, ×{scale:g})" if scale != 1 else ""
        vs = "" if m == "ours" else f"{seconds / res['ours']['seconds']:.1f}× ours"
        lines.append(
            f"| {m} | {size:,} | {seconds:.2f}{note} | {size / seconds:,.0f} | "
            f"{r['contexts_s'] * scale:.2f} | {r['rss_mb']:,.0f} | {r['load']:.1f} | "
            f"{r['detail']} | {vs} |"
        )
        print(lines[-1], flush=True)
    cmd = f"--size {size} --baseline-size {args.baseline_size}"
    text = "\n".join(
        [
            "# Rendering benchmark",
            "",
            f"Command: `.venv/bin/python -m bench.bench_render {cmd}`",
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, pandas {pd.__version__}; load average "
            f"{os.getloadavg()[0]:.1f} at the end of the run (other developers' jobs share the "
            "cores, so absolute times are pessimistic).",
            "",
            "Recipients: 60 % Russian win-back (70 % SMS with a personal promo code, 30 % email), "
            "40 % English birthday email; the example campaigns' templates. Every time includes "
            "building the contexts from profile columns (`contexts s` is that part alone).",
            "",
            "| method | messages | seconds | messages/s | contexts s | peak RSS (MB) | load | output "
            "| vs ours |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|",
            *lines,
            "",
            f"`to_dict('records')` alone on the naive run's {int(res['naive']['rows']):,} rows: "
            f"{res['naive']['to_dict_s']:.2f} s ({res['naive']['to_dict_s'] * size / res['naive']['rows']:.1f} s "
            "scaled to the full size).",
            "The naive and our texts (SMS and HTML) are equal on the naive run's rows (checked).",
            "`load` is the 1-minute load average when the method's process started (2 cores; "
            "above 2, other developers' jobs were taking CPU from the measurement).",
            "",
        ]
    )
    RESULTS.write_text(text, encoding="utf-8")
    print(f"written {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
