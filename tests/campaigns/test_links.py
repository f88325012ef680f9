"""Signed unsubscribe, click and open links: round trips, tampering, expiry, purposes."""

from __future__ import annotations

import pandas as pd
import pytest
from itsdangerous import TimestampSigner

from campaigns.errors import ExpiredLinkError, InvalidLinkError
from campaigns.links import (
    click_url,
    open_pixel_url,
    read_click_token,
    read_open_token,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
)

SECRET = "test-secret"
AT = pd.Timestamp("2026-12-01 09:30:00", tz="UTC")
KEY = "winback:3:1042:2026-12-01"


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_unsubscribe_token_round_trip() -> None:
    token = unsubscribe_token(SECRET, KEY, 1042, "sms", issued_at=AT)
    read = read_unsubscribe_token(SECRET, token, max_age_s=None)
    assert read.message_key == KEY
    assert read.customer_id == 1042
    assert read.channel == "sms"
    assert read.issued_at == AT


def test_tokens_are_what_itsdangerous_itself_signs_and_reads() -> None:
    token = unsubscribe_token(SECRET, KEY, 7, "email", issued_at=AT)
    signer = TimestampSigner(SECRET, salt="crm.unsubscribe")
    payload, stamp = signer.unsign(token, return_timestamp=True)
    assert stamp == AT.to_pydatetime()
    # re-signing the same payload at the same second gives the same token
    signer.get_timestamp = lambda: int(AT.timestamp())  # type: ignore[method-assign]
    assert signer.sign(payload).decode() == token


def test_same_inputs_same_token_so_preview_equals_send() -> None:
    assert unsubscribe_token(SECRET, KEY, 7, "email", issued_at=AT) == unsubscribe_token(
        SECRET, KEY, 7, "email", issued_at=AT
    )


def test_a_token_without_issued_at_is_still_readable() -> None:
    token = unsubscribe_token(SECRET, KEY, 7, "email")
    assert read_unsubscribe_token(SECRET, token, max_age_s=3600).customer_id == 7


def test_tampered_or_foreign_tokens_are_refused() -> None:
    token = unsubscribe_token(SECRET, KEY, 1042, "sms", issued_at=AT)
    _payload, stamp, signature = token.split(".")
    forged_payload = unsubscribe_token(SECRET, KEY, 1043, "sms", issued_at=AT).split(".")[0]
    with pytest.raises(InvalidLinkError, match="unsubscribe token: not a valid link"):
        read_unsubscribe_token(SECRET, f"{forged_payload}.{stamp}.{signature}", None)
    with pytest.raises(InvalidLinkError):
        read_unsubscribe_token("another-secret", token, None)
    with pytest.raises(InvalidLinkError):
        read_unsubscribe_token(SECRET, "garbage", None)


def test_expired_token_is_refused_with_its_age_limit() -> None:
    token = unsubscribe_token(SECRET, KEY, 1042, "sms", issued_at="2020-01-01T00:00:00Z")
    with pytest.raises(ExpiredLinkError, match="older than 3600 s"):
        read_unsubscribe_token(SECRET, token, max_age_s=3600)


def test_purposes_do_not_mix() -> None:
    click = _token(
        click_url("https://t.example", SECRET, KEY, "https://shop.example/a", issued_at=AT)
    )
    with pytest.raises(InvalidLinkError):
        read_unsubscribe_token(SECRET, click, None)
    opened = _token(open_pixel_url("https://t.example", SECRET, KEY, issued_at=AT))
    with pytest.raises(InvalidLinkError):
        read_click_token(SECRET, opened.removesuffix(".gif"))


def test_click_token_carries_the_target_url() -> None:
    target = "https://shop.example/winter?utm_source=crm&x=ж"
    url = click_url("https://t.example/", SECRET, KEY, target, issued_at=AT)
    assert url.startswith("https://t.example/c/")
    read = read_click_token(SECRET, _token(url))
    assert (read.message_key, read.url, read.issued_at) == (KEY, target, AT)


def test_open_pixel_and_unsubscribe_urls() -> None:
    pixel = open_pixel_url("http://127.0.0.1:8000", SECRET, KEY, issued_at=AT)
    assert pixel.startswith("http://127.0.0.1:8000/o/") and pixel.endswith(".gif")
    assert read_open_token(SECRET, _token(pixel)).message_key == KEY
    link = unsubscribe_url("http://127.0.0.1:8000", SECRET, KEY, 5, "email", issued_at=AT)
    assert link == "http://127.0.0.1:8000/u/" + unsubscribe_token(
        SECRET, KEY, 5, "email", issued_at=AT
    )


def test_the_separator_is_refused_in_fields() -> None:
    with pytest.raises(ValueError, match="U\\+001F"):
        unsubscribe_token(SECRET, "a\x1fb", 1, "sms", issued_at=AT)
