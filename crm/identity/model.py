"""The Fellegi–Sunter match model: per-field agreement weights, set or learned by EM.

For each field and agreement level, ``m`` is the probability of that level when the two
records are the same person and ``u`` when they are not. A pair's evidence is the sum over
its non-missing fields of ``log(m / u)``; with the share of matches among the pairs (the
prior) it gives the probability that the pair is one person. ``u`` is best measured on
random record pairs (:func:`crm.identity.resolve.estimate_u` does that); ``m`` and the
prior are learned by expectation–maximisation on the candidate pairs, which needs no
labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from crm.identity.compare import FIELDS
from crm.identity.errors import IdentityError

__all__ = ["DEFAULT_M", "DEFAULT_U", "FellegiSunter", "default_m"]

_FLOOR = 1e-6

#: Set weights: ``m`` (level shares among true matches, level 0 = disagree) for each field.
#: Measured on seed pairs of the sample generator and softened for real-world noise (people
#: change phones and keep several emails); used where the data is too small to learn them.
DEFAULT_M: dict[str, list[float]] = {
    "first_name": [0.01, 0.05, 0.10, 0.84],
    "last_name": [0.02, 0.08, 0.25, 0.65],
    "middle_name": [0.01, 0.02, 0.97],
    "gender": [0.01, 0.99],
    "birth_date": [0.01, 0.03, 0.96],
    "phone": [0.05, 0.01, 0.94],
    "email": [0.25, 0.05, 0.70],
    "address": [0.05, 0.03, 0.92],
    "postcode": [0.02, 0.02, 0.96],
    "external_id": [0.02, 0.03, 0.95],
}


#: Set ``u`` (level shares among random pairs of different people), from the sample
#: generator's 100k records; used for frames too small to measure it.
DEFAULT_U: dict[str, list[float]] = {
    "first_name": [0.985, 0.004, 0.002, 0.009],
    "last_name": [0.993, 0.003, 0.002, 0.002],
    "middle_name": [0.97, 0.01, 0.02],
    "gender": [0.5, 0.5],
    "birth_date": [0.9955, 0.0044, 0.0001],
    "phone": [0.99999, 1e-6, 1e-5],
    "email": [0.99998, 1e-5, 1e-5],
    "address": [0.9995, 0.0004, 1e-5],
    "postcode": [0.99, 0.005, 0.005],
    "external_id": [0.99998, 1e-5, 1e-5],
}


def default_m(levels: int, field: str | None = None) -> np.ndarray:
    """The set ``m`` of ``field`` (:data:`DEFAULT_M`), or a generic one: mostly the top level."""
    if field in DEFAULT_M and len(DEFAULT_M[field]) == levels:
        return np.asarray(DEFAULT_M[field], dtype=float)
    m = np.full(levels, 0.1 / max(levels - 2, 1))
    m[0] = 0.05
    m[-1] = 0.85 if levels > 2 else 0.95
    return m / m.sum()


class FellegiSunter:
    """Fellegi–Sunter model over comparison levels (scikit-learn estimator contract).

    Parameters
    ----------
    u : mapping of field -> array, optional
        Level probabilities among non-matching pairs, kept fixed when given.
    m : mapping of field -> array, optional
        Starting (or, with ``max_iter=0``, fixed) level probabilities among matches.
    prior : float
        Starting share of matches among the pairs scored.
    max_iter : int
        EM iterations (0: use ``m`` and ``prior`` as set).
    tol : float
        Stop when no parameter moves more than this.
    fit_m : bool
        Learn ``m`` (default); ``False`` keeps ``m`` as given.
    fit_u : bool, optional
        Learn ``u`` too; by default only when ``u`` is not given. A given ``u`` is then
        the starting point.

    Attributes
    ----------
    m_, u_ : dict of field -> numpy.ndarray
    prior_ : float
    n_iter_ : int
    fields_ : list of str

    Examples
    --------
    >>> model = FellegiSunter(u=u).fit(levels)     # levels: one column per field, -1 missing
    >>> model.predict_proba(levels)                 # probability that each pair is one person
    """

    def __init__(
        self,
        u: Mapping[str, np.ndarray] | None = None,
        m: Mapping[str, np.ndarray] | None = None,
        prior: float = 0.05,
        max_iter: int = 60,
        tol: float = 1e-5,
        fit_m: bool = True,
        fit_u: bool | None = None,
    ) -> None:
        self.u = u
        self.m = m
        self.prior = prior
        self.max_iter = max_iter
        self.tol = tol
        self.fit_m = fit_m
        self.fit_u = fit_u

    def fit(self, X: pd.DataFrame, y: None = None) -> FellegiSunter:
        """Learn ``m`` and the prior (and ``u`` when not given) by EM on comparison levels."""
        fields = [c for c in X.columns if c in FIELDS]
        if not fields:
            raise IdentityError("no comparison fields to fit the model on")
        nlev = {f: FIELDS[f] for f in fields}
        m = {
            f: np.asarray((self.m or {}).get(f, default_m(nlev[f], f)), dtype=float) for f in fields
        }
        fixed_u = self.u is not None if self.fit_u is None else not self.fit_u
        u = {
            f: np.asarray(
                (self.u or {}).get(f, np.full(nlev[f], 1.0 / nlev[f])[::-1].cumsum()[::-1]),
                dtype=float,
            )
            for f in fields
        }
        u = {f: v / v.sum() for f, v in u.items()}
        prior = float(self.prior)
        # work on distinct level patterns with their counts: millions of pairs, hundreds of patterns
        lv = X[fields].to_numpy(dtype=np.int64)
        base = np.array([nlev[f] + 1 for f in fields], dtype=np.int64)
        mult = np.concatenate(([1], np.cumprod(base[:-1])))
        code = (lv + 1) @ mult
        uniq, counts = np.unique(code, return_counts=True)
        pat = (uniq[:, None] // mult[None, :]) % base[None, :] - 1
        cnt = counts.astype(float)
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            lm = np.full(len(pat), np.log(prior))
            lu = np.full(len(pat), np.log1p(-prior))
            for j, f in enumerate(fields):
                ok = pat[:, j] >= 0
                lm[ok] += np.log(np.maximum(m[f][pat[ok, j]], _FLOOR))
                lu[ok] += np.log(np.maximum(u[f][pat[ok, j]], _FLOOR))
            g = 1.0 / (1.0 + np.exp(np.clip(lu - lm, -700, 700)))
            w = cnt * g
            new_prior = float(np.clip(w.sum() / cnt.sum(), 1e-6, 1 - 1e-6))
            delta = abs(new_prior - prior)
            for j, f in enumerate(fields):
                ok = pat[:, j] >= 0
                if self.fit_m:
                    mm = np.bincount(pat[ok, j], weights=w[ok], minlength=nlev[f]) + 1e-3
                    delta = max(delta, float(np.abs(mm / mm.sum() - m[f]).max()))
                    m[f] = mm / mm.sum()
                if not fixed_u:
                    uu = np.bincount(pat[ok, j], weights=(cnt - w)[ok], minlength=nlev[f]) + 1e-3
                    delta = max(delta, float(np.abs(uu / uu.sum() - u[f]).max()))
                    u[f] = uu / uu.sum()
            prior = new_prior
            if delta < self.tol:
                break
        self.fields_ = fields
        self.m_ = m
        self.u_ = u
        self.prior_ = prior
        self.n_iter_ = n_iter
        return self

    def _check(self) -> None:
        if not hasattr(self, "m_"):
            raise IdentityError("the model is not fitted: call fit() (or use max_iter=0)")

    def match_weight(self, X: pd.DataFrame) -> np.ndarray:
        """Evidence ``sum(log2(m/u))`` per pair over its non-missing fields (bits)."""
        self._check()
        w = np.zeros(len(X))
        for f in self.fields_:
            if f not in X:
                continue
            lev = X[f].to_numpy(dtype=np.int64)
            ok = lev >= 0
            table = np.log2(np.maximum(self.m_[f], _FLOOR) / np.maximum(self.u_[f], _FLOOR))
            w[ok] += table[lev[ok]]
        return w

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability that each pair is the same person."""
        logit2 = self.match_weight(X) + np.log2(self.prior_ / (1 - self.prior_))
        return 1.0 / (1.0 + np.exp2(np.clip(-logit2, -1000, 1000)))

    def weights_table(self) -> pd.DataFrame:
        """One row per field and level: ``m``, ``u`` and the weight ``log2(m/u)``."""
        self._check()
        rows = [
            {
                "field": f,
                "level": level,
                "m": float(self.m_[f][level]),
                "u": float(self.u_[f][level]),
                "weight": float(
                    np.log2(max(self.m_[f][level], _FLOOR) / max(self.u_[f][level], _FLOOR))
                ),
            }
            for f in self.fields_
            for level in range(len(self.m_[f]))
        ]
        return pd.DataFrame(rows)
