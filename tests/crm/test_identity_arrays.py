"""crm.identity.arrays: the sort-based distinct values agree with numpy.unique."""

from __future__ import annotations

import numpy as np

from crm.identity.arrays import distinct, distinct_inverse


def test_distinct_and_its_inverse_are_numpy_unique() -> None:
    x = np.random.default_rng(5).integers(0, 10**12, 5_000)
    x = np.concatenate([x, x[:700]])  # some values twice
    assert distinct(x).tolist() == np.unique(x).tolist()
    values, inverse = distinct_inverse(x)
    ref_values, ref_inverse = np.unique(x, return_inverse=True)
    assert values.tolist() == ref_values.tolist()
    assert inverse.tolist() == ref_inverse.tolist()
    assert (values[inverse] == x).all()


def test_empty_and_single_arrays() -> None:
    assert distinct(np.array([], dtype=np.int64)).tolist() == []
    assert [v.tolist() for v in distinct_inverse(np.array([4]))] == [[4], [0]]
