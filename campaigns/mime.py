"""Pre-rendered RFC 5322 email bytes, ready for the gateway to hand to SMTP as they are.

Each message is ``multipart/alternative`` with a plain-text and an HTML part, both UTF-8 in
base64 (no line of the body can exceed SMTP's 998 octets whatever the template does), a
``Subject`` in RFC 2047 encoded words when it is not plain ASCII, a ``Message-ID`` derived
from the message's idempotency key (the same message always has the same id, so a resend is
recognisably the same mail), and the RFC 8058 one-click unsubscribe headers
``List-Unsubscribe: <https://…>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.

Building a :class:`email.message.EmailMessage` costs about 100 µs a message; the bytes here
are joined from pieces computed once per batch (``From``, ``Date``, the part headers) and per
message (``To``, subject, ids, the two base64 bodies), a few µs each. The standard library's
parser reads them back without defects (see ``tests/campaigns/test_mime.py``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from email.headerregistry import Address
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

import pandas as pd

__all__ = ["build_mime", "encode_header", "message_id"]

_CRLF = b"\r\n"
_LINE = 76  # base64 characters per body line (RFC 2045)
_WORD_BYTES = 45  # UTF-8 bytes per encoded word: "=?utf-8?b?" + 60 base64 chars + "?=" = 72


def _utf8_chunks(data: bytes, limit: int) -> list[bytes]:
    """UTF-8 ``data`` in pieces of at most ``limit`` bytes, never splitting a character."""
    chunks = []
    start = 0
    while len(data) - start > limit:
        cut = start + limit
        while data[cut] & 0xC0 == 0x80:  # a continuation byte: back off to the character start
            cut -= 1
        chunks.append(data[start:cut])
        start = cut
    chunks.append(data[start:])
    return chunks


def encode_header(text: str) -> bytes:
    """A header value: ASCII as it is, anything else as folded RFC 2047 ``B`` encoded words.

    Line breaks in ``text`` become spaces (a header is one logical line).

    Examples
    --------
    >>> encode_header("Hello")
    b'Hello'
    >>> encode_header("Привет")
    b'=?utf-8?b?0J/RgNC40LLQtdGC?='
    """
    text = " ".join(text.split()) if ("\r" in text or "\n" in text) else text
    if text.isascii() and len(text) <= 900:
        return text.encode("ascii")
    data = text.encode("utf-8")
    if len(data) <= _WORD_BYTES:
        return b"=?utf-8?b?" + base64.b64encode(data) + b"?="
    words = [b"=?utf-8?b?" + base64.b64encode(c) + b"?=" for c in _utf8_chunks(data, _WORD_BYTES)]
    return b"\r\n ".join(words)


def message_id(message_key: str, domain: str) -> str:
    """``<hash@domain>``: the Message-ID of the message with this idempotency key."""
    digest = hashlib.blake2b(message_key.encode("utf-8"), digest_size=16).hexdigest()
    return f"<{digest}@{domain}>"


def _body(text: str) -> bytes:
    encoded = base64.b64encode(text.encode("utf-8"))
    if len(encoded) <= _LINE:
        return encoded
    return _CRLF.join([encoded[i : i + _LINE] for i in range(0, len(encoded), _LINE)])


def _from_header(email_from: str) -> tuple[bytes, str]:
    """The encoded ``From`` value and the sender's domain (for Message-IDs)."""
    name, addr = parseaddr(email_from)
    if "@" not in addr:
        raise ValueError(f"email_from={email_from!r}: expected 'Name <user@domain>' or an address")
    domain = addr.rsplit("@", 1)[1]
    if name and not name.isascii():
        return encode_header(name) + b" <" + addr.encode("ascii") + b">", domain
    return formataddr((name, addr)).encode("ascii"), domain


def build_mime(
    message_keys: Sequence[str],
    to_addresses: Sequence[str],
    subjects: Sequence[str],
    texts: Sequence[str],
    htmls: Sequence[str],
    unsubscribe_urls: Sequence[str],
    *,
    email_from: str,
    date: Any,
) -> list[bytes]:
    """RFC 5322 bytes of many emails at once.

    Parameters
    ----------
    message_keys : sequence of str
        The outbox idempotency keys; each gives its message's ``Message-ID`` and boundary.
    to_addresses : sequence of str
        Recipients' addresses (already validated).
    subjects, texts, htmls : sequence of str
        The rendered subject, plain-text and HTML parts.
    unsubscribe_urls : sequence of str
        The signed one-click unsubscribe URL of each message (``campaigns.links``).
    email_from : str
        The sender, ``"Shop <news@shop.example>"``.
    date : instant
        The ``Date`` header (the run's ``as_of``; aware, naive is taken as UTC).

    Returns
    -------
    list of bytes
        One message per input row, CRLF line ends.
    """
    sender, domain = _from_header(email_from)
    stamp = pd.Timestamp(date)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    template = _message_template(sender, domain, format_datetime(stamp.to_pydatetime()))
    bodies: dict[str, bytes] = {}  # many recipients share a body: encode each text once
    subjects_seen: dict[str, bytes] = {}
    blake2b = hashlib.blake2b
    out: list[bytes] = []
    for key, to, subject, text, html, unsubscribe in zip(
        message_keys, to_addresses, subjects, texts, htmls, unsubscribe_urls, strict=True
    ):
        digest = blake2b(key.encode("utf-8"), digest_size=16).hexdigest().encode()
        text_body = bodies.get(text)
        if text_body is None:
            text_body = bodies[text] = _body(text)
        html_body = bodies.get(html)
        if html_body is None:
            html_body = bodies[html] = _body(html)
        subject_value = subjects_seen.get(subject)
        if subject_value is None:
            subject_value = subjects_seen[subject] = encode_header(subject)
        out.append(
            template
            % (
                to.encode("ascii") if to.isascii() else _idn_address(to),
                subject_value,
                digest,
                unsubscribe.encode("ascii"),
                digest,
                digest,
                text_body,
                digest,
                html_body,
                digest,
            )
        )
    return out


def _message_template(sender: bytes, domain: str, date: str) -> bytes:
    """Every header and boundary line of a batch's messages, with ``%b`` where a message's
    own bytes go: To, Subject, the digest (Message-ID and boundary), List-Unsubscribe, the
    two base64 bodies. Built once per batch; each message is one ``%`` away."""
    fixed = (
        b"From: " + sender + b"\r\nDate: " + date.encode("ascii") + b"\r\nMIME-Version: 1.0"
        b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    ).replace(b"%", b"%%")
    part = (
        b'\r\nContent-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    )
    boundary = b"==crm_%b"
    return b"".join(
        (
            fixed,
            b"To: %b\r\nSubject: %b\r\nMessage-ID: <%b@",
            domain.encode("ascii").replace(b"%", b"%%"),
            b'>\r\nList-Unsubscribe: <%b>\r\nContent-Type: multipart/alternative; boundary="',
            boundary,
            b'"\r\n\r\n--',
            boundary,
            part % b"plain",
            b"%b\r\n--",
            boundary,
            part % b"html",
            b"%b\r\n--",
            boundary,
            b"--\r\n",
        )
    )


def _idn_address(address: str) -> bytes:
    """A non-ASCII address: the domain in IDNA; a non-ASCII local part stays UTF-8 (SMTPUTF8)."""
    local, _, domain = address.rpartition("@")
    encoded = Address(username=local, domain=domain.encode("idna").decode("ascii"))
    return str(encoded).encode("utf-8")
