"""Rendering: filters in both languages, the sandbox's refusals and limits, the message frame."""

from __future__ import annotations

import datetime as dt
import time
from email import message_from_bytes, policy

import pandas as pd
import pytest

from campaigns.context import build_contexts
from campaigns.errors import TemplateRenderError, TemplateResourceError
from campaigns.links import read_click_token, read_unsubscribe_token
from campaigns.render import check_templates, declension, plural, render_messages, render_one

AS_OF = pd.Timestamp("2026-12-01 06:00", tz="UTC")
SECRET = "test-secret"


def _sms(text: str, language: str = "ru") -> dict:
    return {"sms": {language: {"text": text}}}


def _one(text: str, language: str = "ru", **context: object) -> str:
    locale = {"ru": "ru_RU", "en": "en_US"}[language]
    row = {
        "customer_id": 1,
        "message_key": "k1",
        "channel": "sms",
        "language": language,
        "locale": locale,
        "currency": "RUB",
        "timezone": "Europe/Moscow",
        **context,
    }
    out = render_one(row, _sms(text, language), as_of=AS_OF, secret=SECRET)
    return str(out["sms_text"])


# -- plural forms, money, dates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "1 балл"),
        (2, "2 балла"),
        (5, "5 баллов"),
        (21, "21 балл"),
        (11, "11 баллов"),
        (22, "22 балла"),
    ],
)
def test_russian_plural_forms(n: int, expected: str) -> None:
    assert _one("{{ n }} {{ n|plural('балл', 'балла', 'баллов') }}", n=n) == expected


@pytest.mark.parametrize(("n", "expected"), [(1, "1 point"), (2, "2 points"), (0, "0 points")])
def test_english_plural_forms(n: int, expected: str) -> None:
    assert _one("{{ n }} {{ n|plural('point', 'points') }}", "en", n=n) == expected


def test_plural_function_and_fractions() -> None:
    assert plural("ru_RU", 1.5, "балл", "балла", "баллов") == "балла"
    with pytest.raises(ValueError, match="forms"):
        plural("ru_RU", 1)


def test_money_in_the_recipients_locale() -> None:
    assert _one("{{ 1500|money }}") == "1\xa0500,00\xa0₽"
    assert _one("{{ 1500|money }}", "en") == "RUB1,500.00"
    assert _one("{{ 99.5|money('EUR') }}", "en") == "€99.50"
    assert _one("{{ 1234.5|number }}") == "1\xa0234,5"


def test_dates_in_the_recipients_locale_and_time_zone() -> None:
    day = dt.date(2026, 12, 31)
    assert _one("{{ d|date }}", d=day) == "31 декабря 2026\u202fг."
    assert _one("{{ d|date }}", "en", d=day) == "December 31, 2026"
    assert _one("{{ d|date('short') }}", d=day) == "31.12.2026"
    # 21:30 UTC on 31 December is already 1 January in Moscow
    late = pd.Timestamp("2026-12-31 21:30", tz="UTC")
    assert _one("{{ t|date('short') }}", t=late) == "01.01.2027"
    assert _one("{{ t|datetime('short') }}", t=late) == "01.01.2027, 00:30"


# -- declension -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "case", "gender", "expected"),
    [
        ("Иван", "dative", "m", "Ивану"),
        ("Анна", "genitive", "f", "Анны"),
        ("Пётр", "instrumental", "m", "Петром"),
        ("Анна-Мария", "dative", "f", "Анне-Марии"),  # hyphenated: both halves
        ("Жан-Поль", "dative", "m", "Жану-Полю"),
        ("Мэри", "dative", "f", "Мэри"),  # foreign, indeclinable
        ("Ли", "genitive", "m", "Ли"),
        ("John", "dative", "m", "John"),  # not Cyrillic: as written
        ("Любовь", "dative", None, "Любовь"),  # gender unknown, rules disagree: nominative
        ("Жене", "dative", "x", "Жене"),
        ("", "dative", "m", ""),
        (None, "dative", "m", None),
    ],
)
def test_declension_or_the_nominative(name: str, case: str, gender: str, expected: str) -> None:
    assert declension(name, case, gender) == expected


def test_declension_in_a_formal_russian_greeting() -> None:
    text = (
        "Уважаемому {{ first_name|declension('dative', gender) }} "
        "{{ middle_name|declension('dative', gender, 'middle') }}"
    )
    assert _one(text, first_name="Иван", middle_name="Петрович", gender="m") == (
        "Уважаемому Ивану Петровичу"
    )
    assert _one(
        "для {{ first_name|declension('genitive', gender) }}", first_name="Анна", gender="f"
    ) == ("для Анны")


