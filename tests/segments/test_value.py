"""Tests of segments.value: BG/NBD, Gamma-Gamma, customer value and the personal budget (S4)."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from segments.errors import (
    ConvergenceError,
    InvalidDataError,
    InvalidParameterError,
    MissingColumnsError,
    SegmentsError,
)
from segments.rfm import btyd_summary
from segments.value import (
    BetaGeoModel,
    GammaGammaModel,
    PersonalBudget,
    _bg_data,
    customer_value,
    personal_budget,
)

lifetimes = pytest.importorskip("lifetimes")
DATA = files("lifetimes.datasets")


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The published CDNOW summary: 2357 customers, weeks, calibration to 1997-09-30."""
    return pd.read_csv(DATA / "cdnow_customers_summary.csv", index_col="ID")


@pytest.fixture(scope="module")
def cdnow_spend() -> pd.DataFrame:
    """The same customers with ``zbar``, the mean value of their repeat purchases."""
    frame = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv", index_col="ID")
    return frame.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def cdnow_orders() -> pd.DataFrame:
    """CDNOW_sample.txt: customer, id, yyyymmdd, quantity, amount (1997-01 to 1998-06)."""
    orders = pd.read_csv(
        DATA / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["customer_id", "sample_id", "date", "quantity", "amount"],
        dtype={"date": str},
    )
    orders["ordered_at"] = pd.to_datetime(orders["date"], format="%Y%m%d").dt.tz_localize("UTC")
    return orders


def fitted_bgnbd(r: float, alpha: float, a: float, b: float) -> BetaGeoModel:
    model = BetaGeoModel()
    model.params_ = pd.Series({"r": r, "alpha": alpha, "a": a, "b": b})
    return model


def fitted_gamma_gamma(p: float, q: float, v: float) -> GammaGammaModel:
    model = GammaGammaModel()
    model.params_ = pd.Series({"p": p, "q": q, "v": v})
    model.n_customers_ = 1.0
    return model


def lifetimes_bgnbd(params: pd.Series) -> object:
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = params[["r", "alpha", "a", "b"]].copy()
    fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time  # set by fit
    return fitter


# --------------------------------------------------------------------------- BG/NBD on CDNOW
def test_bgnbd_cdnow_matches_published_parameters(cdnow: pd.DataFrame) -> None:
    # Fader, Hardie & Lee (2005), table 1: r 0.243, alpha 4.414, a 0.793, b 2.426, LL -9582.4
    model = BetaGeoModel().fit(cdnow)
    assert model.n_customers_ == 2357
    assert model.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert model.n_distinct_ < 2357  # the fit ran on grouped rows


def test_bgnbd_cdnow_matches_lifetimes_fit(cdnow: pd.DataFrame) -> None:
    ours = BetaGeoModel().fit(cdnow).params_
    theirs = lifetimes.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"]).params_
    np.testing.assert_allclose(ours[theirs.index].to_numpy(), theirs.to_numpy(), rtol=1e-4)


def test_bgnbd_penalizer_matches_lifetimes(cdnow: pd.DataFrame) -> None:
    # same l2 convention (on the time-scaled parameters): same penalised optimum
    ours = BetaGeoModel(penalizer=0.1).fit(cdnow).params_
    fitter = lifetimes.BetaGeoFitter(penalizer_coef=0.1)
    theirs = fitter.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"]).params_
    np.testing.assert_allclose(ours[theirs.index].to_numpy(), theirs.to_numpy(), rtol=1e-4)
    assert ours["a"] < 0.793  # the penalty shrinks the parameters


