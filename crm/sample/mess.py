"""The harder mess of real bilingual person data, for the generator (issue 13).

Drawn from its own random stream (``seed`` and ``13``), so everything else the generator
makes stays as it was for a seed. What it adds:

* people who are hard negatives, each a household member or a namesake of someone else:
  twins (same surname, birth date, address and often phone; another given name), parents
  and adult children sharing a given name, a surname and an address (born 25–35 years
  apart), namesakes without birth dates (same given name and surname, nothing else shared);
* records of one person that spell the given name otherwise: a diminutive or nickname
  (``Паша`` for ``Павел``, ``Bill`` for ``William``), or a Latin spelling of a Cyrillic name
  in the ICAO, BGN/PCGN or GOST 7.79 scheme;
* full names written ``"COOPER, James"`` (and ``"Smith Jessika"``, surname first, in the
  given-name slot);
* phones written with the ``00`` international prefix instead of ``+``;
* an export of the people (:func:`people_export`) whose birth dates are ISO, dotted
  (``31.01.1990``) and US (``01/31/1990``) in one column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm.data import names as N
from crm.identity.names import SCHEMES, romanize

__all__ = [
    "add_hard_negatives",
    "given_name_variants",
    "mess_rng",
    "people_export",
    "phone_prefixes",
    "surname_first",
]

_NULL: Any = None


def mess_rng(seed: int) -> np.random.Generator:
    """The mess's own random stream for ``seed``."""
    return np.random.default_rng([seed, 13])


def _other_name(
    rng: np.random.Generator, names: np.ndarray, female: np.ndarray, ru: np.ndarray
) -> np.ndarray:
    """A given name from the same list (language, gender) that differs from ``names``."""
    out = names.copy()
    for is_ru, is_f, pool in (
        (True, True, N.RU_FEMALE),
        (True, False, N.RU_MALE),
        (False, True, N.EN_FEMALE),
        (False, False, N.EN_MALE),
    ):
        m = (ru == is_ru) & (female == is_f)
        if not m.any():
            continue
        arr = np.asarray(pool, dtype=object)
        pos = rng.integers(0, len(arr), m.sum())
        pick = arr[pos]
        same = pick == names[m]
        pick[same] = arr[(pos[same] + 1) % len(arr)]
        out[m] = pick
    return out


def add_hard_negatives(rng: np.random.Generator, people: dict[str, np.ndarray]) -> np.ndarray:
    """Turn some people into twins, adult children and namesakes of others, in place.

    Parameters
    ----------
    rng : numpy.random.Generator
        The mess's stream (:func:`mess_rng`).
    people : dict of arrays
        ``first``, ``surname``, ``patronymic``, ``female``, ``is_ru``, ``birth_date``,
        ``address``, ``postcode``, ``city``, ``timezone``, ``phone_digits``,
        ``household`` (index of the household head per person), all of length P.

    Returns
    -------
    numpy.ndarray of str
        The relation of each person to the one they copy (``twin``, ``child``,
        ``namesake``) or ``""``.
    """
    household = people["household"]
    n = len(household)
    relation = np.full(n, "", dtype=object)
    free = np.flatnonzero(household == np.arange(n))
    heads = set(household[household != np.arange(n)].tolist())
    free = np.array([i for i in free if i not in heads], dtype=np.int64) if heads else free
    k = int(n * 0.01)
    if n < 50 or len(free) < 6 * k or k == 0:
        return relation
    chosen = rng.permutation(free)[: 6 * k]
    twins_a, twins_b = chosen[:k], chosen[k : 2 * k]
    par_a, par_b = chosen[2 * k : 3 * k], chosen[3 * k : 4 * k]
    nam_a, nam_b = chosen[4 * k : 5 * k], chosen[5 * k : 6 * k]
    for a, b in ((twins_a, twins_b), (par_a, par_b), (nam_a, nam_b)):
        people["is_ru"][b] = people["is_ru"][a]
        people["female"][b] = people["female"][a]
        people["surname"][b] = people["surname"][a]
    # twins: one birth date, one home; another given name
    a, b = twins_a, twins_b
    people["first"][b] = _other_name(
        rng, people["first"][a], people["female"][a], people["is_ru"][a]
    )
    people["patronymic"][b] = people["patronymic"][a]
    people["birth_date"][b] = people["birth_date"][a]
    # parents and adult children: one given name, one home, born 25-35 years apart
    a, b = par_a, par_b
    people["first"][b] = people["first"][a]
    born = pd.to_datetime(pd.Series(people["birth_date"][a]), errors="coerce")
    child = born + pd.to_timedelta(rng.integers(25 * 365, 35 * 365, len(a)), unit="D")
    child = child.where(child < pd.Timestamp("2006-01-01"))
    people["birth_date"][b] = np.where(child.notna(), child.dt.date, _NULL)
    # a son named after his father carries the father's name as his patronymic
    people["patronymic"][b] = np.where(
        people["is_ru"][a] & ~people["female"][a],
        pd.Series(people["first"][a])
        .map({k_: v[0] for k_, v in N.RU_PATRONYMIC.items()})
        .to_numpy(dtype=object),
        _NULL,
    )
    for a, b in ((twins_a, twins_b), (par_a, par_b)):
        for col in ("address", "postcode", "city", "timezone"):
            people[col][b] = people[col][a]
        shares = rng.random(len(a)) < 0.6
        people["phone_digits"][b] = np.where(
            shares, people["phone_digits"][a], people["phone_digits"][b]
        )
        household[b] = a
    # namesakes: the same name and nothing else, neither with a birth date
    a, b = nam_a, nam_b
    people["first"][b] = people["first"][a]
    people["patronymic"][b] = _NULL
    people["birth_date"][a] = _NULL
    people["birth_date"][b] = _NULL
    relation[twins_b], relation[par_b], relation[nam_b] = "twin", "child", "namesake"
    return relation


