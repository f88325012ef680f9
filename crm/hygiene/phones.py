"""Phone numbers to E.164 with ``phonenumbers`` (D5).

``8 (916) 123-45-67``, ``+7 916 1234567`` and ``9161234567`` (default region RU) all become
``+79161234567``. Numbers that cannot be a phone number are flagged with the reason; the
number type (mobile, fixed…) is kept because SMS goes only to mobiles.

Each distinct raw value is parsed once (after a vectorised clean-up of spaces, dashes,
brackets and dots, which makes many spellings of one number the same string).

Example
-------
>>> normalise_phones(pd.Series(["8 (916) 123-45-67", "12345"]), default_region="RU")
     normalized  is_valid invalid_reason phone_type region
0  +79161234567      True           <NA>     mobile     RU
1          <NA>     False      too_short       <NA>   <NA>
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import ValidationResult as VR

from crm.hygiene._common import map_distinct, to_text

__all__ = [
    "PHONE_COLUMNS",
    "PHONE_REASONS",
    "SMS_TYPES",
    "normalise_phones",
    "phone_key",
]

#: Columns returned by :func:`normalise_phones`.
PHONE_COLUMNS = ("normalized", "is_valid", "invalid_reason", "phone_type", "region")

#: Why a phone is invalid (``invalid_reason``).
PHONE_REASONS = {
    "not_a_number": "no phone number in the text",
    "too_short": "too few digits for a phone number",
    "too_long": "too many digits for a phone number",
    "invalid_length": "a length no number of this country has",
    "invalid_country_code": "unknown country code",
    "local_only": "a local number without area code",
    "invalid_number": "right length, but no such number range exists",
}

#: Phone types that take SMS (``fixed_or_mobile`` is how NANP numbers are typed).
SMS_TYPES = ("mobile", "fixed_or_mobile")

_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
_POSSIBLE = {
    VR.TOO_SHORT: "too_short",
    VR.TOO_LONG: "too_long",
    VR.INVALID_LENGTH: "invalid_length",
    VR.INVALID_COUNTRY_CODE: "invalid_country_code",
    VR.IS_POSSIBLE_LOCAL_ONLY: "local_only",
}
_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}


@lru_cache(maxsize=200_000)
def _parse(raw: str, region: str) -> tuple[str | None, bool, str | None, str | None, str | None]:
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException as exc:
        return None, False, _PARSE_ERRORS.get(exc.error_type, "not_a_number"), None, None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (VR.IS_POSSIBLE,):
        return None, False, _POSSIBLE.get(possible, "invalid_number"), None, None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        return e164, False, "invalid_number", None, None
    kind = _TYPES.get(phonenumbers.number_type(number), "unknown")
    return e164, True, None, kind, phonenumbers.region_code_for_number(number)


def _clean(values: pd.Series) -> pd.Series:
    # separators only: letters stay, so "доб. 123" (extension) and "тел. нет" still parse as written
    return values.str.replace(r"[\s\-\(\)\.\u00a0\u2010-\u2015/]+", "", regex=True).mask(
        lambda s: s == ""
    )


def normalise_phones(values: pd.Series, default_region: str = "RU") -> pd.DataFrame:
    """Normalise phone numbers to E.164 and classify them.

    Parameters
    ----------
    values : pandas.Series
        Raw phone numbers as entered (any format; missing values allowed).
    default_region : str
        ISO country whose numbers may be written without ``+code`` (settings ``default_region``).

    Returns
    -------
    pandas.DataFrame
        Same index as ``values``, with columns

        - ``normalized``: E.164 (``+79161234567``); missing when the text is no possible number;
        - ``is_valid``: the number exists in the numbering plan (missing for a missing value);
        - ``invalid_reason``: a key of :data:`PHONE_REASONS`, missing when valid;
        - ``phone_type``: ``mobile``, ``fixed``, ``fixed_or_mobile``, ``toll_free``…;
        - ``region``: the number's country (``RU``, ``KZ``, ``GB``…).
    """
    text = _clean(to_text(values))
    region = default_region.upper()
    out = map_distinct(text, lambda raw: _parse(raw, region), PHONE_COLUMNS)
    present = text.notna()
    return pd.DataFrame(
        {
            "normalized": out["normalized"].astype("str"),
            "is_valid": out["is_valid"].astype("boolean").mask(~present),
            "invalid_reason": out["invalid_reason"].astype("str"),
            "phone_type": out["phone_type"].astype("str"),
            "region": out["region"].astype("str"),
        },
        index=values.index,
    )


def phone_key(values: pd.Series, default_region: str = "RU") -> pd.Series:
    """The E.164 form of each valid number, missing otherwise: the key duplicates are matched on."""
    out = normalise_phones(values, default_region)
    return out["normalized"].where(out["is_valid"].fillna(False).astype(bool))
