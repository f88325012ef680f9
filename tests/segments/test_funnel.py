from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm.sample import generate
from segments.funnel import funnel_report, lead_funnel, stage_funnel


@pytest.fixture
def leads_deals() -> tuple[pd.DataFrame, pd.DataFrame]:
    leads = pd.DataFrame(
        {
            "lead_id": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "source": ["call"] * 6 + ["site_form"] * 4,
            "status": [
                "converted",  # 1 call: deal won
                "converted",  # 2 call: two deals, one lost one won → counts once, as won
                "converted",  # 3 call: deal lost
                "verified",  # 4 call: verified, no deal yet
                "spam",  # 5 call: disqualified (its stray deal is ignored)
                "new",  # 6 call: pending
                "converted",  # 7 site_form: deal still open
                "disqualified",  # 8 site_form
                "new",  # 9 site_form: status lags, but it has a deal → verified, lost
                "verified",  # 10 site_form
            ],
        }
    )
    deals = pd.DataFrame(
        {
            "deal_id": [101, 102, 103, 104, 105, 106, 107, 108],
            "lead_id": pd.array([1, 2, 2, 3, 5, 7, 9, None], dtype="Int64"),
            "status": ["won", "lost", "won", "lost", "won", "open", "lost", "won"],
        }
    )
    return leads, deals


def test_lead_funnel_counts_by_source(leads_deals) -> None:  # type: ignore[no-untyped-def]
    leads, deals = leads_deals
    f = lead_funnel(leads, deals, by=("source",)).set_index("source")
    # call: 6 inquiries, 1 disqualified (spam), 1 pending, verified 1-4 = 4, deals 1-3 = 3,
    # won 1, 2 = 2, lost 3 = 1, open 0
    call = f.loc["call"]
    assert [call[c] for c in ("inquiries", "disqualified", "pending", "verified")] == [6, 1, 1, 4]
    assert [call[c] for c in ("deals", "won", "lost", "open")] == [3, 2, 1, 0]
    # rates: 4/6 verified, 3/4 to a deal, 2/3 won, 2/(2+1) win rate, 2/6 inquiry → sale
    assert call["inquiry_to_verified"] == pytest.approx(4 / 6)
    assert call["verified_to_deal"] == pytest.approx(3 / 4)
    assert call["deal_to_won"] == pytest.approx(2 / 3)
    assert call["win_rate"] == pytest.approx(2 / 3)
    assert call["inquiry_to_won"] == pytest.approx(2 / 6)
    assert call["disqualified_rate"] == pytest.approx(1 / 6)
    # site_form: 4 inquiries, 1 disqualified, verified 7, 9, 10 = 3, deals 7, 9 = 2,
    # won 0, lost 9 = 1, open 7 = 1; win rate 0 / 1 = 0
    site = f.loc["site_form"]
    assert [site[c] for c in ("inquiries", "disqualified", "pending", "verified")] == [4, 1, 0, 3]
    assert [site[c] for c in ("deals", "won", "lost", "open")] == [2, 0, 1, 1]
    assert site["deal_to_won"] == 0
    assert site["win_rate"] == 0


def test_lead_funnel_total_and_no_grouping(leads_deals) -> None:  # type: ignore[no-untyped-def]
    leads, deals = leads_deals
    f = lead_funnel(leads, deals, by=("source",), total=True)
    assert f["source"].tolist() == ["call", "site_form", "all"]
    overall = lead_funnel(leads, deals, by=())
    assert overall[["inquiries", "verified", "deals", "won"]].iloc[0].tolist() == [10, 7, 5, 2]
    assert f.iloc[-1]["won"] == 2
    # a group with no verified lead has no verified → deal rate (not 0, not an error)
    empty = lead_funnel(leads[leads["lead_id"] == 5], deals, by=("source",))
    assert np.isnan(empty["verified_to_deal"].iloc[0])


def test_funnel_report_is_a_markdown_table(leads_deals) -> None:  # type: ignore[no-untyped-def]
    leads, deals = leads_deals
    text = funnel_report(lead_funnel(leads, deals), title="Leads by source")
    lines = text.splitlines()
    assert lines[0] == "### Leads by source"
    assert lines[2].startswith("| source | inquiries | disqualified |")
    assert "| call | 6 | 1 | 1 | 4 | 3 | 2 | 1 | 0 | 16.7% | 66.7% | 75.0% | 66.7% |" in text