def test_btyd_summary_of_cdnow_transactions_gives_the_published_fit(
    cdnow: pd.DataFrame, cdnow_orders: pd.DataFrame
) -> None:
    # the published summary is days / 7 to 1997-09-30 (end of week 39); our daily summary
    # divided by 7 is the same multiset of rows, and fits to the same parameters
    daily = btyd_summary(cdnow_orders, as_of="1997-09-30", period="D", monetary_col="amount")
    weekly = daily.assign(recency=daily["recency"] / 7, T=daily["T"] / 7)
    ours = np.sort(weekly[["frequency", "recency", "T"]].round(2).to_numpy(), axis=0)
    published = np.sort(cdnow[["frequency", "recency", "T"]].to_numpy(dtype=float), axis=0)
    np.testing.assert_array_equal(ours, published)
    params = BetaGeoModel().fit(weekly).params_
    np.testing.assert_allclose(
        params[["r", "alpha", "a", "b"]].to_numpy(), [0.243, 4.414, 0.793, 2.426], atol=2e-3
    )


def test_calendar_week_summary_fits_like_lifetimes(cdnow_orders: pd.DataFrame) -> None:
    # period="W" buckets into Monday-Sunday weeks (purchases in one week merge, recency and T
    # are whole weeks), so the parameters differ from the published ones (r 0.29, alpha 6.85,
    # a 0.67, b 2.32), but both libraries find the same optimum on that summary
    weekly = btyd_summary(cdnow_orders, as_of="1997-09-30", period="W", monetary_col="amount")
    assert len(weekly) == 2357
    ours = BetaGeoModel().fit(weekly).params_
    fitter = lifetimes.BetaGeoFitter()
    theirs = fitter.fit(weekly["frequency"], weekly["recency"], weekly["T"]).params_
    np.testing.assert_allclose(ours[theirs.index].to_numpy(), theirs.to_numpy(), rtol=1e-4)


def test_predictions_match_lifetimes_with_the_same_params(cdnow: pd.DataFrame) -> None:
    params = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    ours, theirs = fitted_bgnbd(**params), lifetimes_bgnbd(params)
    f, r, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    for t in range(1, 53):
        expected = theirs.conditional_expected_number_of_purchases_up_to_time(t, f, r, T)
        got = ours.expected_purchases(t, cdnow)
        np.testing.assert_allclose(got.to_numpy(), np.asarray(expected), rtol=1e-6, atol=1e-9)
    alive = theirs.conditional_probability_alive(f, r, T)
    np.testing.assert_allclose(ours.probability_alive(cdnow).to_numpy(), alive, atol=1e-12)
    ts = np.arange(1.0, 53.0)
    np.testing.assert_allclose(
        ours.expected_purchases_new(ts), theirs.expected_number_of_purchases_up_to_time(ts)
    )


def test_expected_purchases_is_indexed_like_the_summary(cdnow: pd.DataFrame) -> None:
    model = fitted_bgnbd(0.243, 4.414, 0.793, 2.426)
    got = model.expected_purchases(39, cdnow.iloc[:5])
    assert got.name == "expected_purchases"
    assert got.index.equals(cdnow.index[:5])
    assert (model.expected_purchases(0, cdnow.iloc[:5]) == 0).all()


# --------------------------------------------------------------------------- hand-checkable
def test_probability_alive_by_hand() -> None:
    # r=1, alpha=1, a=1, b=2. No repeat purchase: alive for sure.
    # x=1, recency 1, T 3: odds of having dropped = a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)
    #                                              = 1/2 * (4/2)^2 = 2, so P(alive) = 1/3.
    # x=1, recency 3 = T: odds 1/2 * 1 = 1/2, P = 2/3.
    summary = pd.DataFrame({"frequency": [0.0, 1, 1], "recency": [0.0, 1, 3], "T": [5.0, 3, 3]})
    alive = fitted_bgnbd(1.0, 1.0, 1.0, 2.0).probability_alive(summary)
    np.testing.assert_allclose(alive.to_numpy(), [1.0, 1 / 3, 2 / 3])


def test_fitted_frequency_zero_customer_is_alive(cdnow: pd.DataFrame) -> None:
    model = BetaGeoModel().fit(cdnow)
    zero = cdnow[cdnow["frequency"] == 0]
    assert (model.probability_alive(zero) == 1.0).all()