def test_declension_refuses_an_unknown_case() -> None:
    with pytest.raises(ValueError, match="declension case"):
        declension("Иван", "vocative", "m")


# -- strictness and escaping -----------------------------------------------------------------


def test_a_missing_variable_is_an_error_naming_template_line_and_customer() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        _one("Привет\n{{ nickname }}")
    assert caught.value.template == "templates.sms.ru.text"
    assert caught.value.line == 2
    assert "nickname" in str(caught.value)
    assert "customer 1" in str(caught.value)


def test_missing_values_print_nothing_never_none() -> None:
    assert _one("[{{ promo_code }}]", promo_code=None) == "[]"
    assert _one("[{{ x }}]", x=float("nan")) == "[]"


def test_html_is_escaped_text_is_not() -> None:
    templates = {
        "email": {
            "en": {
                "subject": "{{ first_name }}",
                "html": "<p>{{ first_name }}</p>",
                "text": "{{ first_name }}",
            }
        }
    }
    row = {
        "customer_id": 1,
        "message_key": "k",
        "channel": "email",
        "language": "en",
        "address": "a@example.com",
        "first_name": "<b>Tom</b> & Co",
    }
    out = render_one(row, templates, as_of=AS_OF, secret=SECRET)
    assert out["body_html"] == "<p>&lt;b&gt;Tom&lt;/b&gt; &amp; Co</p>"
    assert out["body_text"] == "<b>Tom</b> & Co"
    assert out["subject"] == "<b>Tom</b> & Co"


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


def test_hostile_templates_are_stopped_at_render_time_too() -> None:
    with pytest.raises(TemplateResourceError, match="loop iterations"):
        _one("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")
    with pytest.raises(TemplateResourceError, match="recursion"):
        _one("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")
    with pytest.raises(TemplateRenderError, match="not allowed"):
        _one("{{ ''.__class__ }}")


# -- the message frame -----------------------------------------------------------------------

TEMPLATES = {
    "email": {
        "en": {
            "subject": "{{ first_name or 'Hi' }}, {{ bonus }} bonus {{ bonus|plural('point', 'points') }}",
            "html": "<p>{{ greeting }}</p><a href=\"{{ track('https://shop.example/gifts') }}\">Gifts</a>"
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
            "text": "{{ greeting }}\n{{ bonus }} points until {{ valid_until|date }}",
        }
    },
    "sms": {"ru": {"text": "{{ greeting }} Ваш код {{ promo_code }}"}},
}
PARAMS = {"bonus": 500, "valid_until": dt.date(2026, 12, 31)}


def _frame() -> pd.DataFrame:
    recipients = pd.DataFrame(
        {
            "customer_id": [11, 12, 13, 14],
            "message_key": ["bday:1:11", "winback:1:12", "bday:1:13", "winback:1:14"],
            "channel": ["email", "sms", "email", "sms"],
            "language": ["en", "ru", "en", "ru"],
            "address": ["jane@example.com", "+79161234567", "bob@example.com", "+79161234568"],
            "first_name": ["jane", "иван", None, "Анна"],
        },
        index=[101, 102, 103, 104],
    )
    codes = pd.DataFrame({"customer_id": [12, 14], "promo_code": ["WB-12", "WB-14"]})
    return build_contexts(recipients, promo_codes=codes)


def _render(processes: int = 1) -> pd.DataFrame:
    return render_messages(
        _frame(),
        TEMPLATES,
        as_of=AS_OF,
        secret=SECRET,
        params=PARAMS,
        processes=processes,
        email_from="Shop <news@shop.example>",
    )


def test_render_messages_fills_each_channels_columns() -> None:
    out = _render()
    assert out.index.tolist() == [101, 102, 103, 104]
    assert out["subject"].tolist() == ["Jane, 500 bonus points", None, "Hi, 500 bonus points", None]
    assert out["body_text"].tolist()[0] == "Hello Jane,\n500 points until December 31, 2026"
    assert out["sms_text"].tolist() == [
        None,
        "Здравствуйте, Иван! Ваш код WB-12",
        None,
        "Здравствуйте, Анна! Ваш код WB-14",
    ]
    assert out["sms_encoding"].tolist() == [None, "UCS-2", None, "UCS-2"]
    assert out["sms_segments"].tolist()[1] == 1
    assert out["mime"].iloc[1] is None


