"""Free text mapped to pick-lists (D5, S1): cities and tags.

A value is folded (lower case, ``ё`` → ``е``, ``г.``/``город``/``city of`` dropped, dots,
hyphens and slashes read as spaces) and looked up among the pick-list's names and known
spellings: ``г. Москва``, ``МОСКВА``, ``Мск`` and ``Moscow`` are all ``Москва``. What
cannot be mapped is reported (``city_unmapped``, ``tag_unmapped``), never guessed.
"""

from __future__ import annotations

import re
from functools import cache

import pandas as pd

from crm.hygiene._common import map_distinct, read_table, require, to_text

__all__ = ["city_pick_list", "map_cities", "map_tags", "picklist_key"]

_CITY_PREFIX = re.compile(r"^(?:г|гор|город|city of|city|пос|посёлок|поселок|пгт|с|село|д)\.?\s+")


def _fold_key(text: str) -> str:
    text = text.lower().replace("ё", "е").strip()
    text = _CITY_PREFIX.sub("", text)
    text = re.sub(r"[.\-/_,()'\"«»]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def picklist_key(values: pd.Series) -> pd.Series:
    """The folded form pick-list values are matched on (``г. Санкт-Петербург`` → ``санкт петербург``)."""
    text = to_text(values)
    return map_distinct(text, lambda v: (_fold_key(v),), ("key",))["key"].astype("str")


@cache
def city_pick_list() -> pd.DataFrame:
    """The city pick-list: ``city`` (canonical name), ``country`` (ISO code)."""
    rows = read_table("cities.tsv", 3)
    return pd.DataFrame([(c, k) for c, k, _ in rows], columns=["city", "country"])


@cache
def _city_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for city, _country, variants in read_table("cities.tsv", 3):
        for spelling in [city, *variants.split("|")]:
            if spelling:
                lookup.setdefault(_fold_key(spelling), city)
    return lookup


def map_cities(values: pd.Series) -> pd.DataFrame:
    """Map free-text cities to the pick-list.

    Returns
    -------
    pandas.DataFrame
        Same index, ``city`` (the canonical name, or the cleaned original when unmapped),
        ``city_mapped`` (found on the list) and ``city_unmapped`` (given, but not on the list).

    >>> map_cities(pd.Series(["г. Москва", "СПб", "Moscow", "Урюпинск"]))["city"].tolist()
    ['Москва', 'Санкт-Петербург', 'Москва', 'Урюпинск']
    """
    text = to_text(values)
    lookup = _city_lookup()
    canon = map_distinct(text, lambda v: (lookup.get(_fold_key(v)),), ("city",))["city"]
    canon = canon.astype("str")
    return pd.DataFrame(
        {
            "city": canon.fillna(text),
            "city_mapped": canon.notna(),
            "city_unmapped": text.notna() & canon.isna(),
        },
        index=values.index,
    )


@cache
def _tag_synonyms() -> tuple[tuple[str, str, str], ...]:
    rows = read_table("tag_synonyms.tsv", 3)
    return tuple((_fold_key(text), vocab, code) for text, vocab, code in rows)


def map_tags(values: pd.Series, definitions: pd.DataFrame) -> pd.DataFrame:
    """Map free-text tags to the tag pick-list (``tag_definitions``).

    A text matches a definition by its code, English or Russian label, ``vocabulary:code``,
    or a known spelling from ``data/tag_synonyms.tsv`` (``однушка`` → rooms 1).

    Parameters
    ----------
    values : pandas.Series
        Free-text tags, one per row.
    definitions : pandas.DataFrame
        ``tag_id``, ``vocabulary``, ``code``, ``label_en``, ``label_ru``.

    Returns
    -------
    pandas.DataFrame
        Same index, ``tag_id`` (nullable), ``vocabulary``, ``code`` and ``tag_unmapped``.
    """
    require(definitions, ("tag_id", "vocabulary", "code", "label_en", "label_ru"), "map_tags")
    lookup: dict[str, int] = {}
    by_code: dict[tuple[str, str], int] = {}
    records = definitions.to_dict("records")  # the pick-list: tens of rows
    for rec in records:
        tid = int(rec["tag_id"])
        by_code[(str(rec["vocabulary"]), str(rec["code"]))] = tid
        for spelling in (f"{rec['vocabulary']}:{rec['code']}", rec["label_en"], rec["label_ru"]):
            lookup.setdefault(_fold_key(str(spelling)), tid)
    for spelling, vocab, code in _tag_synonyms():
        if (vocab, code) in by_code:
            lookup.setdefault(spelling, by_code[(vocab, code)])
    for rec in records:
        # a bare code last: "2" alone is ambiguous only if two vocabularies share it
        lookup.setdefault(_fold_key(str(rec["code"])), int(rec["tag_id"]))
    text = to_text(values)
    found = map_distinct(text, lambda v: (lookup.get(_fold_key(v)),), ("tag_id",))
    tag_id = found["tag_id"].astype("Int64")
    defs = definitions.set_index("tag_id")
    return pd.DataFrame(
        {
            "tag_id": tag_id,
            "vocabulary": tag_id.map(defs["vocabulary"]).astype("str"),
            "code": tag_id.map(defs["code"]).astype("str"),
            "tag_unmapped": text.notna() & tag_id.isna(),
        },
        index=values.index,
    )