def test_objective_by_hand_and_gradient() -> None:
    # one customer with x=0 and T=1 at r=alpha=a=b=1: LL = r log(alpha) - r log(alpha+T) = -log 2
    one = _bg_data(np.array([0.0]), np.array([0.0]), np.array([1.0]), np.array([1.0]))
    value, _ = BetaGeoModel._objective(np.zeros(4), one, 0.0)
    assert value == pytest.approx(np.log(2))
    # x=1, recency 1, T 2 at r=alpha=a=1, b=2: A1 = log Γ(2) - log Γ(1) = 0,
    # A2 = log[Γ(3) Γ(3) / (Γ(2) Γ(4))] = log(4/6), A3 = -2 log 3, A4 = log(1/2) - 2 log 2,
    # LL = log(2/3) + log(1/9 + 1/8)
    two = _bg_data(np.array([1.0]), np.array([1.0]), np.array([2.0]), np.array([1.0]))
    value, _ = BetaGeoModel._objective(np.log([1.0, 1, 1, 2]), two, 0.0)
    assert value == pytest.approx(-(np.log(2 / 3) + np.log(1 / 9 + 1 / 8)))
    # the analytic gradient agrees with central differences on a mixed sample
    data = _bg_data(
        np.array([0.0, 1, 2, 5, 3, 0]),
        np.array([0.0, 0.2, 0.5, 0.9, 0.1, 0]),
        np.array([1.0, 0.5, 0.8, 1, 0.7, 0.3]),
        np.array([1.0, 2, 1, 1, 3, 1]),
    )
    point = np.log([0.3, 0.4, 0.8, 2.5])

    def f(p: np.ndarray) -> float:
        return BetaGeoModel._objective(p, data, 0.05)[0]

    _, grad = BetaGeoModel._objective(point, data, 0.05)
    numeric = [(f(point + e) - f(point - e)) / 2e-6 for e in np.eye(4) * 1e-6]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_gamma_gamma_gradient_matches_differences() -> None:
    x, m, w = np.array([1.0, 2, 2, 5]), np.array([10.0, 30, 12, 20]), np.array([1.0, 2, 1, 1])
    xs, x_group = np.unique(x, return_inverse=True)
    wx = np.bincount(x_group, weights=w)
    xm, xw = x * m, x * w
    const = (float(xw @ np.log(xm)), float(w @ np.log(m)))
    point = np.log([2.0, 3.0, 10.0])

    def f(p: np.ndarray) -> float:
        return GammaGammaModel._objective(p, xs, wx, xm, xw, w, const, 0.01)[0]

    _, grad = GammaGammaModel._objective(point, xs, wx, xm, xw, w, const, 0.01)
    numeric = [(f(point + e) - f(point - e)) / 2e-6 for e in np.eye(3) * 1e-6]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_grouped_rows_equal_weights(cdnow: pd.DataFrame) -> None:
    # rows repeated 1, 2 or 3 times fit exactly like the rows once with weights 1, 2, 3
    base = cdnow.iloc[:400]
    weights = np.arange(400) % 3 + 1
    copies = base.loc[base.index.repeat(weights)]
    a = BetaGeoModel().fit(copies)
    b = BetaGeoModel().fit(base, sample_weight=weights)
    assert a.n_customers_ == b.n_customers_ == weights.sum()
    np.testing.assert_allclose(a.params_.to_numpy(), b.params_.to_numpy(), rtol=1e-6)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_)


def test_estimator_contract() -> None:
    model = BetaGeoModel(penalizer=0.01, tol=1e-8, max_iter=50)
    assert clone(model).get_params() == {"penalizer": 0.01, "tol": 1e-8, "max_iter": 50}
    assert not hasattr(model, "params_")  # __init__ only stores parameters
    assert GammaGammaModel(penalizer=0.5).get_params()["penalizer"] == 0.5


# --------------------------------------------------------------------------- Gamma-Gamma
def test_gamma_gamma_cdnow_matches_published_and_lifetimes(cdnow_spend: pd.DataFrame) -> None:
    # Fader, Hardie & Lee (2005) "RFM and CLV" / Hardie's note 025: p 6.25, q 3.74, v 15.44
    # on the 946 repeat buyers; lifetimes' documentation shows v 15.45
    model = GammaGammaModel().fit(cdnow_spend)
    assert model.n_customers_ == 946
    np.testing.assert_allclose(model.params_.to_numpy(), [6.25, 3.74, 15.44], atol=0.01)
    repeat = cdnow_spend[cdnow_spend["frequency"] > 0]
    theirs = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(model.params_.to_numpy(), theirs.params_.to_numpy(), rtol=1e-3)
    assert model.log_likelihood_ < 0


