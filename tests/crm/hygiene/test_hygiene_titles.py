"""Job titles (D5): one canonical title with seniority for many spellings; unmapped reported."""

from __future__ import annotations

import pandas as pd
import pytest

from crm.hygiene.titles import (
    SENIORITY_LEVELS,
    job_title_vocabulary,
    map_job_titles,
    unmapped_report,
)


@pytest.mark.parametrize(
    "raw",
    [
        "CEO",
        "Генеральный директор",
        "ген. директор",
        "Founder & CEO",
        "ГЕНЕРАЛЬНЫЙ ДИРЕКТОР",
        "Chief Executive Officer",
        "Managing Director",
        "CEO and co-founder",
    ],
)
def test_ceo_spellings_map_to_one_title(raw: str) -> None:
    out = map_job_titles(pd.Series([raw]))
    assert out.loc[0, "title_code"] == "ceo"
    assert out.loc[0, "job_title"] == "Генеральный директор"
    assert out.loc[0, "seniority"] == "c_level"
    assert not out.loc[0, "title_unmapped"]


@pytest.mark.parametrize(
    ("raw", "code", "seniority"),
    [
        ("гл. бухгалтер", "chief_accountant", "head"),
        ("Chief Accountant", "chief_accountant", "head"),
        ("Бухгалтер", "accountant", "specialist"),
        ("Legal counsel", "lawyer", "specialist"),
        ("Юрист", "lawyer", "specialist"),
        ("Зам. генерального директора", "deputy_ceo", "director"),
        ("Head of Marketing", "head_marketing", "head"),
        ("Руководитель отдела продаж", "head_sales", "head"),
        ("CFO", "cfo", "c_level"),
        ("Финансовый директор", "cfo", "c_level"),
        ("IT-директор", "cio", "c_level"),
        ("Офис-менеджер", "office_manager", "specialist"),
        ("HR", "hr_manager", "specialist"),
        ("ИП", "entrepreneur", "owner"),
        ("Директор", "director", "director"),
        ("Секретарь", "secretary", "assistant"),
    ],
)
def test_titles_in_both_languages_get_code_and_seniority(
    raw: str, code: str, seniority: str
) -> None:
    out = map_job_titles(pd.Series([raw]))
    assert (out.loc[0, "title_code"], out.loc[0, "seniority"]) == (code, seniority)


def test_label_follows_the_contacts_language() -> None:
    out = map_job_titles(
        pd.Series(["Генеральный директор", "Founder & CEO"]), language=pd.Series(["en", "ru"])
    )
    assert out["job_title"].tolist() == ["CEO", "Генеральный директор"]


def test_unmapped_titles_are_reported_not_guessed() -> None:
    raw = pd.Series(["Космонавт", "CEO", "Космонавт", "Shaman", None])
    out = map_job_titles(raw)
    assert out["title_unmapped"].tolist() == [True, False, True, True, False]
    assert out.loc[0, "job_title"] == "Космонавт" and pd.isna(out.loc[0, "title_code"])
    report = unmapped_report(raw)
    assert report.to_dict("records") == [
        {"job_title": "Космонавт", "rows": 2},
        {"job_title": "Shaman", "rows": 1},
    ]


def test_vocabulary_is_consistent() -> None:
    vocab = job_title_vocabulary()
    assert vocab["code"].is_unique
    assert set(vocab["seniority"]) <= set(SENIORITY_LEVELS)
