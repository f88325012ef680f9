"""Giving freed memory back to the system between the large steps of a job.

glibc keeps the freed heap pages of the large frames a step built (fragmented between
smaller live objects), and Arrow's memory pool (mimalloc) the pages of its freed buffers, so
without a release each step's peak adds to what the last one left and a job's peak is their
sum rather than its largest step's. The nightly job releases between its stages, a history
backfill between its customer parts (:func:`flows.loyalty.book`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc

import pyarrow as pa

__all__ = ["release_memory"]


def release_memory() -> None:
    """Collect garbage, trim glibc's heap and empty Arrow's pool of unused pages."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): no trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    pa.default_memory_pool().release_unused()
