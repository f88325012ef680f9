"""Integer-array helpers of the identity pipeline (sort-based, for millions of pair codes).

``numpy.unique`` on a few million distinct ``int64`` codes (pairs written ``a * n + b``)
takes seconds through its hash table (numpy 2.3+); sorting takes a tenth of that. These
give the same results as ``numpy.unique`` (sorted distinct values, and the inverse).
"""

from __future__ import annotations

import numpy as np

__all__ = ["distinct", "distinct_inverse"]


def distinct(x: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``x`` (``numpy.unique(x)``).

    Examples
    --------
    >>> distinct(np.array([7, 3, 7, 1])).tolist()
    [1, 3, 7]
    """
    s = np.sort(np.asarray(x))
    if len(s) < 2:
        return s
    return s[np.r_[True, s[1:] != s[:-1]]]


def distinct_inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and the position of each element among them.

    ``numpy.unique(x, return_inverse=True)``, by one argsort.

    Examples
    --------
    >>> [v.tolist() for v in distinct_inverse(np.array([7, 3, 7, 1]))]
    [[1, 3, 7], [2, 1, 2, 0]]
    """
    x = np.asarray(x)
    order = np.argsort(x)
    s = x[order]
    first = np.ones(len(s), dtype=bool)
    if len(s) > 1:
        first[1:] = s[1:] != s[:-1]
    inverse = np.empty(len(x), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return s[first], inverse
