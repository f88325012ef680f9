"""Phone numbers to E.164 with ``phonenumbers`` (D5).

``8 (916) 123-45-67``, ``+7 916 1234567`` and ``9161234567`` (default region RU) all become
``+79161234567``. Numbers that cannot be a phone number are flagged with the reason; the
number type (mobile, fixed…) is kept because SMS goes only to mobiles.

Each distinct raw value is classified once (after a vectorised clean-up of spaces, dashes,
brackets and dots, which makes many spellings of one number the same string). The plain
spellings of the default region's valid numbers (``+7…``, ``8…``, ten bare digits) are
settled without the parser, by phonenumbers' own metadata patterns applied to the whole
column at once; the rest (foreign numbers, anything invalid) is parsed value by value.

Example
-------
>>> normalise_phones(pd.Series(["8 (916) 123-45-67", "12345"]), default_region="RU")
     normalized  is_valid invalid_reason phone_type region
0  +79161234567      True           <NA>     mobile     RU
1          <NA>     False      too_short       <NA>   <NA>
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import ValidationResult as VR
from phonenumbers.phonemetadata import PhoneMetadata

from crm.hygiene._common import to_text

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
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    table = _classify(pd.Series(uniques, dtype="str"), region)
    table.loc[len(table)] = [None, None, None, None, None]  # where missing values (code -1) point
    idx = np.where(codes < 0, len(table) - 1, codes)
    out = table.iloc[idx].set_index(values.index)
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


def _classify(uniques: pd.Series, region: str) -> pd.DataFrame:
    """Classify distinct cleaned values: the fast path where it is exact, the parser elsewhere."""
    out = pd.DataFrame(
        {col: pd.Series([None] * len(uniques), dtype=object) for col in PHONE_COLUMNS}
    )
    done = np.zeros(len(uniques), dtype=bool)

    def settle(rows: np.ndarray, reg: str, international_only: bool) -> None:
        fast = _fast_path(uniques.iloc[rows].reset_index(drop=True), reg, international_only)
        if fast is None:
            return
        nsn, kind, cc = fast
        hit = kind.notna().to_numpy()
        at = rows[hit]
        out.loc[at, "normalized"] = ("+" + cc + nsn[hit]).to_numpy()
        out.loc[at, "is_valid"] = True
        out.loc[at, "phone_type"] = kind[hit].to_numpy()
        out.loc[at, "region"] = reg
        done[at] = True

    settle(np.arange(len(uniques)), region, False)
    # "+<cc>…" numbers of other countries: the same rules with that country's main region
    plus = uniques.str.extract(r"^\+(\d{1,3})")[0]
    for cc_text in pd.unique(plus[~done & plus.notna().to_numpy()]):
        cc = next(
            (
                int(cc_text[:k])
                for k in (1, 2, 3)
                if int(cc_text[:k]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
            ),
            None,
        )
        if cc is None:
            continue
        main = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc][0]
        if main == region or main == "001":
            continue
        rows = np.flatnonzero(~done & uniques.str.startswith(f"+{cc}").fillna(False).to_numpy())
        settle(rows, main, True)
    rest = np.flatnonzero(~done)
    if len(rest):  # per distinct value the fast path could not settle
        values = uniques.to_numpy()[rest]
        parsed = [_parse(v, region) for v in values]
        for j, col in enumerate(PHONE_COLUMNS):
            out.loc[rest, col] = pd.Series([p[j] for p in parsed], index=rest, dtype=object)
    return out


@lru_cache(maxsize=64)
def _fast_rules(region: str) -> dict[str, object] | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.general_desc is None:
        return None
    cc = metadata.country_code
    if cc is None:
        return None
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, ())
    simple_prefix = metadata.national_prefix_for_parsing in (None, metadata.national_prefix)
    if (
        not regions
        or regions[0] != region
        or not simple_prefix
        or metadata.national_prefix_transform_rule
    ):
        return None  # another region may claim the numbers first, or parsing rewrites them
    descs = [
        ("premium_rate", metadata.premium_rate),
        ("toll_free", metadata.toll_free),
        ("shared_cost", metadata.shared_cost),
        ("voip", metadata.voip),
        ("personal", metadata.personal_number),
        ("pager", metadata.pager),
        ("uan", metadata.uan),
        ("voicemail", metadata.voicemail),
    ]
    return {
        "cc": str(cc),
        "np": metadata.national_prefix or "",
        "idd": metadata.international_prefix or "",
        "leading": metadata.leading_digits,
        "general": metadata.general_desc,
        "special": [(name, d) for name, d in descs if _usable(d)],
        "fixed": metadata.fixed_line if _usable(metadata.fixed_line) else None,
        "mobile": metadata.mobile if _usable(metadata.mobile) else None,
        "same": bool(metadata.same_mobile_and_fixed_line_pattern),
    }


def _usable(desc: object) -> bool:
    return desc is not None and bool(getattr(desc, "national_number_pattern", None))


def _matches(nsn: pd.Series, desc: object) -> pd.Series:
    """phonenumbers' ``_is_number_matching_desc``, vectorised: length allowed and pattern matched."""
    lengths = tuple(getattr(desc, "possible_length", ()) or ())
    ok = nsn.str.fullmatch(f"(?:{desc.national_number_pattern})").fillna(False).astype(bool)  # type: ignore[attr-defined]
    if lengths:
        ok &= nsn.str.len().isin(lengths).fillna(False).astype(bool)
    return ok


