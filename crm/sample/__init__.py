"""A seeded generator of realistic, messy, bilingual CRM data at any size (``crm sample``).

The data has what real CRMs have: many one-time buyers and a few heavy ones, churn,
seasonality (November and December peaks), leads flowing through their states
(verified, disqualified with a reason, spam, converted into deals), won and lost deals,
loyalty members, consents and withdrawals, birthdays, and the dirt: duplicate records of
one person with typos and other phone formats, phones written ``8 (916) 123-45-67``,
``+7916…``, ``916 123 4567``, upper-case names, a full name in one field, surname in the
first-name slot, role addresses (``info@``), invalid and mistyped emails, spouses sharing an
address and a phone. The true identities are kept aside in ``truth`` (``person_id``,
``household_id``) so deduplication can be measured.

Everything is vectorised with numpy/pyarrow: 1M customers with 10M orders take about a minute
on one core. The same ``seed`` gives the same data on every machine.

Example
-------
>>> data = generate(customers=1_000, seed=7)
>>> data["orders"].head()
>>> data.truth.groupby("person_id").size().max()
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm.data import names as N
from crm.sample import mess

__all__ = ["LOAD_ORDER", "SampleData", "generate", "load", "read", "write"]

#: Tables in foreign-key order: parents before children.
LOAD_ORDER = (
    "companies",
    "customers",
    "contact_points",
    "consents",
    "relations",
    "tag_definitions",
    "customer_tags",
    "leads",
    "pipelines",
    "pipeline_stages",
    "deals",
    "products",
    "orders",
    "order_lines",
    "invoices",
    "payments",
    "activities",
    "marketing_events",
)

_NULL: Any = None  # a missing value in np.where (typed Any for numpy's overloads)

DEFAULT_AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

CATEGORIES = np.array(
    ["electronics", "home", "beauty", "kids", "sport", "books", "food", "fashion", "pets", "garden"]
)
MONTH_WEIGHT = np.array([0.7, 0.8, 1.1, 0.95, 0.95, 0.9, 0.85, 0.85, 1.0, 1.05, 1.35, 1.6])
TAG_VOCABULARY = [
    ("interest", "sport", "Sport", "Спорт"),
    ("interest", "travel", "Travel", "Путешествия"),
    ("interest", "kids", "Kids", "Дети"),
    ("interest", "pets", "Pets", "Домашние животные"),
    ("interest", "beauty", "Beauty", "Красота"),
    ("interest", "electronics", "Electronics", "Электроника"),
    ("rooms", "1", "1 room", "1 комната"),
    ("rooms", "2", "2 rooms", "2 комнаты"),
    ("rooms", "3", "3 rooms", "3 комнаты"),
    ("rooms", "4+", "4+ rooms", "4+ комнат"),
    ("floor", "low", "Low floor", "Низкий этаж"),
    ("floor", "middle", "Middle floor", "Средний этаж"),
    ("floor", "high", "High floor", "Высокий этаж"),
    ("buying_for", "self", "For self", "Для себя"),
    ("buying_for", "family", "For family", "Для семьи"),
    ("buying_for", "investment", "Investment", "Инвестиция"),
]
FREE_DOMAINS_RU = np.array(
    ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "list.ru", "inbox.ru", "rambler.ru"]
)
FREE_DOMAINS_EN = np.array(["gmail.com", "outlook.com", "yahoo.com", "hotmail.co.uk", "icloud.com"])
TYPO_DOMAINS = np.array(
    ["gmial.com", "gmail.co", "mail.ry", "yandex.ry", "yandx.ru", "hotmial.com", "outlok.com"]
)
FAKE_NAMES = np.array(["test", "asdf", "ххх", "qwerty", "Тест", "aaa", "-"])
LEAD_SOURCES = np.array(["site_form", "email", "messenger", "call", "social", "offline"])
LEAD_CHANNELS = np.array(["yandex_direct", "google_ads", "vk_ads", "seo", "referral", "offline"])
DISQUALIFY_REASONS = np.array(
    ["non_target", "competitor", "click_fraud", "wrong_region", "duplicate"]
)
LOST_REASONS = np.array(["price", "competitor", "no_budget", "no_response", "timing"])
WON_REASONS = np.array(["price", "service", "recommendation", "product_fit"])


@dataclass
class SampleData:
    """Generated tables (``frames``, by table name) and the truth kept aside."""

    frames: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    as_of: dt.datetime
    seed: int
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.frames[table]

    def __iter__(self) -> Iterator[str]:
        return iter(self.frames)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {name: len(frame) for name, frame in self.frames.items()}


# --------------------------------------------------------------------------- helpers
def _pick(
    rng: np.random.Generator, values: np.ndarray | list, n: int, p: np.ndarray | None = None
) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    return arr[rng.choice(len(arr), size=n, p=p)]


def _ts(base: dt.datetime, seconds: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps ``seconds`` after ``base`` (microsecond resolution)."""
    micro = (np.asarray(seconds, dtype=np.float64) * 1e6).astype("int64")
    epoch = int(pd.Timestamp(base).value // 1000)
    return pd.DatetimeIndex((micro + epoch).astype("datetime64[us]")).tz_localize("UTC")


def _str(arr: np.ndarray | pd.Series | list) -> pd.Series:
    return pd.Series(arr, dtype="str")


def _ids(prefix: str, n: int, width: int = 8) -> pd.Series:
    nums = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    padded = pc.utf8_lpad(nums, width=width, padding="0")
    return pd.Series(
        pc.binary_join_element_wise(prefix, padded, "").to_pandas(types_mapper=pd.ArrowDtype),
        dtype="str",
    )


def _feminine(surnames: np.ndarray) -> np.ndarray:
    """Feminine form of Russian surnames: Иванов → Иванова, Покровский → Покровская."""
    s = pd.Series(surnames, dtype="str")
    sky = s.str.endswith("ский") | s.str.endswith("цкий")
    ov = s.str.contains(r"(?:ов|ев|ёв|ин|ын)$", regex=True)
    out = s.where(~ov, s + "а")
    out = out.where(~sky, s.str[:-2] + "ая")
    return out.to_numpy(dtype=object)


def _translit(values: np.ndarray) -> np.ndarray:
    """Latin spelling of (mostly Cyrillic) names, computed once per distinct value."""
    uniq, inv = np.unique(values.astype(str), return_inverse=True)
    out = np.array(
        ["".join(N.TRANSLIT.get(ch, ch) for ch in u.lower()).replace("'", "") for u in uniq],
        dtype=object,
    )
    return out[inv]


def _typo(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
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


def _phone_formats(rng: np.random.Generator, digits: pd.Series, is_ru: np.ndarray) -> pd.Series:
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
    return _str(np.where(is_ru, ru, en))


# --------------------------------------------------------------------------- generator
def generate(
    customers: int = 10_000,
    seed: int = 42,
    as_of: dt.datetime = DEFAULT_AS_OF,
    orders_per_customer: float = 10.0,
    years: float = 3.0,
    duplicate_rate: float = 0.06,
    events_per_customer: float = 4.0,
    order_lines: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> SampleData:
    """Generate a seeded CRM data set of ``customers`` person records.

    Parameters
    ----------
    customers : int
        Number of customer records (duplicates included).
    seed : int
        Same seed, same data.
    as_of : datetime
        The "today" of the data set; nothing happens after it.
    orders_per_customer : float
        Average orders per record (10 gives 10M orders for 1M customers).
    years : float
        How far back the history goes.
    duplicate_rate : float
        Share of records that are extra records of an already present person.
    events_per_customer : float
        Average marketing messages sent per record.
    order_lines : bool, optional
        Generate order lines (default: only when there are under 2M orders).
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    as_of = (
        pd.Timestamp(as_of).tz_convert("UTC").to_pydatetime()
        if pd.Timestamp(as_of).tzinfo
        else pd.Timestamp(as_of, tz="UTC").to_pydatetime()
    )
    start = as_of - dt.timedelta(days=365.25 * years)
    span = (as_of - start).total_seconds()

    n = int(customers)
    n_dup = round(n * duplicate_rate / (1 + duplicate_rate)) if n > 20 else 0
    P = n - n_dup
    say("people")

    # ---- people ------------------------------------------------------------------------
    is_ru = rng.random(P) < 0.8
    female = rng.random(P) < 0.55
    first = np.where(
        is_ru,
        np.where(female, _pick(rng, N.RU_FEMALE, P), _pick(rng, N.RU_MALE, P)),
        np.where(female, _pick(rng, N.EN_FEMALE, P), _pick(rng, N.EN_MALE, P)),
    )
    ru_sur = _pick(rng, N.RU_SURNAMES, P)
    surname = np.where(
        is_ru, np.where(female, _feminine(ru_sur), ru_sur), _pick(rng, N.EN_SURNAMES, P)
    )
    fathers = list(N.RU_PATRONYMIC)
    fidx = rng.integers(0, len(fathers), P)
    patr_m = np.array([N.RU_PATRONYMIC[f][0] for f in fathers], dtype=object)[fidx]
    patr_f = np.array([N.RU_PATRONYMIC[f][1] for f in fathers], dtype=object)[fidx]
    has_patr = is_ru & (rng.random(P) < 0.7)
    patronymic = np.where(has_patr, np.where(female, patr_f, patr_m), _NULL)
    birth_known = rng.random(P) < 0.85
    birth = pd.to_datetime("1950-01-01") + pd.to_timedelta(rng.integers(0, 56 * 365, P), unit="D")
    birth_date = np.where(birth_known, birth.date, _NULL)

    ru_city_names = np.array([c[0] for c in N.RU_CITIES], dtype=object)
    ru_city_p = np.array([c[1] for c in N.RU_CITIES])
    ru_city_p /= ru_city_p.sum()
    en_city_names = np.array([c[0] for c in N.EN_CITIES], dtype=object)
    en_city_p = np.array([c[1] for c in N.EN_CITIES])
    en_city_p /= en_city_p.sum()
    city = np.where(
        is_ru, _pick(rng, ru_city_names, P, ru_city_p), _pick(rng, en_city_names, P, en_city_p)
    )
    tz_map = {c[0]: c[2] for c in N.RU_CITIES + N.EN_CITIES}
    timezone = pd.Series(city).map(tz_map).to_numpy(dtype=object)
    house = rng.integers(1, 200, P).astype(str)
    flat = rng.integers(1, 300, P).astype(str)
    address = np.where(
        is_ru,
        _str(_pick(rng, N.RU_STREETS, P)) + ", д. " + house + ", кв. " + flat,
        _str(house) + " " + _str(_pick(rng, N.EN_STREETS, P)) + ", flat " + flat,
    )
    postcode = np.where(
        is_ru,
        _str(rng.integers(101000, 693000, P).astype(str)),
        _str(_pick(rng, ["SW1A", "M1", "EC1A", "D02", "EH1"], P))
        + " "
        + rng.integers(1, 9, P).astype(str)
        + "AB",
    )

    # mobile numbers: RU 9xx xxx xx xx, UK 7xxx xxxxxx (national significant number, 10 digits)
    ru_mob = "9" + _str(rng.integers(0, 10**9, P).astype(str)).str.zfill(9)
    uk_mob = "7" + _str(rng.integers(400000000, 999999999, P).astype(str))
    phone_digits = _str(np.where(is_ru, ru_mob, uk_mob))

    lat_first = _translit(first)
    lat_last = _translit(surname)
    sep = _pick(rng, [".", "_", "", "."], P)
    suffix = np.where(rng.random(P) < 0.4, rng.integers(1, 99, P).astype(str), "")
    domain = np.where(is_ru, _pick(rng, FREE_DOMAINS_RU, P), _pick(rng, FREE_DOMAINS_EN, P))
    email = _str(lat_first) + sep + _str(lat_last) + suffix + "@" + _str(domain)

    # ---- companies and B2B contacts ------------------------------------------------------
    say("companies")
    C = max(1, n // 40)
    comp_ru = rng.random(C) < 0.8
    comp_word = _pick(
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
        "ООО «" + _str(comp_word) + " " + _str(rng.integers(1, 999, C).astype(str)) + "»",
        _str(comp_word) + " " + _str(rng.integers(1, 999, C).astype(str)) + " Ltd",
    )
    comp_domain = (
        _str(_translit(comp_word)).str.replace(" ", "", regex=False)
        + _str(rng.integers(1, 999, C).astype(str))
        + _str(np.where(comp_ru, ".ru", ".co.uk"))
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
            "external_id": _ids("CO", C, 6),
            "name": _str(comp_name),
            "industry": _pick(rng, N.INDUSTRIES, C),
            "size_band": size_band,
            "employees": employees,
            "domain": comp_domain,
            "city": np.where(
                comp_ru,
                _pick(rng, ru_city_names, C, ru_city_p),
                _pick(rng, en_city_names, C, en_city_p),
            ),
            "created_at": _ts(start, rng.random(C) * span * 0.5),
        }
    )
    b2b = rng.random(P) < 0.25
    company_of = np.where(b2b, rng.integers(1, C + 1, P), 0)
    job_title = np.where(b2b, _pick(rng, N.JOB_TITLES_MESSY, P), _NULL)
    work_email = (
        _str(lat_first).str[0]
        + "."
        + _str(lat_last)
        + "@"
        + comp_domain.to_numpy()[np.maximum(company_of - 1, 0)]
    )
    role_email = (
        _pick(rng, ["info", "sales", "office", "hello", "noreply"], P)
        + "@"
        + comp_domain.to_numpy()[np.maximum(company_of - 1, 0)]
    )
    use_work = b2b & (rng.random(P) < 0.5)
    use_role = b2b & (rng.random(P) < 0.12)
    email = _str(np.where(use_role, role_email, np.where(use_work, work_email, email)))

    # ---- spouses: share surname, address, often phone or email; a household, not a duplicate --
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
        np.where(female[b], _pick(rng, N.RU_FEMALE, n_pairs), _pick(rng, N.RU_MALE, n_pairs)),
        np.where(female[b], _pick(rng, N.EN_FEMALE, n_pairs), _pick(rng, N.EN_MALE, n_pairs)),
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
    surname[b] = np.where(b_ru, np.where(female[b], _feminine(male_form), male_form), base_sur)
    patronymic[b] = np.where(
        b_ru & (rng.random(n_pairs) < 0.7), np.where(female[b], patr_f[b], patr_m[b]), None
    )
    address[b], postcode[b], city[b], timezone[b] = address[a], postcode[a], city[a], timezone[a]
    share_phone = rng.random(n_pairs) < 0.5
    pd_arr = phone_digits.to_numpy(dtype=object)
    pd_arr[b] = np.where(share_phone, pd_arr[a], pd_arr[b])
    phone_digits = _str(pd_arr)
    share_email = rng.random(n_pairs) < 0.3
    em = email.to_numpy(dtype=object)
    lat_first_b = _translit(first[b])
    em[b] = np.where(
        share_email,
        em[a],
        _str(lat_first_b)
        + "."
        + _str(_translit(surname[b]))
        + "@"
        + _str(_pick(rng, FREE_DOMAINS_RU, n_pairs)),
    )
    email = _str(em)

    # ---- hard negatives: twins, adult children, namesakes without birth dates (own stream) --
    mrng = mess.mess_rng(seed)
    spouse = np.zeros(P, dtype=bool)
    spouse[b] = True
    ph_arr = phone_digits.to_numpy(dtype=object).copy()
    relation_p = mess.add_hard_negatives(
        mrng,
        {
            "first": first,
            "surname": surname,
            "patronymic": patronymic,
            "female": female,
            "is_ru": is_ru,
            "birth_date": birth_date,
            "address": address,
            "postcode": postcode,
            "city": city,
            "timezone": timezone,
            "phone_digits": ph_arr,
            "household": household,
        },
    )
    relation_p = np.where(spouse, "spouse", relation_p)
    phone_digits = _str(ph_arr)

    # ---- records: originals + duplicates of some people ---------------------------------------
    say("records")
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
    r_last[typo_last] = _typo(rng, r_last[typo_last].astype(str))
    typo_first = d_idx[rng.random(len(d_idx)) < 0.15]
    r_first[typo_first] = _typo(rng, r_first[typo_first].astype(str))
    yo = d_idx[rng.random(len(d_idx)) < 0.5]
    r_last[yo] = _str(r_last[yo]).str.replace("ё", "е").to_numpy(dtype=object)
    r_first[yo] = _str(r_first[yo]).str.replace("ё", "е").to_numpy(dtype=object)
    middle_lost = d_idx[rng.random(len(d_idx)) < 0.4]
    r_middle[middle_lost] = None
    # a diminutive, nickname or other romanisation of the given name (own stream)
    r_first = mess.given_name_variants(mrng, r_first, is_dup)

    r_email = email.to_numpy(dtype=object)[person].astype(object)
    u = rng.random(n)
    r_email = np.where(is_dup & (u < 0.3), _NULL, r_email)
    other_mail = (
        _str(_translit(r_first))
        + _str(rng.integers(1, 999, n).astype(str))
        + "@"
        + _str(_pick(rng, FREE_DOMAINS_RU, n))
    )
    r_email = np.where(is_dup & (u >= 0.3) & (u < 0.45), other_mail.to_numpy(dtype=object), r_email)
    # dirt on everyone: missing, typo'd domain, broken syntax, upper case
    v = rng.random(n)
    r_email = np.where(v < 0.08, _NULL, r_email)
    em_s = _str(r_email)
    typo_dom = (v >= 0.08) & (v < 0.095)
    em_s = em_s.where(
        ~typo_dom,
        em_s.str.replace(r"@.*$", "", regex=True) + "@" + _str(_pick(rng, TYPO_DOMAINS, n)),
    )
    broken = (v >= 0.095) & (v < 0.105)
    half = rng.random(n) < 0.5
    em_s = em_s.where(~(broken & half), em_s.str.replace("@", "@@", regex=False))
    em_s = em_s.where(~(broken & ~half), em_s.str.replace("@", " at ", regex=False))
    upper = (v >= 0.105) & (v < 0.125)
    em_s = em_s.where(~upper, em_s.str.upper())
    r_email = em_s.to_numpy(dtype=object)
    r_email = np.where(pd.isna(r_email), _NULL, r_email)

    w = rng.random(n)
    phone = _phone_formats(rng, _str(phone_digits.to_numpy(dtype=object)[person]), r_ru).to_numpy(
        dtype=object
    )
    phone = mess.phone_prefixes(mrng, phone)
    phone = np.where(w < 0.12, _NULL, phone)
    bad_phone = (w >= 0.12) & (w < 0.135)
    phone = np.where(
        bad_phone,
        _pick(rng, ["12345", "+7 000 000-00-00", "8 (800)", "тел. нет", "0000000"], n),
        phone,
    )

    # names: case, swapped slots, the full name in one field, fakes
    x = rng.random(n)
    up = x < 0.05
    low = (x >= 0.05) & (x < 0.09)
    swap = (x >= 0.09) & (x < 0.11)
    full_in_first = (x >= 0.11) & (x < 0.125) & r_ru
    fake = (x >= 0.125) & (x < 0.13)
    fs, ls, ms = _str(r_first), _str(r_last), _str(r_middle)
    fs = fs.where(~up, fs.str.upper()).where(~low, fs.str.lower())
    ls = ls.where(~up, ls.str.upper()).where(~low, ls.str.lower())
    ms = ms.where(~(up | low), ms.str.lower())
    f2 = fs.where(~swap, ls).where(
        ~full_in_first, ls + " " + fs + np.where(ms.isna(), "", " " + ms.fillna(""))
    )
    l2 = ls.where(~swap, fs).where(~full_in_first, None)
    m2 = ms.where(~full_in_first, None)
    f2, l2 = mess.surname_first(mrng, f2, l2, r_ru)
    f2 = f2.where(~fake, _str(_pick(rng, FAKE_NAMES, n)))

    created_at = _ts(start, np.sort(rng.random(n)) * span * 0.9)[
        np.argsort(np.argsort(rng.random(n)))
    ]
    r_birth = birth_date[person]
    r_birth = np.where(is_dup & (rng.random(n) < 0.4), _NULL, r_birth)
    r_company = company_of[person]
    r_city = city[person].astype(object)
    variants = {k: np.array(vv, dtype=object) for k, vv in N.CITY_VARIANTS.items()}
    for canon, opts in variants.items():  # a handful of cities, each vectorised
        m = (r_city == canon) & (rng.random(n) < 0.3)
        r_city[m] = opts[rng.integers(0, len(opts), m.sum())]

    # ---- orders: heterogeneous buyers with churn and seasonality --------------------------------
    say("orders")
    buyer = rng.random(P) < 0.72
    first_buy = rng.random(P) * span
    life = rng.exponential(1.6 * 365.25 * 86400, P)
    end = np.minimum(first_buy + life, span)
    active_years = (end - first_buy) / (365.25 * 86400)
    lam = rng.gamma(0.55, 1.0, P)  # purchase rate heterogeneity: many occasional, few heavy
    target = orders_per_customer * n
    base = buyer * (1 + lam * active_years)
    scale = max(target - buyer.sum(), 0) / max((buyer * lam * active_years).sum(), 1e-9)
    extra = rng.poisson(
        buyer
        * lam
        * active_years
        * scale
        / MONTH_WEIGHT.mean()
        * (MONTH_WEIGHT.mean() / (MONTH_WEIGHT / MONTH_WEIGHT.max()).mean())
    )
    del base
    counts = buyer.astype(np.int64) + extra
    o_person = np.repeat(np.arange(P), counts)
    is_first = np.zeros(len(o_person), bool)
    starts = np.cumsum(counts) - counts
    is_first[starts[counts > 0]] = True
    t = first_buy[o_person] + rng.random(len(o_person)) * (end - first_buy)[o_person]
    t = np.where(is_first, first_buy[o_person], t)
    ts = _ts(start, t)
    keep = is_first | (
        rng.random(len(o_person)) < MONTH_WEIGHT[ts.month.to_numpy() - 1] / MONTH_WEIGHT.max()
    )
    o_person, t, ts = o_person[keep], t[keep], ts[keep]
    o_order = np.argsort(t, kind="stable")
    o_person, ts = o_person[o_order], ts[o_order]
    n_orders = len(o_person)

    # which record of the person holds the order: mostly the original, sometimes a duplicate
    rec_of_person = np.empty(P, dtype=np.int64)
    orig_mask = ~is_dup
    rec_of_person[person[orig_mask]] = customer_id[orig_mask]
    dup_rec_of_person = rec_of_person.copy()
    dup_rec_of_person[person[is_dup]] = customer_id[is_dup]
    has_dup = dup_rec_of_person != rec_of_person
    use_dup = has_dup[o_person] & (rng.random(n_orders) < 0.25)
    o_customer = np.where(use_dup, dup_rec_of_person[o_person], rec_of_person[o_person])

    spend = rng.lognormal(np.log(2500), 0.7, P)
    fav = rng.integers(0, len(CATEGORIES), P)
    amount = np.round(spend[o_person] * rng.lognormal(0, 0.45, n_orders), 2)
    cat_idx = np.where(
        rng.random(n_orders) < 0.6, fav[o_person], rng.integers(0, len(CATEGORIES), n_orders)
    )
    st = rng.random(n_orders)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, n_orders + 1),
            "external_id": _ids("O", n_orders, 9),
            "customer_id": o_customer,
            "ordered_at": ts,
            "amount": amount,
            "currency": pd.Series(["RUB"], dtype="str").repeat(n_orders).reset_index(drop=True),
            "status": pd.Categorical.from_codes(
                np.select([st < 0.93, st < 0.97], [0, 1], 2), ["paid", "cancelled", "returned"]
            ).astype(str),
            "channel": pd.Categorical.from_codes(
                rng.choice(4, n_orders, p=[0.45, 0.35, 0.15, 0.05]),
                ["store", "online", "app", "phone"],
            ).astype(str),
            "category": pd.Categorical.from_codes(cat_idx, pd.Index(CATEGORIES.tolist())).astype(
                str
            ),
        }
    )

    # lifecycle from behaviour
    say("leads and deals")
    n_ord_person = np.bincount(o_person, minlength=P)
    last_t = np.full(P, -np.inf)
    np.maximum.at(last_t, o_person, (ts.asi8 - pd.Timestamp(start).value // 1000) / 1e6)
    stage = np.where(
        n_ord_person >= 2, "repeat_customer", np.where(n_ord_person == 1, "customer", "lead")
    )
    churned = (n_ord_person > 0) & (span - last_t > 365 * 86400)
    stage = np.where(churned, "churned", stage)
    stage = np.where((n_ord_person == 0) & (rng.random(P) < 0.3), "subscriber", stage)
    loyalty = buyer & (rng.random(P) < 0.45)

    customers_df = pd.DataFrame(
        {
            "customer_id": customer_id,
            "external_id": _ids("C", n, 8),
            "company_id": pd.array(r_company, dtype="Int64"),
            "first_name": f2,
            "last_name": l2,
            "middle_name": m2,
            "gender": np.where(rng.random(n) < 0.75, np.where(r_female, "f", "m"), _NULL),
            "birth_date": r_birth,
            "job_title": job_title[person],
            "city": r_city,
            "postcode": postcode[person],
            "address": np.where(rng.random(n) < 0.9, address[person], _NULL),
            "timezone": timezone[person],
            "language": np.where(r_ru, "ru", "en"),
            "source": _pick(rng, LEAD_SOURCES, n),
            "lifecycle_stage": stage[person],
            "owner": _pick(rng, ["anna.k", "igor.p", "maria.s", "oleg.v", "kate.w", None], n),
            "is_loyalty_member": loyalty[person] & ~is_dup,
            "status": "active",
            "created_at": created_at,
        }
    )
    customers_df["company_id"] = customers_df["company_id"].where(
        customers_df["company_id"] > 0, pd.NA
    )
    for col in (
        "first_name",
        "last_name",
        "middle_name",
        "job_title",
        "city",
        "address",
        "gender",
        "owner",
    ):
        customers_df[col] = _str(customers_df[col].to_numpy(dtype=object))

    # ---- contact points ------------------------------------------------------------------
    has_email = pd.notna(r_email)
    has_phone = pd.notna(phone)
    cp = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": customer_id[has_email],
                    "kind": "email",
                    "value": r_email[has_email],
                }
            ),
            pd.DataFrame(
                {"customer_id": customer_id[has_phone], "kind": "phone", "value": phone[has_phone]}
            ),
        ],
        ignore_index=True,
    )
    cp.insert(0, "contact_point_id", np.arange(1, len(cp) + 1))
    cp["is_primary"] = True
    cp["created_at"] = created_at[cp["customer_id"].to_numpy() - 1]
    cp["value"] = _str(cp["value"])
    cp["kind"] = _str(cp["kind"])

    # ---- consents (email, sms), some withdrawn later ------------------------------------------
    cons = []
    for channel, p_grant in (("email", 0.65), ("sms", 0.45)):
        g = rng.random(n) < 0.85  # recorded at all
        cons.append(
            pd.DataFrame(
                {
                    "customer_id": customer_id[g],
                    "channel": channel,
                    "granted": rng.random(g.sum()) < p_grant,
                    "source": _pick(
                        rng, ["site_form", "checkout", "call_centre", "import"], g.sum()
                    ),
                    "recorded_at": created_at[g],
                }
            )
        )
    consents = pd.concat(cons, ignore_index=True)
    withdraw = consents[consents.granted & (rng.random(len(consents)) < 0.04)].copy()
    withdraw["granted"] = False
    withdraw["source"] = "unsubscribe"
    withdraw["recorded_at"] = withdraw["recorded_at"] + pd.to_timedelta(
        rng.integers(1, 400, len(withdraw)), unit="D"
    )
    withdraw = withdraw[withdraw["recorded_at"] < pd.Timestamp(as_of)]
    consents = pd.concat([consents, withdraw], ignore_index=True)
    consents.insert(0, "consent_id", np.arange(1, len(consents) + 1))
    consents["channel"] = _str(consents["channel"])

    # ---- relations: spouses, and who referred whom ----------------------------------------------
    ca, cb = rec_of_person[a], rec_of_person[b]
    n_ref = int(P * 0.03)
    ref_from = rec_of_person[rng.integers(0, P, n_ref)]
    ref_to = rec_of_person[rng.integers(0, P, n_ref)]
    okref = ref_from != ref_to
    relations = pd.concat(
        [
            pd.DataFrame({"customer_id": ca, "related_customer_id": cb, "kind": "spouse"}),
            pd.DataFrame(
                {
                    "customer_id": ref_to[okref],
                    "related_customer_id": ref_from[okref],
                    "kind": "referred_by",
                }
            ),
        ],
        ignore_index=True,
    ).drop_duplicates(["customer_id", "related_customer_id", "kind"])
    relations.insert(0, "relation_id", np.arange(1, len(relations) + 1))
    relations["source"] = "sample"
    relations["created_at"] = pd.Timestamp(as_of) - pd.Timedelta(days=30)
    relations["kind"] = _str(relations["kind"])

    # ---- tags ---------------------------------------------------------------------------------
    tag_defs = pd.DataFrame(TAG_VOCABULARY, columns=["vocabulary", "code", "label_en", "label_ru"])
    tag_defs.insert(0, "tag_id", np.arange(1, len(tag_defs) + 1))
    k = rng.integers(0, 4, n)
    t_cust = np.repeat(customer_id, k)
    t_tag = rng.integers(1, len(tag_defs) + 1, len(t_cust))
    customer_tags = pd.DataFrame({"customer_id": t_cust, "tag_id": t_tag}).drop_duplicates()
    customer_tags["tagged_at"] = created_at[customer_tags["customer_id"].to_numpy() - 1]

    # ---- leads: every inquiry, from every channel (D2, D4) -------------------------------------
    n_leads = int(n * 1.3)
    l_cust = rng.integers(1, n + 1, n_leads)
    l_src_i = rng.integers(0, len(LEAD_SOURCES), n_leads)
    l_chan_i = rng.choice(len(LEAD_CHANNELS), n_leads, p=[0.3, 0.15, 0.15, 0.2, 0.12, 0.08])
    paid_ads = l_chan_i <= 2
    r = rng.random(n_leads)
    spam_p = np.where(paid_ads, 0.12, 0.04)
    disq_p = np.where(paid_ads, 0.20, 0.10)
    status = np.select(
        [r < spam_p, r < spam_p + disq_p, r < spam_p + disq_p + 0.12, r < spam_p + disq_p + 0.40],
        ["spam", "disqualified", "new", "verified"],
        "converted",
    )
    # buyers' leads convert more often: a lead whose person has orders tends to be converted
    l_created = created_at[l_cust - 1] + pd.to_timedelta(rng.integers(0, 200, n_leads), unit="D")
    l_created = l_created.where(
        l_created < pd.Timestamp(as_of), pd.Timestamp(as_of) - pd.Timedelta(days=1)
    )
    reason = np.where(
        status == "disqualified",
        np.where(
            paid_ads & (rng.random(n_leads) < 0.4),
            "click_fraud",
            _pick(rng, DISQUALIFY_REASONS, n_leads),
        ),
        None,
    )
    qualified = np.isin(status, ["verified", "converted"])
    leads = pd.DataFrame(
        {
            "lead_id": np.arange(1, n_leads + 1),
            "external_id": _ids("L", n_leads, 8),
            "customer_id": l_cust,
            "company_id": customers_df["company_id"].array.take(l_cust - 1),
            "source": LEAD_SOURCES[l_src_i],
            "channel": LEAD_CHANNELS[l_chan_i],
            "status": status,
            "disqualify_reason": reason,
            "budget": np.where(
                qualified & (rng.random(n_leads) < 0.6),
                np.round(rng.lognormal(np.log(50000), 1.0, n_leads), -2),
                np.nan,
            ),
            "authority": np.where(rng.random(n_leads) < 0.5, rng.random(n_leads) < 0.5, _NULL),
            "need": _pick(rng, ["product_info", "price_request", "demo", "support", None], n_leads),
            "timing_days": pd.array(
                np.where(rng.random(n_leads) < 0.5, rng.integers(1, 180, n_leads), -1)
            ).astype("Int64"),
            "created_at": l_created,
            "qualified_at": pd.Series(
                l_created + pd.to_timedelta(rng.integers(1, 72, n_leads), unit="h")
            ).where(qualified, pd.NaT),
            "converted_at": pd.Series(
                l_created + pd.to_timedelta(rng.integers(24, 400, n_leads), unit="h")
            ).where(status == "converted", pd.NaT),
        }
    )
    leads["timing_days"] = leads["timing_days"].where(leads["timing_days"] > 0, pd.NA)
    for col in ("source", "channel", "status", "disqualify_reason", "need"):
        leads[col] = _str(leads[col].to_numpy(dtype=object))
    leads["authority"] = leads["authority"].astype("boolean")

    # ---- pipelines and deals ----------------------------------------------------------------
    pipelines = pd.DataFrame({"pipeline_id": [1, 2], "name": ["first_sale", "repeat_sale"]})
    stage_rows = []
    for pid, names in (
        (1, ["interest", "qualified", "proposal", "negotiation", "invoice", "won", "lost"]),
        (2, ["reminder", "offer", "invoice", "won", "lost"]),
    ):
        for pos, name in enumerate(names):
            stage_rows.append(
                {
                    "pipeline_id": pid,
                    "name": name,
                    "position": pos,
                    "probability": 1.0
                    if name == "won"
                    else 0.0
                    if name == "lost"
                    else round((pos + 1) / len(names), 2),
                    "is_won": name == "won",
                    "is_lost": name == "lost",
                }
            )
    stages = pd.DataFrame(stage_rows)
    stages.insert(0, "stage_id", np.arange(1, len(stages) + 1))
    conv = leads[leads.status == "converted"]
    n_deals = len(conv)
    dr = rng.random(n_deals)
    d_status = np.select([dr < 0.58, dr < 0.85], ["won", "lost"], "open")
    d_pipe = np.where(rng.random(n_deals) < 0.75, 1, 2)
    stage_lookup = stages.set_index(["pipeline_id", "name"])["stage_id"]
    won_stage = np.where(d_pipe == 1, stage_lookup[(1, "won")], stage_lookup[(2, "won")])
    lost_stage = np.where(d_pipe == 1, stage_lookup[(1, "lost")], stage_lookup[(2, "lost")])
    open_stage = np.where(
        d_pipe == 1,
        stage_lookup[(1, "interest")] + rng.integers(0, 5, n_deals),
        stage_lookup[(2, "reminder")] + rng.integers(0, 3, n_deals),
    )
    d_created = conv["converted_at"].reset_index(drop=True)
    closed = d_created + pd.to_timedelta(rng.integers(1, 60, n_deals), unit="D")
    closed = closed.where(closed < pd.Timestamp(as_of), pd.Timestamp(as_of) - pd.Timedelta(hours=1))
    deals = pd.DataFrame(
        {
            "deal_id": np.arange(1, n_deals + 1),
            "external_id": _ids("D", n_deals, 8),
            "customer_id": conv["customer_id"].to_numpy(),
            "company_id": conv["company_id"].array,
            "lead_id": conv["lead_id"].to_numpy(),
            "pipeline_id": d_pipe,
            "stage_id": np.select(
                [d_status == "won", d_status == "lost"], [won_stage, lost_stage], open_stage
            ),
            "amount": np.round(rng.lognormal(np.log(30000), 0.9, n_deals), 2),
            "currency": "RUB",
            "status": d_status,
            "won_reason": np.where(d_status == "won", _pick(rng, WON_REASONS, n_deals), _NULL),
            "lost_reason": np.where(d_status == "lost", _pick(rng, LOST_REASONS, n_deals), _NULL),
            "created_at": d_created,
            "closed_at": closed.where(d_status != "open", pd.NaT),
        }
    )
    for col in ("currency", "status", "won_reason", "lost_reason"):
        deals[col] = _str(deals[col].to_numpy(dtype=object))

    won = deals[deals.status == "won"]
    invoices = pd.DataFrame(
        {
            "invoice_id": np.arange(1, len(won) + 1),
            "external_id": _ids("INV", len(won), 8),
            "customer_id": won["customer_id"].to_numpy(),
            "deal_id": won["deal_id"].to_numpy(),
            "amount": won["amount"].to_numpy(),
            "currency": "RUB",
            "status": "paid",
            "issued_at": (won["closed_at"] - pd.Timedelta(days=3)).reset_index(drop=True),
        }
    )
    payments = pd.DataFrame(
        {
            "payment_id": np.arange(1, len(won) + 1),
            "invoice_id": invoices["invoice_id"].to_numpy(),
            "amount": invoices["amount"].to_numpy(),
            "method": _pick(rng, ["card", "transfer", "cash"], len(won)),
            "paid_at": won["closed_at"].reset_index(drop=True),
        }
    )

    # ---- products and order lines --------------------------------------------------------------
    n_prod = 200
    prod_cat = CATEGORIES[np.arange(n_prod) % len(CATEGORIES)]
    products = pd.DataFrame(
        {
            "product_id": np.arange(1, n_prod + 1),
            "sku": _ids("SKU", n_prod, 5),
            "name": _str(prod_cat) + " item " + _str(np.arange(1, n_prod + 1).astype(str)),
            "category": prod_cat,
            "price": np.round(rng.lognormal(np.log(1500), 0.8, n_prod), 2),
        }
    )
    want_lines = order_lines if order_lines is not None else n_orders <= 2_000_000
    if want_lines:
        per = rng.integers(1, 4, n_orders)
        lo = np.repeat(orders["order_id"].to_numpy(), per)
        share = rng.random(len(lo)) + 0.2
        tot = np.bincount(lo - 1, weights=share, minlength=n_orders)
        l_amount = np.round(orders["amount"].to_numpy()[lo - 1] * share / tot[lo - 1], 2)
        l_cat = cat_idx[lo - 1]
        l_prod = l_cat + 1 + len(CATEGORIES) * rng.integers(0, n_prod // len(CATEGORIES), len(lo))
        qty = rng.integers(1, 4, len(lo))
        order_lines_df = pd.DataFrame(
            {
                "order_line_id": np.arange(1, len(lo) + 1),
                "order_id": lo,
                "product_id": l_prod,
                "quantity": qty,
                "unit_price": np.round(l_amount / qty, 2),
                "amount": l_amount,
            }
        )
    else:
        order_lines_df = pd.DataFrame(
            columns=["order_line_id", "order_id", "product_id", "quantity", "unit_price", "amount"]
        )

    # ---- activities ----------------------------------------------------------------------------
    say("activities and events")
    n_act = int(n_leads * 1.5)
    a_lead = rng.integers(0, n_leads, n_act)
    a_time = leads["created_at"].iloc[a_lead].reset_index(drop=True) + pd.to_timedelta(
        rng.integers(0, 30 * 24, n_act), unit="h"
    )
    a_time = a_time.clip(upper=pd.Timestamp(as_of))
    activities = pd.DataFrame(
        {
            "activity_id": np.arange(1, n_act + 1),
            "external_id": _ids("A", n_act, 9),
            "customer_id": leads["customer_id"].to_numpy()[a_lead],
            "kind": _pick(rng, ["call", "call", "email", "meeting", "task"], n_act),
            "subject": _pick(
                rng, ["Первичный звонок", "Презентация", "Follow-up", "Отправить КП", "Demo"], n_act
            ),
            "owner": _pick(rng, ["anna.k", "igor.p", "maria.s", "oleg.v", "kate.w"], n_act),
            "outcome": _pick(rng, ["reached", "no_answer", "callback", "done"], n_act),
            "occurred_at": a_time,
            "done": rng.random(n_act) < 0.9,
        }
    )
    for col in ("kind", "subject", "owner", "outcome"):
        activities[col] = _str(activities[col].to_numpy(dtype=object))

    # ---- marketing events: sent -> delivered/bounced -> opened -> clicked; unsubscribes ----------
    mailable = np.flatnonzero(has_email)
    n_sent = int(len(mailable) * events_per_customer)
    s_cust = (
        customer_id[mailable[rng.integers(0, max(len(mailable), 1), n_sent)]]
        if len(mailable)
        else np.empty(0, int)
    )
    s_time = _ts(start, span * (1 - rng.random(n_sent) ** 2 * 0.33 - 0.001))  # mostly the last year
    camp = "CMP-" + _str(s_time.strftime("%Y%m")).to_numpy(dtype=object)
    email_of = pd.Series(r_email, index=customer_id)
    bad = (
        email_of.isna()
        | ~email_of.fillna("").str.contains(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", case=False, regex=True)
        | email_of.fillna("").str.contains(
            "gmial|mail.ry|yandex.ry|yandx|hotmial|outlok|gmail.co$", regex=True
        )
    )
    bounced = bad.to_numpy()[s_cust - 1] | (rng.random(n_sent) < 0.02)
    opened = ~bounced & (rng.random(n_sent) < 0.25)
    clicked = opened & (rng.random(n_sent) < 0.15)
    unsub = ~bounced & (rng.random(n_sent) < 0.004)
    parts = [
        ("sent", np.ones(n_sent, bool), 0),
        ("delivered", ~bounced, 60),
        ("bounced", bounced, 60),
        ("opened", opened, 3600 * 5),
        ("clicked", clicked, 3600 * 6),
        ("unsubscribed", unsub, 3600 * 7),
    ]
    ev = [
        pd.DataFrame(
            {
                "customer_id": s_cust[m],
                "campaign_id": camp[m],
                "kind": kind,
                "occurred_at": s_time[m] + pd.to_timedelta(lag, unit="s"),
            }
        )
        for kind, m, lag in parts
    ]
    events = pd.concat(ev, ignore_index=True)
    events["channel"] = "email"
    events["detail"] = np.where(events["kind"] == "bounced", "hard", _NULL)
    events = events.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    events.insert(0, "event_id", np.arange(1, len(events) + 1))
    events.insert(1, "external_id", _ids("E", len(events), 10))
    for col in ("campaign_id", "kind", "channel", "detail"):
        events[col] = _str(events[col].to_numpy(dtype=object))

    truth = pd.DataFrame(
        {
            "customer_id": customer_id,
            "person_id": person + 1,
            "household_id": household[person] + 1,
            "is_duplicate_record": is_dup,
            "relation": relation_p[person],
        }
    )

    frames = {
        "companies": companies,
        "customers": customers_df,
        "contact_points": cp,
        "consents": consents,
        "relations": relations,
        "tag_definitions": tag_defs,
        "customer_tags": customer_tags,
        "leads": leads,
        "pipelines": pipelines,
        "pipeline_stages": stages,
        "deals": deals,
        "products": products,
        "orders": orders,
        "order_lines": order_lines_df,
        "invoices": invoices,
        "payments": payments,
        "activities": activities,
        "marketing_events": events,
    }
    return SampleData(frames=frames, truth=truth, as_of=as_of, seed=seed)


# --------------------------------------------------------------------------- files and database
def write(data: SampleData, out_dir: str | Path) -> Path:
    """Write every table as Parquet, the truth file, and a messy contacts CSV for ``crm import``.

    ``import_contacts.csv`` holds 2% of the people as a CRM export would: mixed phone
    formats, a few broken rows (no contact data, a bad date, an unknown lifecycle stage)
    and rows of people already in the base, so an import shows landed, updated and
    quarantined rows. ``people_export.csv`` holds every person record with ISO, dotted
    and US birth dates in one column (:func:`crm.sample.mess.people_export`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in data.frames.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    data.truth.to_parquet(out / "truth.parquet", index=False)
    import_contacts(data).to_csv(out / "import_contacts.csv", index=False)
    mess.people_export(data["customers"], data["contact_points"], data.seed).to_csv(
        out / "people_export.csv", index=False
    )
    return out


def import_contacts(data: SampleData, share: float = 0.02) -> pd.DataFrame:
    """A contacts export in the shape marketers get from other systems (see :func:`write`)."""
    rng = np.random.default_rng(data.seed + 1)
    cust = data["customers"]
    cp = data["contact_points"]
    m = max(10, int(len(cust) * share))
    rows = cust.sample(n=min(m, len(cust)), random_state=data.seed).reset_index(drop=True)
    email = cp[cp.kind == "email"].drop_duplicates("customer_id").set_index("customer_id")["value"]
    phone = cp[cp.kind == "phone"].drop_duplicates("customer_id").set_index("customer_id")["value"]
    out = pd.DataFrame(
        {
            "ID": "X" + rows["external_id"].str[1:],
            "Фамилия": rows["last_name"],
            "Имя": rows["first_name"],
            "Отчество": rows["middle_name"],
            "E-mail": rows["customer_id"].map(email),
            "Телефон": rows["customer_id"].map(phone),
            "Дата рождения": pd.to_datetime(rows["birth_date"]).dt.strftime("%d.%m.%Y"),
            "Город": rows["city"],
            "Стадия": rows["lifecycle_stage"],
            "Источник": rows["source"],
        }
    )
    k = len(out)
    bad = rng.choice(k, size=max(3, k // 25), replace=False)
    third = len(bad) // 3
    out.loc[bad[:third], ["E-mail", "Телефон"]] = None  # no way to reach them
    out.loc[bad[third : 2 * third], "Дата рождения"] = "31.02.1990"  # no such date
    out.loc[bad[2 * third :], "Стадия"] = "vip???"  # not a lifecycle stage
    return out


def read(src_dir: str | Path) -> SampleData:
    """Read back what :func:`write` wrote."""
    src = Path(src_dir)
    frames = {
        name: pd.read_parquet(src / f"{name}.parquet")
        for name in LOAD_ORDER
        if (src / f"{name}.parquet").exists()
    }
    truth = pd.read_parquet(src / "truth.parquet")
    stamps = (
        frames["orders"]["ordered_at"]
        if len(frames.get("orders", []))
        else pd.Series([DEFAULT_AS_OF])
    )
    return SampleData(frames=frames, truth=truth, as_of=stamps.max().to_pydatetime(), seed=-1)


def load(
    url: str, data: SampleData, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Append every table to the database at ``url`` (set-wise, through Arrow), parents first.

    Meant for an empty database: generated ids are kept, so loading twice is refused by
    the primary keys rather than duplicating anything.
    """
    from crm import store
    from crm.errors import CRMError

    present = store.read_frame(url, "SELECT COUNT(*) AS n FROM customers")["n"].iloc[0]
    if present:
        raise CRMError(
            f"the database already holds {present:,} customers; sample data loads into an empty "
            "database (point CRM_DATABASE_URL at a new file, e.g. sqlite:///var/sample.db)"
        )
    counts: dict[str, int] = {}
    for name in LOAD_ORDER:
        frame = data.frames.get(name)
        if frame is None or frame.empty:
            continue
        counts[name] = store.write_frame(url, frame, name, mode="append").inserted
        if progress:
            progress(name, counts[name])
    return counts
