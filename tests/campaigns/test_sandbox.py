"""The sandbox: strict variables, escaping, hostile templates stopped at render time."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from campaigns.errors import TemplateRenderError, TemplateResourceError
from campaigns.preview import render_one

RenderSms = Callable[..., str]
AS_OF = pd.Timestamp("2026-12-01 06:00", tz="UTC")
SECRET = "test-secret"


def _sms(text: str, language: str = "ru") -> dict:
    return {"sms": {language: {"text": text}}}


# -- strictness and escaping -----------------------------------------------------------------


def test_a_missing_variable_is_an_error_naming_template_line_and_customer(
    render_sms: RenderSms,
) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_sms("Привет\n{{ nickname }}")
    assert caught.value.template == "templates.sms.ru.text"
    assert caught.value.line == 2
    assert "nickname" in str(caught.value)
    assert "customer 1" in str(caught.value)


def test_missing_values_print_nothing_never_none(render_sms: RenderSms) -> None:
    assert render_sms("[{{ promo_code }}]", promo_code=None) == "[]"
    assert render_sms("[{{ x }}]", x=float("nan")) == "[]"


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


def test_hostile_templates_are_stopped_at_render_time_too(render_sms: RenderSms) -> None:
    with pytest.raises(TemplateResourceError, match="loop iterations"):
        render_sms("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")
    with pytest.raises(TemplateResourceError, match="recursion"):
        render_sms("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")
    with pytest.raises(TemplateRenderError, match="not allowed"):
        render_sms("{{ ''.__class__ }}")
