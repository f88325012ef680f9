"""Customer value: BG/NBD purchases, Gamma-Gamma spend, CLV and the personal CRM budget (S4).

Four pieces, each vectorised over a whole customer base:

* :class:`BetaGeoModel` — the BG/NBD model (Fader, Hardie & Lee 2005, "Counting your
  customers the easy way") fitted by maximum likelihood on the "buy till you die" summary
  of :func:`segments.rfm.btyd_summary` (columns ``frequency``, ``recency``, ``T``). It
  predicts the expected number of repeat purchases in the next ``t`` periods and the
  probability that a customer is still active.
* :class:`GammaGammaModel` — the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and
  CLV"; Hardie's note 025) fitted on the repeat customers' ``monetary_value``; it predicts
  the expected average order value of each customer.
* :func:`customer_value` — both predictions and the value over a horizon (months), with
  the discounting of ``lifetimes.utils._customer_lifetime_value``.
* :func:`personal_budget` — value × margin × share = the personal budget for
  communications and bonuses, per customer and averaged per segment (domain requirement S4).

How the fits are fast
---------------------
Customers with the same ``(frequency, recency, T)`` have the same likelihood, and summaries
built from orders have whole-period recency and T, so the fit runs on the distinct rows with
a weight each (a million customers over a year of days collapse to some hundred thousand
rows). The terms that depend on frequency only (the ``gammaln`` parts) are summed once per
distinct frequency, ``log(alpha + T)`` and ``log(alpha + recency)`` once per distinct value,
and customers without repeat purchases once per distinct ``T``. The gradient of the
log-likelihood is analytic, and L-BFGS-B minimises the mean negative log-likelihood over
the log-parameters, so every evaluation is a handful of NumPy passes over the distinct
repeat rows. The mixture term of BG/NBD is computed as ``A3 + softplus(A4 - A3)``
(log-sum-exp with one ``exp`` per row), never as a difference of exponentials. On a million
simulated customers both fits take 0.7 s, 25× ``lifetimes`` (``bench/results/value.md``).

Conventions shared with ``lifetimes``
-------------------------------------
The objective is the same as ``lifetimes.BetaGeoFitter``/``GammaGammaFitter``: the mean
negative log-likelihood plus ``penalizer * sum(params ** 2)``. For BG/NBD, like lifetimes,
time is first scaled so that the largest ``T`` is 1, the penalty applies to
``(r, alpha_scaled, a, b)``, and ``alpha`` is scaled back afterwards; with the same
penalizer both libraries therefore aim at the same optimum. ``log_likelihood_`` is the
plain (unpenalised) total log-likelihood in the summary's own time unit, the figure papers
report (CDNOW: -9582.4).

Example
-------
>>> summary = btyd_summary(orders, as_of=date(2026, 11, 1), period="D")
>>> bgnbd = BetaGeoModel().fit(summary)
>>> spend = GammaGammaModel().fit(summary)
>>> values = customer_value(summary, bgnbd, spend, horizon=12)          # one year
>>> budget = personal_budget(values, margin=0.3, share=0.1, segments=rfm_segments)
>>> budget.by_segment                       # customers, total/mean value and budget
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from crm.columns import CUSTOMER_ID
from segments.errors import (
    ConvergenceError,
    InvalidDataError,
    InvalidParameterError,
    MissingColumnsError,
)

__all__ = [
    "BetaGeoModel",
    "GammaGammaModel",
    "PersonalBudget",
    "customer_value",
    "personal_budget",
]

_FREQUENCY, _RECENCY, _T, _MONETARY = "frequency", "recency", "T", "monetary_value"
#: periods per month, as ``lifetimes.utils._customer_lifetime_value`` counts them
_PERIODS_PER_MONTH = {"D": 30.0, "W": 4.345}
_START = 0.1  # lifetimes' starting point: every log-parameter 0.1 (BG/NBD in scaled time)


# --------------------------------------------------------------------------- input checks
def _column(summary: pd.DataFrame, name: str) -> np.ndarray:
    values = summary[name].to_numpy(dtype=np.float64)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise InvalidDataError(name, bad, "missing or infinite values")
    return values


def _check_frame(summary: Any, columns: tuple[str, ...], what: str) -> None:
    if not isinstance(summary, pd.DataFrame):
        raise InvalidParameterError(what, type(summary).__name__, "a DataFrame")
    missing = [c for c in columns if c not in summary.columns]
    if missing:
        raise MissingColumnsError(missing, what)


def _rfm_arrays(
    summary: Any, *, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequency, recency and T of a BTYD summary, checked like ``lifetimes._check_inputs``."""
    _check_frame(summary, (_FREQUENCY, _RECENCY, _T), "summary")
    if len(summary) == 0 and not allow_empty:
        raise InvalidDataError(_FREQUENCY, 0, "the summary has no customers")
    x, t_x, age = (_column(summary, c) for c in (_FREQUENCY, _RECENCY, _T))
    checks = (
        (_FREQUENCY, x < 0, "negative frequency"),
        (_FREQUENCY, x != np.floor(x), "frequency must be a whole number of repeat purchases"),
        (_RECENCY, t_x < 0, "negative recency (last purchase before the first)"),
        (_RECENCY, t_x > age, "recency larger than T (last purchase after the end)"),
        (_RECENCY, (x == 0) & (t_x != 0), "recency must be 0 when frequency is 0"),
    )
    for field, mask, problem in checks:
        bad = int(np.count_nonzero(mask))
        if bad:
            raise InvalidDataError(field, bad, problem)
    return x, t_x, age