def _fast_path(
    uniques: pd.Series, region: str, international_only: bool = False
) -> tuple[pd.Series, pd.Series, str] | None:
    """E.164 and type of the plain spellings of the default region's numbers, without parsing.

    Exactly phonenumbers' own rules for the inputs it takes: ``+<cc><nsn>``,
    ``<national prefix><nsn>`` and a bare ``<nsn>`` whose length the region allows, where
    the region is the first of its calling code and either its leading digits match or the
    number has a type. Everything else (and every invalid number) goes to the parser.
    """
    rules = _fast_rules(region)
    if rules is None or not len(uniques):
        return None
    cc, np_, idd = str(rules["cc"]), str(rules["np"]), str(rules["idd"])
    general = rules["general"]
    lengths = tuple(general.possible_length or ())  # type: ignore[attr-defined]
    nsn = uniques.str.extract(rf"^\+{cc}(\d+)$")[0]
    if np_ and not international_only:
        national = uniques.str.extract(rf"^{np_}(\d+)$")[0]
        national = national.where(~uniques.str.match(f"(?:{idd})").fillna(True).astype(bool))
        nsn = nsn.fillna(national.where(national.str.len().isin(lengths)))
    bare = uniques.where(
        uniques.str.fullmatch(r"\d+").fillna(False).astype(bool) & (not international_only)
    )
    bare = bare.where(bare.str.len().isin(lengths))
    bare = bare.where(~bare.str.startswith(cc).fillna(True).astype(bool))
    if np_:
        bare = bare.where(~bare.str.startswith(np_).fillna(True).astype(bool))
    if idd:
        bare = bare.where(~bare.str.match(f"(?:{idd})").fillna(True).astype(bool))
    nsn = nsn.fillna(bare).astype("str")
    if np_:  # phonenumbers may strip a national prefix inside the number: leave those to it
        nsn = nsn.where(~nsn.str.startswith(np_).fillna(True).astype(bool))
    kind = pd.Series([None] * len(nsn), dtype=object)
    undecided = _matches(nsn, general)
    for name, desc in rules["special"]:  # type: ignore[attr-defined]
        hit = undecided & _matches(nsn, desc)
        kind[hit] = name
        undecided &= ~hit
    fixed, mobile = rules["fixed"], rules["mobile"]
    is_fixed = _matches(nsn, fixed) & undecided if fixed is not None else undecided & False
    is_mobile = _matches(nsn, mobile) & undecided if mobile is not None else undecided & False
    both = is_fixed & (is_mobile | bool(rules["same"]))
    kind[both] = "fixed_or_mobile"
    kind[is_fixed & ~both] = "fixed"
    if not rules["same"]:
        kind[is_mobile & ~is_fixed] = "mobile"
    leading = rules["leading"]
    if leading is not None:  # the region claims numbers by their leading digits
        claimed = nsn.str.match(f"(?:{leading})").fillna(False).astype(bool)
        kind = kind.where(claimed)
    return nsn, kind.astype(object).where(kind.notna(), None), cc


def phone_key(values: pd.Series, default_region: str = "RU") -> pd.Series:
    """The E.164 form of each valid number, missing otherwise: the key duplicates are matched on."""
    out = normalise_phones(values, default_region)
    return out["normalized"].where(out["is_valid"].fillna(False).astype(bool))
