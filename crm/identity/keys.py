"""Comparison keys for person records: names, gender, birth date, phone, email, address.

Everything here is vectorised pandas string work, or a Python function applied once per
*distinct* value (a million records hold far fewer distinct names). The result of
:func:`prepare` is a :class:`Keys` object: one integer code array per field (``-1`` where
the value is missing or unusable) plus the distinct normalised strings behind the codes, so
comparisons can work on pairs of small integers and call the string metrics once per
distinct pair of values.

The normalisation is deliberately the *comparison* flavour: case folded, ``ё`` written
``е``, Cyrillic transliterated, punctuation and house-number words dropped. It is not
what a customer card should show (that is :mod:`crm.hygiene`'s business).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm.hygiene import name_key
from crm.identity.errors import IdentityError, RoleError
from crm.identity.names import LETTERS, SCHEMES

__all__ = [
    "ROLE_KINDS",
    "Field",
    "Keys",
    "birth_dates",
    "email_keys",
    "gender_keys",
    "name_keys",
    "phone_keys",
    "phone_match_keys",
    "prepare",
    "transliterate",
]

#: The kinds of column a person-record frame may have (``roles`` maps column -> kind).
ROLE_KINDS = (
    "first_name",
    "last_name",
    "middle_name",
    "full_name",
    "gender",
    "birth_date",
    "address",
    "city",
    "postcode",
    "phone",
    "email",
    "external_id",
)
#: Kinds that may be given by several columns (a second phone, a work email…).
MULTI_KINDS = ("phone", "email", "address")

# the comparison's own romanisation: the common letters, BGN/PCGN's choices for the others,
# and the Ukrainian letters
_TRANSLIT = {
    **LETTERS,
    **SCHEMES["bgn_pcgn"],
    "ё": "e",
    "і": "i",
    "ї": "yi",
    "є": "ye",
    "ґ": "g",
}
_TRANSLIT_TABLE = str.maketrans(_TRANSLIT)

#: Placeholders people type into name fields; they say nothing about the person.
FAKE_NAMES = frozenset(
    {"test", "тест", "asdf", "qwerty", "ххх", "xxx", "aaa", "ааа", "нет", "no", "none", "null"}
)
#: Local parts of shared, role-based mailboxes: they identify a company desk, not a person.
ROLE_LOCALS = frozenset(
    {
        "info",
        "sales",
        "office",
        "hello",
        "noreply",
        "no-reply",
        "admin",
        "support",
        "contact",
        "contacts",
        "mail",
        "team",
        "hr",
        "marketing",
        "billing",
        "manager",
        "reception",
        "zakaz",
        "order",
        "orders",
        "buh",
        "secretary",
        "post",
    }
)
_PATRONYMIC_F = r"(?:овна|евна|ична|инична)$"
_PATRONYMIC_M = r"(?:ович|евич|ич)$"
_SURNAME_F = r"(?:ова|ева|ёва|ина|ына|ская|цкая)$"
_SURNAME_M = r"(?:ов|ев|ёв|ин|ын|ский|цкий)$"
#: Generation words after a name: 1 the younger (``Jr.``, ``II``, ``мл.``), 2 the elder.
_GENERATION = {
    **dict.fromkeys(("jr", "jnr", "junior", "ii", "iii", "iv", "мл", "младший"), 1),
    **dict.fromkeys(("sr", "snr", "senior", "ст", "старший"), 2),
}
_GENERATION_WORD = r"\s(" + "|".join(_GENERATION) + r")$"
_NONE: Any = None  # a missing value in np.where (Any for numpy's overloads)
_REPEATED_DIGITS = "|".join(f"{i}{{6}}" for i in range(10))  # 000000… is a placeholder
_GENDER_WORDS = {
    "f": "f",
    "ж": "f",
    "жен": "f",
    "женский": "f",
    "female": "f",
    "woman": "f",
    "w": "f",
    "m": "m",
    "м": "m",
    "муж": "m",
    "мужской": "m",
    "male": "m",
    "man": "m",
}


def transliterate(values: pd.Series) -> pd.Series:
    """Latin spelling of lower-case Cyrillic text (Russian and Ukrainian letters; others kept).

    Parameters
    ----------
    values : pandas.Series
        Lower-case strings (missing values stay missing).

    Returns
    -------
    pandas.Series
        The same index, transliterated once per distinct value.

    Examples
    --------
    >>> transliterate(pd.Series(["пётр", "щукина"])).tolist()
    ['petr', 'shchukina']
    """
    codes, uniq = _factorize(values)
    out = np.array([u.translate(_TRANSLIT_TABLE) for u in uniq], dtype=object)
    res = np.full(len(values), None, dtype=object)
    ok = codes >= 0
    res[ok] = out[codes[ok]]
    return pd.Series(res, index=values.index, dtype="str")


def _objects(values: pd.Series) -> np.ndarray:
    """The values as an object array of ``str``, ``None`` where missing."""
    arr = np.array(values.astype("str").astype(object), dtype=object)
    arr[pd.isna(arr)] = None
    return arr


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (``-1`` missing) and distinct strings, hashed as Python objects (fast on text)."""
    arr = _objects(values)
    codes, uniq = pd.factorize(arr, use_na_sentinel=True)
    return codes, np.asarray(uniq, dtype=object)


