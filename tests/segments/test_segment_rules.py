"""Tests of segments.rules: parsing with lines, validation, evaluation, preview, changes."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segments.errors import InvalidParameterError, SegmentDefinitionError, SegmentsError
from segments.rfm import SEGMENTS
from segments.rules import (
    Condition,
    FieldSpec,
    Group,
    PreparedProfiles,
    SegmentDefinition,
    evaluate,
    evaluate_many,
    load_segments,
    membership_changes,
    normalize_text,
    preview,
    schema_from_frame,
    validate,
)

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "segments" / "segments.example.yaml"
#: Monday 28 December 2026, noon UTC
AS_OF = dt.datetime(2026, 12, 28, 12, 0, tzinfo=UTC)


def profiles() -> pd.DataFrame:
    """Six customers, every kind of column, a missing value in most."""
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6],
            "city": ["Москва", "москва", "Казань", "Королёв", None, "МОСКВА "],
            "revenue": [60000.0, 10000.0, 50000.0, np.nan, 0.0, 120000.0],
            "orders": [5, 1, 3, 0, 0, 8],
            "rfm_segment": pd.Categorical(
                ["Champions", "New", "Loyal", None, "Lost", "At risk"], categories=SEGMENTS
            ),
            "email_consent": [True, False, True, False, True, False],
            "sms_consent": [False, False, True, True, False, True],
            "job_title": [
                "Генеральный директор",
                "CEO",
                None,
                "Бухгалтер",
                "IT-директор",
                "Sales Director",
            ],
            "tags": [
                ["interest:sport", "floor:low"],
                [],
                ["floor:low", "rooms:1"],
                None,
                ["interest:travel"],
                ["rooms:2", "floor:low", "interest:sport"],
            ],
            "last_order_at": pd.to_datetime(
                [
                    "2026-12-20 00:00",  # 8.5 days before AS_OF
                    "2026-09-30 12:00",  # exactly 89 days before AS_OF
                    "2026-06-01 00:00",
                    None,
                    "2025-01-01 00:00",
                    "2026-12-28 12:00",  # AS_OF itself
                ],
                utc=True,
            ),
            "next_call_at": pd.to_datetime(
                [
                    "2026-12-29 00:00",  # tomorrow
                    "2027-01-05 12:00",  # 8 days ahead
                    "2026-12-27 00:00",  # yesterday
                    None,
                    "2027-02-01 00:00",
                    "2026-12-28 12:00",  # AS_OF itself
                ],
                utc=True,
            ),
            "birth_date": [
                dt.date(1990, 1, 3),
                dt.date(1985, 12, 28),
                dt.date(1992, 2, 29),
                dt.date(1980, 1, 4),
                None,
                dt.date(1975, 12, 27),
            ],
            "is_loyalty_member": [True, True, False, True, False, True],
        }
    )


def segment(where: str, name: str = "s") -> SegmentDefinition:
    text = f"segments:\n  - name: {name}\n    where:\n" + textwrap.indent(
        textwrap.dedent(where).strip("\n"), "      "
    )
    return load_segments(text)[0]


def members(where: str, frame: pd.DataFrame | None = None, as_of: object = AS_OF) -> list[int]:
    frame = profiles() if frame is None else frame
    return sorted(evaluate(segment(where), frame, as_of).tolist())


# ----------------------------------------------------------------------------- parsing
def test_parse_keeps_the_tree_and_every_line() -> None:
    text = textwrap.dedent(
        """\
        segments:
          - name: vip_moscow
            title: "VIP Москва"
            description: Champions in Moscow
            where:
              all:
                - rfm_segment: {in: [Champions, Loyal]}
                - city: Москва
                - revenue:
                    gte: 50000
                    lt: 1000000
                - not: {tags: {has_any: ["interest:sport"]}}
                - any:
                    - email_consent: true
                    - sms_consent: true
        """
    )
    (d,) = load_segments(text)
    assert (d.name, d.title, d.description, d.line) == (
        "vip_moscow",
        "VIP Москва",
        "Champions in Moscow",
        2,
    )
    assert d.where == Group(
        "all",
        (
            Condition("rfm_segment", "in", ("Champions", "Loyal"), 7),
            Condition("city", "eq", "Москва", 8),
            Group(
                "all",
                (Condition("revenue", "gte", 50000, 10), Condition("revenue", "lt", 1000000, 11)),
                9,
            ),
            Group("not", (Condition("tags", "has_any", ("interest:sport",), 12),), 12),
            Group(
                "any",
                (
                    Condition("email_consent", "eq", True, 14),
                    Condition("sms_consent", "eq", True, 15),
                ),
                13,
            ),
        ),
        6,
    )
    assert d.fields == ("rfm_segment", "city", "revenue", "tags", "email_consent", "sms_consent")


def test_shorthands_bare_list_null_and_mapping_of_several_fields() -> None:
    d = segment("city: [Москва, Казань]\nrevenue: null\n")
    assert d.where == Group(
        "all",
        (
            Condition("city", "in", ("Москва", "Казань"), 4),
            Condition("revenue", "is_null", True, 5),
        ),
        4,
    )


def test_load_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("segments:\n  - name: a\n    where: {orders: 1}\n", encoding="utf-8")
    assert load_segments(path)[0].source == str(path)
    assert load_segments(str(path))[0].where == Condition("orders", "eq", 1, 3)


# ---------------------------------------------------------------------------- operators
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # text: stripped, casefolded, NFC, ё = е → 1 "Москва", 2 "москва", 6 "МОСКВА "
        ("city: москва", [1, 2, 6]),
        ("city: МОСКВА", [1, 2, 6]),
        ("city: Королев", [4]),  # "Королёв" written with е
        ("city: {ne: Москва}", [3, 4]),  # 5 has no city: a comparison never matches missing
        ("not: {city: Москва}", [3, 4, 5]),  # not negates the mask: missing included
        ("city: {in: [казань, КОРОЛЁВ]}", [3, 4]),
        ("city: {not_in: [Москва]}", [3, 4]),
        ("city: {is_null: true}", [5]),
        ("city: {not_null: true}", [1, 2, 3, 4, 6]),
        ("city: {is_null: false}", [1, 2, 3, 4, 6]),
        ("job_title: {contains: ДИРЕКТОР}", [1, 5]),  # Генеральный директор, IT-директор
        ("job_title: {contains: director}", [6]),
        ("job_title: {starts_with: ген}", [1]),
        ("job_title: {starts_with: it-}", [5]),
        # numbers: revenue 60000, 10000, 50000, NaN, 0, 120000
        ("revenue: {gt: 50000}", [1, 6]),
        ("revenue: {gte: 50000}", [1, 3, 6]),
        ("revenue: {lt: 10000}", [5]),
        ("revenue: {lte: 10000}", [2, 5]),
        ("revenue: {between: [10000, 60000]}", [1, 2, 3]),  # both ends included
        ("revenue: {eq: 0}", [5]),
        ("revenue: {ne: 0}", [1, 2, 3, 6]),  # NaN is not "not 0"
        ("revenue: {is_null: true}", [4]),
        ("revenue: {gte: 10000, lt: 60000}", [2, 3]),  # several operators: all of them
        # integers: orders 5, 1, 3, 0, 0, 8
        ("orders: 0", [4, 5]),
        ("orders: {in: [1, 8]}", [2, 6]),
        ("orders: {not_in: [0, 1]}", [1, 3, 6]),
        ("orders: {between: [1, 5]}", [1, 2, 3]),
        # categories
        ("rfm_segment: {in: [Champions, Loyal]}", [1, 3]),
        ("rfm_segment: champions", [1]),
        ("rfm_segment: {ne: Lost}", [1, 2, 3, 6]),  # 4 has none
        ("rfm_segment: {is_null: true}", [4]),
        # bools
        ("email_consent: true", [1, 3, 5]),
        ("sms_consent: false", [1, 2, 5]),
        ("email_consent: {ne: true}", [2, 4, 6]),
        # tags: 1 sport+low, 2 none, 3 low+rooms1, 4 missing, 5 travel, 6 rooms2+low+sport
        ("tags: {has_any: [interest:sport]}", [1, 6]),
        ("tags: {has_any: [interest:sport, rooms:1]}", [1, 3, 6]),
        ("tags: {has_all: [floor:low, interest:sport]}", [1, 6]),
        ("tags: {has_all: [floor:low]}", [1, 3, 6]),
        ("tags: {has_all: [floor:low, floor:low]}", [1, 3, 6]),  # a repeated tag counts once
        ("tags: {has_all: [floor:low, nobody:has]}", []),
        ("tags: {has_none: [floor:low]}", [2, 4, 5]),  # missing tags read as no tags
        ("tags: {has_any: FLOOR:LOW}", [1, 3, 6]),  # one tag, case-insensitive
        ('tags: "rooms:1"', [3]),  # a bare tag: has it
        ("tags: [rooms:1, rooms:2]", [3, 6]),  # a bare list: has any
        ("tags: {is_null: true}", [2, 4]),
        ("tags: {not_null: true}", [1, 3, 5, 6]),
        # datetimes: comparisons with a date string (midnight UTC)
        ('last_order_at: {gt: "2026-12-01"}', [1, 6]),
        ('last_order_at: {between: ["2026-06-01", "2026-12-20"]}', [1, 2, 3]),
        ("last_order_at: {is_null: true}", [4]),
    ],
)
def test_operator(where: str, expected: list[int]) -> None:
    assert members(where) == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # 1 Москва email, 2 москва neither, 6 МОСКВА sms
        (
            "all:\n  - city: Москва\n  - any:\n      - email_consent: true\n      - sms_consent: true",
            [1, 6],
        ),
        ("city: Москва\nemail_consent: true", [1]),  # a mapping of several keys is all
        ("any:\n  - city: Казань\n  - revenue: {gt: 100000}", [3, 6]),
        ("any: {city: Казань, orders: 0}", [3, 4, 5]),  # any over a mapping's keys
        # not(Moscow or revenue > 40000): 1, 2, 6 Moscow; 3 revenue 50000; left 4 (NaN), 5 (0)
        ("not:\n  any:\n    - city: Москва\n    - revenue: {gt: 40000}", [4, 5]),
        ("not: {not: {orders: 0}}", [4, 5]),
        # all(any(...), not(all(...))): loyal or champions, and not (low floor and sport)
        (
            "all:\n  - any: [{rfm_segment: Champions}, {rfm_segment: Loyal}, {orders: {gte: 8}}]\n"
            "  - not: {all: [{tags: {has_any: [floor:low]}}, {tags: {has_any: [interest:sport]}}]}",
            [3],
        ),
    ],
)
def test_nesting(where: str, expected: list[int]) -> None:
    assert members(where) == expected


def test_normalize_text_folds_case_composition_and_yo() -> None:
    assert normalize_text("Пе\u0308тр") == normalize_text("ПЕТР") == "петр"  # е + combining ¨
    assert normalize_text(" Straße ") == "strasse"
    assert members("city: {contains: КОРОЛЕ}") == [4]


# ------------------------------------------------------------------------------ windows
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # AS_OF - 90 days = 30 Sep 00:00 +12h…: 1 (8.5 days), 2 (89 days), 6 (AS_OF) are in
        ("last_order_at: {within_last: 90 days}", [1, 2, 6]),
        # AS_OF - 89 days is exactly customer 2's order: the window's far end is open
        ("last_order_at: {within_last: 89 days}", [1, 6]),
        ("last_order_at: {older_than: 89 days}", [2, 3, 5]),
        ("last_order_at: {within_last: 2 weeks}", [1, 6]),
        # AS_OF - 6 months = 28 Jun 2026 12:00: 3 (1 Jun) and 5 (2025) are older
        ("last_order_at: {older_than: 6 months}", [3, 5]),
        ("last_order_at: {older_than: 6 месяцев}", [3, 5]),
        # known and outside the last 30 days; 4 (never ordered) is not in it
        ("last_order_at: {not_within_last: 30 days}", [2, 3, 5]),
        ("not: {last_order_at: {within_last: 30 days}}", [2, 3, 4, 5]),
        # [AS_OF, AS_OF + 7 days): 6 (AS_OF), 1 (tomorrow); 2 is 8 days ahead, 3 was yesterday
        ("next_call_at: {within_next: 7 days}", [1, 6]),
        ("next_call_at: {within_next: 1 week}", [1, 6]),
        ("next_call_at: {within_next: 9 дней}", [1, 2, 6]),
    ],
)
def test_time_windows(where: str, expected: list[int]) -> None:
    assert members(where) == expected


def test_a_bare_date_as_of_is_the_end_of_that_day() -> None:
    # as of 28 Dec (23:59:59.999999 UTC): the order at 28 Dec 12:00 is within the last day
    assert members("last_order_at: {within_last: 1 day}", as_of=dt.date(2026, 12, 28)) == [6]


@pytest.mark.parametrize(
    ("as_of", "where", "expected"),
    [
        # birthdays: 1 on 3 Jan, 2 on 28 Dec, 3 on 29 Feb, 4 on 4 Jan, 5 unknown, 6 on 27 Dec
        # next 7 days from 28 Dec: 28, 29, 30, 31 Dec, 1, 2, 3 Jan → 2 and 1; 4 Jan is day 8
        (dt.date(2026, 12, 28), "birth_date: {birthday_within_next: 7 days}", [1, 2]),
        (dt.date(2026, 12, 28), "birth_date: {birthday_within_next: 8 days}", [1, 2, 4]),
        (dt.date(2026, 12, 28), "birth_date: {birthday_within_next: 1 week}", [1, 2]),
        (dt.date(2026, 12, 28), "birth_date: {birthday_within_next: 7 дней}", [1, 2]),
        # last 7 days up to 28 Dec: 22 … 28 Dec → 6 (27 Dec) and 2 (today)
        (dt.date(2026, 12, 28), "birth_date: {birthday_within_last: 7 days}", [2, 6]),
        # one month ahead: 28 Dec … 27 Jan (31 days)
        (dt.date(2026, 12, 28), "birth_date: {birthday_within_next: 1 month}", [1, 2, 4]),
        # 28 Feb 2027 is a common year: 29 Feb birthdays are celebrated on the 28th
        (dt.date(2027, 2, 28), "birth_date: {birthday_within_next: 1 day}", [3]),
        # 2028 is a leap year: on 28 Feb it is still a day ahead
        (dt.date(2028, 2, 28), "birth_date: {birthday_within_next: 1 day}", []),
        (dt.date(2028, 2, 28), "birth_date: {birthday_within_next: 2 days}", [3]),
        (dt.date(2027, 3, 1), "birth_date: {birthday_within_last: 1 day}", []),
        (dt.date(2027, 3, 1), "birth_date: {birthday_within_last: 2 days}", [3]),
        # 27 Dec 22:00 UTC is already 28 Dec in Moscow: the as_of's own date counts
        (
            dt.datetime(2026, 12, 27, 22, tzinfo=UTC).astimezone(
                dt.timezone(dt.timedelta(hours=3))
            ),
            "birth_date: {birthday_within_next: 7 days}",
            [1, 2],
        ),
        (
            dt.datetime(2026, 12, 27, 22, tzinfo=UTC),  # in UTC still 27 Dec: 27 Dec … 2 Jan
            "birth_date: {birthday_within_next: 7 days}",
            [2, 6],
        ),
    ],
)
def test_birthday_windows(as_of: object, where: str, expected: list[int]) -> None:
    assert members(where, as_of=as_of) == expected


@pytest.mark.parametrize(
    "as_column",
    [
        lambda s: s,  # object column of datetime.date
        lambda s: pd.to_datetime(s),  # datetime64, midnight → a date field
        lambda s: pd.to_datetime(s).dt.tz_localize("UTC"),  # tz-aware datetimes
    ],
)
def test_birthdays_from_any_date_column(as_column) -> None:  # type: ignore[no-untyped-def]
    frame = profiles()
    frame["birth_date"] = as_column(frame["birth_date"])
    where = "birth_date: {birthday_within_next: 7 days}"
    assert members(where, frame, as_of=dt.date(2026, 12, 28)) == [1, 2]


def test_date_column_comparisons_and_windows() -> None:
    # born on or after 1 Jan 1985: 1 (1990), 2 (28 Dec 1985), 3 (1992)
    assert members('birth_date: {gte: "1985-01-01"}') == [1, 2, 3]
    assert members("birth_date: {lt: 1980-01-05}") == [4, 6]  # an unquoted YAML date
    frame = profiles()
    frame["signed_up"] = [dt.date(2026, 12, d) for d in (28, 22, 21, 1, 27, 29)]
    # last 7 days up to 28 Dec: 22 … 28 Dec → 1, 2, 5; 29 Dec is ahead
    assert members("signed_up: {within_last: 7 days}", frame, dt.date(2026, 12, 28)) == [1, 2, 5]
    assert members("signed_up: {within_next: 2 days}", frame, dt.date(2026, 12, 28)) == [1, 6]


# ---------------------------------------------------------------------------- validation
def problems_of(text: str, schema: object = None) -> list[tuple[int | None, str]]:
    with pytest.raises(SegmentDefinitionError) as info:
        load_segments(textwrap.dedent(text), schema)  # type: ignore[arg-type]
    err = info.value
    assert (err.line, err.field) == (err.problems[0].line, err.problems[0].field)
    return [(p.line, p.field) for p in err.problems]


def test_every_problem_of_a_file_is_reported_with_its_line_and_field() -> None:
    text = """\
        segments:
          - name: broken
            where:
              all:
                - cty: Москва
                - city: {gt: 5}
                - revenue: abc
                - revenue: {gtee: 5}
                - last_order_at: {within_last: 90 dais}
                - rfm_segment: {in: [Champions, Chmpions]}
                - any: []
                - orders: {between: [10, 1]}
                - email_consent: {eq: yes please}
          - name: broken
            where:
              city: Москва
        """
    schema = schema_from_frame(profiles(), {"rfm_segment": SEGMENTS})
    with pytest.raises(SegmentDefinitionError) as info:
        load_segments(textwrap.dedent(text), schema)
    err = info.value
    found = {(p.line, p.field): p.message for p in err.problems}
    assert list(found) == [
        (5, "cty"),
        (6, "city"),
        (7, "revenue"),
        (8, "revenue"),
        (9, "last_order_at"),
        (10, "rfm_segment"),
        (11, "any"),
        (12, "orders"),
        (13, "email_consent"),
        (14, "name"),
    ]
    assert "did you mean 'city'?" in found[5, "cty"]
    assert "does not apply to a string field" in found[6, "city"]
    assert "expects a number, got 'abc'" in found[7, "revenue"]
    assert "unknown operator 'gtee'; did you mean 'gte'?" in found[8, "revenue"]
    assert "'90 dais' is not a window" in found[9, "last_order_at"]
    assert "unknown value 'Chmpions'; did you mean 'Champions'?" in found[10, "rfm_segment"]
    assert "empty 'any'" in found[11, "any"]
    assert "low end 10 is above the high end 1" in found[12, "orders"]
    assert "expects true or false" in found[13, "email_consent"]
    assert "duplicate segment name 'broken' (first at line 2)" in found[14, "name"]
    message = str(err)
    assert message.startswith("<segments>: 10 problems in the segment definitions:\n")
    assert "  line 5, field cty: unknown field 'cty'; did you mean 'city'? " in message
    assert (err.line, err.field, err.segment) == (5, "cty", "broken")
    assert isinstance(err, SegmentsError) and isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("segments:\n  - name: a\n    where: {city: [Москва}\n", [(3, "<yaml>")]),
        ("\n", [(1, "segments")]),  # empty text ("" alone names no file: see below)
        ("segment:\n  - name: a\n", [(1, "segment"), (1, "segments")]),
        ("segments:\n  - name: a\n    were: {orders: 1}\n", [(2, "where"), (3, "were")]),
        ("segments:\n  - name: two words\n    where: {orders: 1}\n", [(2, "name")]),
        ("segments:\n  - where: {orders: 1}\n", [(2, "name")]),
        ("segments:\n  - name: a\n    where: {not: [{orders: 1}]}\n", [(3, "not")]),
        ("segments:\n  - name: a\n    where: {all: {}}\n", [(3, "all")]),
        ("segments:\n  - name: a\n    where: {orders: {}}\n", [(3, "orders")]),
        ("segments:\n  - name: a\n    where: {orders: {in: 5}}\n", [(3, "orders")]),
        ("segments:\n  - name: a\n    where: {orders: {between: [1]}}\n", [(3, "orders")]),
        ("segments:\n  - name: a\n    where: {orders: {is_null: maybe}}\n", [(3, "orders")]),
        ("segments:\n  - name: a\n    where: {orders: {all: [1]}}\n", [(3, "orders")]),
        ("segments:\n  - name: a\n    where: {orders: 1, orders: 2}\n", [(3, "orders")]),
        (
            "segments:\n  - name: a\n    where: {last_order_at: {within_last: 0 days}}\n",
            [(3, "last_order_at")],
        ),
        (
            "segments:\n  - name: a\n    where: {last_order_at: {within_last: 90}}\n",
            [(3, "last_order_at")],
        ),
    ],
)
def test_structural_problems(text: str, expected: list[tuple[int, str]]) -> None:
    assert problems_of(text) == expected


def test_validate_against_a_schema_with_kinds_and_values() -> None:
    schema = {
        "city": "string",
        "revenue": "number",
        "tags": FieldSpec("tags", ("floor:low", "floor:high")),
        "tier": ("category", ["base", "gold"]),
        "created_at": "datetime",
    }
    good = segment("city: Москва\ntags: {has_any: [FLOOR:LOW]}\ntier: GOLD")
    assert validate([good], schema) == [good]
    bad = [
        segment("tags: {has_any: [floor:lo]}\ncity: 101000", name="a"),
        segment(
            "all:\n  - tier: silver\n  - created_at: {gt: 5}\n  - created_at: {contains: x}",
            name="b",
        ),
        segment("revenue: {gt: true}\nzip: 1", name="c"),
        segment("orders: 1", name="a"),
    ]
    with pytest.raises(SegmentDefinitionError) as info:
        validate(bad, schema)
    got = [(p.segment, p.line, p.field) for p in info.value.problems]
    assert got == [
        ("a", 4, "tags"),
        ("a", 5, "city"),
        ("b", 5, "tier"),
        ("b", 6, "created_at"),
        ("b", 7, "created_at"),
        ("c", 4, "revenue"),
        ("c", 5, "zip"),
        ("a", 2, "name"),
        ("a", 4, "orders"),
    ]
    messages = [p.message for p in info.value.problems]
    assert "unknown tag 'floor:lo'; did you mean 'floor:low'?" in messages[0]
    assert "expects text, got 101000; put it in quotes: '101000'" in messages[1]
    assert "allowed: base, gold" in messages[2]
    assert "expects a date" in messages[3]
    assert "use one of eq, ne, gt" in messages[4]
    assert "the profiles have no such column" in messages[6]
    with pytest.raises(InvalidParameterError):
        validate([good], {"city": "text"})


def test_evaluate_refuses_a_definition_that_does_not_fit_the_frame() -> None:
    with pytest.raises(SegmentDefinitionError) as info:
        evaluate(segment("citty: Москва"), profiles(), AS_OF)
    assert (info.value.line, info.value.field) == (4, "citty")
    assert "did you mean 'city'?" in str(info.value)
    with pytest.raises(InvalidParameterError, match="as_of"):
        evaluate(segment("orders: 0"), profiles(), "yesterday")


def test_as_of_follows_crm_asof_naive_is_utc_wall_clock_and_text_is_read() -> None:
    where = "last_order_at: {within_last: 1 day}"
    # a naive datetime is UTC wall-clock time (crm.asof.as_instant), the same as the aware one
    assert members(where, as_of=AS_OF.replace(tzinfo=None)) == members(where, as_of=AS_OF)
    # ISO text of a bare date is the end of that day, like the date itself
    assert members(where, as_of="2026-12-28") == members(where, as_of=dt.date(2026, 12, 28))
    # the order at 28 Dec 12:00 UTC is not yet placed at 11:00 UTC
    assert 6 not in members(where, as_of="2026-12-28T11:00:00+00:00")


def test_hand_built_definitions_are_validated_too() -> None:
    d = SegmentDefinition(
        "x", Group("any", (Condition("orders", "gtee", 1), Condition("orders", "in", 5)))
    )
    with pytest.raises(SegmentDefinitionError) as info:
        evaluate(d, profiles(), AS_OF)
    assert [p.field for p in info.value.problems] == ["orders", "orders"]
    assert "unknown operator 'gtee'" in info.value.problems[0].message
    assert "expects a non-empty list" in info.value.problems[1].message
    listed = SegmentDefinition("y", Condition("orders", "in", [0, 8]))
    assert evaluate(listed, profiles(), AS_OF).tolist() == [4, 5, 6]


# ---------------------------------------------------------------------- schema_from_frame
def test_schema_from_frame_kinds() -> None:
    frame = profiles()
    frame["when"] = pd.to_datetime(["2026-01-01 10:00"] * 6)  # naive, not midnight
    frame["day"] = pd.to_datetime(["2026-01-01"] * 6)  # naive midnight
    frame["loyal"] = pd.array([True, None, False, True, True, None], dtype="boolean")
    frame["score"] = pd.array([1, None, 3, 4, 5, 6], dtype="Int64")
    frame["flag_obj"] = [True, None, False, True, True, False]
    frame["empty"] = [None] * 6
    schema = schema_from_frame(frame, {"city": ["Москва", "Казань"], "tags": ["floor:low"]})
    kinds = {name: spec.kind for name, spec in schema.items()}
    assert kinds == {
        "customer_id": "integer",
        "city": "category",
        "revenue": "number",
        "orders": "integer",
        "rfm_segment": "category",
        "email_consent": "bool",
        "sms_consent": "bool",
        "job_title": "string",
        "tags": "tags",
        "last_order_at": "datetime",
        "next_call_at": "datetime",
        "birth_date": "date",
        "is_loyalty_member": "bool",
        "when": "datetime",
        "day": "date",
        "loyal": "bool",
        "score": "integer",
        "flag_obj": "bool",
        "empty": "string",
    }
    assert schema["rfm_segment"].values == SEGMENTS
    assert schema["city"].values == ("Москва", "Казань")
    assert schema["tags"].values == ("floor:low",)
    # nullable columns: missing values never match, except is_null
    assert sorted(evaluate(segment("loyal: true"), frame, AS_OF)) == [1, 4, 5]
    assert sorted(evaluate(segment("loyal: {is_null: true}"), frame, AS_OF)) == [2, 6]
    assert sorted(evaluate(segment("score: {lt: 4}"), frame, AS_OF)) == [1, 3]
    assert sorted(evaluate(segment("flag_obj: false"), frame, AS_OF)) == [3, 6]


# ------------------------------------------------------------------ many, preview, index
def test_evaluate_many_is_a_long_frame_in_definition_order() -> None:
    defs = load_segments(
        "segments:\n"
        "  - {name: moscow, where: {city: Москва}}\n"
        "  - {name: nobody, where: {orders: {gt: 100}}}\n"
        "  - {name: sport, where: {tags: {has_any: [interest:sport]}, city: Москва}}\n"
    )
    out = evaluate_many(defs, profiles(), AS_OF)
    assert list(out.columns) == ["segment", "customer_id"]
    assert list(out["segment"].cat.categories) == ["moscow", "nobody", "sport"]
    assert list(zip(out["segment"], out["customer_id"], strict=True)) == [
        ("moscow", 1),
        ("moscow", 2),
        ("moscow", 6),
        ("sport", 1),
        ("sport", 6),
    ]
    empty = evaluate_many([], profiles(), AS_OF)
    assert len(empty) == 0 and list(empty.columns) == ["segment", "customer_id"]


def test_ids_from_the_index_and_a_reused_preparation() -> None:
    frame = profiles().set_index("customer_id")  # crm.profiles' layout
    prepared = PreparedProfiles(frame, categories={"rfm_segment": SEGMENTS})
    assert evaluate(segment("city: Москва"), prepared, AS_OF).tolist() == [1, 2, 6]
    assert evaluate(segment("city: Казань"), prepared, AS_OF).tolist() == [3]
    assert set(prepared._prepared) == {"city"}  # prepared once, only what was used
    with pytest.raises(SegmentDefinitionError):
        evaluate(segment("rfm_segment: Champs"), prepared, AS_OF)


def test_preview_counts_and_samples_with_a_seed() -> None:
    frame = pd.DataFrame({"customer_id": np.arange(1, 101), "orders": np.arange(100) % 4})
    d = segment("orders: 0")  # customers 1, 5, 9, …, 97: 25 of them
    count, sample = preview(d, frame, AS_OF, sample=5, seed=3)
    assert count == 25
    assert len(sample) == 5 and (sample["orders"] == 0).all()
    assert sample["customer_id"].is_monotonic_increasing
    again = preview(d, frame, AS_OF, sample=5, seed=3)[1]
    other = preview(d, frame, AS_OF, sample=5, seed=4)[1]
    assert sample["customer_id"].tolist() == again["customer_id"].tolist()
    assert sample["customer_id"].tolist() != other["customer_id"].tolist()
    assert len(preview(d, frame, AS_OF, sample=50)[1]) == 25
    assert preview(segment("orders: 9"), frame, AS_OF)[0] == 0


# ------------------------------------------------------------------------ memberships
def test_membership_changes_entered_left_stayed() -> None:
    previous = pd.DataFrame({"segment": ["a", "a", "b"], "customer_id": [1, 2, 3]})
    current = pd.DataFrame({"segment": ["a", "a", "b", "c"], "customer_id": [2, 4, 3, 5]})
    out = membership_changes(previous, current, dt.date(2026, 12, 28))
    assert list(zip(out["segment"], out["customer_id"], out["change"], strict=True)) == [
        ("a", 4, "entered"),
        ("a", 1, "left"),
        ("a", 2, "stayed"),
        ("b", 3, "stayed"),
        ("c", 5, "entered"),
    ]
    assert (out["as_of"] == pd.Timestamp("2026-12-28 23:59:59.999999", tz="UTC")).all()
    moves = membership_changes(previous, current, AS_OF, include_stayed=False)
    assert moves["change"].tolist() == ["entered", "left", "entered"]
    first = membership_changes(None, current, AS_OF)
    assert first["change"].tolist() == ["entered"] * 4
    assert first["customer_id"].tolist() == [2, 4, 3, 5]


def test_membership_changes_from_evaluate_many_snapshots() -> None:
    defs = load_segments(
        "segments:\n  - {name: recent, where: {last_order_at: {within_last: 30 days}}}\n"
    )
    frame = profiles()
    before = evaluate_many(defs, frame, AS_OF)  # 1 (20 Dec), 6 (28 Dec)
    after = evaluate_many(defs, frame, AS_OF + dt.timedelta(days=10))  # 6 Jan: 20 Dec still in
    out = membership_changes(before, after, AS_OF + dt.timedelta(days=10), include_stayed=False)
    assert out.empty
    later = evaluate_many(defs, frame, AS_OF + dt.timedelta(days=25))  # 22 Jan: 1 has left
    out = membership_changes(after, later, AS_OF + dt.timedelta(days=25))
    assert list(zip(out["customer_id"], out["change"], strict=True)) == [(1, "left"), (6, "stayed")]


# ------------------------------------------------------------------------------ example
def brief_profiles() -> pd.DataFrame:
    """Two customers with the profile columns listed for crm.profiles."""
    ts = pd.to_datetime(["2026-10-01", None], utc=True)
    return pd.DataFrame(
        {
            "customer_id": [1, 2],
            "company_id": pd.array([10, None], dtype="Int64"),
            "first_name": ["Анна", "John"],
            "last_name": ["Иванова", "Smith"],
            "gender": ["f", "m"],
            "birth_date": [dt.date(1990, 11, 3), None],
            "city": ["Москва", "London"],
            "language": ["ru", "en"],
            "source": ["site_form", "call"],
            "lifecycle_stage": ["customer", "lead"],
            "owner": ["m.petrov", None],
            "job_title": ["Генеральный директор", None],
            "is_loyalty_member": [True, False],
            "created_at": pd.to_datetime(["2024-01-01", "2026-10-20"], utc=True),
            "orders": [4, 0],
            "revenue": [80000.0, 0.0],
            "avg_order_value": [20000.0, np.nan],
            "first_order_at": ts,
            "last_order_at": ts,
            "days_since_last_order": pd.array([31, None], dtype="Int64"),
            "favourite_category": ["home", None],
            "deals_won": [1, 0],
            "deals_open": [0, 1],
            "lead_status": ["converted", "new"],
            "activities_90d": [3, 1],
            "last_activity_at": pd.to_datetime(["2026-10-25", "2026-10-20"], utc=True),
            "events_opened_90d": [2, 0],
            "events_clicked_90d": [1, 1],
            "has_email": [True, True],
            "has_mobile": [True, False],
            "email_consent": [True, True],
            "sms_consent": [True, False],
            "tags": [["floor:low", "rooms:2"], []],
            "rfm_segment": pd.Categorical(["Champions", None], categories=SEGMENTS),
            "r_score": [5, 1],
            "f_score": [4, 1],
            "m_score": [5, 1],
            "lead_score": [80.0, 10.0],
            "predicted_value": [30000.0, 0.0],
            "points_balance": [1200, 0],
            "tier": ["gold", "base"],
        }
    )


def test_the_example_file_validates_and_runs() -> None:
    frame = brief_profiles()
    schema = schema_from_frame(frame, {"rfm_segment": SEGMENTS})
    defs = load_segments(EXAMPLE, schema)
    assert 5 <= len(defs) <= 8
    assert all(d.title and d.description for d in defs)
    out = evaluate_many(defs, frame, dt.date(2026, 11, 1))
    got = {name: sorted(g["customer_id"]) for name, g in out.groupby("segment", observed=False)}
    assert got["vip_moscow"] == [1]  # Champions, Москва, 80,000, ordered a month ago, opened
    assert got["birthday_this_week"] == [1]  # 3 Nov is within 1 … 7 Nov
    assert got["b2b_directors"] == [1]
    assert got["low_floor_interested"] == [1]
    assert got["engaged_no_purchase"] == [2]
    assert got["winback_at_risk"] == got["new_customers"] == got["sport_fans_spb"] == []


def test_tags_as_arrays_lone_strings_and_missing() -> None:
    tags = pd.Series([np.array(["a:x", "b:y"]), "a:x", None, np.nan, ["A:X"], []], dtype=object)
    frame = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5, 6], "tags": tags})
    assert schema_from_frame(frame)["tags"].kind == "tags"
    assert members("tags: {has_any: [a:x]}", frame) == [1, 2, 5]  # a lone string is one tag
    assert members("tags: {has_none: [a:x]}", frame) == [3, 4, 6]
    assert members("tags: {is_null: true}", frame) == [3, 4, 6]


def test_structure_and_field_typos_are_reported_in_one_pass() -> None:
    text = textwrap.dedent(
        """\
        segments:
          - name: a
            where:
              revenu: {gte: 5}
          - name: b
            where:
              orders: {gtee: 1}
          - name: c
            wher:
              city: Москва
        """
    )
    with pytest.raises(SegmentDefinitionError) as info:
        load_segments(text, fields=["revenue", "orders", "city"])
    found = [(p.line, p.field) for p in info.value.problems]
    assert (4, "revenu") in found  # a field typo in a segment that parsed
    assert (7, "orders") in found  # an unknown operator
    assert (9, "wher") in found  # an unknown segment key
    typo = info.value.problems[found.index((4, "revenu"))]
    assert "did you mean 'revenue'?" in typo.message


def test_the_file_layer_is_the_shared_definitions_loader(tmp_path: Path) -> None:
    # a string naming no file and holding no YAML is a missing file, said as for every file
    with pytest.raises(SegmentDefinitionError, match="no segments file at this path"):
        load_segments(str(tmp_path / "missing.yaml"))
    # a 2,000-level nesting is refused with its line, not a RecursionError
    deep = "segments:\n  - name: a\n    where: " + "{not: " * 2000 + "{orders: 1}" + "}" * 2000
    with pytest.raises(SegmentDefinitionError) as info:
        load_segments(deep)
    assert info.value.field == "<yaml>" and "nested more than" in info.value.message
    # an unknown key of a segment gets the closest name, with the other problems of the file
    text = "segments:\n  - name: a\n    titel: A\n    where: {orders: {gtee: 1}}\n"
    with pytest.raises(SegmentDefinitionError) as info:
        load_segments(text)
    found = {(p.line, p.field): p.message for p in info.value.problems}
    assert found[3, "titel"] == "unknown field 'titel'; did you mean 'title'?"
    assert "unknown operator 'gtee'; did you mean 'gte'?" in found[4, "orders"]
