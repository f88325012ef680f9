"""Person names in Russian and English (D5): case, script, splitting, swaps, fakes, gender.

- Proper case: ``иванов иван иванович`` → ``Иванов Иван Иванович``, ``McDONALD`` →
  ``McDonald``, ``O'BRIEN`` → ``O'Brien``, ``анна-мария`` → ``Анна-Мария``; a word already
  written in deliberate mixed case (``DiCaprio``) is left alone.
- Script: Latin look-alike letters inside a Cyrillic word (``Иванoв`` with a Latin ``o``)
  and the reverse are replaced; the text is Unicode NFC.
- :func:`name_key` is the comparison form (``ё`` folded to ``е``, case folded, letters only).
- A full name in one field is split into surname / given name / patronymic (Russian order
  surname first when a patronymic is present, or ``Иван Иванович Иванов``).
- A surname in the first-name slot is detected by surname endings (-ов, -ев, -ин, -ский,
  -ова…) and a list of given names, and swapped back when the last-name slot holds a given name.
- Obvious fakes (``test``, ``asdf``, ``ххх``, ``qwerty``, repeated characters) are flagged and removed.
- Gender is inferred where absent: from the patronymic (-ович/-евич/-ич → m,
  -овна/-евна/-ична/-инична → f), otherwise from the given-names list.

Every rule runs once per distinct value; rows get the results by code lookup.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pandas as pd

from crm.hygiene._common import map_distinct, read_list, read_table, require, to_text

__all__ = [
    "NAME_FLAGS",
    "gender_from_patronymic",
    "given_name_gender",
    "is_fake_name",
    "looks_like_given_name",
    "looks_like_surname",
    "name_key",
    "normalise_names",
    "proper_case",
    "split_full_name",
]

#: Flag columns :func:`normalise_names` adds, and what each means.
NAME_FLAGS = {
    "name_recased": "a name was re-capitalised",
    "name_mixed_script": "Latin and Cyrillic look-alike letters were mixed in one word (fixed)",
    "name_split": "the full name was in one field and has been split",
    "name_swapped": "the surname was in the first-name slot and the given name in the last-name slot (swapped)",
    "surname_in_first_name": "the first-name slot holds what looks like a surname (not fixable automatically)",
    "name_fake": "an obviously fake value (test, asdf, ххх…) was removed",
    "first_name_missing": "no first name: personalisation falls back to a neutral greeting",
    "gender_inferred": "gender was absent and has been inferred",
}

# Look-alike letters: Latin -> Cyrillic and back.
_LAT2CYR = dict(zip("AaBCcEeHKkMmOoPpTXxYy", "АаВСсЕеНКкМмОоРрТХхУу", strict=True))
_CYR2LAT = {v: k for k, v in _LAT2CYR.items()}
_CYR = re.compile(r"[\u0400-\u04FF]")
_LAT = re.compile(r"[A-Za-z]")
_PARTICLES = frozenset(
    [
        "van",
        "von",
        "der",
        "den",
        "de",
        "del",
        "della",
        "da",
        "di",
        "du",
        "la",
        "le",
        "bin",
        "ibn",
        "al",
        "el",
        "оглы",
        "кызы",
        "угли",
        "фон",
        "ван",
        "де",
    ]
)
_SURNAME_ENDINGS = re.compile(
    r"(?:ов|ев|ёв|ин|ын|ский|цкий|ской|цкой|ова|ева|ёва|ина|ына|ская|цкая|ых|их|енко|ук|юк|чук|швили|дзе|"
    r"ov|ev|yov|in|yn|sky|skiy|skii|ski|ova|eva|ina|yna|skaya|enko)$"
)
_PATRONYMIC_M = re.compile(r"(?:ович|евич|ич|ovich|evich|ich|оглы|ogly)$")
_PATRONYMIC_F = re.compile(r"(?:овна|евна|ична|инична|ovna|evna|ichna|inichna|кызы|kyzy)$")
_FAKE_PATTERNS = re.compile(
    r"^(.)\1{1,}$"  # one character repeated: ааа, xxx, ----
    r"|^[\d\W_]+$"  # digits and punctuation only
    r"|^(test|тест)\w*\d+$"  # test1, тест123
    r"|^(?P<chunk>.{2,3})(?P=chunk){2,}$"  # short chunk repeated: ababab, лалала
)


@cache
def _given_names() -> dict[str, str]:
    return {_fold(n): g for n, g in read_table("given_names.tsv", 2)}


@cache
def _english_surnames() -> frozenset[str]:
    return read_list("common_surnames_en.txt")


def _fold(text: str) -> str:
    return text.lower().replace("ё", "е")


def _fix_script(word: str) -> str:
    """Replace look-alike letters of the minority script in one word."""
    cyr = len(_CYR.findall(word))
    lat = len(_LAT.findall(word))
    if not cyr or not lat:
        return word
    # the script of the letters that have no look-alike decides; ties go to Cyrillic
    cyr_only = sum(1 for ch in word if _CYR.match(ch) and ch not in _CYR2LAT)
    lat_only = sum(1 for ch in word if _LAT.match(ch) and ch not in _LAT2CYR)
    to_cyr = (cyr_only, cyr) >= (lat_only, lat)
    table = _LAT2CYR if to_cyr else _CYR2LAT
    return "".join(table.get(ch, ch) for ch in word)


def _clean_chars(text: str) -> str:
    text = text.replace("’", "'").replace("`", "'").replace("ʼ", "'").replace("‘", "'")
    text = re.sub(r"[‐‑‒–—]", "-", text)
    text = re.sub(r"[^\w\s'\-.]|[\d_]", " ", text)  # special characters and digits go
    text = re.sub(r"\s*-\s*", "-", text)
    return re.sub(r"\s+", " ", text).strip(" -'.")


def _case_word(word: str) -> str:
    """Proper case of one word without spaces (hyphen and apostrophe parts handled)."""
    letters = [ch for ch in word if ch.isalpha()]
    if not letters:
        return word
    # deliberate mixed case (DiCaprio, McDonald, O'Brien as typed): starts upper, has lower
    # letters and never two upper-case letters in a row (McDONALD has, so it is re-cased)
    mixed_on_purpose = (
        letters[0].isupper()
        and any(c.islower() for c in letters)
        and any(c.isupper() for c in letters[1:])
        and not re.search(r"[^\W\d_]{2}", "".join(c if c.isupper() else " " for c in word))
    )
    if mixed_on_purpose:
        return word
    parts = re.split(r"([\-'])", word.lower())
    out = []
    for i, part in enumerate(parts):
        if part in ("-", "'") or not part:
            out.append(part)
            continue
        after_apostrophe = i >= 2 and parts[i - 1] == "'"
        if after_apostrophe and len(parts[i - 2]) > 1:
            out.append(part)  # English possessive-like tails stay lower
            continue
        if part.startswith("mc") and len(part) > 2:
            out.append("Mc" + part[2:].capitalize())
        else:
            out.append(part.capitalize())
    return "".join(out)


def _proper(text: str) -> tuple[str | None, bool, bool]:
    """(properly cased text, was re-cased, had mixed scripts) for one raw value."""
    cleaned = _clean_chars(text)
    if not cleaned:
        return None, False, False
    words = cleaned.split(" ")
    fixed = [_fix_script(w) for w in words]
    mixed = fixed != words
    cased = []
    for i, w in enumerate(fixed):
        if i > 0 and len(fixed) > 1 and w.lower() in _PARTICLES:
            cased.append(w.lower())
        else:
            cased.append(_case_word(w))
    result = " ".join(cased)
    return result, result != " ".join(fixed), mixed


def proper_case(values: pd.Series) -> pd.Series:
    """Capitalise names correctly, fix look-alike letters and strip special characters.

    >>> proper_case(pd.Series(["иванов иван иванович", "McDONALD", "O'BRIEN", "анна-мария"])).tolist()
    ['Иванов Иван Иванович', 'McDonald', "O'Brien", 'Анна-Мария']
    """
    text = to_text(values)
    out = map_distinct(text, _proper, ("name", "recased", "mixed"))
    return out["name"].astype("str")


def name_key(values: pd.Series) -> pd.Series:
    """The comparison form of a name: script fixed, case folded, ``ё`` → ``е``, letters only.

    ``Семёнов``, ``СЕМЕНОВ`` and ``Семенoв`` (Latin o) all give ``семенов``;
    ``Анна-Мария`` and ``анна мария`` both give ``аннамария``.
    """
    text = to_text(values)

    def one(raw: str) -> tuple[str | None]:
        words = [_fix_script(w) for w in _clean_chars(raw).split(" ")]
        key = re.sub(r"[^\w]|[\d_]", "", _fold(" ".join(words)))
        return (key or None,)

    return map_distinct(text, one, ("key",))["key"].astype("str")


def _is_fake(raw: str) -> tuple[bool]:
    folded = _fold(raw.strip())
    letters = re.sub(r"[\s\-'.]", "", folded)
    fake = (
        folded in read_list("fake_names.txt")
        or letters in read_list("fake_names.txt")
        or bool(_FAKE_PATTERNS.match(letters))
        or not letters
    )
    return (fake,)


def is_fake_name(values: pd.Series) -> pd.Series:
    """``True`` where a name is obviously fake (``test``, ``asdf``, ``ххх``, ``qwerty``, ``aaaa``, ``123``).

    Missing values are not fakes (``False``).
    """
    text = to_text(values)
    return map_distinct(text, _is_fake, ("fake",))["fake"].fillna(False).astype(bool)


def _word_folded(values: pd.Series) -> pd.Series:
    text = to_text(values)
    return map_distinct(text, lambda v: (_fold(_fix_script(v)),), ("w",))["w"].astype("str")


def looks_like_given_name(values: pd.Series) -> pd.Series:
    """``True`` where the value (one word) is on the given-names list (RU, EN, diminutives)."""
    given = _given_names()
    return _word_folded(values).isin(given.keys()).fillna(False).astype(bool)


def looks_like_surname(values: pd.Series) -> pd.Series:
    """``True`` where the value ends like a surname (-ов, -ева, -ский, -enko…) or is a common
    English surname, and is not a given name (``Марина`` ends in -ина but is a given name)."""
    folded = _word_folded(values)
    single = ~folded.str.contains(" ", regex=False).fillna(True).astype(bool)
    ending = folded.str.contains(_SURNAME_ENDINGS, regex=True).fillna(False).astype(bool)
    english = folded.isin(_english_surnames()).fillna(False).astype(bool)
    return (ending | english) & single & ~looks_like_given_name(values)


def gender_from_patronymic(values: pd.Series) -> pd.Series:
    """``m`` for -ович/-евич/-ич (and -оглы), ``f`` for -овна/-евна/-ична/-инична (and -кызы), else missing."""
    folded = _word_folded(values)
    male = folded.str.contains(_PATRONYMIC_M, regex=True).fillna(False).astype(bool)
    female = folded.str.contains(_PATRONYMIC_F, regex=True).fillna(False).astype(bool)
    return pd.Series(
        np.select([female, male], ["f", "m"], default=""), index=values.index, dtype="str"
    ).mask(lambda s: s == "")


def given_name_gender(values: pd.Series) -> pd.Series:
    """``m`` or ``f`` for a given name on the list whose gender is unambiguous, else missing."""
    gender = _word_folded(values).map(_given_names()).astype("str")
    return gender.where(gender.isin(("m", "f")))


def _is_patronymic(word: str) -> bool:
    w = _fold(word)
    return bool(_PATRONYMIC_M.search(w) or _PATRONYMIC_F.search(w)) and len(w) > 4


def _split(raw: str) -> tuple[str | None, str | None, str | None, bool]:
    """(last, first, middle, was split) for a value that may hold a whole name."""
    words = _clean_chars(raw).split(" ")
    if len(words) < 2 or len(words) > 3:
        return None, None, None, False
    given = _given_names()
    folded = [_fold(_fix_script(w)) for w in words]

    def is_given(i: int) -> bool:
        return folded[i] in given

    def is_surname(i: int) -> bool:
        return not is_given(i) and (
            bool(_SURNAME_ENDINGS.search(folded[i])) or folded[i] in _english_surnames()
        )

    cyrillic = bool(_CYR.search(raw))
    if len(words) == 3:
        if _is_patronymic(words[2]) and not _is_patronymic(words[1]):
            return words[0], words[1], words[2], True  # Иванов Иван Иванович
        if _is_patronymic(words[1]):
            return words[2], words[0], words[1], True  # Иван Иванович Иванов
        if is_surname(0) and not is_surname(2):
            return words[0], words[1], words[2], True
        if is_surname(2) or not cyrillic:
            return words[2], words[0], words[1], True  # John Paul Smith
        return words[0], words[1], words[2], True
    if is_given(0) and not is_given(1):
        return words[1], words[0], None, True
    if is_given(1) and not is_given(0):
        return words[0], words[1], None, True
    if is_given(0) and is_given(1):
        return None, None, None, False  # a double given name (Анна Мария), not a full name
    if is_surname(0) and not is_surname(1):
        return words[0], words[1], None, True
    if is_surname(1) and not is_surname(0):
        return words[1], words[0], None, True
    # unknown words: Russian records are written surname first, English ones given name first
    return (words[0], words[1], None, True) if cyrillic else (words[1], words[0], None, True)


def split_full_name(values: pd.Series) -> pd.DataFrame:
    """Split a full name held in one field into ``last_name``, ``first_name``, ``middle_name``.

    Values of one word or more than three words are not split (``split`` is ``False``).

    >>> split_full_name(pd.Series(["Иванов Иван Иванович", "Иван Иванович Иванов", "John Smith"]))
      last_name first_name middle_name  split
    0    Иванов       Иван    Иванович   True
    1    Иванов       Иван    Иванович   True
    2     Smith       John         NaN   True
    """
    text = to_text(values)
    out = map_distinct(text, _split, ("last_name", "first_name", "middle_name", "split"))
    return pd.DataFrame(
        {
            "last_name": out["last_name"].astype("str"),
            "first_name": out["first_name"].astype("str"),
            "middle_name": out["middle_name"].astype("str"),
            "split": out["split"].fillna(False).astype(bool),
        },
        index=values.index,
    )


def normalise_names(
    frame: pd.DataFrame,
    *,
    first: str = "first_name",
    last: str = "last_name",
    middle: str = "middle_name",
    gender: str = "gender",
    drop_fakes: bool = True,
) -> pd.DataFrame:
    """Clean the name columns of a contacts frame and flag what was found.

    Order of the rules: fakes removed → a full name in one slot split → surname and given
    name swapped back → proper case and script → gender inferred where absent.

    Parameters
    ----------
    frame : pandas.DataFrame
        Has the ``first``, ``last`` and ``middle`` columns (``gender`` is optional).
    drop_fakes : bool
        Replace fake values by missing (the ``name_fake`` flag tells where).

    Returns
    -------
    pandas.DataFrame
        ``frame`` with the name columns cleaned, ``gender`` filled where it could be
        inferred, and one boolean column per key of :data:`NAME_FLAGS`.

    Examples
    --------
    >>> normalise_names(pd.DataFrame({"first_name": ["иванов иван иванович"],
    ...                                "last_name": [None], "middle_name": [None]}))
    """
    require(frame, (first, last, middle), "normalise_names")
    out = frame.copy()
    f, la, mi = to_text(frame[first]), to_text(frame[last]), to_text(frame[middle])

    fake = pd.Series(False, index=frame.index)
    if drop_fakes:
        f_fake, l_fake, m_fake = is_fake_name(f), is_fake_name(la), is_fake_name(mi)
        fake = f_fake | l_fake | m_fake
        f, la, mi = f.mask(f_fake), la.mask(l_fake), mi.mask(m_fake)

    # the whole name in the first (or last) slot, the other slots empty
    split_f = split_full_name(f)
    split_l = split_full_name(la)
    use_f = split_f["split"] & la.isna() & mi.isna()
    use_l = split_l["split"] & f.isna() & mi.isna() & ~use_f
    for parts, use in ((split_f, use_f), (split_l, use_l)):
        f = f.where(~use, parts["first_name"])
        la = la.where(~use, parts["last_name"])
        mi = mi.where(~use, parts["middle_name"])
    was_split = use_f | use_l
    if drop_fakes and was_split.any():  # a split can bring out a fake part ("test Иванов")
        f_fake, l_fake, m_fake = is_fake_name(f), is_fake_name(la), is_fake_name(mi)
        fake |= f_fake | l_fake | m_fake
        f, la, mi = f.mask(f_fake), la.mask(l_fake), mi.mask(m_fake)

    # surname typed in the first-name slot
    f_sur, l_given = looks_like_surname(f), looks_like_given_name(la)
    swap = f_sur & l_given & ~was_split
    f, la = f.where(~swap, la), la.where(~swap, f)
    stuck = looks_like_surname(f) & (la.isna() | looks_like_surname(la))

    results = {}
    recased = pd.Series(False, index=frame.index)
    mixed = pd.Series(False, index=frame.index)
    for name, col in ((first, f), (last, la), (middle, mi)):
        cased = map_distinct(col, _proper, ("name", "recased", "mixed"))
        results[name] = cased["name"].astype("str")
        recased |= cased["recased"].fillna(False).astype(bool)
        mixed |= cased["mixed"].fillna(False).astype(bool)
    for name, col in results.items():
        out[name] = col

    had = (
        to_text(frame[gender])
        if gender in frame.columns
        else pd.Series(pd.NA, index=frame.index, dtype="str")
    )
    inferred = gender_from_patronymic(results[middle]).fillna(given_name_gender(results[first]))
    out[gender] = had.fillna(inferred)
    out["name_recased"] = recased
    out["name_mixed_script"] = mixed
    out["name_split"] = was_split
    out["name_swapped"] = swap
    out["surname_in_first_name"] = stuck & ~swap
    out["name_fake"] = fake
    out["first_name_missing"] = results[first].isna()
    out["gender_inferred"] = had.isna() & inferred.notna()
    return out