def on_distinct(values: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``func`` (a vectorised Series -> Series) run on the distinct values only, spread back.

    A million records hold a few tens of thousands of given names: the string work of
    normalising them is done once per distinct value. Missing values stay missing.
    """
    codes, uniq = _factorize(values)
    done = _objects(func(pd.Series(uniq, dtype="str")))
    out = np.full(len(values), None, dtype=object)
    ok = codes >= 0
    out[ok] = done[codes[ok]]
    return pd.Series(out, index=values.index, dtype="str")


def _arrow(values: pd.Series) -> pa.Array:
    return pa.array(_objects(values), type=pa.string())


def _clean_name(values: pd.Series) -> pd.Series:
    """Lower case, ё→е, letters and spaces only (hyphens join), fakes and blanks missing."""
    return on_distinct(values, _clean_name_distinct)


def _clean_name_distinct(values: pd.Series) -> pd.Series:
    s = values.astype("str").str.lower().str.replace("ё", "е", regex=False)
    s = s.str.replace("-", "", regex=False).str.replace(r"[^\w\s]|[\d_]", " ", regex=True)
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    return s.where(~(s.isin(FAKE_NAMES) | (s.str.len() < 2)))


def _hygiene_key(values: pd.Series) -> pd.Series:
    def key(v: pd.Series) -> pd.Series:
        out = name_key(v)
        return out.where(~(out.isin(FAKE_NAMES) | (out.str.len() < 2)))

    return on_distinct(values, key)


def name_keys(
    first: pd.Series | None,
    last: pd.Series | None,
    middle: pd.Series | None = None,
    full: pd.Series | None = None,
) -> pd.DataFrame:
    """Split, fold and sort out name parts; keep the Cyrillic form for gender hints.

    A full name in one field (``"Иванов Иван Петрович"`` in the first-name slot with no
    surname, or a ``full_name`` column) is split: three tokens with a patronymic last are
    read surname-first, otherwise first-name-first; two Cyrillic tokens are read
    surname-first (the Russian official order), two Latin ones first-name-first. A comma
    says where the surname ends whatever the script: ``"COOPER, James"`` and
    ``"Иванов, Иван Петрович"`` are surname-first.

    A generation word after a name (``Jr.``, ``Sr.``, ``II``, ``мл.``, ``ст.``) is taken off
    the name and kept in ``generation``: 1 the younger, 2 the elder, 0 none; a patronymic
    made of the person's own given name (``Илья Ильич``) counts as the younger too.

    Returns
    -------
    pandas.DataFrame
        Columns ``first``, ``last``, ``middle`` (transliterated keys), ``last_native``,
        ``middle_native`` (folded, not transliterated) and ``generation`` on the input index.
    """
    base = next(s for s in (first, last, middle, full) if s is not None)
    idx = base.index
    empty = pd.Series(np.full(len(idx), None, dtype=object), index=idx, dtype="str")
    f = _clean_name(first) if first is not None else empty.copy()
    la = _clean_name(last) if last is not None else empty.copy()
    mi = _clean_name(middle) if middle is not None else empty.copy()
    full_c = _clean_name(full) if full is not None else empty.copy()
    # "Jones Jr.", "Иванов мл.": the generation word is not part of the name; it is kept apart
    generation = np.zeros(len(idx), dtype=np.int8)
    stripped = []
    for part in (f, la, full_c):
        name, mark = _strip_generation(part)
        generation = np.where(generation == 0, mark, generation).astype(np.int8)
        stripped.append(name)
    f, la, full_c = stripped
    # the full name sits in the first-name slot when the surname slot is empty
    packed = la.isna() & f.str.contains(" ", regex=False).fillna(False)
    src = full_c.where(~packed, f)
    use = src.notna() & (packed | (f.isna() & la.isna()))
    raw = full if full is not None else empty
    if first is not None:
        raw = raw.where(~packed, first)
    comma = use & raw.astype("str").str.contains(",", regex=False).fillna(False)
    if use.any():
        tok = src[use].str.split(" ", n=3, expand=True).reindex(columns=range(4)).astype("str")
        t1, t2, t3 = tok[0], tok[1], tok[2]
        cyr = t1.str.contains(r"[а-я]", regex=True).fillna(False)
        patr3 = t3.str.contains(_PATRONYMIC_F + "|" + _PATRONYMIC_M, regex=True).fillna(False)
        three = t3.notna()
        p_first = np.where(three & ~patr3, t1, np.where(three | cyr, t2, t1))
        p_last = np.where(three & ~patr3, t3, np.where(three | cyr, t1, t2))
        p_mid = np.where(three & patr3, t3, np.where(three, t2, _NONE))
        if comma.any():
            # "Surname, Given [Middle]": the part before the comma is the surname
            before = _clean_name(raw[use].astype("str").str.split(",", n=1).str[0])
            after = _clean_name(raw[use].astype("str").str.split(",", n=1).str[1])
            rest = after.str.split(" ", n=1, expand=True).reindex(columns=range(2))
            c = comma[use].to_numpy()
            p_last = np.where(c, before, p_last)
            p_first = np.where(c, rest[0], p_first)
            p_mid = np.where(c, rest[1], p_mid)
        f = f.copy()
        la = la.copy()
        mi = mi.copy()
        f[use] = p_first
        la[use] = p_last
        mi[use] = pd.Series(p_mid, index=f[use].index).where(mi[use].isna(), mi[use])
    # hygiene's comparison key fixes look-alike letters of the other script (a Latin "a"
    # inside a Cyrillic name) and folds case; applied after the split, which needs the spaces
    f, la, mi = (_hygiene_key(v) for v in (f, la, mi))
    # a son named after his father carries the father's name as his patronymic
    # (Илья Ильич, Корнил Корнилович): in a household that is what "Jr." says
    generation = np.where((generation == 0) & _named_after_father(f, mi), 1, generation)
    return pd.DataFrame(
        {
            "first": transliterate(f),
            "last": transliterate(la),
            "middle": transliterate(mi),
            "last_native": la,
            "middle_native": mi,
            "generation": generation.astype(np.int8),
        },
        index=idx,
    )


def _strip_generation(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Cleaned names without a trailing generation word, and the word's mark per record."""
    codes, uniq = _factorize(values)
    if not len(uniq):
        return values, np.zeros(len(values), dtype=np.int8)
    u = pd.Series(uniq, dtype="str")
    word = u.str.extract(_GENERATION_WORD, expand=False)
    mark_u = word.map(_GENERATION).fillna(0).to_numpy(dtype=np.int8)
    name_u = _objects(u.str.replace(_GENERATION_WORD, "", regex=True).str.strip())
    ok = codes >= 0
    out = np.full(len(values), None, dtype=object)
    out[ok] = name_u[codes[ok]]
    mark = np.zeros(len(values), dtype=np.int8)
    mark[ok] = mark_u[codes[ok]]
    return pd.Series(out, index=values.index, dtype="str"), mark


def _named_after_father(first: pd.Series, middle: pd.Series) -> np.ndarray:
    """Whether the patronymic is made from the person's own given name (``Иван Иванович``).

    The patronymic loses its suffix (``-ович``, ``-евич``, ``-ич``, ``-овна``, ``-евна``,
    ``-ична``, ``-инична``) and is compared with the given name's stems by the rules of
    Russian grammar: the name itself (``Иван`` → ``Иван-ович``), without a final ``а``,
    ``я``, ``й`` or ``ь`` (``Илья`` → ``Иль-ич``, ``Сергей`` → ``Серге-евич``, ``Игорь`` →
    ``Игор-евич``), ``-ий`` as ``-ь`` (``Юрий`` → ``Юрь-евич``) and a dropped vowel
    (``Павел`` → ``Павл-ович``, ``Лев`` → ``Льв-ович``). Computed once per distinct pair.
    """
    both = first.notna() & middle.notna()
    out = np.zeros(len(first), dtype=bool)
    if not both.any():
        return out
    pair = first[both] + "|" + middle[both]
    codes, uniq = pd.factorize(pair)
    parts = pd.Series(uniq, dtype="str").str.split("|", n=1, expand=True)
    name, patr = parts[0], parts[1]
    stem = patr.str.replace(r"(?:инична|овна|евна|ична|ович|евич|ич)$", "", regex=True)
    has_suffix = stem != patr
    stems = [
        name,
        name.str.replace(r"[аяйь]$", "", regex=True),
        name.str.replace(r"ий$", "ь", regex=True),
        name.str.replace(r"ел$", "л", regex=True).str.replace(r"^лев$", "льв", regex=True),
    ]
    hit = np.zeros(len(uniq), dtype=bool)
    for st in stems:
        hit |= (st == stem).to_numpy(dtype=bool)
    hit &= has_suffix.to_numpy(dtype=bool) & name.str.contains(r"[а-я]", regex=True).to_numpy(
        dtype=bool
    )
    out[both.to_numpy()] = hit[codes]
    return out


def gender_keys(
    explicit: pd.Series | None, last_native: pd.Series, middle_native: pd.Series
) -> pd.Series:
    """``f``/``m``/missing: the gender column if given, else the patronymic, else the surname form.

    Russian patronymics (``-овна``/``-ович``) and surnames (``-ова``/``-ов``,
    ``-ская``/``-ский``) carry grammatical gender; spouses share an address and a surname
    root but not a gender, which is what keeps them from being merged.
    """
    idx = last_native.index
    out = pd.Series(np.full(len(idx), None, dtype=object), index=idx, dtype="str")
    sur_f = last_native.str.contains(_SURNAME_F, regex=True).fillna(False)
    sur_m = last_native.str.contains(_SURNAME_M, regex=True).fillna(False) & ~sur_f
    out = out.mask(sur_f, "f").mask(sur_m, "m")
    pat_f = middle_native.str.contains(_PATRONYMIC_F, regex=True).fillna(False)
    pat_m = middle_native.str.contains(_PATRONYMIC_M, regex=True).fillna(False) & ~pat_f
    out = out.mask(pat_f, "f").mask(pat_m, "m")
    if explicit is not None:
        g = explicit.astype("str").str.strip().str.lower().map(_GENDER_WORDS)
        out = out.where(g.isna(), g)
    return out


def phone_keys(values: pd.Series, default_region: str = "RU") -> pd.Series:
    """Phone numbers as ``+`` and digits (E.164 shape), or missing when unusable.

    National forms are completed for ``default_region`` (``RU``: ``8 916…`` and
    ``916…`` become ``+7916…``); ``+44 (0)7…`` and ``07…`` become ``+447…``. Numbers with
    fewer than 10 digits, more than 15, or a run of one repeated digit are dropped.
    """
    s = values.astype("str").str.replace("(0)", "", regex=False).str.strip()
    # "00" is the international prefix dialled from most of the world: the same as "+"
    intl = s.str.match(r"00[ \t]*[1-9]", na=False)
    plus = s.str.startswith("+").fillna(False) | intl
    d = s.str.replace(r"[^0-9]", "", regex=True)
    d = d.mask(intl, d.str[2:])
    n = d.str.len()
    region = default_region.upper()
    if region in ("RU", "KZ"):
        d = d.mask(~plus & (n == 11) & d.str.startswith("8"), "7" + d.str[1:])
        d = d.mask(~plus & (n == 10) & d.str.startswith("9"), "7" + d)
    elif region in ("GB", "UK"):
        d = d.mask(~plus & (n == 11) & d.str.startswith("0"), "44" + d.str[1:])
    d = d.mask(
        ~plus & (n == 11) & d.str.startswith("07") & (region not in ("GB", "UK")), "44" + d.str[1:]
    )
    n = d.str.len()
    national = d.str[-9:]
    junk = national.str.contains(_REPEATED_DIGITS, regex=True, na=False)
    ok = (n >= 10) & (n <= 15) & ~junk
    return ("+" + d).where(ok)


def phone_match_keys(values: pd.Series, default_region: str = "RU") -> pd.Series:
    """The last nine digits of each usable phone number: one key with or without a country code.

    ``+1 206 555 0100``, ``206-555-0100`` and ``001 206 555 0100`` are one number, and so
    are ``+44 7700 900123``, ``0044 7700 900123`` and ``07700 900123``: a trunk prefix, a
    country code or the ``00`` international prefix all sit before the last nine digits
    (the national number in RU, US, UK, FR…), which is what phone comparison uses, like
    the loose number comparison of phone address books. Unusable numbers stay missing
    (:func:`phone_keys`).
    """
    return phone_keys(values, default_region).str[-9:]


def email_keys(values: pd.Series) -> pd.DataFrame:
    """Normalised email and its local part; role mailboxes and broken addresses are missing.

    ``" at "`` and ``"@@"`` are repaired, case is folded, a ``+tag`` is dropped from the
    local part. Returns columns ``email`` and ``local`` (local part, only when at least
    4 characters so ``ivan@`` on two domains is not taken as the same person).
    """
    arr = pc.utf8_lower(pc.utf8_trim_whitespace(_arrow(values)))
    arr = pc.replace_substring(arr, " at ", "@")
    arr = pc.replace_substring_regex(arr, "@+", "@")
    arr = pc.replace_substring_regex(arr, "[ \t\r\n]+", "")
    ok = pd.Series(
        pc.fill_null(pc.match_substring_regex(arr, r"^[^@]+@[^@]+\.[a-z]{2,}$"), False),
        index=values.index,
        dtype=bool,
    )
    parts = pc.extract_regex(arr, r"^(?P<local>[^@+]+)[^@]*@(?P<domain>.+)$")
    local = pd.Series(parts.field("local"), index=values.index, dtype="str")
    domain = pd.Series(parts.field("domain"), index=values.index, dtype="str")
    role = local.isin(ROLE_LOCALS)
    email = (local + "@" + domain).where(ok & ~role)
    return pd.DataFrame(
        {"email": email, "local": local.where(ok & ~role & (local.str.len() >= 4))},
        index=values.index,
    )


#: Street-type and house-number words an address key leaves out.
_ADDRESS_WORDS = frozenset(
    {
        *("ул", "улица", "д", "дом", "кв", "квартира", "корп", "корпус", "стр", "строение"),
        *("пр", "просп", "проспект", "пер", "переулок", "ш", "шоссе", "бульвар", "наб"),
        *("набережная", "пл", "площадь", "г", "город", "flat", "apt", "apartment", "unit"),
        *("suite", "street", "st", "road", "rd", "avenue", "ave", "lane", "ln"),
    }
)
#: Abbreviations with a hyphen (``пр-т``, ``б-р``): two words once punctuation is a space.
_TWO_PART = {" пр т ": " проспект ", " б р ": " бульвар "}


def _address_keys(values: pd.Series) -> pd.Series:
    """Folded address words without house-number and street-type words, transliterated.

    Vectorised in Arrow: punctuation becomes a space, the text is split into words and
    the words of ``_ADDRESS_WORDS`` are dropped (``ул. Ленина, д. 5`` gives ``lenina 5``;
    ``Kings Road, flat 69`` gives ``kings 69``).
    """
    arr = pc.utf8_lower(_arrow(values))
    arr = pc.replace_substring(arr, "ё", "е")
    arr = pc.replace_substring_regex(arr, r"[^\pL\pN_]+", " ")
    arr = pc.binary_join_element_wise(" ", arr, " ", "")
    for two, word in _TWO_PART.items():
        arr = pc.replace_substring(arr, two, word)
    words = pc.utf8_split_whitespace(arr)
    flat = pc.list_flatten(words)
    parent = pc.list_parent_indices(words)
    drop = pa.array(["", *sorted(_ADDRESS_WORDS)])  # "": the padding's empty words
    keep = pc.invert(pc.is_in(flat, value_set=drop))
    counts = np.bincount(
        np.asarray(parent.filter(keep), dtype=np.int64), minlength=len(arr)
    ).astype(np.int32)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    kept = pa.ListArray.from_arrays(offsets, flat.filter(keep))
    joined = pc.if_else(pc.is_null(arr), pa.scalar(None, pa.string()), pc.binary_join(kept, " "))
    s = pd.Series(joined.to_numpy(zero_copy_only=False), index=values.index, dtype="str")
    s = transliterate(s)
    return s.where(s.str.len() >= 3)


def _postcode_keys(values: pd.Series) -> pd.Series:
    s = values.astype("str").str.upper().str.replace(r"[^0-9A-Z]", "", regex=True)
    return s.where(s.str.len() >= 2)


def _day_month(text: pd.Series, counts: np.ndarray) -> pd.Series:
    """Dates written ``D?M?Y`` with ``.``, ``/`` or ``-``: which part is the month, from the column.

    A part above 12 cannot be a month, so such a date reads itself. The others (both parts
    at most 12) follow the column: slashed or dashed dates are month-first when more
    records of the column show a second part above 12 (``12/31/1990``) than a first part
    above 12 (``31/12/1990``); dotted dates are day-first unless the column shows the same.
    ``counts`` is the number of records behind each distinct text.
    """
    parts = text.str.extract(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4})$")
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    ok = parts[0].notna()
    if not ok.any():
        return out
    p1 = pd.to_numeric(parts[0], errors="coerce")
    p2 = pd.to_numeric(parts[2], errors="coerce")
    dotted = parts[1] == "."
    w = pd.Series(counts, index=text.index)
    month_first = pd.Series(False, index=text.index)
    for group in (dotted, ~dotted):
        g = ok & group
        says_md = float(w[g & (p2 > 12) & (p1 <= 12)].sum())
        says_dm = float(w[g & (p1 > 12) & (p2 <= 12)].sum())
        month_first[g] = says_md > says_dm
    month_first = (month_first & ~(p1 > 12)) | ((p2 > 12) & (p1 <= 12))
    day = p1.where(~month_first, p2)
    month = p2.where(~month_first, p1)
    frame = pd.DataFrame({"year": pd.to_numeric(parts[3], errors="coerce"), "month": month})
    frame["day"] = day
    return pd.to_datetime(frame[ok], errors="coerce").reindex(text.index)


