"""The lead model (S3): a calibrated logistic regression, its time-based holdout and explanations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from crm.columns import (
    CREATED_AT,
    LEAD_ID,
)
from segments.errors import (
    InvalidDataError,
    InvalidParameterError,
    MissingColumnsError,
    require_columns,
)
from segments.lead_features import CATEGORICAL_FEATURES, NUMERIC_FEATURES

__all__ = ["HoldoutReport", "LeadScoringModel", "evaluate_time_holdout", "explain"]


class LeadScoringModel(ClassifierMixin, BaseEstimator):
    """Probability that a lead ends in a won deal: calibrated logistic regression.

    A :class:`~sklearn.pipeline.Pipeline` of a :class:`~sklearn.compose.ColumnTransformer`
    (one-hot categories, unknown ones ignored; median-imputed, standardised numbers) and a
    :class:`~sklearn.calibration.CalibratedClassifierCV` around a
    :class:`~sklearn.linear_model.LogisticRegression`, folds shuffled with ``random_state``.

    Parameters
    ----------
    C : float
        Inverse regularisation strength of the logistic regression.
    method : {"sigmoid", "isotonic"}
        Calibration method.
    cv : int
        Calibration folds.
    categorical, numeric : sequence of str, optional
        Feature columns (default: those of :data:`CATEGORICAL_FEATURES` /
        :data:`NUMERIC_FEATURES` present in ``X``).
    random_state : int
        Seed of the fold split.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
    categorical_, numeric_ : list of str
    classes_ : ndarray
    base_rate_ : float
        Share of positives in the training labels.
    """

    def __init__(
        self,
        C: float = 1.0,
        method: str = "sigmoid",
        cv: int = 5,
        categorical: Sequence[str] | None = None,
        numeric: Sequence[str] | None = None,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.method = method
        self.cv = cv
        self.categorical = categorical
        self.numeric = numeric
        self.random_state = random_state

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in (*self.categorical_, *self.numeric_) if c not in X.columns]
        if missing:
            raise MissingColumnsError(missing, "X")
        frame = pd.DataFrame(index=X.index)
        for col in self.categorical_:
            frame[col] = X[col].astype("str").fillna("(missing)").to_numpy(dtype=object)
        for col in self.numeric_:
            frame[col] = pd.to_numeric(X[col], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
        return frame

    def fit(self, X: pd.DataFrame, y: Any) -> LeadScoringModel:
        """Fit on features ``X`` (:func:`lead_features`) and 0/1 labels ``y``."""
        if self.method not in ("sigmoid", "isotonic"):
            raise InvalidParameterError("method", self.method, '"sigmoid" or "isotonic"')
        target = np.asarray(pd.Series(y).astype(float), dtype=float)
        if len(target) != len(X):
            raise InvalidDataError("y", len(target), f"length differs from X ({len(X)} rows)")
        if np.isnan(target).any():
            raise InvalidDataError("y", int(np.isnan(target).sum()), "missing labels; drop them")
        if len(np.unique(target)) < 2:
            raise InvalidDataError("y", len(target), "labels of one class only")
        self.categorical_ = [
            c for c in (self.categorical or CATEGORICAL_FEATURES) if c in X.columns
        ]
        self.numeric_ = [c for c in (self.numeric or NUMERIC_FEATURES) if c in X.columns]
        transform = ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), self.categorical_),
                (
                    "num",
                    Pipeline(
                        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                    ),
                    self.numeric_,
                ),
            ],
            sparse_threshold=0.0,
        )
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        classifier = CalibratedClassifierCV(
            LogisticRegression(C=self.C, max_iter=2000), method=self.method, cv=folds
        )
        self.pipeline_ = Pipeline([("features", transform), ("classifier", classifier)])
        self.pipeline_.fit(self._prepare(X), target.astype(int))
        self.classes_ = self.pipeline_.classes_
        self.base_rate_ = float(target.mean())
        self.column_means_ = np.asarray(
            self.pipeline_.named_steps["features"].transform(self._prepare(X))
        ).mean(axis=0)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The model's input matrix for ``X``: one-hot categories, imputed and scaled numbers.

        Pass it as ``matrix`` to :meth:`predict_proba` and :func:`explain` when both are
        wanted for the same leads: the transformation is the costly part of either.
        """
        check_is_fitted(self, "pipeline_")
        return np.asarray(self.pipeline_.named_steps["features"].transform(self._prepare(X)))

    def predict_proba(self, X: pd.DataFrame, *, matrix: np.ndarray | None = None) -> np.ndarray:
        """Calibrated ``[P(not won), P(won)]`` per row of ``X`` (or of its ``matrix``,
        :meth:`transform`)."""
        check_is_fitted(self, "pipeline_")
        if matrix is None:
            return self.pipeline_.predict_proba(self._prepare(X))
        return self.pipeline_.named_steps["classifier"].predict_proba(matrix)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the calibrated probability of a win is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def linear_terms(self) -> tuple[np.ndarray, float, list[str], np.ndarray]:
        """Fold-averaged coefficients, intercept, the feature each column comes from, and
        the training mean of each transformed column (see :func:`explain`)."""
        check_is_fitted(self, "pipeline_")
        calibrated = self.pipeline_.named_steps["classifier"].calibrated_classifiers_
        coef = np.mean([c.estimator.coef_[0] for c in calibrated], axis=0)
        intercept = float(np.mean([c.estimator.intercept_[0] for c in calibrated]))
        ct = self.pipeline_.named_steps["features"]
        owner: list[str] = []
        encoder = ct.named_transformers_["cat"]
        for col, cats in zip(self.categorical_, encoder.categories_, strict=True):
            owner += [col] * len(cats)
        owner += list(self.numeric_)
        return coef, intercept, owner, self.column_means_

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


