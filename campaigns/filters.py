"""The project's template filters: money, numbers and dates via babel, plural forms, declension.

Registered in the one sandboxed environment (:func:`campaigns.sandbox.environment`):

- ``money`` / ``number``: babel's currency and decimal formats in the recipient's locale
  (``1 500,00 ₽`` for ``ru_RU``, ``RUB1,500.00`` for ``en_US``);
- ``date`` / ``datetime``: babel's date formats in the recipient's locale and time zone;
- ``plural``: the CLDR plural category of a number in the recipient's language,
  ``{{ n }} {{ n|plural("балл", "балла", "баллов") }}`` (Russian one/few/many: 1 балл,
  2 балла, 5 баллов, 21 балл) and ``n|plural("point", "points")`` (English one/other);
- ``declension``: a Russian given name, patronymic or surname in another case with the
  ``petrovich`` package (``"Иван"|declension("dative", "m")`` → ``Ивану``), falling back to
  the name as written (nominative) whenever the form is not certain: a name not in Cyrillic,
  an unknown gender on which the forms disagree, anything petrovich cannot decline.

Every formatting and declension is cached per distinct value (``lru_cache``): a million
messages carry a few hundred distinct names, amounts and dates.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import pandas as pd
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import pass_context
from jinja2.runtime import Context

from campaigns.context import LOCALES

__all__ = ["FILTERS", "declension", "plural"]

_CASES = {
    "genitive": 0,
    "dative": 1,
    "accusative": 2,
    "instrumental": 3,
    "prepositional": 4,
    "родительный": 0,
    "дательный": 1,
    "винительный": 2,
    "творительный": 3,
    "предложный": 4,
}
_PARTS = ("first", "middle", "last")
_GENDERS = {"m": "male", "male": "male", "м": "male", "f": "female", "female": "female"}
_GENDERS["ж"] = "female"


@functools.cache
def _petrovich() -> Any:
    from petrovich.main import Petrovich  # loads its rules file once

    return Petrovich()


def _cyrillic_name(name: str) -> bool:
    parts = name.split("-")
    return all(p and all("а" <= c.lower() <= "я" or c in "ёЁ" for c in p) for p in parts)


@functools.lru_cache(maxsize=65_536)
def declension(name: Any, case: str, gender: Any = None, part: str = "first") -> Any:
    """A Russian name in ``case``, or the name as written when the form is not certain.

    Parameters
    ----------
    name : str
        The name in the nominative (``"Анна-Мария"``); anything else is returned as it is.
    case : str
        ``"genitive"``, ``"dative"``, ``"accusative"``, ``"instrumental"``,
        ``"prepositional"`` (or the Russian names of the cases).
    gender : {"m", "f"}, optional
        The person's gender; without it a name is declined only where the male and the
        female rules agree.
    part : {"first", "middle", "last"}
        Given name, patronymic or surname.

    Returns
    -------
    str
        The declined name, or ``name`` unchanged (never a guessed form).

    Examples
    --------
    >>> declension("Иван", "dative", "m"), declension("Анна", "genitive", "f")
    ('Ивану', 'Анны')
    >>> declension("John", "dative", "m")
    'John'
    """
    if case not in _CASES:
        raise ValueError(f"declension case {case!r}: expected one of {sorted(_CASES)[:5]}")
    if part not in _PARTS:
        raise ValueError(f"declension part {part!r}: expected one of {_PARTS}")
    if not isinstance(name, str) or not _cyrillic_name(name.strip()):
        return name
    word = name.strip()
    decline = getattr(
        _petrovich(), {"first": "firstname", "middle": "middlename"}.get(part, "lastname")
    )
    sex = _GENDERS.get(str(gender).strip().lower()) if gender is not None else None
    try:
        if sex is None:
            forms = {decline(word, _CASES[case], g) for g in ("male", "female")}
            if len(forms) != 1:
                return name
            result = forms.pop()
        else:
            result = decline(word, _CASES[case], sex)
    except (ValueError, KeyError, IndexError):
        return name
    if not result or result.count("-") != word.count("-") or not _cyrillic_name(result):
        return name
    return result


_PLURAL_ORDER = ("zero", "one", "two", "few", "many", "other")


@functools.lru_cache(maxsize=64)
def _plural_rule(locale: str) -> tuple[Callable[[float], str], tuple[str, ...]]:
    rule = Locale.parse(locale).plural_form
    return rule, tuple(t for t in _PLURAL_ORDER if t in rule.tags or t == "other")


@functools.lru_cache(maxsize=65_536)
def _plural_word(locale: str, n: float, forms: tuple[str, ...]) -> str:
    rule, categories = _plural_rule(locale)
    category = rule(n)
    named = dict(zip(categories, forms, strict=False))
    if category in named:
        return named[category]
    # Russian with three forms: fractions ("1,5 балла") take the few form
    return named.get("few", forms[-1])


def plural(locale: str, n: Any, *forms: str) -> str:
    """The form of a word that goes with ``n`` in ``locale``.

    Forms are given in CLDR order for the language: Russian ``one, few, many`` (``other``
    optional), English ``one, other``.

    Examples
    --------
    >>> [plural("ru_RU", n, "балл", "балла", "баллов") for n in (1, 2, 5, 21)]
    ['балл', 'балла', 'баллов', 'балл']
    >>> [plural("en_US", n, "point", "points") for n in (1, 2)]
    ['point', 'points']
    """
    if not forms:
        raise ValueError("plural needs the word's forms, e.g. plural('балл', 'балла', 'баллов')")
    number = float(n) if not isinstance(n, int) else n
    return _plural_word(locale, number, tuple(forms))


def _locale(ctx: Context) -> str:
    value = ctx.vars.get("locale") or ctx.get("locale")
    return value if isinstance(value, str) else LOCALES["ru"]


@pass_context
def _plural_filter(ctx: Context, n: Any, *forms: str) -> str:
    return plural(_locale(ctx), n, *forms)


@functools.lru_cache(maxsize=65_536)
def _money(value: float, currency: str, locale: str) -> str:
    return format_currency(value, currency, locale=locale)


@pass_context
def _money_filter(ctx: Context, value: Any, currency: str | None = None) -> str:
    code = currency or ctx.get("currency") or "RUB"
    return _money(float(value), str(code), _locale(ctx))


@functools.lru_cache(maxsize=65_536)
def _number(value: float, locale: str) -> str:
    return format_decimal(value, locale=locale)


@pass_context
def _number_filter(ctx: Context, value: Any) -> str:
    return _number(value, _locale(ctx))


def _as_date(value: Any, tz: str | None) -> dt.date:
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, dt.datetime):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None and tz:
            stamp = stamp.tz_convert(tz)
        return stamp.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"date filter: {value!r} is not a date")


@functools.lru_cache(maxsize=65_536)
def _date(value: Any, fmt: str, locale: str, tz: str | None) -> str:
    return format_date(_as_date(value, tz), fmt, locale=locale)


@pass_context
def _date_filter(ctx: Context, value: Any, fmt: str = "long") -> str:
    tz = ctx.get("timezone")
    return _date(value, fmt, _locale(ctx), tz if isinstance(tz, str) else None)


@pass_context
def _datetime_filter(ctx: Context, value: Any, fmt: str = "medium") -> str:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    tz = ctx.get("timezone")
    zone = stamp.tz_convert(tz).tzinfo if isinstance(tz, str) else stamp.tzinfo
    return format_datetime(stamp.to_pydatetime(), fmt, tzinfo=zone, locale=_locale(ctx))


def _declension_filter(name: Any, case: str, gender: Any = None, part: str = "first") -> Any:
    return declension(name, case, gender, part)


#: The filters the environment registers, by the name a template uses.
FILTERS: dict[str, Callable[..., Any]] = {
    "money": _money_filter,
    "number": _number_filter,
    "date": _date_filter,
    "datetime": _datetime_filter,
    "plural": _plural_filter,
    "declension": _declension_filter,
}
