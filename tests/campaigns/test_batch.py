"""Batch rendering: the message frame, links, MIME, processes, memoised = per-row render."""

from __future__ import annotations

import datetime as dt
import errno
import os
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.batch import _render_frame, render_messages
from campaigns.context import build_contexts
from campaigns.definitions import load_campaign
from campaigns.errors import TemplateRenderError
from campaigns.links import read_click_token, read_unsubscribe_token
from campaigns.preview import render_one
from campaigns.sms import segment_counts

RenderSms = Callable[..., str]
AS_OF = pd.Timestamp("2026-12-01 06:00", tz="UTC")
SECRET = "test-secret"


def _sms(text: str, language: str = "ru") -> dict:
    return {"sms": {language: {"text": text}}}


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


def test_the_split_render_works_in_a_process_that_cannot_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a worker process holding a large frame (or run from a task's thread) may be refused a
    # fork: the shares go to workers of the fork server, which this process never forks
    def refuse() -> int:
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    expected = _render()
    monkeypatch.setattr(os, "fork", refuse)
    pd.testing.assert_frame_equal(_render(processes=2), expected)


def test_a_channel_and_language_without_a_template_is_an_error() -> None:
    frame = _frame()
    frame.loc[102, "language"] = "en"
    with pytest.raises(
        TemplateRenderError, match=r"templates\.sms\.en: no template for 1 recipient"
    ):
        render_messages(frame, TEMPLATES, as_of=AS_OF, secret=SECRET, params=PARAMS)


def test_rendering_once_per_distinct_input_equals_rendering_every_row() -> None:
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


# -- the column-wise path gives the bytes of the plain sandboxed render -----------------------

EXAMPLES = Path(__file__).parents[2] / "campaigns" / "examples"
KWARGS = {
    "as_of": AS_OF,
    "secret": SECRET,
    "base_url": "http://x",
    "email_from": "Магазин <news@shop.example>",
}


def _example_templates(name: str, variant: str = "A") -> dict:
    campaign, _ = load_campaign(EXAMPLES / name)
    return campaign.templates_of(variant).model_dump()


def _recipients(first_names: list, codes: list, language: str) -> pd.DataFrame:
    n = len(first_names)
    frame = pd.DataFrame(
        {
            "customer_id": range(1, n + 1),
            "message_key": [f"{language}:{i}" for i in range(1, n + 1)],
            "channel": ["sms" if language == "ru" and i % 3 else "email" for i in range(n)],
            "language": language,
            "address": [f"c{i}@example.com" for i in range(1, n + 1)],
            "first_name": first_names,
            "last_name": "Петров",
            "gender": ["m", "f", None][: min(n, 3)] * (n // 3) + ["m", "f", None][: n % 3],
            "no_incentive": [i % 4 == 3 for i in range(n)],
        }
    )
    promo = pd.DataFrame({"customer_id": frame["customer_id"], "promo_code": codes})
    return build_contexts(frame, promo_codes=promo)


@pytest.mark.parametrize(
    ("example", "variant", "language", "params"),
    [
        ("winback_sms_ru.yaml", "A", "ru", {"discount_percent": 15}),
        ("birthday_email_en.yaml", "A", "en", {"bonus_points": 500}),
        ("birthday_email_en.yaml", "B", "en", {"bonus_points": 1}),
    ],
)
def test_the_examples_render_column_wise_to_the_bytes_of_the_per_row_render(
    example: str, variant: str, language: str, params: dict
) -> None:
    names = ["иван", "Анна-Мария", None, "<b>x</b>", "O'Neil", "jane", "Ёж", "ПЁТР", "Эмма"]
    codes = ["WB0001", "A&B<1>", None, "Q\"'", "WB0001", "€{}[]^~|\\", "😀😀", "Ω", "x" * 90]
    contexts = _recipients(names, codes, language)
    templates = _example_templates(example, variant)
    kwargs = {**KWARGS, "params": {**params, "valid_until": dt.date(2026, 12, 15)}}
    memo = _render_frame(contexts, templates, memo=True, **kwargs)
    rows = _render_frame(contexts, templates, memo=False, **kwargs)
    pd.testing.assert_frame_equal(memo, rows)
    if language == "ru":
        sms = memo["sms_text"].dropna()
        assert (
            sms.iloc[0]
            == "Здравствуйте, Анна-Мария! Скучаем! Скидка 15% по коду A&B<1> до 15 декабря."
        )
        assert (
            memo["sms_segments"].dropna().tolist() == segment_counts(sms)["sms_segments"].tolist()
        )


_CORPUS = st.text(
    alphabet=st.sampled_from(
        list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЁЖЯ-' ")
        + list("abcXYZ09 <>&\"'@£€{}[]^~|\\\n\f")
        + ["😀", "Ω", "Δ", "\x00", "é"]
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.one_of(st.none(), _CORPUS), min_size=1, max_size=12),
    codes=st.lists(st.one_of(st.none(), _CORPUS), min_size=12, max_size=12),
)
def test_column_wise_slots_equal_the_per_row_render_on_any_text(names: list, codes: list) -> None:
    contexts = _recipients(names, codes[: len(names)], "ru")
    templates = {
        "sms": {"ru": {"text": "{{ greeting }} Код {{ promo_code }}, ещё раз: {{ promo_code }}."}},
        "email": {
            "ru": {
                "subject": "{{ first_name or 'Мы' }}: {{ promo_code }}",
                "html": "<p>{{ greeting }}</p><b>{{ promo_code }}</b>{{ first_name|upper }}",
                "text": "{{ promo_code }}{% if no_incentive %} —{% endif %}",
            }
        },
    }
    memo = _render_frame(contexts, templates, memo=True, **KWARGS, params={})
    rows = _render_frame(contexts, templates, memo=False, **KWARGS, params={})
    pd.testing.assert_frame_equal(memo, rows)
