"""Filters: plural forms, money and dates in both languages, declension of Russian names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import pytest

from campaigns.filters import declension, plural

RenderSms = Callable[..., str]
AS_OF = pd.Timestamp("2026-12-01 06:00", tz="UTC")
SECRET = "test-secret"


def _sms(text: str, language: str = "ru") -> dict:
    return {"sms": {language: {"text": text}}}


# -- plural forms, money, dates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "1 балл"),
        (2, "2 балла"),
        (5, "5 баллов"),
        (21, "21 балл"),
        (11, "11 баллов"),
        (22, "22 балла"),
    ],
)
def test_russian_plural_forms(n: int, expected: str, render_sms: RenderSms) -> None:
    assert render_sms("{{ n }} {{ n|plural('балл', 'балла', 'баллов') }}", n=n) == expected


@pytest.mark.parametrize(("n", "expected"), [(1, "1 point"), (2, "2 points"), (0, "0 points")])
def test_english_plural_forms(n: int, expected: str, render_sms: RenderSms) -> None:
    assert render_sms("{{ n }} {{ n|plural('point', 'points') }}", "en", n=n) == expected


def test_plural_function_and_fractions() -> None:
    assert plural("ru_RU", 1.5, "балл", "балла", "баллов") == "балла"
    with pytest.raises(ValueError, match="forms"):
        plural("ru_RU", 1)


def test_money_in_the_recipients_locale(render_sms: RenderSms) -> None:
    assert render_sms("{{ 1500|money }}") == "1\xa0500,00\xa0₽"
    assert render_sms("{{ 1500|money }}", "en") == "RUB1,500.00"
    assert render_sms("{{ 99.5|money('EUR') }}", "en") == "€99.50"
    assert render_sms("{{ 1234.5|number }}") == "1\xa0234,5"


def test_dates_in_the_recipients_locale_and_time_zone(render_sms: RenderSms) -> None:
    day = dt.date(2026, 12, 31)
    assert render_sms("{{ d|date }}", d=day) == "31 декабря 2026\u202fг."
    assert render_sms("{{ d|date }}", "en", d=day) == "December 31, 2026"
    assert render_sms("{{ d|date('short') }}", d=day) == "31.12.2026"
    # 21:30 UTC on 31 December is already 1 January in Moscow
    late = pd.Timestamp("2026-12-31 21:30", tz="UTC")
    assert render_sms("{{ t|date('short') }}", t=late) == "01.01.2027"
    assert render_sms("{{ t|datetime('short') }}", t=late) == "01.01.2027, 00:30"


# -- declension -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "case", "gender", "expected"),
    [
        ("Иван", "dative", "m", "Ивану"),
        ("Анна", "genitive", "f", "Анны"),
        ("Пётр", "instrumental", "m", "Петром"),
        ("Анна-Мария", "dative", "f", "Анне-Марии"),  # hyphenated: both halves
        ("Жан-Поль", "dative", "m", "Жану-Полю"),
        ("Мэри", "dative", "f", "Мэри"),  # foreign, indeclinable
        ("Ли", "genitive", "m", "Ли"),
        ("John", "dative", "m", "John"),  # not Cyrillic: as written
        ("Любовь", "dative", None, "Любовь"),  # gender unknown, rules disagree: nominative
        ("Жене", "dative", "x", "Жене"),
        ("", "dative", "m", ""),
        (None, "dative", "m", None),
    ],
)
def test_declension_or_the_nominative(name: str, case: str, gender: str, expected: str) -> None:
    assert declension(name, case, gender) == expected


def test_declension_in_a_formal_russian_greeting(render_sms: RenderSms) -> None:
    text = (
        "Уважаемому {{ first_name|declension('dative', gender) }} "
        "{{ middle_name|declension('dative', gender, 'middle') }}"
    )
    assert render_sms(text, first_name="Иван", middle_name="Петрович", gender="m") == (
        "Уважаемому Ивану Петровичу"
    )
    assert render_sms(
        "для {{ first_name|declension('genitive', gender) }}", first_name="Анна", gender="f"
    ) == ("для Анны")


def test_declension_refuses_an_unknown_case() -> None:
    with pytest.raises(ValueError, match="declension case"):
        declension("Иван", "vocative", "m")