def _weights(summary: pd.DataFrame, sample_weight: Any) -> np.ndarray:
    if sample_weight is None:
        return np.ones(len(summary))
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (len(summary),) or not np.isfinite(w).all() or (w < 0).any():
        raise InvalidParameterError(
            "sample_weight", f"array of shape {w.shape}", "one non-negative weight per row"
        )
    return w


def _distinct(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical rows: returns one representative row index per group, and each row's group.

    Each column is factorised on its own and the codes are combined into one integer key,
    which is much faster than ``np.unique(axis=0)`` on float rows.
    """
    key = np.zeros(len(columns[0]), dtype=np.int64)
    size = 1  # number of possible keys so far
    for col in columns:
        codes, uniques = pd.factorize(col)
        if size * len(uniques) >= 2**62:  # renumber the keys seen so far to stay in int64
            key, seen = pd.factorize(key)
            size = len(seen)
        key = key * len(uniques) + codes
        size *= len(uniques)
    inverse, keys = pd.factorize(key)
    first = np.empty(len(keys), dtype=np.int64)
    first[inverse] = np.arange(len(inverse))  # any row of a group represents it
    return first, inverse


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS: a threaded ``ddot`` on a busy machine costs milliseconds."""
    return float(np.einsum("i,i->", a, b))


def _minimize(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    start: np.ndarray,
    tol: float,
    max_iter: int,
    model: str,
) -> tuple[np.ndarray, int]:
    """L-BFGS-B on log-parameters; ConvergenceError if it fails.

    BLAS is held to one thread: L-BFGS-B's algebra on 3–4 parameters gains nothing from
    threads, and on a busy machine waking them costs milliseconds per iteration.
    """
    with (
        threadpool_limits(limits=1, user_api="blas"),
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
    ):
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "ftol": tol, "gtol": tol * 10},
        )
    # a line search that stops at the precision floor with a vanishing gradient has converged
    stalled = result.status == 2 and float(np.max(np.abs(result.jac))) <= 1e-6
    finite = np.isfinite(result.fun) and np.isfinite(result.x).all()
    if not (result.success or stalled) or not finite:
        raise ConvergenceError(model, f"{result.message} after {result.nit} iterations")
    return np.asarray(result.x), int(result.nit)


def _check_fit_params(penalizer: Any, tol: Any, max_iter: Any) -> None:
    if not isinstance(penalizer, int | float) or isinstance(penalizer, bool) or penalizer < 0:
        raise InvalidParameterError("penalizer", penalizer, "a number >= 0")
    if not isinstance(tol, int | float) or isinstance(tol, bool) or not 0 < tol < 1:
        raise InvalidParameterError("tol", tol, "a number between 0 and 1 (1e-10 usual)")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidParameterError("max_iter", max_iter, "a positive integer")


class _BGData(NamedTuple):
    """A BTYD summary laid out for the BG/NBD likelihood (all weights are customer counts).

    ``xs``/``wx``: distinct frequencies and their weights. ``ages``/``recs``: distinct T and
    recency values; ``w0``: weight of the no-repeat customers per distinct T. Repeat rows
    (distinct ``(x, recency, T)`` with ``x > 0``): ``x``, ``w`` and codes into ``xs``,
    ``ages`` and ``recs``.
    """

    total: float
    xs: np.ndarray
    wx: np.ndarray
    ages: np.ndarray
    recs: np.ndarray
    w0: np.ndarray
    x: np.ndarray
    w: np.ndarray
    x_code: np.ndarray
    age_code: np.ndarray
    rec_code: np.ndarray


