"""Names (D5) in Russian and English: case, script, split, swaps, fakes, gender."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.hygiene.names import (
    NAME_FLAGS,
    gender_from_patronymic,
    is_fake_name,
    looks_like_given_name,
    looks_like_surname,
    name_key,
    normalise_names,
    proper_case,
    split_full_name,
)


@pytest.mark.parametrize(
    ("raw", "right"),
    [
        ("иванов иван иванович", "Иванов Иван Иванович"),
        ("ИВАНОВА", "Иванова"),
        ("jane SMITH", "Jane Smith"),
        ("McDONALD", "McDonald"),
        ("mcdonald", "McDonald"),
        ("O'BRIEN", "O'Brien"),
        ("o’neill", "O'Neill"),
        ("анна-мария", "Анна-Мария"),
        ("римский-корсаков", "Римский-Корсаков"),
        ("MARY-JANE", "Mary-Jane"),
        ("DiCaprio", "DiCaprio"),  # deliberate mixed case is kept
        ("ludwig VAN beethoven", "Ludwig van Beethoven"),
        ("  пётр  ", "Пётр"),
        ("Иван!!", "Иван"),
        ("*Olga*", "Olga"),
    ],
)
def test_proper_case(raw: str, right: str) -> None:
    assert proper_case(pd.Series([raw])).iloc[0] == right


def test_latin_look_alikes_inside_a_cyrillic_word_are_fixed_and_back() -> None:
    mixed_cyr = "Иван" + "o" + "в"  # Latin o
    mixed_lat = "Smi" + "т" + "h"  # Cyrillic т is no look-alike of Latin t in lower case: kept
    mixed_lat2 = "J" + "о" + "hn"  # Cyrillic о inside a Latin word
    out = proper_case(pd.Series([mixed_cyr, mixed_lat2, mixed_lat])).tolist()
    assert out[0] == "Иванов" and all("\u0400" <= ch <= "\u04ff" for ch in out[0])
    assert out[1] == "John" and out[1].isascii()


def test_name_key_folds_yo_case_script_and_separators() -> None:
    keys = name_key(
        pd.Series(["Семёнов", "СЕМЕНОВ", "Сем" + "e" + "нов", "Анна-Мария", "анна мария", None])
    )
    assert keys.tolist()[:5] == ["семенов", "семенов", "семенов", "аннамария", "аннамария"]
    assert pd.isna(keys.iloc[5])


def test_nfc_makes_composed_and_decomposed_yo_equal() -> None:
    decomposed = "Пе\u0308тр"  # е + combining diaeresis
    assert proper_case(pd.Series([decomposed])).iloc[0] == "Пётр"
    assert name_key(pd.Series([decomposed])).iloc[0] == "петр"


@pytest.mark.parametrize(
    ("raw", "last", "first", "middle"),
    [
        ("Иванов Иван Иванович", "Иванов", "Иван", "Иванович"),
        ("иван иванович иванов", "иванов", "иван", "иванович"),
        ("Петрова Анна Сергеевна", "Петрова", "Анна", "Сергеевна"),
        ("Иван Петров", "Петров", "Иван", None),
        ("Петров Иван", "Петров", "Иван", None),
        ("John Smith", "Smith", "John", None),
        ("Smith John", "Smith", "John", None),
        ("John Paul Jones", "Jones", "John", "Paul"),
        ("Ильин Пётр Ильич", "Ильин", "Пётр", "Ильич"),
    ],
)
def test_split_full_name(raw: str, last: str, first: str, middle: str | None) -> None:
    row = split_full_name(pd.Series([raw])).iloc[0]
    assert row["split"]
    assert (row["last_name"], row["first_name"]) == (last, first)
    assert (row["middle_name"] if pd.notna(row["middle_name"]) else None) == middle


def test_one_word_and_double_given_names_are_not_split() -> None:
    out = split_full_name(pd.Series(["Иван", "Анна Мария", "a b c d e"]))
    assert not out["split"].any()


def test_surname_and_given_name_detection() -> None:
    values = pd.Series(
        ["Иванов", "Кузнецова", "Римский-Корсаков", "Марина", "Лев", "Petrov", "Smith", "Jane"]
    )
    assert looks_like_surname(values).tolist() == [
        True,
        True,
        True,
        False,
        False,
        True,
        True,
        False,
    ]
    assert looks_like_given_name(values).tolist() == [
        False,
        False,
        False,
        True,
        True,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "test",
        "Тест",
        "asdf",
        "ххх",
        "xxx",
        "qwerty",
        "йцукен",
        "aaa",
        "-",
        "123",
        "test1",
        "лалала",
        "NoName",
        "n/a",
    ],
)
def test_fakes_are_flagged(raw: str) -> None:
    assert is_fake_name(pd.Series([raw])).iloc[0]


@pytest.mark.parametrize("raw", ["Иван", "Ян", "Ия", "Ли", "Anna", "Bob", "Otto", "Asdis"])
def test_real_short_names_are_not_fakes(raw: str) -> None:
    assert not is_fake_name(pd.Series([raw])).iloc[0]


def test_gender_from_patronymic() -> None:
    values = pd.Series(
        [
            "Иванович",
            "Сергеевич",
            "Ильич",
            "Ивановна",
            "Сергеевна",
            "Ильинична",
            "Кузьминична",
            "Smith",
            None,
        ]
    )
    assert gender_from_patronymic(values).tolist()[:7] == ["m", "m", "m", "f", "f", "f", "f"]
    assert gender_from_patronymic(values).iloc[7:].isna().all()


def test_normalise_names_applies_every_rule_and_flags_it() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6, 7],
            "first_name": [
                "иванов иван иванович",
                "Петров",
                "jane",
                "test",
                "КОЗЛОВА",
                "Ирин" + "a",
                "Ivan",
            ],
            "last_name": [None, "Сергей", "SMITH", "Иванов", None, "Смирнова", "Petrov"],
            "middle_name": [None, "Петрович", None, None, None, "Олеговна", None],
            "gender": [None, None, None, None, None, None, "m"],
        }
    )
    out = normalise_names(frame)
    assert out["first_name"].tolist()[:3] == ["Иван", "Сергей", "Jane"]
    assert pd.isna(out.loc[3, "first_name"])
    assert out["last_name"].tolist()[:4] == ["Иванов", "Петров", "Smith", "Иванов"]
    assert out["middle_name"].tolist()[:2] == ["Иванович", "Петрович"]
    assert out.loc[5, "first_name"] == "Ирина"
    assert out["gender"].tolist()[:3] == ["m", "m", "f"]
    assert out.loc[5, "gender"] == "f" and out.loc[6, "gender"] == "m"
    assert out["name_split"].tolist() == [True, False, False, False, False, False, False]
    assert out["name_swapped"].tolist() == [False, True, False, False, False, False, False]
    assert out["name_fake"].tolist() == [False, False, False, True, False, False, False]
    assert out["surname_in_first_name"].tolist() == [False, False, False, False, True, False, False]
    assert out["name_mixed_script"].tolist() == [False, False, False, False, False, True, False]
    assert out["name_recased"].tolist() == [True, False, True, False, True, False, False]
    assert out["gender_inferred"].tolist() == [True, True, True, False, False, True, False]
    assert out["first_name_missing"].tolist() == [False, False, False, True, False, False, False]
    assert set(NAME_FLAGS) <= set(out.columns)
    assert out["customer_id"].tolist() == [1, 2, 3, 4, 5, 6, 7]


_ru_word = st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщыэюя", min_size=2, max_size=10)


@settings(max_examples=40, deadline=None)
@given(st.lists(_ru_word, min_size=1, max_size=3))
def test_normalising_twice_changes_nothing(words: list[str]) -> None:
    frame = pd.DataFrame(
        {"first_name": [" ".join(words)], "last_name": [None], "middle_name": [None]}
    )
    once = normalise_names(frame)
    twice = normalise_names(once[["first_name", "last_name", "middle_name", "gender"]])
    for col in ("first_name", "last_name", "middle_name", "gender"):
        a, b = once.loc[0, col], twice.loc[0, col]
        assert (pd.isna(a) and pd.isna(b)) or a == b
