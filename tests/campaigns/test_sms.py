"""SMS encoding and segment counts at every boundary of TS 23.038 / 23.040."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    cost_estimate,
    segment_count,
    segment_counts,
    segment_warnings,
)

EMOJI = "\U0001f600"  # 😀, two UTF-16 code units


def test_alphabet_sizes_match_the_standard() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes less the escape
    assert len(set(GSM7_BASIC)) == 127
    assert len(GSM7_EXTENSION) == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 1)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),  # 2 x 153
        ("a" * 307, ("GSM-7", 3)),
        ("a" * 459, ("GSM-7", 3)),
        ("a" * 460, ("GSM-7", 4)),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", ("GSM-7", 1)),
    ],
)
def test_gsm7_single_and_multipart_limits(text: str, expected: tuple[str, int]) -> None:
    assert segment_count(text) == expected


def test_extension_characters_count_two_septets() -> None:
    assert segment_count("€" * 80) == ("GSM-7", 1)  # 160 septets
    assert segment_count("€" * 80 + "a") == ("GSM-7", 2)  # 161 septets
    assert segment_count("a" * 159 + "[") == ("GSM-7", 2)  # 161 septets
    assert segment_count("a" * 158 + "{") == ("GSM-7", 1)  # 160 septets
    for ch in GSM7_EXTENSION:
        assert segment_counts([ch])["sms_units"].iat[0] == 2


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # 152 plain + "€" would be septets 153-154: the pair moves whole to part 2
    text = "a" * 152 + "€" + "a" * 152  # 306 septets: 2 x 153 only if the pair were split
    assert segment_counts([text])["sms_units"].iat[0] == 306
    assert segment_count(text) == ("GSM-7", 3)
    # the same length with the pair inside part 1 fits in two parts
    assert segment_count("€" + "a" * 304) == ("GSM-7", 2)
    # one septet shorter, the moved pair still fits: 152 | 2 + 151
    assert segment_count("a" * 152 + "€" + "a" * 151) == ("GSM-7", 2)


def test_a_non_gsm_character_switches_to_ucs2() -> None:
    assert segment_count("a" * 50 + "ç") == ("UCS-2", 1)  # lower-case c cedilla is not GSM-7
    assert segment_count("Привет") == ("UCS-2", 1)
    assert segment_count("Hello`") == ("UCS-2", 1)  # backtick is not in the alphabet


@pytest.mark.parametrize(
    ("n", "segments"),
    [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_limits_in_cyrillic(n: int, segments: int) -> None:
    assert segment_count("ж" * n) == ("UCS-2", segments)


def test_an_emoji_takes_two_code_units() -> None:
    assert segment_count(EMOJI * 35) == ("UCS-2", 1)  # 70 units
    assert segment_count(EMOJI * 35 + "a") == ("UCS-2", 2)  # 71 units
    assert segment_counts([EMOJI])["sms_units"].iat[0] == 2


def test_a_surrogate_pair_is_never_split_across_parts() -> None:
    text = "ж" * 66 + EMOJI + "ж" * 66  # 134 units: 2 x 67 only if the pair were split
    assert segment_counts([text])["sms_units"].iat[0] == 134
    assert segment_count(text) == ("UCS-2", 3)
    assert segment_count(EMOJI + "ж" * 132) == ("UCS-2", 2)


def test_many_texts_keep_their_index_and_match_one_by_one() -> None:
    texts = pd.Series(["hi", "ж" * 71, "a" * 152 + "€" + "a" * 152, EMOJI], index=[10, 11, 12, 13])
    frame = segment_counts(texts)
    assert frame.index.tolist() == [10, 11, 12, 13]
    assert list(zip(frame["sms_encoding"], frame["sms_segments"], strict=True)) == [
        segment_count(t) for t in texts
    ]


def test_cost_estimate_per_segment_count() -> None:
    table = cost_estimate(pd.Series([1, 1, 2, 3]), 2.0)
    assert table.loc[1].tolist() == [2, 2, 4.0]
    assert table.loc[2].tolist() == [1, 2, 4.0]
    assert table.loc[3].tolist() == [1, 3, 6.0]
    assert table.loc["total"].tolist() == [4, 7, 14.0]


def test_warning_when_cyrillic_makes_three_segments() -> None:
    counts = segment_counts(["ж" * 134, "ж" * 135, "a" * 400])
    assert counts["long_cyrillic"].tolist() == [False, True, False]
    (warning,) = segment_warnings(counts)
    assert warning.startswith("1 SMS in Cyrillic (UCS-2) take 3 or more segments (up to 3)")
    assert segment_warnings(segment_counts(["ж" * 134])) == []


ALPHABET = st.sampled_from(["a", "€", "[", "ж", EMOJI, " ", "\n", "é", "ç"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(ALPHABET, max_size=400).map("".join), min_size=1, max_size=5))
def test_one_by_one_and_column_counts_agree(texts: list[str]) -> None:
    frame = segment_counts(texts)
    assert list(zip(frame["sms_encoding"], frame["sms_segments"], strict=True)) == [
        segment_count(t) for t in texts
    ]
