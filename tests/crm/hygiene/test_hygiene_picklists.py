"""Cities and tags to pick-lists (D5, S1): spellings mapped, the rest reported."""

from __future__ import annotations

import pandas as pd
import pytest

from crm.hygiene.picklists import city_pick_list, map_cities, map_tags


@pytest.mark.parametrize(
    ("raw", "city"),
    [
        ("г. Москва", "Москва"),
        ("МОСКВА", "Москва"),
        ("Мск", "Москва"),
        ("Moscow", "Москва"),
        ("СПб", "Санкт-Петербург"),
        ("Питер", "Санкт-Петербург"),
        ("С-Петербург", "Санкт-Петербург"),
        ("санкт петербург", "Санкт-Петербург"),
        ("Saint Petersburg", "Санкт-Петербург"),
        ("Н.Новгород", "Нижний Новгород"),
        ("Ростов", "Ростов-на-Дону"),
        ("Екб", "Екатеринбург"),
        ("Орел", "Орёл"),
        ("london", "London"),
        ("Лондон", "London"),
    ],
)
def test_city_spellings_map_to_the_pick_list(raw: str, city: str) -> None:
    out = map_cities(pd.Series([raw]))
    assert out.loc[0, "city"] == city
    assert out.loc[0, "city_mapped"] and not out.loc[0, "city_unmapped"]


def test_unknown_city_is_kept_and_reported() -> None:
    out = map_cities(pd.Series(["Урюпинск", None]))
    assert out["city"].iloc[0] == "Урюпинск"
    assert out["city_unmapped"].tolist() == [True, False]
    assert "Москва" in set(city_pick_list()["city"])


def test_free_text_tags_map_to_definitions() -> None:
    defs = pd.DataFrame(
        {
            "tag_id": [1, 2, 3, 4],
            "vocabulary": ["interest", "rooms", "floor", "buying_for"],
            "code": ["sport", "1", "low", "family"],
            "label_en": ["Sport", "1 room", "Low floor", "For family"],
            "label_ru": ["Спорт", "1 комната", "Низкий этаж", "Для семьи"],
        }
    )
    out = map_tags(
        pd.Series(["спорт", "Fitness", "однушка", "НИЗКИЙ ЭТАЖ", "rooms:1", "для семьи", "вип"]),
        defs,
    )
    assert out["tag_id"].tolist()[:6] == [1, 1, 2, 3, 2, 4]
    assert out["tag_unmapped"].tolist() == [False] * 6 + [True]
    assert out.loc[2, "vocabulary"] == "rooms" and out.loc[2, "code"] == "1"