@dataclass(frozen=True)
class HoldoutReport:
    """Quality of a model on the newest leads, trained on the older ones.

    Attributes
    ----------
    split_at : pandas.Timestamp
        Leads created before it trained the model; the rest tested it.
    n_train, n_test : int
        Labelled leads on each side.
    base_rate : float
        Share of wins among the test leads.
    roc_auc : float
        Ranking quality on the test leads (0.5 is chance).
    brier : float
        Mean squared error of the calibrated probability.
    brier_base_rate : float
        Brier score of predicting the training base rate for everyone (to beat).
    calibration : pandas.DataFrame
        Per probability bin: ``bin``, ``leads``, ``mean_predicted``, ``observed``.
    predictions : pandas.DataFrame
        Test leads: ``lead_id``, ``created_at``, ``won``, ``probability``.
    """

    split_at: pd.Timestamp
    n_train: int
    n_test: int
    base_rate: float
    roc_auc: float
    brier: float
    brier_base_rate: float
    calibration: pd.DataFrame
    predictions: pd.DataFrame = field(repr=False)

    def to_markdown(self) -> str:
        """The report as markdown: the headline figures and the calibration table."""
        head = [
            f"Time holdout: trained on {self.n_train:,} leads created before "
            f"{self.split_at:%Y-%m-%d}, tested on {self.n_test:,} newer ones.",
            "",
            "| ROC AUC | Brier | Brier (base rate) | win rate (test) |",
            "|---:|---:|---:|---:|",
            f"| {self.roc_auc:.3f} | {self.brier:.4f} | {self.brier_base_rate:.4f} | "
            f"{self.base_rate:.3f} |",
            "",
            "| probability bin | leads | mean predicted | observed win rate |",
            "|---|---:|---:|---:|",
        ]
        rows = [
            f"| {r.bin} | {r.leads:,} | {r.mean_predicted:.3f} | {r.observed:.3f} |"
            for r in self.calibration.itertuples(index=False)
        ]
        return "\n".join([*head, *rows, ""])


