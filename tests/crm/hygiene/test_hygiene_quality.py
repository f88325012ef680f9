"""The % clean records KPI and its breakdown by issue (D8)."""

from __future__ import annotations

import pandas as pd
import pytest

from crm.hygiene.quality import ISSUES, issues_from_flags, quality_kpi


def test_kpi_by_hand() -> None:
    ids = pd.Series([1, 2, 3, 4])
    fixed = issues_from_flags(ids, {"name_recased": [True, False, True, False]}, fixed=True)
    open_ = issues_from_flags(
        pd.Series([2, 2, 3]),
        {"phone_invalid": [True, True, False], "email_free": [False, False, True]},
        fixed=False,
    )
    issues = pd.concat([fixed, open_], ignore_index=True)
    summary, breakdown = quality_kpi(issues, ids)
    # as found: 1 (recased), 2 (bad phone), 3 (recased) are not clean; the free-mail flag does not count
    assert summary["clean_records_raw"] == 1 and summary["clean_share_raw"] == 0.25
    # after the fixes only 2 keeps an issue
    assert summary["clean_records"] == 3 and summary["clean_share"] == 0.75
    row = breakdown.set_index("issue")
    assert row.loc["name_recased", ["records_raw", "records"]].tolist() == [2, 0]
    assert row.loc["phone_invalid", ["records_raw", "records", "share"]].tolist() == [1, 1, 0.25]
    assert row.loc["email_free", "severity"] == "info"
    assert set(breakdown["issue"]) == set(ISSUES)


def test_suppressed_records_leave_the_after_population() -> None:
    issues = issues_from_flags(
        pd.Series([1, 2]), {"stale": [True, False], "email_role": [False, True]}, fixed=False
    )
    summary, _ = quality_kpi(issues, pd.Series([1, 2, 3]), after=pd.Series([2, 3]))
    assert (summary["records"], summary["clean_records_raw"]) == (3, 1)
    assert (summary["records_after"], summary["clean_records"]) == (2, 1)


def test_unknown_issue_codes_are_refused() -> None:
    with pytest.raises(KeyError, match="unknown issue"):
        issues_from_flags(pd.Series([1]), {"not_an_issue": [True]}, fixed=False)
