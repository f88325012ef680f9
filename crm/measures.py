"""Customer measures that more than one room reports, defined once.

Pure numpy: ``segments`` (profiles) and ``loyalty`` (its KPIs) both import from here, so a
figure called the same in two places is computed the same way.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["repeat_share"]


def repeat_share(paid_orders: npt.ArrayLike) -> np.ndarray:
    """The share of a customer's paid orders that are repeat purchases (S5): ``(n - 1) / n``.

    Every paid order but the first is a repeat purchase; a customer without orders has a
    share of 0. Segments store it as a fraction (``loyalty_share``), the loyalty KPIs as a
    percentage (``loyalty_pct``).

    >>> repeat_share([0, 1, 2, 4]).tolist()
    [0.0, 0.0, 0.5, 0.75]
    """
    n = np.asarray(paid_orders, dtype=np.float64)
    return np.where(n > 0, (n - 1) / np.maximum(n, 1), 0.0)
