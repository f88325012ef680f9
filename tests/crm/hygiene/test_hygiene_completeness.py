"""Completeness score, missing list and the data-ops robot (D7)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from crm.hygiene.completeness import (
    COMPLETENESS_ITEMS,
    completeness,
    data_ops_tasks,
    latest_consents,
)

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "first_name": ["Иван", "Jane", None],
            "last_name": ["Петров", "Smith", "Сидоров"],
            "birth_date": [dt.date(1980, 1, 2), None, None],
            "city": ["Москва", "London", None],
            "gender": ["m", "f", None],
            "company_id": [None, 7, None],
            "job_title": [None, None, None],
            "status": ["active", "active", "active"],
            "lifecycle_stage": ["customer", "repeat_customer", "lead"],
            "owner": ["olga", "olga", None],
        }
    )


def _points() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 2],
            "kind": ["email", "phone", "phone", "email"],
            "is_valid": [True, True, True, False],
            "invalid_reason": [None, None, None, "domain_typo"],
            "phone_type": [None, "mobile", "fixed", None],
            "suggestion": [None, None, None, "jane@gmail.com"],
        }
    )


def _consents() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "channel": ["email", "email", "sms"],
            "granted": [False, True, True],
            "recorded_at": pd.to_datetime(["2025-01-01", "2025-06-01", "2027-01-01"], utc=True),
        }
    )


def test_score_and_missing_list_by_hand() -> None:
    card = completeness(_customers(), _points(), _consents(), AS_OF).set_index("customer_id")
    # Иван: everything but... nothing missing (job title only counts for B2B)
    assert card.loc[1, "score"] == 1.0 and card.loc[1, "missing"] == ""
    # Jane (B2B): no valid email, no mobile (fixed line), the SMS consent is after as_of,
    # no birthday, no job title: weights 3+3+2+1+1 of 14.5 missing
    total = sum(w for w, _ in COMPLETENESS_ITEMS.values())
    assert card.loc[2, "missing"] == "no_email, no_mobile, no_consent, no_birthday, no_job_title"
    assert card.loc[2, "score"] == round((total - 10) / total, 3)
    # Сидоров (B2C): only a last name
    assert card.loc[3, "missing_count"] == 7
    assert card.loc[3, "score"] == round(1 / (total - 1), 3)


def test_latest_consent_wins_and_the_future_is_ignored() -> None:
    latest = latest_consents(_consents(), AS_OF)
    assert latest[["customer_id", "channel", "granted"]].values.tolist() == [[1, "email", True]]


def test_robot_lists_what_to_fix_on_cards_worth_fixing() -> None:
    customers = _customers()
    card = completeness(customers, _points(), _consents(), AS_OF)
    flags = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "surname_in_first_name": [False, False, False],
            "first_name_missing": [False, False, True],
        }
    )
    tasks = data_ops_tasks(customers, card, _points(), flags, None, AS_OF)
    got = set(map(tuple, tasks[["customer_id", "task"]].values.tolist()))
    # customer 3 is a lead with no recent activity: not worth a person's time yet
    assert got == {
        (2, "fix_email_typo"),
        (2, "ask_mobile"),
        (2, "ask_consent"),
        (2, "ask_birthday"),
    }
    typo = tasks[tasks["task"] == "fix_email_typo"].iloc[0]
    assert typo["detail"] == "did you mean jane@gmail.com?" and typo["priority"] == 1
    assert typo["owner"] == "olga"
    assert tasks["priority"].is_monotonic_increasing


def test_recent_activity_makes_a_lead_worth_fixing() -> None:
    customers = _customers()
    card = completeness(customers, _points(), _consents(), AS_OF)
    activity = pd.Series(pd.to_datetime(["2026-05-01"], utc=True), index=[3])
    tasks = data_ops_tasks(customers, card, _points(), None, activity, AS_OF)
    assert {"ask_email", "ask_mobile", "ask_consent", "ask_birthday"} <= set(
        tasks.loc[tasks["customer_id"] == 3, "task"]
    )
