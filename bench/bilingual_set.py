"""An independent bilingual person-record set with households, for the dedup benchmark.

Made apart from :mod:`crm.sample` (it shares no code, names or tables with it): given
names, surnames, patronymics, streets, postcodes and cities come from the ``ru_RU``,
``en_GB`` and ``en_US`` locales of the `Faker <https://pypi.org/project/Faker/>`_
package; the everyday forms of given names, the romanisations and the mess below are
written here, after what exports merged from several systems look like:

* households: couples (a Russian wife's surname the feminine of her husband's), a parent
  and an adult child, a son often named after his father (and carrying his name as the
  patronymic, or ``Jr.``), twins (one birth date, one home, other given names),
  flatmates; a shared landline or family mailbox in some of them; namesakes arise by
  themselves from common names;
* a person entered again (a second shop, a call centre, a web form): a diminutive or
  nickname (``Саша`` for ``Александр``, ``Bob`` for ``Robert``), a Latin spelling of a
  Cyrillic name in one of three habits (passport 2013, the older ``ya/yu/kh``, typed
  ``ja/ju/h``), a typo, ``ё`` typed ``е``, a Latin look-alike letter in a Cyrillic name,
  upper or lower case, the name fields swapped, ``"SURNAME, Given"`` or the whole Russian
  name in the first-name field, the patronymic or the birth date left out;
* birth dates as ISO, dotted (``31.01.1990``) or US (``01/31/1990``) text in one column,
  now and then with day and month swapped or a mistyped year;
* phones with and without country code, with the ``00`` prefix, in national forms;
  emails upper-cased, written ``" at "``, with a mistyped domain, or another mailbox;
* addresses written in another order or without the ``д.``/``кв.`` words, postcodes with
  or without their space, missing fields everywhere.

:func:`make` returns the export (``ROLES`` columns) and the truth (``person_id``,
``household_id`` per ``customer_id``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DIMINUTIVES", "NICKNAMES", "ROMANISATIONS", "make"]

#: Everyday forms of Russian given names (written for this set).
DIMINUTIVES: dict[str, list[str]] = {
    "Александр": ["Саша", "Шура", "Саня"],
    "Алексей": ["Лёша", "Алёша"],
    "Анатолий": ["Толя"],
    "Андрей": ["Андрюша"],
    "Борис": ["Боря"],
    "Василий": ["Вася"],
    "Виктор": ["Витя"],
    "Владимир": ["Володя", "Вова"],
    "Григорий": ["Гриша"],
    "Дмитрий": ["Дима", "Митя"],
    "Евгений": ["Женя"],
    "Иван": ["Ваня"],
    "Константин": ["Костя"],
    "Михаил": ["Миша"],
    "Николай": ["Коля"],
    "Павел": ["Паша"],
    "Пётр": ["Петя"],
    "Сергей": ["Серёжа"],
    "Юрий": ["Юра"],
    "Анастасия": ["Настя"],
    "Александра": ["Саша"],
    "Валентина": ["Валя"],
    "Галина": ["Галя"],
    "Екатерина": ["Катя"],
    "Елена": ["Лена"],
    "Елизавета": ["Лиза"],
    "Мария": ["Маша"],
    "Наталья": ["Наташа"],
    "Ольга": ["Оля"],
    "Светлана": ["Света"],
    "Татьяна": ["Таня"],
    "Юлия": ["Юля"],
}
#: English nicknames (written for this set).
NICKNAMES: dict[str, list[str]] = {
    "Robert": ["Bob", "Rob", "Bobby"],
    "William": ["Bill", "Will", "Billy"],
    "Richard": ["Rick", "Dick"],
    "James": ["Jim", "Jimmy"],
    "John": ["Jack", "Johnny"],
    "Michael": ["Mike"],
    "Thomas": ["Tom", "Tommy"],
    "Anthony": ["Tony"],
    "Christopher": ["Chris"],
    "Daniel": ["Dan", "Danny"],
    "Joseph": ["Joe"],
    "Edward": ["Ed", "Ted"],
    "Margaret": ["Maggie", "Peggy"],
    "Elizabeth": ["Liz", "Beth", "Betty"],
    "Catherine": ["Kate", "Cathy"],
    "Katherine": ["Kate", "Kathy"],
    "Jennifer": ["Jen", "Jenny"],
    "Patricia": ["Pat", "Trish"],
    "Susan": ["Sue"],
    "Rebecca": ["Becky"],
    "Victoria": ["Vicky"],
    "Samantha": ["Sam"],
    "Deborah": ["Debbie"],
}
#: Three habits of writing Cyrillic in Latin letters (only where they differ from the core).
_CORE = dict(
    zip(
        "абвгдезиклмнопрстуфыэ",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "z",
            "i",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "y",
            "e",
        ],
        strict=True,
    )
) | {"ж": "zh", "ч": "ch", "ш": "sh", "ъ": "", "ь": ""}
ROMANISATIONS: dict[str, dict[str, str]] = {
    "passport_2013": {"ё": "e", "й": "i", "х": "kh", "ц": "ts", "щ": "shch", "ю": "iu", "я": "ia"},
    "older": {"ё": "yo", "й": "y", "х": "kh", "ц": "ts", "щ": "shch", "ю": "yu", "я": "ya"},
    "typed": {"ё": "e", "й": "j", "х": "h", "ц": "c", "щ": "sch", "ю": "ju", "я": "ja"},
}
_LOOKALIKE = str.maketrans({"а": "a", "о": "o", "е": "e", "с": "c", "р": "p"})
_DOMAIN_TYPOS = {"gmail.com": "gmial.com", "yandex.ru": "yandx.ru", "mail.ru": "mail.ry"}
_RU_DOMAINS = ["mail.ru", "yandex.ru", "rambler.ru", "bk.ru", "list.ru", "gmail.com"]
_EN_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.co.uk", "icloud.com"]


def _romanise(name: str, scheme: str) -> str:
    table = _CORE | ROMANISATIONS[scheme]
    out = "".join(table.get(ch, ch) for ch in name.lower())
    return out.capitalize()


def _patronymic(father: str, female: bool) -> str:
    if father.endswith(("й", "ь")):
        return father[:-1] + ("евна" if female else "евич")
    if father.endswith(("а", "я")):
        return father[:-1] + ("ична" if female else "ич")
    return father + ("овна" if female else "ович")


def _feminine(surname: str) -> str:
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    if surname.endswith("ский"):
        return surname[:-4] + "ская"
    if surname.endswith("цкий"):
        return surname[:-4] + "цкая"
    return surname


def _typo(rng: np.random.Generator, word: str) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = rng.integers(0, 3)
    if kind == 0:
        return word[:i] + word[i + 1 :]  # a letter dropped
    if kind == 1:
        return word[:i] + word[i] + word[i:]  # a letter doubled
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # two letters swapped


def _pick(rng: np.random.Generator, pool: np.ndarray | list[str] | tuple[str, ...]) -> str:
    return str(pool[int(rng.integers(len(pool)))])


def _pools(seed: int) -> dict[str, np.ndarray]:
    from faker import Faker
    from faker.providers.person.en_GB import Provider as GB
    from faker.providers.person.en_US import Provider as US
    from faker.providers.person.ru_RU import Provider as RU

    ru, gb, us = Faker("ru_RU"), Faker("en_GB"), Faker("en_US")
    for i, f in enumerate((ru, gb, us)):
        f.seed_instance(seed * 10 + i)
    lists = {
        "ru_m": list(RU.first_names_male),
        "ru_f": list(RU.first_names_female),
        "ru_last": list(RU.last_names_male),
        "ru_mid_m": list(RU.middle_names_male),
        "ru_mid_f": list(RU.middle_names_female),
        "en_m": sorted(set(GB.first_names_male) | set(US.first_names_male)),
        "en_f": sorted(set(GB.first_names_female) | set(US.first_names_female)),
        "en_last": sorted(set(GB.last_names) | set(US.last_names)),
        "ru_street": [ru.street_address() for _ in range(4000)],
        "ru_post": [ru.postcode() for _ in range(4000)],
        "gb_street": [gb.street_address().replace("\n", ", ") for _ in range(3000)],
        "gb_post": [gb.postcode() for _ in range(3000)],
        "us_street": [us.street_address().replace("\n", ", ") for _ in range(3000)],
        "us_post": [us.postcode() for _ in range(3000)],
    }
    return {k: np.asarray(v, dtype=object) for k, v in lists.items()}


def _person(
    rng: np.random.Generator,
    pools: dict[str, np.ndarray],
    home: dict[str, object],
    female: bool,
    last: str,
    born: np.datetime64,
    first: str | None = None,
) -> dict[str, object]:
    """One member of the household ``home`` (its id, country, address, postcode, landline)."""
    ru = home["country"] == "ru"
    pool = ("ru_f" if female else "ru_m") if ru else ("en_f" if female else "en_m")
    return {
        **home,
        "female": female,
        "first": first or _pick(rng, pools[pool]),
        "last": _feminine(last) if ru and female else last,
        "middle": _pick(rng, pools["ru_mid_f" if female else "ru_mid_m"]) if ru else None,
        "born": born,
        "mobile": _mobile(rng, str(home["country"])),
    }


def _people(rng: np.random.Generator, pools: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    """About ``n`` people in households, with their true attributes."""
    rows: list[dict[str, object]] = []
    kinds = rng.choice(
        ["single", "couple", "family", "twins", "flatmates"],
        size=max(1, int(n / 1.6)),
        p=[0.52, 0.25, 0.11, 0.04, 0.08],
    )
    start = np.datetime64("1940-01-01")
    for h, kind in enumerate(kinds):
        if len(rows) >= n:
            break
        u = rng.random()
        country = "ru" if u < 0.6 else ("gb" if u < 0.85 else "us")
        ru = country == "ru"
        street = _pick(rng, pools[f"{country}_street"])
        flat = int(rng.integers(1, 300))
        address = (
            f"{street}, кв. {flat}"
            if ru
            else (f"Flat {flat % 40 + 1}, {street}" if country == "gb" else street)
        )
        post = _pick(rng, pools[f"{country}_post"])
        landline = _mobile(rng, country) if rng.random() < 0.3 else None
        family_mail = rng.random() < 0.15
        home = {
            "household_id": h,
            "country": country,
            "address": address,
            "postcode": post,
            "home": landline,
        }

        def person(
            female: bool, last: str, born: np.datetime64, first: str | None = None
        ) -> dict[str, object]:
            return _person(rng, pools, home, female, last, born, first)  # noqa: B023

        last = _pick(rng, pools["ru_last" if ru else "en_last"])
        # parents of an adult child are born by 1972 (the child 22-35 years later, by 2007)
        span = 32 * 365 if kind == "family" else 60 * 365
        born = start + np.timedelta64(int(rng.integers(0, span)), "D")
        members = [person(bool(rng.random() < 0.5), last, born)]
        if kind in ("couple", "family"):
            other = not members[0]["female"]
            partner_last = last if ru or rng.random() < 0.7 else _pick(rng, pools["en_last"])
            delta = np.timedelta64(int(rng.integers(-5 * 365, 5 * 365)), "D")
            members.append(person(bool(other), partner_last, born + delta))
        if kind == "family":
            father = next((m for m in members if not m["female"]), members[0])
            mother = members[0] if members[0] is not father else members[1]
            son = rng.random() < 0.6
            child_born = min(father["born"], mother["born"]) + np.timedelta64(  # type: ignore[operator]
                int(rng.integers(22 * 365, 35 * 365)), "D"
            )
            named_after = son and rng.random() < 0.4
            parent = father if son else mother
            child = person(
                not son,
                last,
                child_born,
                str(parent["first"]) if named_after or (not son and rng.random() < 0.2) else None,
            )
            if ru:
                child["middle"] = _patronymic(str(father["first"]), not son)
            elif named_after:
                child["middle"] = "Jr."
            members.append(child)
        if kind == "twins":
            twin = person(bool(rng.random() < 0.5), last, born)
            while twin["first"] == members[0]["first"]:
                twin["first"] = person(bool(twin["female"]), last, born)["first"]
            if ru:  # one father: one patronymic, in each twin's gender
                dad = _pick(rng, pools["ru_m"])
                for m in (members[0], twin):
                    m["middle"] = _patronymic(dad, bool(m["female"]))
            members.append(twin)
        if kind == "flatmates":
            other_last = _pick(rng, pools["ru_last" if ru else "en_last"])
            members.append(
                person(
                    bool(rng.random() < 0.5),
                    other_last,
                    start + np.timedelta64(int(rng.integers(0, 60 * 365)), "D"),
                )
            )
        shared = _email(rng, members[0], country) if family_mail else None
        for m in members:
            m["email"] = (
                shared
                if shared and kind in ("couple", "family") and m.get("middle") != "Jr."
                else _email(rng, m, country)
            )
        rows.extend(members)
    out = pd.DataFrame(rows[:n])
    out.insert(0, "person_id", np.arange(len(out)))
    return out


def _mobile(rng: np.random.Generator, country: str) -> str:
    if country == "ru":
        return "+79" + "".join(str(d) for d in rng.integers(0, 10, 9))
    if country == "gb":
        return "+447" + "".join(str(d) for d in rng.integers(0, 10, 9))
    return "+1" + str(rng.integers(201, 990)) + "".join(str(d) for d in rng.integers(0, 10, 7))


def _email(rng: np.random.Generator, person: dict[str, object], country: str) -> str:
    first, last = str(person["first"]), str(person["last"])
    if country == "ru":
        first, last = _romanise(first, "typed").lower(), _romanise(last, "typed").lower()
    sep = _pick(rng, [".", "_", ""])
    tail = str(rng.integers(1, 99)) if rng.random() < 0.4 else ""
    domain = _pick(rng, _RU_DOMAINS if country == "ru" else _EN_DOMAINS)
    return f"{first.lower()}{sep}{last.lower()}{tail}@{domain}"


def _phone_text(rng: np.random.Generator, e164: str) -> str:
    d = e164[1:]
    style = rng.integers(0, 4)
    if d.startswith("7"):
        n = d[1:]
        forms = [
            f"+7 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}",
            f"8 {n[:3]} {n[3:6]} {n[6:8]} {n[8:]}",
            n,
            f"007 {n[:3]} {n[3:]}",
        ]
    elif d.startswith("44"):
        n = d[2:]
        forms = [f"+44 {n[:4]} {n[4:]}", f"0{n[:4]} {n[4:]}", f"0044 {n}", f"+44 (0){n}"]
    else:
        n = d[1:]
        forms = [f"+1 ({n[:3]}) {n[3:6]}-{n[6:]}", f"{n[:3]}-{n[3:6]}-{n[6:]}", f"001 {n}", n]
    return forms[style]


def _date_text(rng: np.random.Generator, born: np.datetime64, country: str) -> str:
    ts = pd.Timestamp(born)
    day, month, year = ts.day, ts.month, ts.year
    u = rng.random()
    if u < 0.02 and day <= 12:
        day, month = month, day  # typed the other way round
    elif u < 0.03:
        year += int(_pick(rng, ["-10", "-1", "1", "10"]))
    fmt = rng.random()
    if fmt < 0.35:
        return f"{year:04d}-{month:02d}-{day:02d}"
    if country == "us" or (country == "gb" and fmt < 0.5):
        return f"{month:02d}/{day:02d}/{year:04d}"
    return f"{day:02d}.{month:02d}.{year:04d}"


def _record(rng: np.random.Generator, p: dict[str, object], again: bool) -> dict[str, object]:
    ru = p["country"] == "ru"
    first, last, middle = str(p["first"]), str(p["last"]), p["middle"]
    if again and rng.random() < 0.2:
        forms = (DIMINUTIVES if ru else NICKNAMES).get(first)
        if forms:
            first = _pick(rng, forms)
    if ru and rng.random() < (0.12 if again else 0.04):
        scheme = _pick(rng, list(ROMANISATIONS))
        first, last = _romanise(first, scheme), _romanise(last, scheme)
        middle = None
    if again and rng.random() < 0.12:
        last = _typo(rng, last)
    if again and rng.random() < 0.06:
        first = _typo(rng, first)
    if rng.random() < 0.4:
        first, last = first.replace("ё", "е"), last.replace("ё", "е")
    if ru and rng.random() < 0.02:
        last = (
            last.translate(_LOOKALIKE)
            if rng.random() < 0.5
            else last[:1] + last[1:].translate(_LOOKALIKE)
        )
    if again and rng.random() < 0.4:
        middle = None
    case = rng.random()
    if case < 0.05:
        first, last = first.upper(), last.upper()
    elif case < 0.08:
        first, last = first.lower(), last.lower()
    layout = rng.random()
    first_f: str | None = first
    last_f: str | None = last
    mid_f = middle if middle != "Jr." else None
    if middle == "Jr." and rng.random() < 0.5:
        last_f = f"{last} Jr."
    if layout < 0.03:
        first_f, last_f = last, first
    elif layout < 0.06:
        first_f, last_f = f"{last.upper()}, {first}", None
    elif layout < 0.08 and ru:
        first_f, last_f, mid_f = " ".join(x for x in (last, first, middle) if x), None, None
    missing = 0.25 if again else 0.08
    birth = None if rng.random() < missing else _date_text(rng, p["born"], str(p["country"]))
    phone_src = p["home"] if isinstance(p["home"], str) and rng.random() < 0.3 else p["mobile"]
    phone = None if rng.random() < (0.2 if again else 0.1) else _phone_text(rng, str(phone_src))
    email: str | None = str(p["email"])
    v = rng.random()
    if v < (0.25 if again else 0.08):
        email = None
    elif again and v < 0.37:
        email = _email(rng, p, str(p["country"]))  # another mailbox
    if email:
        w = rng.random()
        if w < 0.05:
            email = email.upper()
        elif w < 0.06:
            email = email.replace("@", " at ")
        elif w < 0.08:
            user, _, dom = email.partition("@")
            email = f"{user}@{_DOMAIN_TYPOS.get(dom, dom)}"
    address: str | None = str(p["address"])
    if again and rng.random() < 0.3 and ru:
        address = address.replace("д. ", "").replace(", кв. ", "-").replace("ул. ", "ул ")
    if rng.random() < (0.2 if again else 0.08):
        address = None
    post: str | None = str(p["postcode"])
    if rng.random() < 0.1:
        post = None
    elif " " in str(post) and rng.random() < 0.3:
        post = str(post).replace(" ", "")
    gender = None
    if rng.random() < 0.6:
        gender = (
            _pick(rng, ["ж", "Ж", "жен"] if p["female"] else ["м", "М", "муж"])
            if ru
            else _pick(rng, ["F", "female"] if p["female"] else ["M", "male"])
        )
    return {
        "first_name": first_f,
        "last_name": last_f,
        "middle_name": mid_f,
        "gender": gender,
        "birth_date": birth,
        "address": address,
        "postcode": post,
        "phone": phone,
        "email": email,
    }


def make(records: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About ``records`` person records with duplicates, and the truth.

    Returns
    -------
    frame : pandas.DataFrame
        ``customer_id``, ``first_name``, ``last_name``, ``middle_name``, ``gender``,
        ``birth_date`` (text), ``address``, ``postcode``, ``phone``, ``email``.
    truth : pandas.DataFrame
        ``customer_id``, ``person_id``, ``household_id``.
    """
    rng = np.random.default_rng([seed, 2026])
    people = _people(rng, _pools(seed), int(records / 1.22))
    extra = rng.choice([0, 1, 2], size=len(people), p=[0.82, 0.14, 0.04])
    who = np.concatenate([np.arange(len(people)), np.repeat(np.arange(len(people)), extra)])
    again = np.concatenate([np.zeros(len(people), bool), np.ones(int(extra.sum()), bool)])
    order = rng.permutation(len(who))
    who, again = who[order], again[order]
    table = people.astype(object).where(people.notna(), None).to_dict("records")
    rows = [_record(rng, table[i], bool(a)) for i, a in zip(who, again, strict=True)]
    frame = pd.DataFrame(rows)
    frame.insert(0, "customer_id", np.arange(1, len(frame) + 1))
    truth = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "person_id": people["person_id"].to_numpy()[who],
            "household_id": people["household_id"].to_numpy()[who],
        }
    )
    return frame, truth