def birth_dates(values: pd.Series) -> np.ndarray:
    """Dates as ``datetime64[D]`` (``NaT`` where missing or not a date).

    Accepts dates, datetimes and strings (``1990-01-31``, ``19900131``, ``31.01.1990``,
    ``31/01/1990``, ``01/31/1990``); text is parsed once per distinct value. Whether a
    slashed date is day- or month-first is read from the column itself (see
    :func:`_day_month`): one export may mix ISO, dotted and US dates.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        v = values
        if getattr(v.dt, "tz", None) is not None:
            v = v.dt.tz_localize(None)
        return v.to_numpy(dtype="datetime64[D]")
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    if len(uniq) == 0:
        return np.full(len(values), np.datetime64("NaT"), dtype="datetime64[D]")
    if all(not isinstance(u, str) for u in uniq[:50]):
        parsed = pd.to_datetime(pd.Series(uniq, dtype=object), errors="coerce")
    else:
        text = pd.Series(uniq).astype("str").str.strip()
        counts = np.bincount(codes[codes >= 0], minlength=len(uniq))
        parsed = _day_month(text, counts)
        for fmt, pat in (("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}.*"), ("%Y%m%d", r"\d{8}")):
            m = text.str.fullmatch(pat, na=False) & parsed.isna()
            if m.any():
                parsed[m] = pd.to_datetime(text[m].str[:10], format=fmt, errors="coerce")
    arr = parsed.to_numpy(dtype="datetime64[D]")
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = codes >= 0
    out[ok] = arr[codes[ok]]
    # a placeholder year (1900, the future) says nothing
    year = out.astype("datetime64[Y]").astype(float) + 1970
    out[(year < 1901) | (year > 2100)] = np.datetime64("NaT")
    return out


@dataclass
class Field:
    """One compared field: integer codes per record (``-1`` missing) and the distinct values."""

    codes: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, series: pd.Series) -> Field:
        codes, uniq = pd.factorize(series, use_na_sentinel=True)
        return cls(codes.astype(np.int64), np.asarray(uniq, dtype=object))

    def strings(self) -> np.ndarray:
        """The value per record (``None`` where missing)."""
        out = np.full(len(self.codes), None, dtype=object)
        ok = self.codes >= 0
        out[ok] = self.values[self.codes[ok]]
        return out

    def take(self, rows: np.ndarray) -> Field:
        """The records at positions ``rows``, in that order (the vocabulary kept whole)."""
        return Field(self.codes[rows], self.values)

    def splice(self, rows: np.ndarray, new: Field) -> Field:
        """This field with the records at ``rows`` set to ``new``'s (one per row, in order).

        ``new``'s values join the vocabulary once each, so equal values keep one code:
        comparison and blocking see codes only through their values' equality.
        """
        at = pd.Index(self.values).get_indexer(new.values) if len(new.values) else np.empty(0)
        at = np.asarray(at, dtype=np.int64)
        fresh = at < 0
        at[fresh] = len(self.values) + np.arange(int(fresh.sum()), dtype=np.int64)
        codes = self.codes.copy()
        codes[rows] = np.where(new.codes >= 0, at[np.maximum(new.codes, 0)] if len(at) else -1, -1)
        return Field(codes, np.concatenate([self.values, new.values[fresh]]))


@dataclass
class Keys:
    """Comparison keys of a frame of person records (see :func:`prepare`)."""

    n: int
    first: Field
    last: Field
    middle: Field
    gender: Field
    birth: np.ndarray
    #: per record: 0, 1 the younger of one name (``Jr.``, a patronymic of the own given
    #: name), 2 the elder (``Sr.``); see :func:`name_keys`
    generation: np.ndarray
    phones: list[Field] = field(default_factory=list)
    emails: list[Field] = field(default_factory=list)
    locals_: list[Field] = field(default_factory=list)
    addresses: list[Field] = field(default_factory=list)
    postcode: Field | None = None
    city: Field | None = None
    external_id: Field | None = None

    @property
    def has(self) -> dict[str, bool]:
        """Which fields the frame actually carries (a field never given is not compared)."""
        return {
            "first_name": bool((self.first.codes >= 0).any()),
            "last_name": bool((self.last.codes >= 0).any()),
            "middle_name": bool((self.middle.codes >= 0).any()),
            "gender": bool((self.gender.codes >= 0).any()),
            "birth_date": bool((~np.isnat(self.birth)).any()),
            "phone": any((f.codes >= 0).any() for f in self.phones),
            "email": any((f.codes >= 0).any() for f in self.emails),
            "address": any((f.codes >= 0).any() for f in self.addresses),
            "postcode": self.postcode is not None and bool((self.postcode.codes >= 0).any()),
            "external_id": self.external_id is not None
            and bool((self.external_id.codes >= 0).any()),
        }

    def take(self, rows: np.ndarray) -> Keys:
        """The keys of the records at positions ``rows``, in that order.

        Equal to preparing those records again (the vocabularies keep values no record
        uses any more, which nothing counts), but without the string work: a dedup round
        after a merge takes the previous round's keys of the records it kept.
        """
        rows = np.asarray(rows, dtype=np.int64)

        def opt(f: Field | None) -> Field | None:
            return f.take(rows) if f is not None else None

        return Keys(
            n=len(rows),
            first=self.first.take(rows),
            last=self.last.take(rows),
            middle=self.middle.take(rows),
            gender=self.gender.take(rows),
            birth=self.birth[rows],
            generation=self.generation[rows],
            phones=[f.take(rows) for f in self.phones],
            emails=[f.take(rows) for f in self.emails],
            locals_=[f.take(rows) for f in self.locals_],
            addresses=[f.take(rows) for f in self.addresses],
            postcode=opt(self.postcode),
            city=opt(self.city),
            external_id=opt(self.external_id),
        )

    def with_contacts(self, rows: np.ndarray, fresh: Keys) -> Keys:
        """These keys with the phones and emails of the records at ``rows`` taken from ``fresh``.

        ``fresh`` holds the keys of those records (one per row, in order), prepared with
        the same phone and email columns; every other field is kept. A merge changes only
        the survivor's contact points (it takes its duplicates'), never its name, birth
        date or address.

        Raises
        ------
        IdentityError
            ``fresh`` has another number of records or of phone or email columns.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if fresh.n != len(rows) or [len(self.phones), len(self.emails)] != [
            len(fresh.phones),
            len(fresh.emails),
        ]:
            raise IdentityError(
                f"fresh keys: {fresh.n} records and {len(fresh.phones)} phone and "
                f"{len(fresh.emails)} email columns for {len(rows)} rows and "
                f"{len(self.phones)} and {len(self.emails)} columns"
            )
        return replace(
            self,
            phones=[f.splice(rows, g) for f, g in zip(self.phones, fresh.phones, strict=True)],
            emails=[f.splice(rows, g) for f, g in zip(self.emails, fresh.emails, strict=True)],
            locals_=[f.splice(rows, g) for f, g in zip(self.locals_, fresh.locals_, strict=True)],
        )