@pytest.fixture
def pipeline() -> tuple[pd.DataFrame, pd.DataFrame]:
    stages = pd.DataFrame(
        {
            "stage_id": [1, 2, 3, 4, 5],
            "pipeline_id": [1] * 5,
            "name": ["interest", "proposal", "invoice", "won", "lost"],
            "position": [0, 1, 2, 3, 4],
            "is_won": [False, False, False, True, False],
            "is_lost": [False, False, False, False, True],
        }
    )
    deals = pd.DataFrame(
        {
            "deal_id": [1, 2, 3, 4, 5, 6, 7],
            "pipeline_id": [1] * 7,
            "stage_id": [1, 2, 2, 3, 4, 4, 5],
            "status": ["open", "open", "open", "open", "won", "won", "lost"],
        }
    )
    return deals, stages


def test_stage_funnel_counts_reached_and_drop_off(pipeline) -> None:  # type: ignore[no-untyped-def]
    deals, stages = pipeline
    f = stage_funnel(deals, stages).set_index("stage")
    # furthest stage: interest 1 (deal 1), proposal 2 (2, 3), invoice 1 (4), won 2 (5, 6);
    # reached interest = 1 + 2 + 1 + 2 = 6, proposal 5, invoice 3; the lost deal's last
    # stage is unknown → only on the lost row
    assert f["reached"].tolist() == [6, 5, 3, 2, 1]
    assert f["current"].tolist() == [1, 2, 1, 0, 0]
    assert f["advanced"].tolist() == [5, 3, 2, 0, 0]
    assert f["drop_off"].tolist() == [1, 2, 1, 0, 0]
    assert f.loc["proposal", "conversion_to_next"] == pytest.approx(3 / 5)
    assert f.loc["lost", "lost_here"] == 1


def test_stage_funnel_with_history_places_losses(pipeline) -> None:  # type: ignore[no-untyped-def]
    deals, stages = pipeline
    history = pd.DataFrame({"deal_id": [7, 7, 7], "stage_id": [1, 2, 5]})
    f = stage_funnel(deals, stages, history=history).set_index("stage")
    # deal 7 was lost after reaching proposal: reached interest 7, proposal 6, invoice 3
    assert f["reached"].tolist() == [7, 6, 3, 2, 0]
    assert f["lost_here"].tolist() == [0, 1, 0, 0, 0]
    assert f.loc["proposal", "drop_off"] == 3  # 2 still there + 1 lost there


def test_sample_funnel_is_consistent() -> None:
    d = generate(customers=1500, seed=2)
    f = lead_funnel(d["leads"], d["deals"], by=("channel",), total=True)
    assert f.iloc[-1]["inquiries"] == len(d["leads"])
    assert (f["deals"] <= f["verified"]).all()
    assert (f["won"] + f["lost"] + f["open"] == f["deals"]).all()
    assert (f["disqualified"] + f["pending"] + f["verified"] == f["inquiries"]).all()
    # paid ads bring more spam and click fraud in the generator (D2)
    by = f.set_index("channel")["disqualified_rate"]
    assert by["yandex_direct"] > by["seo"]
    s = stage_funnel(d["deals"], d["pipeline_stages"])
    won = s[s["stage"] == "won"].set_index("pipeline_id")["reached"]
    truth = d["deals"][d["deals"]["status"] == "won"].groupby("pipeline_id").size()
    assert won.to_dict() == truth.to_dict()


def test_leads_without_any_deal_and_an_empty_base() -> None:
    leads = pd.DataFrame(
        {"lead_id": [1, 2], "status": ["new", "verified"], "source": ["site", "site"]}
    )
    no_deals = pd.DataFrame({"lead_id": pd.Series([], dtype="int64"), "status": []})
    got = lead_funnel(leads, no_deals)
    assert got[["inquiries", "pending", "verified", "deals", "won"]].values.tolist() == [
        [2, 1, 1, 0, 0]
    ]
    empty = lead_funnel(leads.iloc[:0], no_deals)
    assert len(empty) == 0
    assert funnel_report(empty).splitlines()[1].startswith("|---")  # a header, no rows