def test_gamma_gamma_on_our_summary_of_transactions(cdnow_orders: pd.DataFrame) -> None:
    weekly = btyd_summary(cdnow_orders, as_of="1997-09-30", period="W", monetary_col="amount")
    ours = GammaGammaModel(penalizer=0.01).fit(weekly).params_
    repeat = weekly[weekly["frequency"] > 0]
    fitter = lifetimes.GammaGammaFitter(penalizer_coef=0.01)
    theirs = fitter.fit(repeat["frequency"], repeat["monetary_value"]).params_
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-3)


def test_expected_spend_by_hand() -> None:
    # p=2, q=3, v=10: population mean p v / (q - 1) = 10.
    # x=2, m=20: weight p x / (p x + q - 1) = 4/6, spend 1/3 * 10 + 2/3 * 20 = 16.667
    # x=0: the population mean 10
    model = fitted_gamma_gamma(2.0, 3.0, 10.0)
    summary = pd.DataFrame({"frequency": [2.0, 0.0], "monetary_value": [20.0, 0.0]}, index=[7, 8])
    spend = model.expected_spend(summary)
    np.testing.assert_allclose(spend.to_numpy(), [50 / 3, 10.0])
    assert spend.index.tolist() == [7, 8]
    assert model.population_mean() == 10.0


def test_expected_spend_matches_lifetimes(cdnow_spend: pd.DataFrame) -> None:
    params = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    fitter = lifetimes.GammaGammaFitter()
    fitter.params_ = params
    expected = fitter.conditional_expected_average_profit(
        cdnow_spend["frequency"], cdnow_spend["monetary_value"]
    )
    got = fitted_gamma_gamma(**params).expected_spend(cdnow_spend)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_spend_without_finite_mean_is_an_error() -> None:
    with pytest.raises(InvalidDataError, match=r"q=0\.8") as err:
        fitted_gamma_gamma(2.0, 0.8, 10.0).population_mean()
    assert err.value.field == "monetary_value"


# --------------------------------------------------------------------------- customer value
def test_customer_value_matches_lifetimes_clv(cdnow_spend: pd.DataFrame) -> None:
    bg = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    gg = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    spend_fitter = lifetimes.GammaGammaFitter()
    spend_fitter.params_ = gg
    s = cdnow_spend
    expected = spend_fitter.customer_lifetime_value(
        lifetimes_bgnbd(bg), s["frequency"], s["recency"], s["T"], s["monetary_value"],
        time=12, discount_rate=0.01, freq="W",
    )  # fmt: skip
    got = customer_value(
        s, fitted_bgnbd(**bg), fitted_gamma_gamma(**gg), horizon=12, period="W", discount_rate=0.01
    )
    assert got.columns.tolist() == [
        "expected_purchases",
        "probability_alive",
        "expected_spend",
        "predicted_value",
    ]
    np.testing.assert_allclose(got["predicted_value"].to_numpy(), expected.to_numpy(), rtol=1e-8)


def test_customer_value_without_discount_is_purchases_times_spend(
    cdnow_spend: pd.DataFrame,
) -> None:
    bgnbd = fitted_bgnbd(0.243, 4.414, 0.793, 2.426)
    spend = fitted_gamma_gamma(6.25, 3.74, 15.44)
    summary = cdnow_spend.iloc[:20].copy()
    summary.attrs["period"] = "W"  # as btyd_summary sets it: 12 months = 12 * 4.345 weeks
    got = customer_value(summary, bgnbd, spend)
    purchases = bgnbd.expected_purchases(12 * 4.345, summary)
    np.testing.assert_allclose(got["expected_purchases"], purchases)
    np.testing.assert_allclose(
        got["predicted_value"], purchases * spend.expected_spend(summary), rtol=1e-12
    )
    assert (got["predicted_value"] >= 0).all()


