"""Phones to E.164 (D5): one number in many spellings, reasons for bad ones, the type kept."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.hygiene.phones import PHONE_REASONS, normalise_phones, phone_key


def test_russian_spellings_become_one_e164_number() -> None:
    raw = pd.Series(
        ["8 (916) 123-45-67", "+7 916 1234567", "9161234567", "79161234567", "8-916-123-45-67"]
    )
    out = normalise_phones(raw, default_region="RU")
    assert out["normalized"].tolist() == ["+79161234567"] * 5
    assert out["is_valid"].tolist() == [True] * 5
    assert out["phone_type"].tolist() == ["mobile"] * 5
    assert out["region"].tolist() == ["RU"] * 5


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12345", "too_short"),
        ("8 (800)", "too_short"),
        ("+7 000 000-00-00", "invalid_number"),
        ("тел. нет", "not_a_number"),
        ("phone: none", "not_a_number"),
        ("+7 916 123 45 67 89 01 23", "too_long"),
    ],
)
def test_impossible_numbers_are_flagged_with_the_reason(raw: str, reason: str) -> None:
    out = normalise_phones(pd.Series([raw]), default_region="RU")
    assert out.loc[0, "is_valid"] is False or not out.loc[0, "is_valid"]
    assert out.loc[0, "invalid_reason"] == reason
    assert reason in PHONE_REASONS


def test_type_tells_mobile_from_fixed_and_foreign_numbers_keep_their_country() -> None:
    raw = pd.Series(["8 495 123-45-67", "8-800-555-35-35", "+44 20 7946 0958", "+1 212 555 0123"])
    out = normalise_phones(raw, default_region="RU")
    assert out["normalized"].tolist() == [
        "+74951234567",
        "+78005553535",
        "+442079460958",
        "+12125550123",
    ]
    assert out["phone_type"].tolist() == ["fixed", "toll_free", "fixed", "fixed_or_mobile"]
    assert out["region"].tolist() == ["RU", "RU", "GB", "US"]


def test_default_region_decides_numbers_written_without_country_code() -> None:
    out = normalise_phones(pd.Series(["020 7946 0958", "07911 123456"]), default_region="GB")
    assert out["normalized"].tolist() == ["+442079460958", "+447911123456"]
    assert out["phone_type"].tolist() == ["fixed", "mobile"]


def test_missing_values_stay_missing_and_keep_the_index() -> None:
    raw = pd.Series([None, "", "8 916 123 45 67"], index=[10, 20, 30])
    out = normalise_phones(raw)
    assert list(out.index) == [10, 20, 30]
    assert out["normalized"].isna().tolist() == [True, True, False]
    assert out["is_valid"].isna().tolist() == [True, True, False]
    assert out["invalid_reason"].isna().all()


def test_phone_key_keeps_only_valid_numbers() -> None:
    key = phone_key(pd.Series(["+7 (916) 123-45-67", "+7 000 000-00-00", None]))
    assert key.tolist()[0] == "+79161234567"
    assert key.isna().tolist() == [False, True, True]


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"9[0-9]{9}", fullmatch=True), st.sampled_from(["8 ", "+7 ", "7", ""]))
def test_any_spelling_of_a_russian_mobile_gives_the_same_key(digits: str, prefix: str) -> None:
    spaced = f"{prefix}({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    out = normalise_phones(pd.Series([prefix + digits, spaced]), default_region="RU")
    assert out["normalized"].nunique(dropna=False) == 1
    assert out["normalized"].iloc[0] == "+7" + digits


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["RU", "GB", "US", "DE", "KZ"]),
    st.sampled_from(["+7", "8", "", "7", "+44", "0", "+1", "1", "+49", "810"]),
    st.from_regex(r"[0-9]{6,12}", fullmatch=True),
)
def test_the_fast_path_agrees_with_the_parser(region: str, prefix: str, digits: str) -> None:
    from crm.hygiene.phones import _parse

    raw = prefix + digits
    ours = normalise_phones(pd.Series([raw]), default_region=region).iloc[0]
    ref = _parse(raw, region)
    got = tuple(None if pd.isna(v) else v for v in ours.tolist())
    assert got == ref, (raw, region)


def test_plain_russian_numbers_do_not_need_the_parser() -> None:
    from crm.hygiene.phones import _parse

    _parse.cache_clear()
    raw = pd.Series(["+7 926 000-11-22", "8 (926) 000-11-23", "9260001124", "8 495 000-11-25"])
    out = normalise_phones(raw, default_region="RU")
    assert out["phone_type"].tolist() == ["mobile", "mobile", "mobile", "fixed"]
    assert _parse.cache_info().misses == 0
