"""The customer records: every person once, some twice or more, each copy with its own dirt.

:func:`draw_records` turns :class:`~crm.sample.people.People` into records the way CRMs
accumulate them: duplicates with typos, ``ё`` written ``е``, a lost patronymic or email,
another romanisation or a diminutive of the given name; and on every record the export
dirt: missing, mistyped and broken emails, phones in every national format (or junk),
names in upper or lower case, swapped slots, the full name in one field, fakes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.data import names as N
from crm.sample import mess
from crm.sample._draw import NULL, pick, stamps, text
from crm.sample.people import People, translit
from crm.sample.vocabulary import FAKE_NAMES, FREE_DOMAINS_RU, TYPO_DOMAINS

__all__ = ["Records", "draw_records", "phone_formats", "typo"]


@dataclass
class Records:
    """Per-record arrays (``n`` long, in customer-id order) and the person each belongs to."""

    person: np.ndarray
    is_dup: np.ndarray
    customer_id: np.ndarray
    first: pd.Series
    last: pd.Series
    middle: pd.Series
    female: np.ndarray
    ru: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    created_at: pd.DatetimeIndex
    birth: np.ndarray
    company: np.ndarray
    city: np.ndarray

    def __len__(self) -> int:
        return len(self.customer_id)


def typo(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """One typo per value (replace, delete, swap or double a letter), vectorised on a code-point matrix."""
    if len(values) == 0:
        return values
    width = max(2, max(len(v) for v in np.unique(values.astype(str))))
    arr = np.array(values, dtype=f"U{width + 1}")
    codes = arr.view(np.uint32).reshape(len(arr), width + 1).copy()
    lengths = (codes != 0).sum(axis=1)
    ok = lengths >= 3
    pos = np.where(ok, 1 + (rng.random(len(arr)) * np.maximum(lengths - 2, 1)).astype(int), 0)
    kind = rng.integers(0, 4, len(arr))
    rows = np.arange(len(arr))
    cols = np.arange(width + 1)[None, :]
    # delete
    src = cols + (cols >= pos[:, None])
    deleted = np.take_along_axis(
        np.pad(codes, ((0, 0), (0, 1))), np.minimum(src, width + 1), axis=1
    )
    # swap pos and pos-1
    swapped = codes.copy()
    swapped[rows, pos], swapped[rows, pos - 1] = codes[rows, pos - 1], codes[rows, pos]
    # replace with a neighbouring letter of the same alphabet
    replaced = codes.copy()
    ch = codes[rows, pos].astype(np.int64)
    cyr = (ch >= 0x430) & (ch <= 0x44F)
    lat = (ch >= 0x61) & (ch <= 0x7A)
    step = rng.choice([-1, 1], len(arr))
    new = np.where(
        cyr, 0x430 + (ch - 0x430 + step) % 32, np.where(lat, 0x61 + (ch - 0x61 + step) % 26, ch)
    )
    replaced[rows, pos] = new
    # double a letter (shift right)
    src2 = cols - (cols > pos[:, None])
    doubled = np.take_along_axis(codes, np.clip(src2, 0, width), axis=1)
    out = np.select(
        [kind[:, None] == 0, kind[:, None] == 1, kind[:, None] == 2],
        [deleted[:, : width + 1], swapped, replaced],
        doubled,
    )
    out = np.where(ok[:, None], out, codes).astype(np.uint32)
    return np.ascontiguousarray(out).view(f"U{width + 1}").ravel().astype(object)


def phone_formats(rng: np.random.Generator, digits: pd.Series, is_ru: np.ndarray) -> pd.Series:
    """Write national numbers (10 digits RU, 10 digits UK mobile ``7xxx…``) in the ways people do."""
    d = digits
    a, b, c2, d2, e2 = d.str[0:3], d.str[3:6], d.str[6:8], d.str[8:10], d.str[6:10]
    ru_formats = [
        "+7" + d,
        "8 (" + a + ") " + b + "-" + c2 + "-" + d2,
        a + " " + b + " " + e2,
        "+7 " + a + " " + b + "-" + c2 + "-" + d2,
        "8" + d,
        "+7 (" + a + ") " + b + c2 + d2,
    ]
    uk = d.str[0:4] + " " + d.str[4:10]
    en_formats = ["+44" + d, "0" + uk, "+44 " + uk, "+44 (0)" + uk]
    which_ru = rng.choice(len(ru_formats), size=len(d), p=[0.3, 0.25, 0.15, 0.15, 0.1, 0.05])
    which_en = rng.integers(0, len(en_formats), len(d))
    ru = np.select(
        [which_ru == i for i in range(len(ru_formats))],
        [f.to_numpy(dtype=object) for f in ru_formats],
    )
    en = np.select(
        [which_en == i for i in range(len(en_formats))],
        [f.to_numpy(dtype=object) for f in en_formats],
    )
    return text(np.where(is_ru, ru, en))


def draw_records(
    rng: np.random.Generator,
    mrng: np.random.Generator,
    people: People,
    n: int,
    n_dup: int,
    start: dt.datetime,
    span: float,
) -> Records:
    """``n`` records of ``len(people)`` people, ``n_dup`` of them extra copies, shuffled."""
    P = len(people)
    first, surname, patronymic = people.first, people.surname, people.patronymic
    female, is_ru, birth_date, city = people.female, people.is_ru, people.birth_date, people.city
    email, phone_digits, company_of = people.email, people.phone_digits, people.company_of
    dup_person = rng.choice(P, size=n_dup, replace=True) if n_dup else np.empty(0, dtype=int)
    person = np.concatenate([np.arange(P), dup_person])
    is_dup = np.concatenate([np.zeros(P, bool), np.ones(n_dup, bool)])
    order = rng.permutation(n)
    person, is_dup = person[order], is_dup[order]
    customer_id = np.arange(1, n + 1)

    r_first = first[person].astype(object)
    r_last = surname[person].astype(object)
    r_middle = patronymic[person].astype(object)
    r_female = female[person]
    r_ru = is_ru[person]

    # duplicates: a typo in the surname or first name, ё written as е, a missing or other email
    d_idx = np.flatnonzero(is_dup)
    typo_last = d_idx[rng.random(len(d_idx)) < 0.35]
    r_last[typo_last] = typo(rng, r_last[typo_last].astype(str))
    typo_first = d_idx[rng.random(len(d_idx)) < 0.15]
    r_first[typo_first] = typo(rng, r_first[typo_first].astype(str))
    yo = d_idx[rng.random(len(d_idx)) < 0.5]
    r_last[yo] = text(r_last[yo]).str.replace("ё", "е").to_numpy(dtype=object)
    r_first[yo] = text(r_first[yo]).str.replace("ё", "е").to_numpy(dtype=object)
    middle_lost = d_idx[rng.random(len(d_idx)) < 0.4]
    r_middle[middle_lost] = None
    # a diminutive, nickname or other romanisation of the given name (own stream)
    r_first = mess.given_name_variants(mrng, r_first, is_dup)

    r_email = email.to_numpy(dtype=object)[person].astype(object)
    u = rng.random(n)
    r_email = np.where(is_dup & (u < 0.3), NULL, r_email)
    other_mail = (
        text(translit(r_first))
        + text(rng.integers(1, 999, n).astype(str))
        + "@"
        + text(pick(rng, FREE_DOMAINS_RU, n))
    )
    r_email = np.where(is_dup & (u >= 0.3) & (u < 0.45), other_mail.to_numpy(dtype=object), r_email)
    # dirt on everyone: missing, typo'd domain, broken syntax, upper case
    v = rng.random(n)
    r_email = np.where(v < 0.08, NULL, r_email)
    em_s = text(r_email)
    typo_dom = (v >= 0.08) & (v < 0.095)
    em_s = em_s.where(
        ~typo_dom,
        em_s.str.replace(r"@.*$", "", regex=True) + "@" + text(pick(rng, TYPO_DOMAINS, n)),
    )
    broken = (v >= 0.095) & (v < 0.105)
    half = rng.random(n) < 0.5
    em_s = em_s.where(~(broken & half), em_s.str.replace("@", "@@", regex=False))
    em_s = em_s.where(~(broken & ~half), em_s.str.replace("@", " at ", regex=False))
    upper = (v >= 0.105) & (v < 0.125)
    em_s = em_s.where(~upper, em_s.str.upper())
    r_email = em_s.to_numpy(dtype=object)
    r_email = np.where(pd.isna(r_email), NULL, r_email)

    w = rng.random(n)
    phone = phone_formats(rng, text(phone_digits.to_numpy(dtype=object)[person]), r_ru).to_numpy(
        dtype=object
    )
    phone = mess.phone_prefixes(mrng, phone)
    phone = np.where(w < 0.12, NULL, phone)
    bad_phone = (w >= 0.12) & (w < 0.135)
    phone = np.where(
        bad_phone,
        pick(rng, ["12345", "+7 000 000-00-00", "8 (800)", "тел. нет", "0000000"], n),
        phone,
    )

    # names: case, swapped slots, the full name in one field, fakes
    x = rng.random(n)
    up = x < 0.05
    low = (x >= 0.05) & (x < 0.09)
    swap = (x >= 0.09) & (x < 0.11)
    full_in_first = (x >= 0.11) & (x < 0.125) & r_ru
    fake = (x >= 0.125) & (x < 0.13)
    fs, ls, ms = text(r_first), text(r_last), text(r_middle)
    fs = fs.where(~up, fs.str.upper()).where(~low, fs.str.lower())
    ls = ls.where(~up, ls.str.upper()).where(~low, ls.str.lower())
    ms = ms.where(~(up | low), ms.str.lower())
    f2 = fs.where(~swap, ls).where(
        ~full_in_first, ls + " " + fs + np.where(ms.isna(), "", " " + ms.fillna(""))
    )
    l2 = ls.where(~swap, fs).where(~full_in_first, None)
    m2 = ms.where(~full_in_first, None)
    f2, l2 = mess.surname_first(mrng, f2, l2, r_ru)
    f2 = f2.where(~fake, text(pick(rng, FAKE_NAMES, n)))

    created_at = stamps(start, np.sort(rng.random(n)) * span * 0.9)[
        np.argsort(np.argsort(rng.random(n)))
    ]
    r_birth = birth_date[person]
    r_birth = np.where(is_dup & (rng.random(n) < 0.4), NULL, r_birth)
    r_company = company_of[person]
    r_city = city[person].astype(object)
    variants = {k: np.array(vv, dtype=object) for k, vv in N.CITY_VARIANTS.items()}
    for canon, opts in variants.items():  # a handful of cities, each vectorised
        m = (r_city == canon) & (rng.random(n) < 0.3)
        r_city[m] = opts[rng.integers(0, len(opts), m.sum())]
    return Records(
        person=person,
        is_dup=is_dup,
        customer_id=customer_id,
        first=f2,
        last=l2,
        middle=m2,
        female=r_female,
        ru=r_ru,
        email=r_email,
        phone=phone,
        created_at=created_at,
        birth=r_birth,
        company=r_company,
        city=r_city,
    )