def _columns(frame: pd.DataFrame, roles: Mapping[str, str]) -> dict[str, list[str]]:
    by_kind: dict[str, list[str]] = {}
    for column, kind in roles.items():
        if kind not in ROLE_KINDS:
            raise RoleError(column, f"unknown kind {kind!r}; use one of {', '.join(ROLE_KINDS)}")
        if column not in frame.columns:
            raise RoleError(column, "not a column of the frame")
        by_kind.setdefault(kind, []).append(column)
    for kind, cols in by_kind.items():
        if len(cols) > 1 and kind not in MULTI_KINDS:
            raise RoleError(cols[1], f"only one column may be {kind!r} (several: {cols})")
    if not by_kind:
        raise RoleError("-", "roles is empty: say which column holds which kind of value")
    return by_kind


def prepare(
    frame: pd.DataFrame,
    roles: Mapping[str, str] | Sequence[tuple[str, str]],
    default_region: str = "RU",
) -> Keys:
    """Normalise the columns named in ``roles`` into comparison :class:`Keys`.

    Parameters
    ----------
    frame : pandas.DataFrame
        Person records, one per row, in any layout.
    roles : mapping of column name -> kind
        Kinds from :data:`ROLE_KINDS`; ``phone``, ``email`` and ``address`` may be given
        by several columns.
    default_region : str
        Region for phone numbers written without a country code.
    """
    by_kind = _columns(frame, dict(roles))

    def one(kind: str) -> pd.Series | None:
        cols = by_kind.get(kind)
        return frame[cols[0]] if cols else None

    first = one("first_name")
    if all(one(k) is None for k in ("first_name", "last_name", "middle_name", "full_name")):
        first = pd.Series(None, index=frame.index, dtype="str")  # a frame without names
    names = name_keys(first, one("last_name"), one("middle_name"), one("full_name"))
    gender = gender_keys(one("gender"), names["last_native"], names["middle_native"])
    birth = (
        birth_dates(frame[by_kind["birth_date"][0]])
        if "birth_date" in by_kind
        else np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[D]")
    )
    phones = [
        Field.of(phone_match_keys(frame[c], default_region)) for c in by_kind.get("phone", [])
    ]
    emails, locals_ = [], []
    for c in by_kind.get("email", []):
        ek = email_keys(frame[c])
        emails.append(Field.of(ek["email"]))
        locals_.append(Field.of(ek["local"]))
    postcode = _postcode_keys(one("postcode")) if "postcode" in by_kind else None  # type: ignore[arg-type]
    addresses = []
    for c in by_kind.get("address", []):
        a = _address_keys(frame[c])
        addresses.append(Field.of(a))
    ext = one("external_id")
    ext_key = None
    if ext is not None:
        e = ext.astype("str").str.strip().str.upper().str.replace(r"[\s\-]", "", regex=True)
        ext_key = Field.of(e.where(e.str.len() > 0))
    city = one("city")
    # one vocabulary for all name parts, so a swapped first/last pair compares by code
    n = len(frame)
    joint = pd.concat([names["first"], names["last"], names["middle"]], ignore_index=True)
    codes, uniq = pd.factorize(joint, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    vocab = np.asarray(uniq, dtype=object)
    return Keys(
        n=n,
        first=Field(codes[:n], vocab),
        last=Field(codes[n : 2 * n], vocab),
        middle=Field(codes[2 * n :], vocab),
        gender=Field.of(gender),
        birth=birth,
        generation=names["generation"].to_numpy(dtype=np.int8),
        phones=phones,
        emails=emails,
        locals_=locals_,
        addresses=addresses,
        postcode=Field.of(postcode) if postcode is not None else None,
        city=Field.of(city.astype("str").str.lower().str.strip()) if city is not None else None,
        external_id=ext_key,
    )