def _bg_data(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, w: np.ndarray) -> _BGData:
    """Lay out (distinct, weighted) summary rows for :meth:`BetaGeoModel._objective`."""
    xs, x_code = np.unique(x, return_inverse=True)
    ages, age_code = np.unique(age, return_inverse=True)
    recs, rec_code = np.unique(t_x, return_inverse=True)
    repeat = x > 0
    return _BGData(
        total=float(w.sum()),
        xs=xs,
        wx=np.bincount(x_code, weights=w, minlength=len(xs)),
        ages=ages,
        recs=recs,
        w0=np.bincount(age_code[~repeat], weights=w[~repeat], minlength=len(ages)),
        x=x[repeat],
        w=w[repeat],
        x_code=x_code[repeat],
        age_code=age_code[repeat],
        rec_code=rec_code[repeat],
    )


# --------------------------------------------------------------------------- BG/NBD
class BetaGeoModel(BaseEstimator):
    """The BG/NBD purchase model, fitted by maximum likelihood on a BTYD summary.

    While active, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``
    and after each repeat purchase drops out with probability ``p ~ Beta(a, b)``. ``fit``
    estimates ``r, alpha, a, b`` from each customer's repeat purchases (``frequency``), time
    of the last one (``recency``) and age (``T``), all in the summary's period (days or
    weeks). See the module docstring for the objective and how it is made fast.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters, with the convention of ``lifetimes`` (the
        ``penalizer_coef`` of ``BetaGeoFitter``): a small value (0.001–0.1) helps when the
        data are few or the fit drifts to extreme parameters.
    tol : float, default 1e-10
        Tolerance of L-BFGS-B on the relative change of the objective.
    max_iter : int, default 1000
        Iteration limit of L-BFGS-B.

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha``, ``a``, ``b`` (``alpha`` in the summary's time unit).
    n_customers_ : float
        Customers fitted (sum of the weights).
    n_distinct_ : int
        Distinct ``(frequency, recency, T)`` rows the likelihood was evaluated on.
    log_likelihood_ : float
        Total unpenalised log-likelihood at ``params_``.
    n_iter_ : int
        L-BFGS-B iterations.

    Examples
    --------
    >>> model = BetaGeoModel().fit(summary)
    >>> model.params_.round(3).to_dict()      # CDNOW, weeks
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> model.expected_purchases(39, summary)      # next 39 weeks, per customer
    """

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-10, max_iter: int = 1000) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter

    @staticmethod
    def _objective(
        log_params: np.ndarray, data: _BGData, penalizer: float
    ) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood plus penalty, and its gradient in log-parameters.

        Per customer (Hardie's note 004): ``A1 + A2 + log(exp(A3) + [x > 0] exp(A4))`` with
        ``A1 = gammaln(r+x) - gammaln(r) + r log(alpha)``, ``A2 = gammaln(a+b) + gammaln(b+x)
        - gammaln(b) - gammaln(a+b+x)``, ``A3 = -(r+x) log(alpha+T)``, ``A4 = log(a) -
        log(b+x-1) - (r+x) log(alpha+recency)``. See :func:`_bg_data` for the layout.
        """
        params = np.exp(log_params)
        r, alpha, a, b = params
        d = data
        total = d.total
        xs, wx = d.xs, d.wx
        # A1 + A2, once per distinct frequency
        ll = _dot(wx, gammaln(r + xs) + gammaln(b + xs) - gammaln(a + b + xs)) + total * (
            r * np.log(alpha) - gammaln(r) + gammaln(a + b) - gammaln(b)
        )
        d_ab, d_abx = digamma(a + b), digamma(a + b + xs)
        g_r = _dot(wx, digamma(r + xs)) + total * (np.log(alpha) - digamma(r))
        g_alpha = total * r / alpha
        g_a = _dot(wx, d_ab - d_abx)
        g_b = _dot(wx, d_ab + digamma(b + xs) - digamma(b) - d_abx)
        # logs of alpha + T and alpha + recency, once per distinct value
        log_ages, log_recs = np.log(alpha + d.ages), np.log(alpha + d.recs)
        inv_ages, inv_recs = 1.0 / (alpha + d.ages), 1.0 / (alpha + d.recs)
        # customers without repeat purchases: A3 only, weights per distinct T
        ll -= r * _dot(d.w0, log_ages)
        g_r -= _dot(d.w0, log_ages)
        g_alpha -= r * _dot(d.w0, inv_ages)
        # repeat customers: A3 + softplus(A4 - A3), stable for any sign of the difference
        w, rx = d.w, r + d.x
        inv_bx = 1.0 / (b + np.maximum(xs, 1) - 1)
        lat, lar = log_ages[d.age_code], log_recs[d.rec_code]
        diff = (np.log(a) + np.log(inv_bx))[d.x_code] + rx * (lat - lar)
        e = np.exp(-np.abs(diff))
        positive = diff > 0
        softplus = np.maximum(diff, 0.0) + np.log1p(e)
        share = np.where(positive, 1.0, e) / (1.0 + e)  # expit(diff): weight of A4
        ll += _dot(w, softplus - rx * lat)
        s4 = w * share
        s3 = w - s4
        g_r -= _dot(s3, lat) + _dot(s4, lar)
        g_alpha -= _dot(s3 * inv_ages[d.age_code] + s4 * inv_recs[d.rec_code], rx)
        g_a += float(s4.sum()) / a
        g_b -= _dot(s4, inv_bx[d.x_code])
        grad = np.array([g_r, g_alpha, g_a, g_b])
        value = -ll / total + penalizer * float(np.sum(params * params))
        grad_log = params * (-grad / total + 2.0 * penalizer * params)
        return float(value), grad_log

    def fit(self, X: pd.DataFrame, y: Any = None, sample_weight: Any = None) -> BetaGeoModel:
        """Estimate ``r, alpha, a, b`` by maximum likelihood.

        Parameters
        ----------
        X : DataFrame
            BTYD summary with ``frequency``, ``recency`` and ``T`` (other columns ignored).
        y : ignored
        sample_weight : array-like, optional
            Customers per row, for a summary already grouped into patterns.

        Returns
        -------
        BetaGeoModel
            ``self``.

        Raises
        ------
        InvalidDataError
            Negative or fractional frequency, recency outside ``[0, T]``, an empty frame.
        ConvergenceError
            The optimiser did not converge.
        """
        _check_fit_params(self.penalizer, self.tol, self.max_iter)
        x, t_x, age = _rfm_arrays(X)
        w = _weights(X, sample_weight)
        if age.max() <= 0:
            raise InvalidDataError(_T, len(X), "every T is 0: the customers have no history")
        first, inverse = _distinct(x, t_x, age)
        w = np.bincount(inverse, weights=w, minlength=len(first))
        x, t_x, age = x[first], t_x[first], age[first]
        scale = 1.0 / age.max()
        data = _bg_data(x, t_x, age, w)
        scaled = data._replace(ages=data.ages * scale, recs=data.recs * scale)
        penalizer = float(self.penalizer)

        def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
            return self._objective(p, scaled, penalizer)

        log_params, self.n_iter_ = _minimize(
            objective, np.full(4, _START), float(self.tol), self.max_iter, "BetaGeoModel"
        )
        params = np.exp(log_params)
        params[1] /= scale
        self.params_ = pd.Series(params, index=["r", "alpha", "a", "b"], name="BetaGeoModel")
        mean_nll, _ = self._objective(np.log(params), data, 0.0)
        self.log_likelihood_ = -mean_nll * float(w.sum())
        self.n_customers_ = float(w.sum())
        self.n_distinct_ = len(first)
        return self

    def _params(self) -> tuple[float, float, float, float]:
        check_is_fitted(self, "params_")
        r, alpha, a, b = (float(self.params_[k]) for k in ("r", "alpha", "a", "b"))
        return r, alpha, a, b

    def expected_purchases(self, t: float, X: pd.DataFrame) -> pd.Series:
        """Expected repeat purchases of each customer in the next ``t`` periods.

        Equation (10) of Fader, Hardie & Lee (2005), computed like
        ``lifetimes.BetaGeoFitter.conditional_expected_number_of_purchases_up_to_time``
        (the Euler transform of the hypergeometric function where it overflows).

        Parameters
        ----------
        t : float
            Horizon in the summary's periods (days or weeks).
        X : DataFrame
            BTYD summary (``frequency``, ``recency``, ``T``).

        Returns
        -------
        Series
            ``expected_purchases`` indexed like ``X``.
        """
        r, alpha, a, b = self._params()
        if isinstance(t, bool) or not isinstance(t, int | float | np.number) or not t >= 0:
            raise InvalidParameterError("t", t, "a number of periods >= 0")
        x, t_x, age = _rfm_arrays(X, allow_empty=True)
        first, inverse = _distinct(x, t_x, age)
        out = _conditional_purchases(float(t), x[first], t_x[first], age[first], r, alpha, a, b)
        return pd.Series(out[inverse], index=X.index, name="expected_purchases")

    def probability_alive(self, X: pd.DataFrame) -> pd.Series:
        """Probability that each customer is still active at the end of the summary.

        ``1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + recency)) ** (r + x))``
        (Hardie's note 021); a customer without repeat purchases has probability 1.

        Returns
        -------
        Series
            ``probability_alive`` indexed like ``X``.
        """
        r, alpha, a, b = self._params()
        x, t_x, age = _rfm_arrays(X, allow_empty=True)
        log_odds = (r + x) * (np.log(alpha + age) - np.log(alpha + t_x)) + np.log(
            a / (b + np.maximum(x, 1) - 1)
        )
        alive = np.where(x == 0, 1.0, expit(-log_odds))
        return pd.Series(alive, index=X.index, name="probability_alive")

    def expected_purchases_new(self, t: float | np.ndarray) -> float | np.ndarray:
        """Expected repeat purchases in ``t`` periods of a customer who just made a first purchase.

        Equation (9) of Fader, Hardie & Lee (2005).
        """
        r, alpha, a, b = self._params()
        t_arr = np.asarray(t, dtype=np.float64)
        hyp = hyp2f1(r, b, a + b - 1, t_arr / (alpha + t_arr))
        out = (a + b - 1) / (a - 1) * (1 - hyp * (alpha / (alpha + t_arr)) ** r)
        return float(out) if out.ndim == 0 else out


def _conditional_purchases(
    t: float,
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    r: float,
    alpha: float,
    a: float,
    b: float,
) -> np.ndarray:
    if t == 0:
        return np.zeros(len(x))
    _a, _b, _c = r + x, b + x, a + b + x - 1
    z = t / (alpha + age + t)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ln_hyp = np.log(hyp2f1(_a, _b, _c, z))
        bad = ~np.isfinite(ln_hyp)
        if bad.any():  # Euler: 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z)
            c, zb = _c[bad], z[bad]
            ln_hyp[bad] = np.log(hyp2f1(c - _a[bad], c - _b[bad], c, zb)) + (
                c - _a[bad] - _b[bad]
            ) * np.log1p(-zb)
    numerator = (
        (a + b + x - 1)
        / (a - 1)
        * -np.expm1(ln_hyp + _a * np.log((alpha + age) / (alpha + t + age)))
    )
    denominator = 1 + (x > 0) * (a / (b + np.maximum(x, 1) - 1)) * np.exp(
        _a * (np.log(alpha + age) - np.log(alpha + t_x))
    )
    return numerator / denominator


# --------------------------------------------------------------------------- Gamma-Gamma
class GammaGammaModel(BaseEstimator):
    """The Gamma-Gamma model of average order value, fitted on the repeat customers.

    A customer's order values are Gamma(``p``, ``nu``) with ``nu ~ Gamma(q, v)`` across
    customers; the average of ``x`` orders is then Gamma(``p x``, ``nu x``). ``fit`` uses the
    rows with ``frequency > 0`` (``monetary_value`` is the mean of the repeat purchases, as
    :func:`segments.rfm.btyd_summary` computes it); the rest are ignored.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on ``(p, q, v)``, the ``penalizer_coef`` of ``lifetimes.GammaGammaFitter``.
    tol : float, default 1e-10
        Tolerance of L-BFGS-B on the relative change of the objective.
    max_iter : int, default 1000
        Iteration limit of L-BFGS-B.

    Attributes
    ----------
    params_ : Series
        ``p``, ``q``, ``v``.
    n_customers_ : float
        Repeat customers fitted.
    log_likelihood_ : float
        Total unpenalised log-likelihood at ``params_``.
    n_iter_ : int
        L-BFGS-B iterations.

    Examples
    --------
    >>> GammaGammaModel().fit(summary).params_.round(2).to_dict()    # CDNOW repeat buyers
    {'p': 6.25, 'q': 3.74, 'v': 15.45}
    """

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-10, max_iter: int = 1000) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter

    @staticmethod
    def _objective(
        log_params: np.ndarray,
        xs: np.ndarray,
        wx: np.ndarray,
        xm: np.ndarray,
        xw: np.ndarray,
        w: np.ndarray,
        constant: tuple[float, float],
        penalizer: float,
    ) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood plus penalty, and its gradient in log-parameters.

        Per customer (Hardie's note 025, (1a)):
        ``gammaln(px+q) - gammaln(px) - gammaln(q) + q log v + (px-1) log m + px log x
        - (px+q) log(xm+v)``. ``xs``/``wx``: distinct frequencies and weights; ``xm``: ``x m``
        per distinct row, ``xw`` its ``x w``; ``constant``: ``(sum w x log(x m), sum w log m)``.
        """
        params = np.exp(log_params)
        p, q, v = params
        total = w.sum()
        pxq, px = p * xs + q, p * xs
        log_xmv = np.log(xm + v)
        sum_xl, sum_l = _dot(xw, log_xmv), _dot(w, log_xmv)
        ll = (
            _dot(wx, gammaln(pxq) - gammaln(px))
            + total * (q * np.log(v) - gammaln(q))
            + p * constant[0]
            - constant[1]
            - p * sum_xl
            - q * sum_l
        )
        inv = 1.0 / (xm + v)
        g_p = _dot(wx * xs, digamma(pxq) - digamma(px)) + constant[0] - sum_xl
        g_q = _dot(wx, digamma(pxq)) + total * (np.log(v) - digamma(q)) - sum_l
        g_v = total * q / v - p * _dot(xw, inv) - q * _dot(w, inv)
        grad = np.array([g_p, g_q, g_v])
        value = -ll / total + penalizer * float(params @ params)
        return value, params * (-grad / total + 2.0 * penalizer * params)

    def fit(self, X: pd.DataFrame, y: Any = None, sample_weight: Any = None) -> GammaGammaModel:
        """Estimate ``p, q, v`` on the customers with ``frequency > 0``.

        Parameters
        ----------
        X : DataFrame
            BTYD summary with ``frequency`` and ``monetary_value``.
        y : ignored
        sample_weight : array-like, optional
            Customers per row.

        Returns
        -------
        GammaGammaModel
            ``self``.

        Raises
        ------
        InvalidDataError
            No repeat customers, negative frequency, ``monetary_value <= 0`` for a repeat
            customer (the model needs positive spend: drop refunds-only customers).
        ConvergenceError
            The optimiser did not converge.
        """
        _check_fit_params(self.penalizer, self.tol, self.max_iter)
        _check_frame(X, (_FREQUENCY, _MONETARY), "summary")
        x, m = _column(X, _FREQUENCY), _column(X, _MONETARY)
        w = _weights(X, sample_weight)
        if (x < 0).any():
            raise InvalidDataError(_FREQUENCY, int((x < 0).sum()), "negative frequency")
        repeat = x > 0
        if not repeat.any():
            raise InvalidDataError(_FREQUENCY, 0, "no customer with frequency > 0 to fit spend on")
        x, m, w = x[repeat], m[repeat], w[repeat]
        if (m <= 0).any():
            raise InvalidDataError(
                _MONETARY, int((m <= 0).sum()), "monetary_value must be > 0 when frequency > 0"
            )
        first, inverse = _distinct(x, m)
        w = np.bincount(inverse, weights=w, minlength=len(first))
        x, m = x[first], m[first]
        xs, x_group = np.unique(x, return_inverse=True)
        wx = np.bincount(x_group, weights=w, minlength=len(xs))
        xm, xw = x * m, x * w
        constant = (_dot(xw, np.log(xm)), _dot(w, np.log(m)))

        def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
            return self._objective(p, xs, wx, xm, xw, w, constant, float(self.penalizer))

        # lifetimes' start for p and q, and v that matches the mean spend: p v / (q - 1) = mean
        start = np.full(3, _START)
        start[2] = np.log(_dot(w, m) / w.sum() * np.expm1(_START)) - _START
        log_params, self.n_iter_ = _minimize(
            objective, start, float(self.tol), self.max_iter, "GammaGammaModel"
        )
        self.params_ = pd.Series(np.exp(log_params), index=["p", "q", "v"], name="GammaGammaModel")
        mean_nll, _ = self._objective(log_params, xs, wx, xm, xw, w, constant, 0.0)
        self.log_likelihood_ = -mean_nll * float(w.sum())
        self.n_customers_ = float(w.sum())
        return self

    def population_mean(self) -> float:
        """Mean order value of the population, ``p v / (q - 1)`` (needs ``q > 1``)."""
        check_is_fitted(self, "params_")
        p, q, v = (float(self.params_[k]) for k in ("p", "q", "v"))
        if q <= 1:
            raise InvalidDataError(
                _MONETARY,
                int(self.n_customers_),
                f"the fitted spend distribution has no finite mean (q={q:.3g} <= 1); "
                "pass a penalizer or trim extreme order values",
            )
        return p * v / (q - 1)

    def expected_spend(self, X: pd.DataFrame) -> pd.Series:
        """Expected average order value of each customer.

        ``(1 - w) * p v / (q - 1) + w * monetary_value`` with ``w = p x / (p x + q - 1)``
        (Hardie's note 025, (5)): a customer without repeat purchases gets the population mean.

        Returns
        -------
        Series
            ``expected_spend`` indexed like ``X``.
        """
        mean = self.population_mean()
        _check_frame(X, (_FREQUENCY, _MONETARY), "summary")
        x, m = _column(X, _FREQUENCY), _column(X, _MONETARY)
        if (x < 0).any():
            raise InvalidDataError(_FREQUENCY, int((x < 0).sum()), "negative frequency")
        p, q = float(self.params_["p"]), float(self.params_["q"])
        weight = p * x / (p * x + q - 1)
        return pd.Series((1 - weight) * mean + weight * m, index=X.index, name="expected_spend")


# --------------------------------------------------------------------------- CLV
def customer_value(
    summary: pd.DataFrame,
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    horizon: int = 12,
    period: Literal["D", "W"] | None = None,
    discount_rate: float = 0.0,
) -> pd.DataFrame:
    """Expected purchases, spend and value of each customer over the next ``horizon`` months.

    ``predicted_value = sum over months i = 1..horizon of expected_spend × (E[i] - E[i-1]) /
    (1 + discount_rate) ** i`` where ``E[i]`` is the BG/NBD expected purchases in the first
    ``i`` months, a month being 30 days or 4.345 weeks. That is
    ``lifetimes.GammaGammaFitter.customer_lifetime_value`` (same month lengths, same
    discounting); with ``discount_rate=0`` it is simply ``expected_purchases ×
    expected_spend``.

    Parameters
    ----------
    summary : DataFrame
        BTYD summary (``frequency``, ``recency``, ``T``, ``monetary_value``).
    bgnbd, gamma_gamma : BetaGeoModel, GammaGammaModel
        Fitted models (on this summary or an earlier one in the same period).
    horizon : int, default 12
        Months ahead (12 = the "customer value over a year" of S4).
    period : {"D", "W"}, optional
        Period of the summary; default ``summary.attrs["period"]`` (set by
        :func:`segments.rfm.btyd_summary`), else ``"D"``.
    discount_rate : float, default 0.0
        Monthly discount rate (0.01 = 1 % a month).

    Returns
    -------
    DataFrame
        Indexed like ``summary``: ``expected_purchases`` (in the horizon),
        ``probability_alive``, ``expected_spend`` and ``predicted_value``.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise InvalidParameterError("horizon", horizon, "a whole number of months >= 1")
    period = summary.attrs.get("period", "D") if period is None else period
    if period not in _PERIODS_PER_MONTH:
        raise InvalidParameterError("period", period, '"D" (days) or "W" (weeks)')
    if (
        isinstance(discount_rate, bool)
        or not isinstance(discount_rate, int | float)
        or not 0 <= discount_rate < 1
    ):
        raise InvalidParameterError("discount_rate", discount_rate, "a monthly rate in [0, 1)")
    r, alpha, a, b = bgnbd._params()
    spend = gamma_gamma.expected_spend(summary).to_numpy()
    x, t_x, age = _rfm_arrays(summary, allow_empty=True)
    first, inverse = _distinct(x, t_x, age)
    ux, ut, ua = x[first], t_x[first], age[first]
    factor = _PERIODS_PER_MONTH[period]
    if discount_rate == 0:
        purchases = _conditional_purchases(horizon * factor, ux, ut, ua, r, alpha, a, b)
        discounted = purchases
    else:
        previous = np.zeros(len(first))
        discounted = np.zeros(len(first))
        for month in range(1, horizon + 1):
            current = _conditional_purchases(month * factor, ux, ut, ua, r, alpha, a, b)
            discounted = discounted + (current - previous) / (1 + discount_rate) ** month
            previous = current
        purchases = previous
    return pd.DataFrame(
        {
            "expected_purchases": purchases[inverse],
            "probability_alive": bgnbd.probability_alive(summary).to_numpy(),
            "expected_spend": spend,
            "predicted_value": discounted[inverse] * spend,
        },
        index=summary.index,
    )


# --------------------------------------------------------------------------- budget (S4)
@dataclass(frozen=True)
class PersonalBudget:
    """The personal CRM budget, per customer and per segment.

    Attributes
    ----------
    customers : DataFrame
        Per customer: ``value``, ``budget`` (= value × margin × share) and, when segments
        were given, ``segment``.
    by_segment : DataFrame
        Per segment (index ``segment``; one row ``"all"`` without segments): ``customers``,
        ``total_value``, ``mean_value``, ``total_budget``, ``mean_budget``.
    margin, share : float
        The arguments used.
    """

    customers: pd.DataFrame
    by_segment: pd.DataFrame
    margin: float
    share: float


def _fraction(name: str, value: Any, low_open: bool) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float | np.number)
        and np.isfinite(value)
        and (0 < value <= 1 if low_open else 0 <= value <= 1)
    )
    if not ok:
        expected = (
            "a fraction in (0, 1], e.g. 0.3" if low_open else "a fraction in [0, 1], e.g. 0.1"
        )
        raise InvalidParameterError(name, value, expected)
    return float(value)


def personal_budget(
    values: pd.DataFrame | pd.Series,
    margin: float,
    share: float,
    segments: pd.Series | None = None,
) -> PersonalBudget:
    """Value × margin × share per customer, and its average per segment (domain S4).

    The margin turns a customer's expected revenue into profit; the share is the part of
    that profit the business is willing to spend on the customer (messages, bonuses,
    gifts). The flows pass the settings ``CRM_MARGIN`` and ``CRM_BUDGET_SHARE``.

    Parameters
    ----------
    values : DataFrame or Series
        :func:`customer_value`'s frame (its ``predicted_value`` column is used) or a Series
        of values per customer.
    margin : float
        Gross margin, in (0, 1].
    share : float
        Share of the margin given back, in [0, 1].
    segments : Series, optional
        Segment per customer (for example :meth:`segments.rfm.RFMScorer.predict`), indexed by
        customer id. Customers without a segment get ``NaN`` and stay out of
        ``by_segment``; a categorical's unused categories get a row with 0 customers.

    Returns
    -------
    PersonalBudget
        ``customers`` and ``by_segment`` frames (see :class:`PersonalBudget`).

    Examples
    --------
    Values 1000 and 3000 with margin 0.3 and share 0.1 give budgets 30 and 90, on average
    60 per customer.
    """
    margin = _fraction("margin", margin, low_open=True)
    share = _fraction("share", share, low_open=False)
    if isinstance(values, pd.DataFrame):
        if "predicted_value" not in values.columns:
            raise MissingColumnsError(["predicted_value"], "values")
        value = values["predicted_value"]
    elif isinstance(values, pd.Series):
        value = values
    else:
        raise InvalidParameterError("values", type(values).__name__, "a DataFrame or a Series")
    amounts = value.to_numpy(dtype=np.float64)
    field = "predicted_value" if isinstance(values, pd.DataFrame) else str(value.name or "values")
    bad = int(np.count_nonzero(~np.isfinite(amounts)))
    if bad:
        raise InvalidDataError(field, bad, "missing or infinite customer values")
    if (amounts < 0).any():
        raise InvalidDataError(field, int((amounts < 0).sum()), "negative customer values")
    customers = pd.DataFrame(
        {"value": amounts, "budget": amounts * margin * share}, index=value.index
    )
    if customers.index.name is None:
        customers.index.name = CUSTOMER_ID
    if segments is None:
        by = pd.Series("all", index=customers.index, name="segment")
    else:
        if not isinstance(segments, pd.Series):
            raise InvalidParameterError("segments", type(segments).__name__, "a Series")
        by = segments.reindex(customers.index).rename("segment")
        customers["segment"] = by.to_numpy()
    grouped = customers[["value", "budget"]].groupby(by, observed=False, dropna=True)
    by_segment = pd.DataFrame(
        {
            "customers": grouped["value"].count(),
            "total_value": grouped["value"].sum(),
            "mean_value": grouped["value"].mean(),
            "total_budget": grouped["budget"].sum(),
            "mean_budget": grouped["budget"].mean(),
        }
    )
    by_segment.index.name = "segment"
    return PersonalBudget(customers, by_segment, margin, share)