def evaluate_time_holdout(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    model: LeadScoringModel | None = None,
    test_share: float = 0.25,
    n_bins: int = 10,
    created_col: str = CREATED_AT,
) -> HoldoutReport:
    """Train on the older leads, test on the newer ones: ROC AUC, Brier score, calibration.

    Parameters
    ----------
    X : pandas.DataFrame
        :func:`lead_features` output (indexed by ``lead_id``, with ``created_at``).
    y : pandas.Series
        :func:`lead_labels` output; unlabelled leads (missing) are left out.
    model : LeadScoringModel, optional
        An unfitted model to clone the parameters of (default: ``LeadScoringModel()``).
    test_share : float
        Share of the labelled leads, the newest by ``created_at``, held out.
    n_bins : int
        Equal-width probability bins of the calibration table (empty bins are left out).

    Returns
    -------
    HoldoutReport
    """
    from sklearn.base import clone

    if not 0 < test_share < 1:
        raise InvalidParameterError("test_share", test_share, "a share strictly between 0 and 1")
    if n_bins < 1:
        raise InvalidParameterError("n_bins", n_bins, "an integer >= 1")
    require_columns(X, [created_col], "X")
    labels = y.reindex(X.index)
    keep = labels.notna().to_numpy(dtype=bool)
    data, target = X[keep], labels[keep].astype(int).to_numpy()
    created = pd.to_datetime(data[created_col], utc=True)
    order = np.argsort(created.to_numpy(dtype="datetime64[us]"), kind="stable")
    cut = round(len(order) * (1 - test_share))
    if cut == 0 or cut == len(order):
        raise InvalidDataError("y", len(order), "too few labelled leads for a holdout")
    split_at = pd.Timestamp(created.iloc[order[cut]])
    train, test = order[:cut], order[cut:]
    if len(np.unique(target[test])) < 2:
        raise InvalidDataError("y", len(test), "the newest leads hold one class only; no AUC")
    fitted = clone(model if model is not None else LeadScoringModel())
    fitted.fit(data.iloc[train], target[train])
    prob = fitted.predict_proba(data.iloc[test])[:, 1]
    truth = target[test]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1], right=False), 0, n_bins - 1)
    table = (
        pd.DataFrame({"b": which, "p": prob, "y": truth})
        .groupby("b")
        .agg(leads=("p", "size"), mean_predicted=("p", "mean"), observed=("y", "mean"))
        .reset_index()
    )
    table.insert(
        0, "bin", [f"{edges[b]:.1f}–{edges[b + 1]:.1f}" for b in table.pop("b").to_numpy()]
    )
    base = float(target[train].mean())
    return HoldoutReport(
        split_at=split_at,
        n_train=len(train),
        n_test=len(test),
        base_rate=float(truth.mean()),
        roc_auc=float(roc_auc_score(truth, prob)),
        brier=float(brier_score_loss(truth, prob)),
        brier_base_rate=float(np.mean((truth - base) ** 2)),
        calibration=table,
        predictions=pd.DataFrame(
            {
                LEAD_ID: data.index.to_numpy()[test],
                created_col: created.array[test],
                "won": truth,
                "probability": prob,
            }
        ),
    )


def explain(
    model: LeadScoringModel, X: pd.DataFrame, *, top: int = 3, matrix: np.ndarray | None = None
) -> pd.DataFrame:
    """Each lead's ``top`` reasons: the features moving its log-odds most from the average lead.

    A term is ``coef × (x − mean_x)`` of the fold-averaged logistic regression, summed over
    the transformed columns of one input feature (see the module notes); terms of a lead add
    up to its log-odds minus that of the average training lead.

    Parameters
    ----------
    model : LeadScoringModel
        A fitted model.
    X : pandas.DataFrame
        :func:`lead_features` output.
    top : int
        Reasons per lead.
    matrix : numpy.ndarray, optional
        ``model.transform(X)``, when the caller has it already (for the probabilities).

    Returns
    -------
    pandas.DataFrame
        ``lead_id, rank, feature, value, contribution`` (log-odds), ``top`` rows per lead,
        largest ``|contribution|`` first.
    """
    check_is_fitted(model, "pipeline_")
    if top < 1:
        raise InvalidParameterError("top", top, "an integer >= 1")
    coef, _, owner, means = model.linear_terms()
    if matrix is None:
        matrix = model.transform(X)
    terms = (matrix - means) * coef
    names = list(dict.fromkeys(owner))
    group = pd.Index(names).get_indexer(pd.Index(owner))
    # the columns of each feature summed by one product with a 0/1 column → feature matrix
    owned = np.zeros((len(owner), len(names)))
    owned[np.arange(len(owner)), group] = 1.0
    per = terms @ owned
    k = min(top, len(names))
    pick = np.argsort(-np.abs(per), axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(X)), k)
    cols = pick.ravel()
    values = np.empty(len(rows), dtype=object)
    for j, name in enumerate(names):  # a loop over the features, not the leads
        here = np.flatnonzero(cols == j)
        picked = X[name].iloc[rows[here]]  # only the cells shown become text
        values[here] = picked.astype("str").to_numpy(dtype=object)
    return pd.DataFrame(
        {
            LEAD_ID: X.index.to_numpy()[rows],
            "rank": np.tile(np.arange(1, k + 1), len(X)),
            "feature": np.asarray(names, dtype=object)[cols],
            "value": values,
            "contribution": per[rows, cols],
        }
    )
