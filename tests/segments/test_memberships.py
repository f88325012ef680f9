"""segments.memberships.plan_memberships: rows to open and close, and the run summary."""

from __future__ import annotations

import pandas as pd

from segments.memberships import definition_sha256, plan_memberships
from segments.rules import load_segments

AS_OF = pd.Timestamp("2026-11-01 12:00", tz="UTC")
LATER = AS_OF + pd.Timedelta(days=1)
DEFINITIONS = load_segments(
    "segments:\n"
    "  - name: buyers\n    title: Buyers\n    where: {orders: {gte: 1}}\n"
    "  - name: big\n    where: {orders: {gte: 3}}\n"
)


def _profiles(orders: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {"orders": orders}, index=pd.Index(range(1, len(orders) + 1), name="customer_id")
    )


def _no_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    open_rows = pd.DataFrame({"segment": [], "customer_id": [], "entered_at": []})
    runs = pd.DataFrame({"segment": [], "entered": [], "left": []})
    return open_rows, runs


def test_first_run_opens_every_member_and_counts_them() -> None:
    opened, closed, runs = plan_memberships(DEFINITIONS, _profiles([0, 1, 3]), *_no_rows(), AS_OF)
    assert sorted(zip(opened["segment"], opened["customer_id"], strict=True)) == [
        ("big", 3),
        ("buyers", 2),
        ("buyers", 3),
    ]
    assert (opened["entered_at"] == AS_OF).all() and opened["left_at"].isna().all()
    assert closed.empty
    assert runs[["segment", "members", "entered", "left"]].values.tolist() == [
        ["buyers", 2, 2, 0],
        ["big", 1, 1, 0],
    ]
    assert runs["title"].tolist() == ["Buyers", ""]
    assert runs["definition_sha256"].tolist() == [definition_sha256(d) for d in DEFINITIONS]


def test_a_later_run_closes_leavers_and_a_rerun_keeps_the_counts() -> None:
    open_rows = pd.DataFrame(
        {"segment": ["buyers", "buyers", "big"], "customer_id": [2, 3, 3], "entered_at": AS_OF}
    )
    # customer 3 now has 2 orders (left big), customer 1 bought (entered buyers)
    opened, closed, runs = plan_memberships(
        DEFINITIONS, _profiles([1, 1, 2]), open_rows, _no_rows()[1], LATER
    )
    assert opened[["segment", "customer_id"]].values.tolist() == [["buyers", 1]]
    assert closed[["segment", "customer_id"]].values.tolist() == [["big", 3]]
    assert (closed["entered_at"] == AS_OF).all() and (closed["left_at"] == LATER).all()
    assert runs[["members", "entered", "left"]].values.tolist() == [[3, 1, 0], [0, 0, 1]]
    # the rerun after writing: nothing to open or close, the stored counts are kept
    now_open = pd.DataFrame(
        {"segment": ["buyers"] * 3, "customer_id": [1, 2, 3], "entered_at": [LATER, AS_OF, AS_OF]}
    )
    again = plan_memberships(
        DEFINITIONS, _profiles([1, 1, 2]), now_open, runs[["segment", "entered", "left"]], LATER
    )
    assert again[0].empty and again[1].empty
    assert again[2][["members", "entered", "left"]].values.tolist() == [[3, 1, 0], [0, 0, 1]]
