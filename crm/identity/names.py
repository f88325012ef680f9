"""Given-name knowledge: transliteration spellings and everyday forms of one name.

Two records of one person often spell the given name differently: in another
transliteration scheme (``Юрий`` is ``Iurii`` in a passport since 2013 (ICAO Doc 9303),
``Yuriy`` in BGN/PCGN, ``Jurij`` in GOST 7.79 and ``Yury`` or ``Yuri`` informally), or in an
everyday form (``Паша`` for ``Павел``, ``Bill`` for ``William``). Neither is a typo, so string
similarity alone calls them different people and the first-name rule would refuse the
merge. This module says when two spellings are one given name:

* :func:`fold_latin` reduces a Latin spelling to a skeleton on which the schemes agree
  (``shch``/``shh``/``sch`` → ``sh``, ``kh`` → ``h``, ``x`` → ``ks``, ``ye`` after a vowel or at the
  start → ``e``, ``yo`` after a consonant → ``e``, ``y``/``j`` → ``i``, doubled letters once);
* :func:`name_groups` lists, per folded spelling, the given names it can stand for: the
  Russian table shipped in ``crm/data/ru_given_names.csv`` (written for this project, see
  its header), each form spelt in the four schemes, and the English table of the
  ``nicknames`` package (Northern and Crews' hand-curated nickname list);
* :func:`equivalent` tells, for pairs of name codes, whether they are one given name.

The tables are read once per process (:func:`functools.lru_cache`).
"""

from __future__ import annotations

import csv
import weakref
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from crm.identity.arrays import distinct

__all__ = [
    "LETTERS",
    "SCHEMES",
    "equivalent",
    "fold_codes",
    "fold_latin",
    "name_groups",
    "romanize",
    "ru_given_names",
    "sound_key",
]

#: The letters every scheme romanises alike.
LETTERS = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "ч": "ch",
    "ш": "sh",
    "ъ": "",
    "ь": "",
    "ы": "y",
    "э": "e",
}
#: Letter tables of the romanisation schemes (only the letters where they differ from
#: the common core): GOST 7.79-2000 system B, ICAO Doc 9303 (Russian passports since
#: 2013), BGN/PCGN 1947 (``е`` → ``ye`` at the start and after a vowel is handled by
#: :func:`fold_latin`) and the informal spelling people type.
SCHEMES: dict[str, dict[str, str]] = {
    "gost_7_79": {"ё": "yo", "й": "j", "х": "x", "ц": "cz", "щ": "shh", "ю": "yu", "я": "ya"},
    "icao_9303": {"ё": "e", "й": "i", "х": "kh", "ц": "ts", "щ": "shch", "ю": "iu", "я": "ia"},
    "bgn_pcgn": {"ё": "yo", "й": "y", "х": "kh", "ц": "ts", "щ": "shch", "ю": "yu", "я": "ya"},
    "informal": {"ё": "e", "й": "i", "х": "h", "ц": "c", "щ": "sch", "ю": "ju", "я": "ja"},
}
_VOWELS = "aeiouy"


def romanize(text: str, scheme: str) -> str:
    """Latin spelling of a lower-case Cyrillic name in one of :data:`SCHEMES`.

    >>> romanize("юрий", "icao_9303"), romanize("юрий", "gost_7_79")
    ('iurii', 'yurij')
    """
    table = {**LETTERS, **SCHEMES[scheme]}
    return "".join(table.get(ch, ch) for ch in text)


def fold_latin(values: pd.Series) -> pd.Series:
    """A skeleton of each Latin spelling on which the romanisation schemes agree.

    Parameters
    ----------
    values : pandas.Series of str
        Lower-case Latin names (missing stays missing).

    Returns
    -------
    pandas.Series of str

    Examples
    --------
    >>> fold_latin(pd.Series(["iurii", "yuriy", "yury", "jurij"])).tolist()
    ['iuri', 'iuri', 'iuri', 'iuri']
    """
    s = values.astype("str").str.lower().str.replace(r"[^a-z]", "", regex=True)
    for old, new in (("shch", "sh"), ("shh", "sh"), ("sch", "sh"), ("kh", "h"), ("ph", "f")):
        s = s.str.replace(old, new, regex=False)
    s = s.str.replace("x", "ks", regex=False).str.replace("cz", "ts", regex=False)
    s = s.str.replace("w", "v", regex=False)
    # BGN's "ye" for е at the start or after a vowel; "yo" for ё after a consonant
    s = s.str.replace(rf"(^|[{_VOWELS}])ye", r"\1e", regex=True)
    s = s.str.replace(rf"([^{_VOWELS}])yo", r"\1e", regex=True)
    s = s.str.replace("y", "i", regex=False).str.replace("j", "i", regex=False)
    s = s.str.replace(r"(.)\1+", r"\1", regex=True)
    return s.where(s.str.len() > 0)


_SOUNDS = str.maketrans(
    {
        **dict.fromkeys("aeiouyhw", "0"),
        **dict.fromkeys("bfpv", "1"),
        **dict.fromkeys("cgjkqsxz", "2"),
        **dict.fromkeys("dt", "3"),
        "l": "4",
        **dict.fromkeys("mn", "5"),
        "r": "6",
    }
)


