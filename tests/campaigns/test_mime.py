"""Pre-rendered MIME bytes: the standard library reads back exactly what was rendered."""

from __future__ import annotations

from email import message_from_bytes, policy

import pandas as pd

from campaigns.mime import build_mime, encode_header, message_id

AT = pd.Timestamp("2026-12-01 09:30:00", tz="UTC")
UNSUB = "http://127.0.0.1:8000/u/token.abc.def"


def _one(
    subject: str = "Скидка 10% для Анны", text: str = "Привет!\n", html: str = "<p>Привет</p>"
):
    (raw,) = build_mime(
        ["winback:1:42:2026-12-01"],
        ["anna@example.com"],
        [subject],
        [text],
        [html],
        [UNSUB],
        email_from="Магазин <news@shop.example>",
        date=AT,
    )
    return raw, message_from_bytes(raw, policy=policy.default)


def test_headers_parse_back() -> None:
    raw, msg = _one()
    assert msg["Subject"] == "Скидка 10% для Анны"
    assert msg["To"] == "anna@example.com"
    assert msg["From"].addresses[0].display_name == "Магазин"
    assert msg["From"].addresses[0].addr_spec == "news@shop.example"
    assert msg["Date"].datetime == AT.to_pydatetime()
    assert msg["Message-ID"] == message_id("winback:1:42:2026-12-01", "shop.example")
    assert msg["List-Unsubscribe"] == f"<{UNSUB}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    assert raw.count(b"\n") == raw.count(b"\r\n")  # CRLF only
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_both_parts_decode_to_the_rendered_text() -> None:
    long_html = "<p>" + "Зимняя распродажа! " * 400 + "</p>"
    _raw, msg = _one(text="Строка 1\nСтрока 2", html=long_html)
    assert not msg.defects
    plain, html = list(msg.iter_parts())
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content_charset() == "utf-8"
    assert plain.get_payload(decode=True).decode("utf-8") == "Строка 1\nСтрока 2"
    assert html.get_content_type() == "text/html"
    assert html.get_payload(decode=True).decode("utf-8") == long_html


def test_long_non_ascii_subject_is_folded_into_encoded_words() -> None:
    subject = "Ваши бонусы сгорают через 7 дней — успейте потратить их на подарки 🎁"
    raw, msg = _one(subject=subject)
    assert msg["Subject"] == subject
    header = raw.split(b"\r\nMessage-ID")[0].split(b"Subject: ")[1]
    assert all(len(line) <= 78 for line in header.split(b"\r\n"))


def test_ascii_header_unchanged_and_newlines_flattened() -> None:
    assert encode_header("Hello Jane") == b"Hello Jane"
    assert encode_header("two\nlines") == b"two lines"


def test_same_key_same_bytes_and_distinct_keys_distinct_ids() -> None:
    first, _ = _one()
    again, _ = _one()
    assert first == again
    a, b = build_mime(
        ["k1", "k2"],
        ["a@x.example", "b@x.example"],
        ["s", "s"],
        ["t", "t"],
        ["h", "h"],
        [UNSUB, UNSUB],
        email_from="news@shop.example",
        date=AT,
    )
    ids = {message_from_bytes(m, policy=policy.default)["Message-ID"] for m in (a, b)}
    assert len(ids) == 2
