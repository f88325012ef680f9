"""The import step (D9) and the whole pass over frames (D5–D8): both languages, rerun changes nothing."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from crm.hygiene import (
    CONTACT_ADDED_COLUMNS,
    clean_base,
    normalise_contact_points,
    normalise_contacts,
)

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def test_normalise_contacts_for_an_import_file_in_both_languages() -> None:
    rows = pd.DataFrame(
        {
            "first_name": ["иванов иван иванович", "jane", "test"],
            "last_name": [None, "SMITH", "Петров"],
            "email": ["Ivan@Mail.RU", "jane@gmial.com", "info@acme.ru"],
            "phone": ["8 (916) 123-45-67", "+44 7911 123456", "12345"],
            "job_title": ["ген. директор", "Founder & CEO", "Космонавт"],
            "city": ["г. Москва", "london", "Урюпинск"],
            "language": ["ru", "en", "ru"],
        },
        index=[10, 11, 12],
    )
    out = normalise_contacts(rows, default_region="RU")
    assert list(out.index) == [10, 11, 12]
    assert set(CONTACT_ADDED_COLUMNS) <= set(out.columns)
    assert out[["last_name", "first_name", "middle_name"]].iloc[0].tolist() == [
        "Иванов",
        "Иван",
        "Иванович",
    ]
    assert out.loc[11, "first_name"] == "Jane" and out.loc[11, "last_name"] == "Smith"
    assert pd.isna(out.loc[12, "first_name"]) and out.loc[12, "name_fake"]
    assert out["email"].tolist() == ["Ivan@Mail.RU", "jane@gmial.com", "info@acme.ru"]  # raw kept
    assert out["email_normalized"].tolist() == ["ivan@mail.ru", "jane@gmial.com", "info@acme.ru"]
    assert out.loc[11, "email_suggestion"] == "jane@gmail.com"
    assert out["phone_normalized"].tolist()[:2] == ["+79161234567", "+447911123456"]
    assert out["job_title"].tolist() == ["Генеральный директор", "CEO", "Космонавт"]
    assert out["title_unmapped"].tolist() == [False, False, True]
    assert out["city"].tolist() == ["Москва", "London", "Урюпинск"]
    assert out.loc[10, "gender"] == "m"
    assert out.loc[10, "issues"] == "name_recased,name_split"  # fixed, but reported
    # gmial.com is also on the maintained disposable list (typo-squatting)
    assert out.loc[11, "issues"] == "name_recased,email_domain_typo,email_disposable"
    assert set(out.loc[12, "issues"].split(",")) == {
        "name_fake",
        "first_name_missing",
        "job_title_unmapped",
        "city_unmapped",
        "email_role",
        "phone_invalid",
    }


def test_normalise_contact_points_adds_only_table_columns() -> None:
    cp = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "kind": ["email", "phone", "phone"],
            "value": ["A@B.RU", "8 916 123 45 67", " "],
        }
    )
    out = normalise_contact_points(cp, default_region="RU")
    assert list(out.columns) == [
        "customer_id",
        "kind",
        "value",
        "normalized",
        "is_valid",
        "invalid_reason",
        "phone_type",
    ]
    assert out["normalized"].tolist()[:2] == ["a@b.ru", "+79161234567"]
    assert out["is_valid"].tolist() == [True, True, False]
    assert out["invalid_reason"].tolist()[2] == "empty"
    assert out["phone_type"].tolist()[1] == "mobile"


def _base() -> dict[str, pd.DataFrame]:
    t = pd.Timestamp("2025-01-01", tz="UTC")
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "first_name": ["ПЕТРОВ", "jane", "Сергей", "Olga"],
            "last_name": ["Иван", "SMITH", "Сидоров", "Ivanova"],
            "middle_name": ["Сергеевич", None, None, None],
            "gender": [None, None, "m", "f"],
            "birth_date": [None, None, dt.date(1990, 1, 1), None],
            "job_title": ["гл. бухгалтер", "CEO", None, None],
            "city": ["Мск", "London", "СПб", None],
            "language": ["ru", "en", "ru", "en"],
            "company_id": [5, 6, None, None],
            "status": ["active", "active", "active", "duplicate"],
            "lifecycle_stage": ["customer", "customer", "lead", "lead"],
            "owner": ["olga", None, None, None],
            "created_at": [t, t, pd.Timestamp("2019-01-01", tz="UTC"), t],
        }
    )
    points = pd.DataFrame(
        {
            "contact_point_id": [1, 2, 3, 4, 5],
            "customer_id": [1, 1, 2, 3, 4],
            "kind": ["email", "phone", "email", "phone", "email"],
            "value": [
                "Ivan.Petrov@Mail.RU",
                "8 (916) 123-45-67",
                "jane@gmial.com",
                "12345",
                "olga@x.ru",
            ],
            "normalized": [None] * 5,
            "is_valid": [None] * 5,
            "invalid_reason": [None] * 5,
            "phone_type": [None] * 5,
        }
    )
    consents = pd.DataFrame(
        {"customer_id": [1], "channel": ["email"], "granted": [True], "recorded_at": [t]}
    )
    return {"customers": customers, "contact_points": points, "consents": consents}


def test_clean_base_fixes_measures_and_a_second_pass_changes_nothing() -> None:
    base = _base()
    r = clean_base(base["customers"], base["contact_points"], base["consents"], as_of=AS_OF)
    fixed = r.customers.set_index("customer_id")
    assert fixed.loc[1, ["first_name", "last_name", "gender", "job_title", "city"]].tolist() == [
        "Иван",
        "Петров",
        "m",
        "Главный бухгалтер",
        "Москва",
    ]
    assert fixed.loc[2, ["first_name", "last_name", "job_title"]].tolist() == [
        "Jane",
        "Smith",
        "CEO",
    ]
    assert 4 not in fixed.index  # duplicates are left to identity resolution
    assert set(r.changes["rule"]) >= {
        "names",
        "gender_inferred",
        "job_title",
        "city",
        "normalise",
        "validate",
    }
    sup = {(row.customer_id, row.reason) for row in r.suppressions.writes.itertuples()}
    assert sup == {
        (2, "invalid_email"),  # the mistyped domain is no usable channel…
        (2, "unreachable"),
        (3, "invalid_phone"),
        (3, "unreachable"),
        (3, "stale"),
    }
    assert sorted(r.suppressions.statuses.values.tolist()) == [[2, "suppressed"], [3, "suppressed"]]
    # …but the customer is worth a call: the robot asks to confirm the address
    assert {(row.customer_id, row.task) for row in r.tasks.itertuples()} >= {
        (2, "fix_email_typo"),
        (1, "ask_birthday"),
    }
    assert r.summary["records"] == 3 and r.summary["records_after"] == 1
    assert r.summary["clean_records_raw"] == 0
    assert r.summary["clean_records"] == 1  # customer 1, fixed

    # apply the result to the frames and run again: nothing changes
    customers = base["customers"].set_index("customer_id")
    customers.update(r.customers.set_index("customer_id"))
    customers.loc[[2, 3], "status"] = "suppressed"
    points = base["contact_points"].set_index("contact_point_id")
    for flag in ("is_role", "is_free", "is_disposable"):  # columns of the table, stored by the pass
        points[flag] = pd.Series(pd.NA, index=points.index, dtype="boolean")
    points.update(r.contact_points.set_index("contact_point_id"))
    points["is_valid"] = points["is_valid"].astype(bool)
    assert points.loc[points["kind"] == "email", "is_role"].notna().all()
    again = clean_base(
        customers.reset_index(),
        points.reset_index(),
        base["consents"],
        as_of=AS_OF,
        suppressions=r.suppressions.writes,
        tasks=r.tasks,
    )
    assert len(again.customers) == 0 and len(again.contact_points) == 0 and len(again.changes) == 0
    assert len(again.suppressions.writes) == 0 and len(again.suppressions.statuses) == 0
    assert len(again.tasks) == 0
