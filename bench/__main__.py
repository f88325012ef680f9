"""``python -m bench`` (``make bench``): run every ``bench/bench_*.py`` benchmark with its default sizes.

Each module's ``main()`` runs in turn, as if started with no arguments, and writes its own
table to ``bench/results/<topic>.md``. A benchmark that fails is reported and the others
still run; the exit code is 1 if any failed. Name modules on the command line to run only
those: ``python -m bench bench_store``.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

__all__ = ["discover", "main"]


def discover() -> list[str]:
    """Module names of the benchmarks, ``bench.bench_<topic>``, in alphabetical order."""
    here = Path(__file__).resolve().parent
    return [f"bench.{path.stem}" for path in sorted(here.glob("bench_*.py"))]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named in ``argv`` (default: all); returns the exit code."""
    wanted = list(sys.argv[1:] if argv is None else argv)
    modules = [m for m in discover() if not wanted or m in wanted or m.split(".", 1)[1] in wanted]
    failed = []
    saved = sys.argv
    for name in modules:
        print(f"=== {name}", flush=True)
        start = time.perf_counter()
        try:
            sys.argv = [name]  # each benchmark parses its own (empty) command line
            importlib.import_module(name).main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        finally:
            sys.argv = saved
        print(f"=== {name}: {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