def sound_key(name: str) -> str:
    """A Soundex code whose first letter is coded like the others (a sound, not a letter).

    Soundex (Russell and Odell, as the US census uses it) keeps a name's first letter,
    so ``Katherine`` and ``Catherine`` or ``Jeffrey`` and ``Geoffrey`` get two codes;
    here the first letter is coded by its sound class too, so spellings of one sound
    meet (``2365``) while ``Marina`` (``5650``) and ``Karina`` (``2650``) do not. Input:
    a lower-case Latin name (the comparison keys are romanised).

    >>> sound_key("katherine"), sound_key("catherine"), sound_key("marina"), sound_key("karina")
    ('2365', '2365', '5650', '2650')
    """
    letters = [ch for ch in name if "a" <= ch <= "z"]
    if not letters:
        return ""
    digits = "".join(letters).translate(_SOUNDS)
    out = [digits[0]]
    prev = digits[0]
    for ch, d in zip(letters[1:], digits[1:], strict=True):
        if d != prev and d != "0":
            out.append(d)
        if ch not in "hw":  # h and w do not separate two letters of one code
            prev = d
    return ("".join(out) + "000")[:4]


def ru_given_names() -> list[tuple[str, list[str]]]:
    """The shipped Russian table: (full name, [full name, its forms…]), lower case."""
    text = resources.files("crm.data").joinpath("ru_given_names.csv").read_text("utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    rows = []
    for rec in csv.DictReader(lines):
        name = rec["name"].strip().lower()
        forms = [f.strip().lower() for f in (rec["forms"] or "").split(";") if f.strip()]
        rows.append((name, [name, *forms]))
    return rows


def _en_rows() -> list[tuple[str, list[str]]]:
    from nicknames import NickNamer

    return [
        (canonical, [canonical, *sorted(nicks)])
        for canonical, nicks in sorted(NickNamer().nickname_lookup.items())
    ]


@lru_cache(maxsize=1)
def name_groups() -> pd.DataFrame:
    """Folded spellings and the given-name groups they belong to.

    Returns
    -------
    pandas.DataFrame
        ``fold`` (a :func:`fold_latin` skeleton) and ``group`` (an integer per full name:
        the Russian table's lines, then the ``nicknames`` package's canonical names); one
        row per (spelling, group), a spelling may be in several groups (``sasha``).
    """
    folds: list[str] = []
    groups: list[int] = []
    gid = 0
    for _, forms in ru_given_names():
        spellings = {romanize(f.replace("ё", "е"), s) for f in forms for s in SCHEMES}
        spellings |= {romanize(f, s) for f in forms for s in SCHEMES}
        folds.extend(spellings)
        groups.extend([gid] * len(spellings))
        gid += 1
    for _, forms in _en_rows():
        folds.extend(forms)
        groups.extend([gid] * len(forms))
        gid += 1
    frame = pd.DataFrame({"fold": fold_latin(pd.Series(folds, dtype="str")), "group": groups})
    return frame.dropna().drop_duplicates(ignore_index=True)


#: The last vocabulary folded (a weak reference) and its skeletons (see :func:`_folded`).
_FOLDED: list[tuple[weakref.ref[np.ndarray], np.ndarray, np.ndarray, pd.DataFrame]] = []


def _folded(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Skeleton codes of a vocabulary, its distinct skeletons, and their given-name groups.

    One comparison asks for them five times and a dedup run compares several batches of
    pairs against one vocabulary (the keys are kept from round to round): folding a
    million records' few hundred thousand names each time was most of a later night's
    comparison. So the last vocabulary's answer is kept, recognised by identity (a
    vocabulary array is never changed in place; a new one gets a new answer).
    """
    if _FOLDED and _FOLDED[0][0]() is values:
        return _FOLDED[0][1], _FOLDED[0][2], _FOLDED[0][3]
    codes, uniq = pd.factorize(fold_latin(pd.Series(values, dtype="str")), use_na_sentinel=True)
    fcode = np.asarray(codes, dtype=np.int64)
    funiq = np.asarray(uniq, dtype=object)
    table = name_groups()
    member = pd.DataFrame({"fold": pd.Index(funiq).get_indexer(table["fold"])})
    member["group"] = table["group"].to_numpy()
    member = member[member["fold"] >= 0]
    _FOLDED[:] = [(weakref.ref(values), fcode, funiq, member)]
    return fcode, funiq, member


def fold_codes(values: np.ndarray) -> np.ndarray:
    """An integer per distinct :func:`fold_latin` skeleton of ``values`` (``-1`` for none)."""
    return _folded(np.asarray(values, dtype=object))[0]


def equivalent(values: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Whether the names of codes ``ca[i]`` and ``cb[i]`` are one given name.

    Parameters
    ----------
    values : numpy.ndarray of str
        The distinct (transliterated, lower-case) names the codes point into.
    ca, cb : numpy.ndarray of int
        Name codes per pair (``-1`` missing: never equivalent).

    Returns
    -------
    numpy.ndarray of bool
        True where the two spellings fold to one skeleton or share a given-name group.
    """
    ca = np.asarray(ca, dtype=np.int64)
    cb = np.asarray(cb, dtype=np.int64)
    out = np.zeros(len(ca), dtype=bool)
    both = (ca >= 0) & (cb >= 0)
    if not both.any() or len(values) == 0:
        return out
    fcode, funiq, member = _folded(np.asarray(values, dtype=object))
    fa, fb = fcode[np.where(both, ca, 0)], fcode[np.where(both, cb, 0)]
    out = both & (fa >= 0) & (fa == fb)
    todo = np.flatnonzero(both & ~out & (fa >= 0) & (fb >= 0))
    if not len(todo):
        return out
    if member.empty:
        return out
    nf = np.int64(len(funiq))
    pair = distinct(fa[todo].astype(np.int64) * nf + fb[todo])
    left = pd.DataFrame({"pair": pair, "fold": pair // nf}).merge(member, on="fold")
    right = pd.DataFrame({"pair": pair, "fold": pair % nf}).merge(member, on="fold")
    shared = left[["pair", "group"]].merge(right[["pair", "group"]], on=["pair", "group"])
    hit = np.isin(fa[todo].astype(np.int64) * nf + fb[todo], shared["pair"].unique())
    out[todo[hit]] = True
    return out