# --------------------------------------------------------------------------- budget (S4)
def test_personal_budget_by_hand() -> None:
    # values 1000, 3000, 2000 and 500; margin 0.3 and share 0.1 -> budgets 30, 90, 60, 15
    # segment Loyal: customers 1 and 2 -> total value 4000, mean 2000, total budget 120, mean 60
    # segment New: customer 3 -> 2000, 60; customer 4 has no segment and is left out;
    # "Lost" is a category nobody is in: 0 customers
    values = pd.DataFrame(
        {"predicted_value": [1000.0, 3000.0, 2000.0, 500.0]},
        index=pd.Index([1, 2, 3, 4], name="customer_id"),
    )
    segments = pd.Series(
        pd.Categorical(["Loyal", "Loyal", "New"], categories=["Loyal", "New", "Lost"]),
        index=[1, 2, 3],
    )
    result = personal_budget(values, margin=0.3, share=0.1, segments=segments)
    assert isinstance(result, PersonalBudget)
    np.testing.assert_allclose(result.customers["budget"], [30.0, 90.0, 60.0, 15.0])
    assert result.customers["segment"].iloc[:3].tolist() == ["Loyal", "Loyal", "New"]
    assert pd.isna(result.customers["segment"].iloc[3])
    table = result.by_segment
    assert table.index.tolist() == ["Loyal", "New", "Lost"]
    assert table["customers"].tolist() == [2, 1, 0]
    np.testing.assert_allclose(table.loc["Loyal"], [2, 4000, 2000, 120, 60])
    np.testing.assert_allclose(table.loc["New"], [1, 2000, 2000, 60, 60])
    assert table.loc["Lost", "total_budget"] == 0


def test_personal_budget_without_segments_and_from_a_series() -> None:
    # 100 and 300 at margin 0.5, share 0.2: budgets 10 and 30, mean 20
    result = personal_budget(pd.Series([100.0, 300.0], index=[5, 6]), margin=0.5, share=0.2)
    assert result.customers["budget"].tolist() == [10.0, 30.0]
    assert result.by_segment.index.tolist() == ["all"]
    assert result.by_segment.loc["all", "mean_budget"] == 20.0
    assert result.by_segment.loc["all", "customers"] == 2
    assert personal_budget(pd.Series([100.0]), margin=1, share=0).customers["budget"][0] == 0


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"frequency": -1.0, "recency": 0.0, "T": 5.0}, "frequency"),
        ({"frequency": 1.5, "recency": 1.0, "T": 5.0}, "frequency"),
        ({"frequency": 2.0, "recency": 6.0, "T": 5.0}, "recency"),
        ({"frequency": 2.0, "recency": -1.0, "T": 5.0}, "recency"),
        ({"frequency": 0.0, "recency": 2.0, "T": 5.0}, "recency"),
        ({"frequency": np.nan, "recency": 2.0, "T": 5.0}, "frequency"),
    ],
)
def test_bad_summary_rows_name_the_field(row: dict[str, float], field: str) -> None:
    summary = pd.DataFrame([{"frequency": 1.0, "recency": 1.0, "T": 3.0}, row])
    with pytest.raises(InvalidDataError) as err:
        BetaGeoModel().fit(summary)
    assert err.value.field == field
    assert err.value.rows == 1
    assert field in str(err.value)
    with pytest.raises(InvalidDataError):
        fitted_bgnbd(1, 1, 1, 2).probability_alive(summary)


def test_empty_and_incomplete_frames() -> None:
    empty = pd.DataFrame({"frequency": [], "recency": [], "T": [], "monetary_value": []})
    with pytest.raises(InvalidDataError, match="no customers") as err:
        BetaGeoModel().fit(empty)
    assert err.value.rows == 0
    with pytest.raises(InvalidDataError, match="frequency > 0"):
        GammaGammaModel().fit(empty)
    with pytest.raises(MissingColumnsError, match="'T'"):
        BetaGeoModel().fit(pd.DataFrame({"frequency": [1.0], "recency": [1.0]}))
    with pytest.raises(MissingColumnsError, match="monetary_value"):
        GammaGammaModel().fit(pd.DataFrame({"frequency": [1.0]}))


