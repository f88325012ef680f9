"""segments.rfm: RFM frame, RFMScorer, BTYD summary (compared with lifetimes)."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from segments.errors import (
    InvalidDataError,
    InvalidParameterError,
    MissingColumnsError,
    SegmentMapError,
)
from segments.rfm import DEFAULT_SEGMENT_MAP, SEGMENTS, RFMScorer, btyd_summary, rfm_frame


def orders(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "ordered_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "amount": [r[2] for r in rows],
        }
    )


FIVE = pd.DataFrame(
    {
        "recency": [1, 5, 30, 90, 200],
        "frequency": [9, 4, 2, 1, 1],
        "monetary": [900.0, 400.0, 150.0, 60.0, 20.0],
    },
    index=pd.Index([10, 20, 30, 40, 50], name="customer_id"),
)


def test_rfm_frame_by_hand() -> None:
    o = orders(
        [
            (1, "2026-03-01 10:00", 10.0),
            (1, "2026-03-08 18:00", 30.0),
            (2, "2026-03-10 09:00", 5.0),
            (2, "2026-03-12 09:00", 99.0),  # after as_of: ignored
        ]
    )
    rfm = rfm_frame(o, dt.date(2026, 3, 11))
    # customer 1: last order 8 March, as_of 11 March -> 3 days; 2 orders; 40 spent
    assert rfm.loc[1].tolist() == [3, 2, 40.0]
    assert rfm.loc[2].tolist() == [1, 1, 5.0]
    assert rfm_frame(o, dt.date(2026, 3, 11), monetary="mean").loc[1, "monetary"] == 20.0


def test_quantile_scores_and_segments_by_hand() -> None:
    scorer = RFMScorer(n_bins=5).fit(FIVE)
    seg = scorer.segment_frame(FIVE)
    # R: the more recent the better; five distinct values -> one per quintile
    assert seg["r_score"].tolist() == [5, 4, 3, 2, 1]
    # F: score = 1 + floor(5 * share strictly smaller): 9 -> 4/5 -> 5, 4 -> 3/5 -> 4,
    # 2 -> 2/5 -> 3, the two 1s -> 0 -> 1 (ties share the lower score)
    assert seg["f_score"].tolist() == [5, 4, 3, 1, 1]
    assert seg["m_score"].tolist() == [5, 4, 3, 2, 1]
    assert seg["rfm_code"].tolist() == ["555", "444", "333", "212", "111"]
    assert seg["segment"].tolist() == [
        "Champions",
        "Loyal",
        "Need attention",
        "Hibernating",
        "Lost",
    ]
    assert list(seg.index) == [10, 20, 30, 40, 50]


def test_cut_points_fitted_on_one_period_score_another() -> None:
    scorer = RFMScorer().fit(FIVE)
    later = pd.DataFrame({"recency": [0, 1000], "frequency": [100, 0], "monetary": [1e6, 0.0]})
    scores = scorer.transform(later)
    assert scores.loc[0].tolist() == [5, 5, 5]
    assert scores.loc[1].tolist() == [1, 1, 1]
    # refitting on the later period alone would give other cut points; transform does not refit
    assert np.array_equal(
        scorer.cut_points_["frequency"], RFMScorer().fit(FIVE).cut_points_["frequency"]
    )


def test_fixed_thresholds() -> None:
    scorer = RFMScorer(thresholds={"frequency": [1, 2, 4, 8], "recency": [30, 90, 180, 365]}).fit(
        FIVE
    )
    X = pd.DataFrame(
        {
            "recency": [10, 30, 89, 90, 400, 200],
            "frequency": [1, 2, 3, 4, 5, 9],
            "monetary": [1.0] * 6,
        }
    )
    s = scorer.transform(X)
    assert s["f_score"].tolist() == [1, 2, 3, 3, 4, 5]
    # under 30 days R5, 30-89 R4, 90-179 R3, 180-364 R2, 365 and more R1
    assert s["r_score"].tolist() == [5, 4, 4, 3, 1, 2]


def test_three_bins_stretch_onto_the_grid() -> None:
    X = pd.DataFrame({"recency": [1, 50, 300], "frequency": [10, 3, 1], "monetary": [3.0, 2, 1]})
    scorer = RFMScorer(n_bins=3).fit(X)
    seg = scorer.segment_frame(X)
    assert seg["r_score"].tolist() == [3, 2, 1]
    # 3 bins read as 1, 3, 5 on the map: R5F5 Champions, R3F3 Need attention, R1F1 Lost
    assert seg["segment"].tolist() == ["Champions", "Need attention", "Lost"]


def test_default_map_covers_every_cell_with_one_segment() -> None:
    grid = RFMScorer().fit(FIVE).segment_grid_
    assert grid.shape == (5, 5)
    assert set(grid.to_numpy().ravel()) == set(SEGMENTS)
    assert grid.loc[1, 5] == "Can't lose" and grid.loc[5, 1] == "New"


def test_bad_maps_and_params_are_refused_with_the_field() -> None:
    partial = dict(DEFAULT_SEGMENT_MAP)
    del partial["11"]
    with pytest.raises(SegmentMapError, match="11"):
        RFMScorer(segment_map=partial).fit(FIVE)
    overlapping = {**DEFAULT_SEGMENT_MAP, "1.": "Everyone old"}
    with pytest.raises(SegmentMapError):
        RFMScorer(segment_map=overlapping).fit(FIVE)
    with pytest.raises(InvalidParameterError, match="n_bins"):
        RFMScorer(n_bins=1).fit(FIVE)
    with pytest.raises(InvalidParameterError, match="thresholds"):
        RFMScorer(thresholds={"frequency": [3, 2, 1, 0]}).fit(FIVE)
    with pytest.raises(MissingColumnsError, match="monetary"):
        RFMScorer().fit(FIVE.drop(columns="monetary"))
    with pytest.raises(InvalidDataError, match="recency"):
        RFMScorer().fit(FIVE.assign(recency=[1, np.nan, 3, 4, 5]))


def test_estimator_contract() -> None:
    scorer = RFMScorer(n_bins=4)
    assert scorer.get_params()["n_bins"] == 4
    assert not hasattr(scorer, "cut_points_")  # __init__ only stores parameters
    assert clone(scorer).get_params() == scorer.get_params()
    pipe = Pipeline([("rfm", RFMScorer())]).fit(FIVE)
    assert pipe.transform(FIVE).shape == (5, 3)
    assert list(RFMScorer().fit(FIVE).get_feature_names_out()) == ["r_score", "f_score", "m_score"]


def test_btyd_summary_by_hand() -> None:
    o = orders(
        [
            (1, "2026-01-01 10:00", 10.0),
            (1, "2026-01-01 15:00", 5.0),  # same day: one purchase of 15
            (1, "2026-01-03 00:00", 20.0),
            (1, "2026-01-10 00:00", 40.0),
            (2, "2026-01-05 00:00", 7.0),
        ]
    )
    s = btyd_summary(o, dt.date(2026, 1, 11))
    # three purchase days -> frequency 2; first 1 Jan, last 10 Jan -> recency 9; T 10;
    # repeat purchases 20 and 40 -> monetary_value 30
    assert s.loc[1].tolist() == [2.0, 9.0, 10.0, 30.0]
    assert s.loc[2].tolist() == [0.0, 0.0, 6.0, 0.0]
    weeks = btyd_summary(o, dt.date(2026, 1, 11), period="W")
    assert weeks.attrs["period"] == "W"
    with pytest.raises(InvalidParameterError, match="period"):
        btyd_summary(o, dt.date(2026, 1, 11), period="M")  # type: ignore[arg-type]


@pytest.mark.parametrize("period", ["D", "W"])
def test_btyd_summary_equals_lifetimes(period: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.utils import summary_data_from_transaction_data

    rng = np.random.default_rng(3)
    n = 2_000
    start = pd.Timestamp("2025-01-01", tz="UTC")
    o = pd.DataFrame(
        {
            "customer_id": rng.integers(1, 300, n),
            "ordered_at": start + pd.to_timedelta(rng.integers(0, 500 * 86_400, n), unit="s"),
            "amount": rng.gamma(2.0, 500.0, n).round(2),
        }
    )
    as_of = dt.date(2026, 3, 1)
    ours = btyd_summary(o, as_of, period=period)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = summary_data_from_transaction_data(
            o.assign(ordered_at=o["ordered_at"].dt.tz_localize(None)),
            "customer_id",
            "ordered_at",
            "amount",
            observation_period_end=pd.Timestamp(as_of),
            freq=period,
        )
    theirs = theirs.sort_index()
    assert list(ours.index) == list(theirs.index)
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col].to_numpy(), theirs[col].to_numpy(), rtol=1e-9)


def test_naive_and_other_unit_timestamps() -> None:
    o = pd.DataFrame(
        {
            "customer_id": [1, 1],
            "ordered_at": pd.to_datetime(["2026-01-01", "2026-01-05"]).astype("datetime64[s]"),
            "amount": [1.0, 2.0],
        }
    )
    assert rfm_frame(o, dt.date(2026, 1, 10)).loc[1].tolist() == [5, 2, 3.0]
    # as_of read by crm.asof: ISO text of the date and a naive datetime that day are that day
    assert rfm_frame(o, "2026-01-10").loc[1].tolist() == [5, 2, 3.0]
    assert rfm_frame(o, dt.datetime(2026, 1, 10, 18)).loc[1].tolist() == [5, 2, 3.0]
    assert btyd_summary(o, dt.date(2026, 1, 10)).loc[1].tolist() == [1.0, 4.0, 9.0, 2.0]


def test_as_of_is_a_day_in_the_orders_zone() -> None:
    o = pd.DataFrame(
        {
            "customer_id": [1],
            "ordered_at": pd.to_datetime(["2026-01-05 10:00"]).tz_localize("Europe/Moscow"),
            "amount": [1.0],
        }
    )
    # 9 Jan 22:00 UTC is already 10 Jan in Moscow: 5 days since the order
    late = dt.datetime(2026, 1, 9, 22, tzinfo=dt.UTC)
    assert rfm_frame(o, late).loc[1, "recency"] == 5
    assert rfm_frame(o, dt.date(2026, 1, 9)).loc[1, "recency"] == 4
    with pytest.raises(InvalidParameterError, match="as_of"):
        rfm_frame(o, "soon")
