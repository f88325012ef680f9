"""The personalisation context of each message: what a template may say about its recipient (C4).

:func:`build_contexts` turns one row per message (the audience, with the profile columns) into
the frame :func:`campaigns.batch.render_messages` renders, column by column:

- ``first_name``: the given name, correctly cased (``иван`` → ``Иван``, ``анна-мария`` →
  ``Анна-Мария``; a deliberate mixed case such as ``DeShawn`` is kept), or missing when the
  slot is empty, not a name (digits, one letter, ``aaaa``) or the surname itself (``Иванов
  Иван`` keeps ``Иван``): a missing name gets the fallback greeting, never a surname or a
  ``None``. The surname (``last_name``) is not in the context at all.
- ``middle_name``: the patronymic, cased, for the formal Russian address ("Иван Петрович").
- ``greeting``: ``"Здравствуйте, Иван!"`` / ``"Hello Jane,"``, or ``"Добрый день!"`` /
  ``"Hello,"`` without a usable name.
- ``language`` (``ru``/``en``, the default where missing or unknown), ``locale`` (babel's
  ``ru_RU``/``en_US``), ``currency`` and ``timezone``.
- ``promo_code``: the recipient's own code, from a ``customer_id``/``promo_code`` frame.

Every other column of the input (points, tier, product picks…) is carried over as it is.
The names arrive cleaned by ``crm.hygiene`` in the golden record (D5: casing, fakes, a surname
swapped out of the first-name slot); what is here is the safety net a greeting needs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm.columns import CUSTOMER_ID, FIRST_NAME, GENDER, LANGUAGE, LAST_NAME, MIDDLE_NAME

__all__ = [
    "CONTEXT_COLUMNS",
    "FALLBACK_GREETINGS",
    "LANGUAGES",
    "LOCALES",
    "build_contexts",
    "sample_context",
]

#: The languages templates are written in, and babel's locale for each.
LOCALES = {"ru": "ru_RU", "en": "en_US"}
LANGUAGES = tuple(LOCALES)
#: The greeting when the given name is missing or unusable.
FALLBACK_GREETINGS = {"ru": "Добрый день!", "en": "Hello,"}
_GREETINGS = {"ru": ("Здравствуйте, ", "!"), "en": ("Hello ", ",")}
_CURRENCIES = {"ru": "RUB", "en": "RUB"}

#: The columns every context has (besides those carried over from the input).
CONTEXT_COLUMNS = (
    CUSTOMER_ID,
    FIRST_NAME,
    MIDDLE_NAME,
    GENDER,
    "greeting",
    LANGUAGE,
    "locale",
    "currency",
    "timezone",
    "promo_code",
)


def _recase(text: pd.Series) -> pd.Series:
    """``иван`` / ``ИВАН`` → ``Иван``, ``анна-мария`` → ``Анна-Мария``; mixed case as written."""
    one_case = (text == text.str.lower()) | (text == text.str.upper())
    return text.where(~one_case.fillna(False).astype(bool), text.str.title())


def _clean_given(first: pd.Series, last: pd.Series) -> pd.Series:
    """The usable given name of each row, cased, or missing."""
    text = first.astype("str").str.strip()
    text = text.mask(text == "")
    surname = last.astype("str").str.strip().str.casefold()
    # "Иванов Иван" in the first-name slot: keep the first word that is not the surname
    words = text.str.split()
    several = words.map(lambda ws: isinstance(ws, list) and len(ws) > 1).to_numpy(dtype=bool)
    if several.any():
        picked = [
            next((w for w in ws if w.casefold() != s), None)
            for ws, s in zip(words[several], surname[several].fillna(""), strict=True)
        ]
        text = text.copy()
        text[several] = pd.Series(picked, index=text.index[several], dtype=object)
    cased = _recase(text)
    letters = cased.str.replace(r"[-' ]", "", regex=True)
    unusable = (
        cased.isna()
        | ~cased.str.fullmatch(r"[^\W\d_]+(?:[-' ][^\W\d_]+)*").fillna(False).astype(bool)
        | (letters.str.len().fillna(0) < 2)
        | letters.str.casefold().str.fullmatch(r"(.)\1*").fillna(False).astype(bool)
        | (cased.str.casefold() == surname).fillna(False).astype(bool)
    )
    return cased.mask(unusable)


def _people(people: pd.DataFrame, default_language: str) -> pd.DataFrame:
    """Language, locale, given name, patronymic, gender and greeting of each distinct person."""
    language = people[LANGUAGE].astype("str").str.strip().str.lower().str[:2]
    language = language.where(language.isin(LANGUAGES), default_language).astype(object)
    given = _clean_given(people[FIRST_NAME], people[LAST_NAME])
    middle = _recase(people[MIDDLE_NAME].astype("str").str.strip())
    gender = people[GENDER].astype("str").str.strip().str.lower().str[:1]
    out = pd.DataFrame(index=people.index)
    out[LANGUAGE] = language
    out["locale"] = language.map(LOCALES).astype(object)
    out[FIRST_NAME] = given.astype(object).where(given.notna(), None)
    out[MIDDLE_NAME] = middle.astype(object).where(middle.notna() & given.notna(), None)
    genders = gender.to_numpy(dtype=object).copy()
    genders[~gender.isin(["m", "f"]).to_numpy()] = None
    out[GENDER] = pd.Series(genders, index=people.index, dtype=object)
    greeting = np.full(len(people), None, dtype=object)
    for lang, (before, after) in _GREETINGS.items():
        mine = (language == lang).to_numpy()
        named = mine & given.notna().to_numpy()
        greeting[mine] = FALLBACK_GREETINGS[lang]
        greeting[named] = before + given[named].to_numpy(dtype=object) + after
    out["greeting"] = pd.Series(greeting, index=people.index, dtype=object)
    return out


def build_contexts(
    recipients: pd.DataFrame,
    *,
    promo_codes: pd.DataFrame | None = None,
    default_language: str = "ru",
    default_currency: str | None = None,
    default_timezone: str = "Europe/Moscow",
) -> pd.DataFrame:
    """One personalisation context per message.

    Parameters
    ----------
    recipients : DataFrame
        One row per message with ``customer_id`` and the profile's ``first_name``,
        ``last_name``, ``middle_name``, ``gender``, ``language``, ``timezone`` (missing
        columns count as empty), plus anything the templates use (``message_key``,
        ``channel``, ``address``, points…), which is carried over.
    promo_codes : DataFrame, optional
        ``customer_id`` and ``promo_code``: each recipient's own code (missing where absent).
    default_language : str
        For recipients without a known language (``"ru"`` or ``"en"``).
    default_currency : str, optional
        Where the input has no ``currency`` column (default: RUB).
    default_timezone : str
        Where the profile has no time zone.

    Returns
    -------
    DataFrame
        On the index of ``recipients``, with :data:`CONTEXT_COLUMNS` and the carried-over
        columns; no ``last_name``.

    Examples
    --------
    >>> frame = pd.DataFrame({"customer_id": [1, 2], "first_name": ["иван", None],
    ...                       "language": ["ru", "en"]})
    >>> build_contexts(frame)["greeting"].tolist()
    ['Здравствуйте, Иван!', 'Hello,']
    """
    if default_language not in LOCALES:
        raise ValueError(f"default_language={default_language!r}: expected one of {LANGUAGES}")
    if CUSTOMER_ID not in recipients.columns:
        raise KeyError(f"recipients need a {CUSTOMER_ID!r} column")
    n = len(recipients)
    empty = pd.Series([None] * n, index=recipients.index, dtype="object")

    def column(name: str) -> pd.Series:
        return recipients[name] if name in recipients.columns else empty

    out = recipients.drop(columns=[LAST_NAME], errors="ignore").copy()
    if "currency" not in out.columns:
        out["currency"] = default_currency or _CURRENCIES[default_language]
    out["timezone"] = column("timezone").fillna(default_timezone)

    # names repeat: clean each distinct (name, surname, patronymic, gender, language) once
    person_columns = (FIRST_NAME, LAST_NAME, MIDDLE_NAME, GENDER, LANGUAGE)
    codes = np.zeros(n, dtype=np.int64)
    for name in person_columns:
        # factorised as stored (Arrow strings stay Arrow): no Python object per row
        part, _ = pd.factorize(column(name), use_na_sentinel=False)
        codes, _ = pd.factorize(codes * (int(part.max(initial=0)) + 1) + part)
    _, first_rows = np.unique(codes, return_index=True)
    people = pd.DataFrame(
        {name: column(name).iloc[first_rows].to_numpy(dtype=object) for name in person_columns}
    )
    cleaned = _people(people, default_language)
    for name in cleaned.columns:
        out[name] = pd.Series(
            cleaned[name].to_numpy(dtype=object)[codes], index=out.index, dtype=object
        )

    if promo_codes is not None:
        by_customer = promo_codes.drop_duplicates(CUSTOMER_ID, keep="last").set_index(CUSTOMER_ID)
        picked = recipients[CUSTOMER_ID].map(by_customer["promo_code"])
        out["promo_code"] = picked.astype(object).where(picked.notna(), None)
    elif "promo_code" not in out.columns:
        out["promo_code"] = None
    first = [c for c in CONTEXT_COLUMNS if c in out.columns]
    return out[first + [c for c in out.columns if c not in first]]


def sample_context(language: str = "ru") -> dict[str, object]:
    """A made-up recipient for checking templates: every context column filled in.

    Parameters
    ----------
    language : {"ru", "en"}

    Returns
    -------
    dict
        Column name → value, as one row of :func:`build_contexts`' frame.
    """
    samples: dict[str, dict[str, str | None]] = {
        "ru": {FIRST_NAME: "Анна", MIDDLE_NAME: "Сергеевна", GENDER: "f"},
        "en": {FIRST_NAME: "Jane", MIDDLE_NAME: None, GENDER: "f"},
    }
    sample = samples[language]
    before, after = _GREETINGS[language]
    return {
        CUSTOMER_ID: 1,
        **sample,
        "greeting": f"{before}{sample[FIRST_NAME]}{after}",
        LANGUAGE: language,
        "locale": LOCALES[language],
        "currency": "RUB",
        "timezone": "Europe/Moscow",
        "promo_code": "SAMPLE-0001",
    }