def _variants() -> dict[str, list[str]]:
    from nicknames import NickNamer

    from crm.identity.names import ru_given_names

    out: dict[str, list[str]] = {}
    for name, forms in ru_given_names():
        cap = name.capitalize()
        latin = sorted({romanize(name.replace("ё", "е"), s).capitalize() for s in SCHEMES})
        out[cap] = [f.capitalize() for f in forms[1:]] + latin
    nn = NickNamer()
    for name in (*N.EN_MALE, *N.EN_FEMALE):
        nicks = sorted(nn.nicknames_of(name))
        if nicks:
            out[name] = [x.capitalize() for x in nicks[:4]]
    return out


def given_name_variants(
    rng: np.random.Generator, first: np.ndarray, which: np.ndarray, share: float = 0.25
) -> np.ndarray:
    """``first`` with a diminutive, nickname or other romanisation for ``share`` of ``which``."""
    table = _variants()
    out = first.copy()
    idx = np.flatnonzero(which & (rng.random(len(first)) < share))
    if not len(idx):
        return out
    pick = rng.random(len(idx))
    names = pd.Series(first[idx], dtype=object)
    forms = names.map(table)
    has = forms.notna().to_numpy()
    chosen = [
        f[int(p * len(f))] if isinstance(f, list) and f else x
        for f, p, x in zip(forms, pick, names, strict=True)
    ]
    out[idx[has]] = np.asarray(chosen, dtype=object)[has]
    return out


def surname_first(
    rng: np.random.Generator, first: pd.Series, last: pd.Series, is_ru: np.ndarray
) -> tuple[pd.Series, pd.Series]:
    """``"COOPER, James"`` (2% of records) and ``"Smith Jessika"`` (1% of Latin ones) in one field."""
    x = rng.random(len(first))
    whole = first.notna() & last.notna() & ~first.str.contains(" ", regex=False).fillna(True)
    comma = whole & (x < 0.02)
    plain = whole & ~pd.Series(is_ru, index=first.index) & (x >= 0.02) & (x < 0.03)
    f = first.where(~comma, last.str.upper() + ", " + first)
    f = f.where(~plain, last + " " + first)
    return f, last.where(~(comma | plain), None)


def phone_prefixes(rng: np.random.Generator, phones: np.ndarray, share: float = 0.08) -> np.ndarray:
    """``+7 916…`` written ``007 916…`` (the ``00`` international prefix) for ``share`` of them."""
    s = pd.Series(phones, dtype="str")
    hit = s.str.startswith("+").fillna(False) & (rng.random(len(s)) < share)
    return np.where(hit, "00" + s.str[1:], phones).astype(object)


def people_export(customers: pd.DataFrame, points: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The people as one export: first phone and email, birth dates in three formats.

    Latin-script people's dates are mostly US (``MM/DD/YYYY``), Cyrillic ones dotted
    (``DD.MM.YYYY``), and a quarter of each ISO: one column, as exports merged from several
    systems look.
    """
    rng = np.random.default_rng([seed, 13, 1])
    cp = points.sort_values("contact_point_id").drop_duplicates(["customer_id", "kind"])
    wide = cp.pivot(index="customer_id", columns="kind", values="value")
    cols = ["customer_id", "first_name", "last_name", "middle_name", "gender", "birth_date"]
    cols += ["address", "postcode"]
    out = customers[[c for c in cols if c in customers]].join(wide, on="customer_id")
    born = pd.to_datetime(out["birth_date"], errors="coerce")
    latin = ~out["last_name"].fillna(out["first_name"]).fillna("").str.contains(
        "[А-Яа-яЁё]", regex=True
    )
    iso = rng.random(len(out)) < 0.25
    text = np.where(
        iso,
        born.dt.strftime("%Y-%m-%d"),
        np.where(latin, born.dt.strftime("%m/%d/%Y"), born.dt.strftime("%d.%m.%Y")),
    )
    out["birth_date"] = pd.Series(text, index=out.index, dtype="str").where(born.notna())
    return out.reset_index(drop=True)