def test_email_links_are_signed_and_the_mime_carries_them() -> None:
    out = _render()
    msg = message_from_bytes(out["mime"].iloc[0], policy=policy.default)
    assert msg["To"] == "jane@example.com"
    assert msg["Subject"] == "Jane, 500 bonus points"
    token = msg["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
    read = read_unsubscribe_token(SECRET, token, max_age_s=None)
    assert (read.message_key, read.customer_id, read.channel) == ("bday:1:11", 11, "email")
    html = out["body_html"].iloc[0]
    assert f'href="http://127.0.0.1:8000/u/{token}"' in html
    click = html.split('href="http://127.0.0.1:8000/c/')[1].split('"')[0]
    assert read_click_token(SECRET, click).url == "https://shop.example/gifts"
    plain, rich = list(msg.iter_parts())
    assert plain.get_payload(decode=True).decode() == out["body_text"].iloc[0]
    assert rich.get_payload(decode=True).decode() == html


def test_rerun_split_across_processes_and_preview_give_the_same_bytes() -> None:
    first = _render()
    pd.testing.assert_frame_equal(first, _render())
    pd.testing.assert_frame_equal(first, _render(processes=2))
    row = _frame().loc[103].to_dict()
    preview = render_one(
        row,
        TEMPLATES,
        as_of=AS_OF,
        secret=SECRET,
        params=PARAMS,
        email_from="Shop <news@shop.example>",
    )
    assert preview["mime"] == first.loc[103, "mime"]
    assert preview["body_html"] == first.loc[103, "body_html"]


def test_a_channel_and_language_without_a_template_is_an_error() -> None:
    frame = _frame()
    frame.loc[102, "language"] = "en"
    with pytest.raises(
        TemplateRenderError, match=r"templates\.sms\.en: no template for 1 recipient"
    ):
        render_messages(frame, TEMPLATES, as_of=AS_OF, secret=SECRET, params=PARAMS)


def test_rendering_once_per_distinct_input_equals_rendering_every_row() -> None:
    from campaigns.render import _render_frame

    templates = {
        "email": {
            "en": {
                "subject": "{{ first_name }}{% if vip %} (VIP){% endif %}",
                "html": (
                    "<p>{{ greeting }}</p><p>{{ note }} / {{ note|upper }}</p>"
                    "{% for i in range(n) %}<i>{{ i }}{{ promo_code }}</i>{% endfor %}"
                    "{% macro m(promo_code) %}[{{ promo_code }}]{% endmacro %}{{ m('x') }}"
                    "<a href='{{ unsubscribe_url }}'>u</a><a href='{{ track(url) }}'>t</a>"
                ),
                "text": "{% set who = first_name or 'friend' %}{{ who }} {{ promo_code }} {{ n }}",
            }
        },
        "sms": {
            "ru": {"text": "{{ greeting }} {{ promo_code }} {{ n|plural('раз', 'раза', 'раз') }}"}
        },
    }
    names = ["<Tom> & Co", "jane", None, "иван", "Анна", "jane", None, "O'Neil"]
    frame = pd.DataFrame(
        {
            "customer_id": range(1, 9),
            "message_key": [f"k{i}" for i in range(1, 9)],
            "channel": ["email", "email", "email", "sms", "sms", "email", "email", "email"],
            "language": ["en", "en", "en", "ru", "ru", "en", "en", "en"],
            "address": [f"c{i}@example.com" for i in range(1, 9)],
            "first_name": names,
            "vip": [True, False, True, False, True, False, False, True],
            "n": [0, 1, 2, 3, 1, 1, 0, 2],
            "url": ["https://a.example/1", "https://a.example/2"] * 4,
            "note": ["<b>Tom</b> & Co", "x", "x", "y", "y", "x", "z", "<b>Tom</b> & Co"],
        }
    )
    codes = pd.DataFrame(
        {"customer_id": [1, 2, 4, 6, 8], "promo_code": ["A&1", "B2", "C3", "B2", None]}
    )
    contexts = build_contexts(frame, promo_codes=codes)
    kwargs = {
        "as_of": AS_OF,
        "secret": SECRET,
        "base_url": "http://x",
        "email_from": "a@b.example",
        "params": {},
    }
    memo = _render_frame(contexts, templates, memo=True, **kwargs)
    rows = _render_frame(contexts, templates, memo=False, **kwargs)
    pd.testing.assert_frame_equal(memo, rows)
    assert memo.loc[0, "body_html"].startswith(
        "<p>Hello,</p><p>&lt;b&gt;Tom&lt;/b&gt; &amp; Co / &lt;B&gt;TOM&lt;/B&gt; &amp; CO</p>"
    )
    assert "<i>0A&amp;1</i>" not in memo.loc[0, "body_html"]  # n = 0: no loop
    assert "<i>0</i><i>1</i>" in memo.loc[2, "body_html"]  # no promo code: printed as nothing
    assert memo.loc[1, "body_text"] == "Jane B2 1"


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
