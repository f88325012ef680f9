"""Personalisation contexts: the given name cased, never the surname, fallbacks, promo codes."""

from __future__ import annotations

import pandas as pd

from campaigns.context import CONTEXT_COLUMNS, build_contexts, sample_context


def _contexts(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return build_contexts(pd.DataFrame({"customer_id": list(range(1, n + 1)), **columns}))


def test_given_name_is_correctly_cased() -> None:
    out = _contexts(
        first_name=["иван", "АННА-МАРИЯ", "jane", "  пётр ", "DeShawn", "o'neil"],
        last_name=["Петров", "Иванова", "Doe", "Сидоров", "Lee", "Doe"],
        language=["ru", "ru", "en", "ru", "en", "en"],
    )
    assert out["first_name"].tolist() == ["Иван", "Анна-Мария", "Jane", "Пётр", "DeShawn", "O'Neil"]
    assert out["greeting"].tolist() == [
        "Здравствуйте, Иван!",
        "Здравствуйте, Анна-Мария!",
        "Hello Jane,",
        "Здравствуйте, Пётр!",
        "Hello DeShawn,",
        "Hello O'Neil,",
    ]


def test_never_the_surname_in_the_greeting() -> None:
    out = _contexts(
        first_name=["Петров", "ПЕТРОВА", "Иванов Иван", "Smith", "Иван Иванов"],
        last_name=["Петров", "Петрова", "Иванов", "smith", "Иванов"],
        language=["ru", "ru", "ru", "en", "ru"],
    )
    # the surname itself (any case), "Surname Given" and "Given Surname" in one slot
    assert out["first_name"].tolist() == [None, None, "Иван", None, "Иван"]
    assert out["greeting"].tolist() == [
        "Добрый день!",
        "Добрый день!",
        "Здравствуйте, Иван!",
        "Hello,",
        "Здравствуйте, Иван!",
    ]
    assert "last_name" not in out.columns


def test_fallback_greeting_when_the_name_is_missing_or_not_a_name() -> None:
    out = _contexts(
        first_name=[None, "", "12345", "aaaa", "Q", "-"],
        language=["ru", "en", "ru", "en", "en", "ru"],
    )
    assert out["first_name"].tolist() == [None] * 6
    assert out["greeting"].tolist() == [
        "Добрый день!",
        "Hello,",
        "Добрый день!",
        "Hello,",
        "Hello,",
        "Добрый день!",
    ]


def test_language_locale_and_defaults() -> None:
    out = _contexts(first_name=["Anna", "Anna", "Anna"], language=["EN", None, "de"])
    assert out["language"].tolist() == ["en", "ru", "ru"]
    assert out["locale"].tolist() == ["en_US", "ru_RU", "ru_RU"]
    assert out["currency"].tolist() == ["RUB"] * 3
    assert out["timezone"].tolist() == ["Europe/Moscow"] * 3


def test_per_recipient_promo_codes() -> None:
    recipients = pd.DataFrame({"customer_id": [10, 11, 12], "first_name": ["a", "b", "c"]})
    codes = pd.DataFrame({"customer_id": [12, 10], "promo_code": ["WB-0012", "WB-0010"]})
    out = build_contexts(recipients, promo_codes=codes)
    assert out["promo_code"].tolist() == ["WB-0010", None, "WB-0012"]


def test_patronymic_and_gender_carried_cased() -> None:
    out = _contexts(
        first_name=["иван", None],
        middle_name=["петрович", "Петровна"],
        gender=["M", "x"],
    )
    assert out["middle_name"].tolist() == ["Петрович", None]  # no patronymic without a name
    assert out["gender"].tolist() == ["m", None]


def test_other_columns_are_carried_over_and_context_columns_come_first() -> None:
    out = _contexts(first_name=["Иван"], points=[120], message_key=["k1"])
    assert list(out.columns[: len(CONTEXT_COLUMNS)]) == list(CONTEXT_COLUMNS)
    assert out["points"].tolist() == [120]
    assert out["message_key"].tolist() == ["k1"]


def test_sample_context_has_every_context_column() -> None:
    for language in ("ru", "en"):
        assert set(CONTEXT_COLUMNS) <= set(sample_context(language))
