"""splink 5 on the dedup benchmark's frame: run by ``bench.bench_dedup`` in splink's own Python.

Standalone (it imports neither ``crm`` nor ``bench``): splink and its DuckDB backend live in
a separate virtualenv (``BENCH_SPLINK_PYTHON``), since they pin other versions than the
project. The setup is splink's documented standard one for person records, nothing tuned
to the data: name comparisons (Jaro–Winkler levels and exact), date of birth, email,
phone, postcode; blocking on phone, email, names, date of birth with surname; u from
random pairs, the prior from deterministic rules, m by EM on two blocking rules; pairs
scored, clustered at a match probability of 0.5 (connected components).

Usage: ``python bench/splink_worker.py SRC.parquet OUT.parquet``; prints one JSON line.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

__all__ = ["main"]


def main(src: str, out: str) -> None:
    """Cluster the records of ``src`` with splink; write ``label`` per row to ``out``."""
    frame = pd.read_parquet(src)
    start = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.PostcodeComparison("postcode"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("phone"),
            block_on("email"),
            block_on("first_name", "surname"),
            block_on("dob", "surname"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(frame), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("phone", "surname"), block_on("email")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pairs, threshold_match_probability=0.5
    ).as_pandas_dataframe()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/status", encoding="ascii") as fh:  # ru_maxrss survives execve
        hwm = [ln for ln in fh if ln.startswith("VmHWM:")]
    if hwm:
        peak = int(hwm[0].split()[1]) / 1024
    label = frame[["unique_id"]].merge(clusters[["unique_id", "cluster_id"]], how="left")
    codes = pd.factorize(label["cluster_id"].fillna(label["unique_id"]).astype(str))[0]
    pd.DataFrame({"label": codes}).to_parquet(out)
    print(json.dumps({"seconds": seconds, "peak_mb": peak}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