def test_gamma_gamma_needs_positive_spend() -> None:
    summary = pd.DataFrame({"frequency": [0.0, 2.0, 1.0], "monetary_value": [0.0, 10.0, -5.0]})
    with pytest.raises(InvalidDataError) as err:
        GammaGammaModel().fit(summary)
    assert (err.value.field, err.value.rows) == ("monetary_value", 1)


def test_convergence_failure_raises(cdnow: pd.DataFrame) -> None:
    with pytest.raises(ConvergenceError) as err:
        BetaGeoModel(max_iter=1).fit(cdnow)
    assert err.value.field == "BetaGeoModel"
    assert isinstance(err.value, SegmentsError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"margin": 0.0, "share": 0.1}, "margin"),
        ({"margin": 1.5, "share": 0.1}, "margin"),
        ({"margin": float("nan"), "share": 0.1}, "margin"),
        ({"margin": True, "share": 0.1}, "margin"),
        ({"margin": 0.3, "share": -0.1}, "share"),
        ({"margin": 0.3, "share": 1.01}, "share"),
        ({"margin": 0.3, "share": "0.1"}, "share"),
    ],
)
def test_budget_parameters_are_validated(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        personal_budget(pd.Series([100.0]), **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field
    assert field in str(err.value)


def test_budget_rejects_bad_values() -> None:
    with pytest.raises(InvalidDataError) as err:
        personal_budget(pd.DataFrame({"predicted_value": [1.0, np.nan]}), margin=0.3, share=0.1)
    assert (err.value.field, err.value.rows) == ("predicted_value", 1)
    with pytest.raises(MissingColumnsError):
        personal_budget(pd.DataFrame({"value": [1.0]}), margin=0.3, share=0.1)


def test_model_and_value_parameters_are_validated(cdnow: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError) as err:
        BetaGeoModel(penalizer=-1).fit(cdnow)
    assert err.value.field == "penalizer"
    model = fitted_bgnbd(0.243, 4.414, 0.793, 2.426)
    with pytest.raises(InvalidParameterError, match=r"^t="):
        model.expected_purchases(-1, cdnow)
    summary = cdnow.assign(monetary_value=0.0)
    spend = fitted_gamma_gamma(6.25, 3.74, 15.44)
    for kwargs, field in (
        ({"horizon": 0}, "horizon"),
        ({"period": "M"}, "period"),
        ({"discount_rate": -0.01}, "discount_rate"),
    ):
        with pytest.raises(InvalidParameterError) as err:
            customer_value(summary, model, spend, **kwargs)  # type: ignore[arg-type]
        assert err.value.field == field


def test_customers_first_seen_on_the_last_day(cdnow: pd.DataFrame) -> None:
    # btyd_summary gives T=0 to a customer whose first purchase is in the as_of period: the
    # fit takes them (likelihood r log(alpha) - r log(alpha) = 0) and they count as alive
    newcomers = pd.DataFrame({"frequency": [0.0] * 3, "recency": [0.0] * 3, "T": [0.0] * 3})
    summary = pd.concat([cdnow, newcomers], ignore_index=True)
    model = BetaGeoModel().fit(summary)
    assert model.n_customers_ == 2360
    # the three add nothing to the likelihood, so the optimum is CDNOW's own
    assert model.log_likelihood_ == pytest.approx(-9582.43, abs=0.01)
    np.testing.assert_allclose(model.params_, BetaGeoModel().fit(cdnow).params_, rtol=1e-5)
    assert (model.probability_alive(newcomers) == 1).all()
    assert np.isfinite(model.expected_purchases(10, newcomers)).all()
    with pytest.raises(InvalidDataError, match="every T is 0") as err:
        BetaGeoModel().fit(newcomers)
    assert err.value.field == "T"
