"""Small drawing helpers shared by the generator's modules (one stream, vectorised)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NULL", "ids", "pick", "stamps", "text"]

NULL: Any = None  # a missing value in np.where (typed Any for numpy's overloads)


def pick(
    rng: np.random.Generator, values: np.ndarray | list, n: int, p: np.ndarray | None = None
) -> np.ndarray:
    """``n`` values drawn from ``values`` (with probabilities ``p``), as an object array."""
    arr = np.asarray(values, dtype=object)
    return arr[rng.choice(len(arr), size=n, p=p)]


def stamps(base: dt.datetime, seconds: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps ``seconds`` after ``base`` (microsecond resolution)."""
    micro = (np.asarray(seconds, dtype=np.float64) * 1e6).astype("int64")
    epoch = int(pd.Timestamp(base).value // 1000)
    return pd.DatetimeIndex((micro + epoch).astype("datetime64[us]")).tz_localize("UTC")


def text(arr: np.ndarray | pd.Series | list) -> pd.Series:
    """A text column (pandas' ``str`` dtype)."""
    return pd.Series(arr, dtype="str")


def ids(prefix: str, n: int, width: int = 8) -> pd.Series:
    """External ids ``prefix00000001`` … for ``n`` rows."""
    nums = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    padded = pc.utf8_lpad(nums, width=width, padding="0")
    return pd.Series(
        pc.binary_join_element_wise(prefix, padded, "").to_pandas(types_mapper=pd.ArrowDtype),
        dtype="str",
    )
