"""The people behind the records: names, birth dates, addresses, phones, emails, employers.

One row per person (not per record): :func:`draw_people` draws them, :func:`draw_companies`
gives a quarter of them an employer (and a work or role address), :func:`pair_spouses`
makes households of two, and :func:`add_lookalikes` turns some into the hard negatives a
matcher must keep apart (twins, adult children, namesakes). The records, with their
duplicates and typos, are drawn from these in :mod:`crm.sample.records`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm.data import names as N
from crm.sample import mess
from crm.sample._draw import NULL, ids, pick, stamps, text
from crm.sample.vocabulary import FREE_DOMAINS_EN, FREE_DOMAINS_RU

__all__ = [
    "People",
    "add_lookalikes",
    "draw_companies",
    "draw_people",
    "feminine",
    "pair_spouses",
    "translit",
]


def _cities(table: list[tuple[str, float, str]]) -> tuple[np.ndarray, np.ndarray]:
    names = np.array([c[0] for c in table], dtype=object)
    weights = np.array([c[1] for c in table])
    return names, weights / weights.sum()


RU_CITY_NAMES, RU_CITY_P = _cities(N.RU_CITIES)
EN_CITY_NAMES, EN_CITY_P = _cities(N.EN_CITIES)


@dataclass
class People:
    """Per-person arrays, all of one length; later steps fill the employer and household."""

    is_ru: np.ndarray
    female: np.ndarray
    first: np.ndarray
    surname: np.ndarray
    patronymic: np.ndarray
    patr_m: np.ndarray
    patr_f: np.ndarray
    birth_date: np.ndarray
    city: np.ndarray
    timezone: np.ndarray
    address: np.ndarray
    postcode: np.ndarray
    phone_digits: pd.Series
    lat_first: np.ndarray
    lat_last: np.ndarray
    email: pd.Series
    company_of: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    job_title: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    household: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    relation: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def __len__(self) -> int:
        return len(self.first)


def feminine(surnames: np.ndarray) -> np.ndarray:
    """Feminine form of Russian surnames: Иванов → Иванова, Покровский → Покровская."""
    s = pd.Series(surnames, dtype="str")
    sky = s.str.endswith("ский") | s.str.endswith("цкий")
    ov = s.str.contains(r"(?:ов|ев|ёв|ин|ын)$", regex=True)
    out = s.where(~ov, s + "а")
    out = out.where(~sky, s.str[:-2] + "ая")
    return out.to_numpy(dtype=object)


def translit(values: np.ndarray) -> np.ndarray:
    """Latin spelling of (mostly Cyrillic) names, computed once per distinct value."""
    uniq, inv = np.unique(values.astype(str), return_inverse=True)
    out = np.array(
        ["".join(N.TRANSLIT.get(ch, ch) for ch in u.lower()).replace("'", "") for u in uniq],
        dtype=object,
    )
    return out[inv]


def draw_people(rng: np.random.Generator, P: int) -> People:
    """``P`` people, 80 % Russian: names, birth dates (15 % unknown), address, mobile, email."""
    is_ru = rng.random(P) < 0.8
    female = rng.random(P) < 0.55
    first = np.where(
        is_ru,
        np.where(female, pick(rng, N.RU_FEMALE, P), pick(rng, N.RU_MALE, P)),
        np.where(female, pick(rng, N.EN_FEMALE, P), pick(rng, N.EN_MALE, P)),
    )
    ru_sur = pick(rng, N.RU_SURNAMES, P)
    surname = np.where(
        is_ru, np.where(female, feminine(ru_sur), ru_sur), pick(rng, N.EN_SURNAMES, P)
    )
    fathers = list(N.RU_PATRONYMIC)
    fidx = rng.integers(0, len(fathers), P)
    patr_m = np.array([N.RU_PATRONYMIC[f][0] for f in fathers], dtype=object)[fidx]
    patr_f = np.array([N.RU_PATRONYMIC[f][1] for f in fathers], dtype=object)[fidx]
    has_patr = is_ru & (rng.random(P) < 0.7)
    patronymic = np.where(has_patr, np.where(female, patr_f, patr_m), NULL)
    birth_known = rng.random(P) < 0.85
    birth = pd.to_datetime("1950-01-01") + pd.to_timedelta(rng.integers(0, 56 * 365, P), unit="D")
    birth_date = np.where(birth_known, birth.date, NULL)

    ru_city_names, ru_city_p = RU_CITY_NAMES, RU_CITY_P
    en_city_names, en_city_p = EN_CITY_NAMES, EN_CITY_P
    city = np.where(
        is_ru, pick(rng, ru_city_names, P, ru_city_p), pick(rng, en_city_names, P, en_city_p)
    )
    tz_map = {c[0]: c[2] for c in N.RU_CITIES + N.EN_CITIES}
    timezone = pd.Series(city).map(tz_map).to_numpy(dtype=object)
    house = rng.integers(1, 200, P).astype(str)
    flat = rng.integers(1, 300, P).astype(str)
    address = np.where(
        is_ru,
        text(pick(rng, N.RU_STREETS, P)) + ", д. " + house + ", кв. " + flat,
        text(house) + " " + text(pick(rng, N.EN_STREETS, P)) + ", flat " + flat,
    )
    postcode = np.where(
        is_ru,
        text(rng.integers(101000, 693000, P).astype(str)),
        text(pick(rng, ["SW1A", "M1", "EC1A", "D02", "EH1"], P))
        + " "
        + rng.integers(1, 9, P).astype(str)
        + "AB",
    )

    # mobile numbers: RU 9xx xxx xx xx, UK 7xxx xxxxxx (national significant number, 10 digits)
    ru_mob = "9" + text(rng.integers(0, 10**9, P).astype(str)).str.zfill(9)
    uk_mob = "7" + text(rng.integers(400000000, 999999999, P).astype(str))
    phone_digits = text(np.where(is_ru, ru_mob, uk_mob))

    lat_first = translit(first)
    lat_last = translit(surname)
    sep = pick(rng, [".", "_", "", "."], P)
    suffix = np.where(rng.random(P) < 0.4, rng.integers(1, 99, P).astype(str), "")
    domain = np.where(is_ru, pick(rng, FREE_DOMAINS_RU, P), pick(rng, FREE_DOMAINS_EN, P))
    email = text(lat_first) + sep + text(lat_last) + suffix + "@" + text(domain)
    return People(
        is_ru=is_ru,
        female=female,
        first=first,
        surname=surname,
        patronymic=patronymic,
        patr_m=patr_m,
        patr_f=patr_f,
        birth_date=birth_date,
        city=city,
        timezone=timezone,
        address=address,
        postcode=postcode,
        phone_digits=phone_digits,
        lat_first=lat_first,
        lat_last=lat_last,
        email=email,
    )


def draw_companies(
    rng: np.random.Generator, people: People, n: int, start: dt.datetime, span: float
) -> pd.DataFrame:
    """One company per 40 records; a quarter of the people work for one (work or role email)."""
    P = len(people)
    lat_first, lat_last, email = people.lat_first, people.lat_last, people.email
    ru_city_names, ru_city_p = RU_CITY_NAMES, RU_CITY_P
    en_city_names, en_city_p = EN_CITY_NAMES, EN_CITY_P
    C = max(1, n // 40)
    comp_ru = rng.random(C) < 0.8
    comp_word = pick(
        rng,
        [
            "Альфа",
            "Вектор",
            "Гранит",
            "Стройинвест",
            "ТехноПром",
            "Северный Ветер",
            "Меридиан",
            "Orion",
            "Northwind",
            "Bluefield",
            "Acme",
            "Summit",
            "Harbor",
        ],
        C,
    )
    comp_name = np.where(
        comp_ru,
        "ООО «" + text(comp_word) + " " + text(rng.integers(1, 999, C).astype(str)) + "»",
        text(comp_word) + " " + text(rng.integers(1, 999, C).astype(str)) + " Ltd",
    )
    comp_domain = (
        text(translit(comp_word)).str.replace(" ", "", regex=False)
        + text(rng.integers(1, 999, C).astype(str))
        + text(np.where(comp_ru, ".ru", ".co.uk"))
    )
    employees = np.maximum(1, rng.lognormal(3.0, 1.5, C).astype(int))
    size_band = pd.cut(
        employees,
        [0, 10, 50, 200, 1000, np.inf],
        labels=["1-10", "11-50", "51-200", "201-1000", "1000+"],
    ).astype(str)
    companies = pd.DataFrame(
        {
            "company_id": np.arange(1, C + 1),
            "external_id": ids("CO", C, 6),
            "name": text(comp_name),
            "industry": pick(rng, N.INDUSTRIES, C),
            "size_band": size_band,
            "employees": employees,
            "domain": comp_domain,
            "city": np.where(
                comp_ru,
                pick(rng, ru_city_names, C, ru_city_p),
                pick(rng, en_city_names, C, en_city_p),
            ),
            "created_at": stamps(start, rng.random(C) * span * 0.5),
        }
    )
    b2b = rng.random(P) < 0.25
    company_of = np.where(b2b, rng.integers(1, C + 1, P), 0)
    job_title = np.where(b2b, pick(rng, N.JOB_TITLES_MESSY, P), NULL)
    work_email = (
        text(lat_first).str[0]
        + "."
        + text(lat_last)
        + "@"
        + comp_domain.to_numpy()[np.maximum(company_of - 1, 0)]
    )
    role_email = (
        pick(rng, ["info", "sales", "office", "hello", "noreply"], P)
        + "@"
        + comp_domain.to_numpy()[np.maximum(company_of - 1, 0)]
    )
    use_work = b2b & (rng.random(P) < 0.5)
    use_role = b2b & (rng.random(P) < 0.12)
    email = text(np.where(use_role, role_email, np.where(use_work, work_email, email)))
    people.company_of, people.job_title, people.email = company_of, job_title, email
    return companies


def pair_spouses(rng: np.random.Generator, people: People) -> tuple[np.ndarray, np.ndarray]:
    """Make 4 % of the people couples: the second of each pair (``b``) joins ``a``'s household.

    A spouse shares the surname (its feminine or masculine form in Russian), the address,
    often the phone and sometimes the email: a household, not a duplicate. Returns the
    index arrays ``a`` and ``b``.
    """
    P = len(people)
    female, is_ru, first, surname = people.female, people.is_ru, people.first, people.surname
    patronymic, patr_f, patr_m = people.patronymic, people.patr_f, people.patr_m
    address, postcode, city, timezone = (
        people.address,
        people.postcode,
        people.city,
        people.timezone,
    )
    phone_digits, email = people.phone_digits, people.email
    n_pairs = int(P * 0.04)
    perm = rng.permutation(P)
    a, b = perm[:n_pairs], perm[n_pairs : 2 * n_pairs]
    household = np.arange(P)
    household[b] = a
    female[b] = ~female[a]
    b_ru = is_ru[a]
    is_ru[b] = b_ru
    first[b] = np.where(
        b_ru,
        np.where(female[b], pick(rng, N.RU_FEMALE, n_pairs), pick(rng, N.RU_MALE, n_pairs)),
        np.where(female[b], pick(rng, N.EN_FEMALE, n_pairs), pick(rng, N.EN_MALE, n_pairs)),
    )
    base_sur = surname[a]
    # a Russian wife's surname is the feminine of her husband's (and vice versa)
    male_form = (
        pd.Series(base_sur, dtype="str")
        .str.replace(r"(ов|ев|ёв|ин|ын)а$", r"\1", regex=True)
        .str.replace(r"ская$", "ский", regex=True)
        .str.replace(r"цкая$", "цкий", regex=True)
        .to_numpy(dtype=object)
    )
    surname[b] = np.where(b_ru, np.where(female[b], feminine(male_form), male_form), base_sur)
    patronymic[b] = np.where(
        b_ru & (rng.random(n_pairs) < 0.7), np.where(female[b], patr_f[b], patr_m[b]), None
    )
    address[b], postcode[b], city[b], timezone[b] = address[a], postcode[a], city[a], timezone[a]
    share_phone = rng.random(n_pairs) < 0.5
    pd_arr = phone_digits.to_numpy(dtype=object)
    pd_arr[b] = np.where(share_phone, pd_arr[a], pd_arr[b])
    phone_digits = text(pd_arr)
    share_email = rng.random(n_pairs) < 0.3
    em = email.to_numpy(dtype=object)
    lat_first_b = translit(first[b])
    em[b] = np.where(
        share_email,
        em[a],
        text(lat_first_b)
        + "."
        + text(translit(surname[b]))
        + "@"
        + text(pick(rng, FREE_DOMAINS_RU, n_pairs)),
    )
    email = text(em)
    people.household, people.phone_digits, people.email = household, phone_digits, email
    return a, b


def add_lookalikes(mrng: np.random.Generator, people: People, spouses: np.ndarray) -> None:
    """Twins, adult children and namesakes (:func:`crm.sample.mess.add_hard_negatives`), in place.

    ``people.relation`` says what each person is to its household (``spouse`` for
    ``spouses``); drawn from the mess's own stream ``mrng``.
    """
    phones = people.phone_digits.to_numpy(dtype=object).copy()  # edited in place
    fields = (
        "first surname patronymic female is_ru birth_date address postcode city timezone household"
    )
    relation = mess.add_hard_negatives(
        mrng, {**{f: getattr(people, f) for f in fields.split()}, "phone_digits": phones}
    )
    spouse = np.zeros(len(people), dtype=bool)
    spouse[spouses] = True
    people.relation = np.where(spouse, "spouse", relation)
    people.phone_digits = text(phones)
