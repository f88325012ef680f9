"""Fixtures of the campaigns tests: one SMS template rendered for one recipient."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from campaigns.preview import render_one

AS_OF = pd.Timestamp("2026-12-01 06:00", tz="UTC")
SECRET = "test-secret"


@pytest.fixture
def render_sms() -> Callable[..., str]:
    """``render_sms(text, language="ru", **context)``: the SMS text one recipient gets, through
    the send path (:func:`campaigns.preview.render_one`)."""

    def render(text: str, language: str = "ru", **context: object) -> str:
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
        out = render_one(row, {"sms": {language: {"text": text}}}, as_of=AS_OF, secret=SECRET)
        return str(out["sms_text"])

    return render
