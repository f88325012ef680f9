"""Checking templates before sending: every problem with its line; the examples pass."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pandas as pd
import pytest

from campaigns.preview import check_templates

RenderSms = Callable[..., str]
AS_OF = pd.Timestamp("2026-12-01 06:00", tz="UTC")
SECRET = "test-secret"


def _sms(text: str, language: str = "ru") -> dict:
    return {"sms": {language: {"text": text}}}


# -- check_templates ---------------------------------------------------------------------------


def test_check_reports_every_problem_with_its_line() -> None:
    templates = {
        "email": {"ru": {"subject": "Привет", "html": "<p>\n{{ frist_name }}</p>"}},
        "sms": {"ru": {"text": "{{ first_name|shout }}"}, "en": {"text": "{% if %}"}},
        "fax": {"ru": {"text": "x"}},
    }
    problems = {(p.field, p.line, p.message) for p in check_templates(templates)}
    assert ("templates.email.ru.text", None, "required template is missing") in problems
    assert (
        "templates.email.ru.html",
        2,
        "unknown variable 'frist_name'; did you mean 'first_name'?",
    ) in problems
    assert ("templates.sms.ru.text", 1, "No filter named 'shout'.") in problems
    assert any(f == "templates.sms.en.text" and line == 1 for f, line, _ in problems)
    assert any(f == "templates.fax" and "unknown channel" in m for f, _, m in problems)


def test_check_accepts_good_templates_and_declared_variables() -> None:
    templates = {
        "email": {
            "en": {
                "subject": "{{ greeting }} {{ points }} {{ points|plural('point', 'points') }}",
                "html": "<a href='{{ track(\"https://shop.example/\") }}'>x</a> {{ unsubscribe_url }}",
                "text": "{{ valid_until|date }}",
            }
        }
    }
    assert (
        check_templates(templates, variables={"points": 5, "valid_until": dt.date(2026, 12, 31)})
        == []
    )


HOSTILE = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "not allowed"),
    ("{{ cycler.__init__.__globals__ }}", "not allowed"),
    ("{{ first_name.format_map({}) }}", "not allowed"),
    ("{% for i in range(100000000) %}x{% endfor %}", "range of 100,000,000 items"),
    (
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "loop iterations",
    ),
    ("{{ 'ab' * 100000000 }}", "repeating"),
    ("{{ [1] * 100000000 }}", "repeating"),
    ("{{ 10 ** 100000 }}", "exponent"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
    (
        "{% set a = 'x' * 90000 %}{% set b = a ~ a %}{% set c = b ~ b %}{{ c }}",
        "limit is 100,000",
    ),
    ("{{ '%999999999s' % 'x' }}", "formatting"),
    ("{{ first_name|center(1000000000) }}", "No filter named 'center'"),
    ("{{ lipsum(1000000) }}", "unknown variable 'lipsum'"),
]


@pytest.mark.parametrize(("text", "reason"), HOSTILE)
def test_hostile_templates_are_refused_quickly_with_a_clear_error(text: str, reason: str) -> None:
    start = time.perf_counter()
    problems = check_templates(_sms("Добрый день!\n" + text))
    assert time.perf_counter() - start < 5
    assert problems, text
    assert any(reason in p.message for p in problems), problems
    assert all(p.line == 2 for p in problems), problems


@pytest.mark.parametrize(
    ("example", "variables"),
    [
        ("winback_sms_ru.yaml", {"discount_percent": 15}),
        ("birthday_email_en.yaml", {"bonus_points": 500}),
    ],
)
def test_the_example_campaigns_templates_pass_the_check(example: str, variables: dict) -> None:
    from pathlib import Path

    from campaigns.definitions import load_campaign

    campaign, _ = load_campaign(Path(__file__).parents[2] / "campaigns" / "examples" / example)
    known = {**variables, "valid_until": dt.date(2026, 12, 31), "no_incentive": False}
    assert check_templates(campaign.templates, variables=known) == []
    # without the promo parameters the check names them
    problems = check_templates(campaign.templates)
    assert {p.message for p in problems} >= {f"unknown variable {next(iter(variables))!r}"}
