"""SMS length: encoding and segment count per 3GPP TS 23.038 / 23.040, cost estimate, warnings.

A text that uses only the GSM 7-bit default alphabet (and its extension table) is sent as
``"GSM-7"``: 160 septets in one message, 153 per part once it needs a User Data Header
(concatenated SMS). The extension characters (form feed and ``^{}\\[~]|€``) are an escape
plus a character, two septets, and a part never ends between the two. Anything else is sent
as ``"UCS-2"`` (UTF-16 on today's handsets): 70 code units in one message, 67 per part; a
character outside the Basic Multilingual Plane (an emoji) takes two units, a surrogate pair,
and is never split across parts either.

:func:`segment_count` counts one text; :func:`segment_counts` counts a column of them in
numpy (one pass over the code points of all texts), and only walks a text character by
character when it is long *and* holds a two-unit character, where the greedy packing decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "GSM7",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "UCS2",
    "cost_estimate",
    "segment_count",
    "segment_counts",
    "segment_warnings",
    "text_stats",
]

GSM7 = "GSM-7"
UCS2 = "UCS-2"

#: The GSM 7-bit default alphabet (TS 23.038 table 6.2.1) without the escape code 0x1B.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
).replace("\x1b", "")
#: The default extension table (TS 23.038 6.2.1.1): each costs an escape septet plus its own.
GSM7_EXTENSION = "\f^{}\\[~]|€"

_EXTENSION_SET = frozenset(GSM7_EXTENSION)
_GSM_ALL = frozenset(GSM7_BASIC) | _EXTENSION_SET
_SINGLE = {GSM7: 160, UCS2: 70}

_PART = {GSM7: 153, UCS2: 67}
_CYRILLIC = re.compile("[\u0400-\u04ff]")

# septets per BMP code point: 1 basic, 2 extension, 0 not in GSM-7
_GSM_COST = np.zeros(0x10000, dtype=np.int8)
_GSM_COST[[ord(c) for c in GSM7_BASIC]] = 1
_GSM_COST[[ord(c) for c in GSM7_EXTENSION]] = 2


def _greedy_parts(costs: Iterable[int], per_part: int) -> int:
    """Parts needed when each character (cost 1 or 2) must sit whole in a part of ``per_part``."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def segment_count(text: str) -> tuple[str, int]:
    """Encoding and number of SMS segments of one text (plain Python, for one-offs such as a
    preview; :func:`segment_counts` does a column at once and gives the same answers).

    Parameters
    ----------
    text : str
        The message as the recipient will read it.

    Returns
    -------
    tuple of (str, int)
        ``("GSM-7", n)`` or ``("UCS-2", n)``; an empty text is one (empty) segment.

    Examples
    --------
    >>> segment_count("a" * 160)
    ('GSM-7', 1)
    >>> segment_count("a" * 161)
    ('GSM-7', 2)
    >>> segment_count("Привет")
    ('UCS-2', 1)
    """
    if set(text) <= _GSM_ALL:
        encoding, units = GSM7, len(text) + sum(map(text.count, _EXTENSION_SET.intersection(text)))
        wide = units > len(text)
    else:
        encoding, units = UCS2, len(text.encode("utf-16-le")) // 2
        wide = units > len(text)
    if units <= _SINGLE[encoding]:
        return encoding, 1
    if not wide:
        return encoding, -(-units // _PART[encoding])
    if encoding == GSM7:
        costs = [2 if c in _EXTENSION_SET else 1 for c in text]
    else:
        costs = [2 if ord(c) >= 0x10000 else 1 for c in text]
    return encoding, _greedy_parts(costs, _PART[encoding])


def text_stats(texts: Iterable[str]) -> np.ndarray:
    """What decides each text's encoding and length, as counts that add up over concatenation.

    Parameters
    ----------
    texts : iterable of str

    Returns
    -------
    ndarray of int64, shape (n, 4)
        Per text: characters, characters outside GSM-7, GSM-7 extension characters, and
        characters outside the Basic Multilingual Plane. The stats of ``a + b`` are the stats
        of ``a`` plus those of ``b``, so a message built from a fixed text and a per-recipient
        value is counted from the two (:func:`segment_counts` ``stats=``).
    """
    items = texts if isinstance(texts, list) else [str(t) for t in texts]
    stats = np.zeros((len(items), 4), dtype=np.int64)
    if not items:
        return stats
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    stats[:, 0] = lengths
    points = np.frombuffer("".join(items).encode("utf-32-le"), dtype=np.uint32)
    if not len(points):
        return stats
    # code points past the table (astral) cost 0 there: not GSM-7, as U+FFFF itself
    cost = _GSM_COST.take(points, mode="clip")
    filled = lengths > 0
    starts = (np.cumsum(lengths) - lengths)[filled]
    # one pass each: the sum over each text's stretch (empty texts have none and count 0)
    stats[filled, 1] = np.add.reduceat(cost == 0, starts, dtype=np.int64)
    stats[filled, 2] = np.add.reduceat(cost == 2, starts, dtype=np.int64)
    astral = points >= 0x10000
    if astral.any():
        stats[filled, 3] = np.add.reduceat(astral, starts, dtype=np.int64)
    return stats


def segment_counts(
    texts: Iterable[str] | pd.Series, *, stats: np.ndarray | None = None
) -> pd.DataFrame:
    """Encoding and segment count of many texts at once.

    Parameters
    ----------
    texts : iterable of str or Series
        The message texts (no missing values).
    stats : ndarray, optional
        The texts' :func:`text_stats` when the caller has them already (the batch renderer
        adds up a template's fixed text and each recipient's values); computed when omitted.

    Returns
    -------
    DataFrame
        ``sms_encoding`` (``"GSM-7"``/``"UCS-2"``), ``sms_segments`` (int), ``sms_units``
        (septets for GSM-7, UTF-16 code units for UCS-2) and ``long_cyrillic`` (UCS-2 with
        Cyrillic letters and three segments or more), on the index of ``texts`` when it is a
        Series.
    """
    index = texts.index if isinstance(texts, pd.Series) else None
    items = [str(t) for t in texts]
    if stats is None:
        stats = text_stats(items)
    if len(stats) != len(items):
        raise ValueError(f"stats for {len(stats)} texts, {len(items)} texts")
    lengths, not_gsm, extension, n_astral = stats.T
    gsm = not_gsm == 0
    units = np.where(gsm, lengths + extension, lengths + n_astral)
    single = np.where(gsm, _SINGLE[GSM7], _SINGLE[UCS2])
    part = np.where(gsm, _PART[GSM7], _PART[UCS2])
    segments = np.where(units <= single, 1, -(-units // part))
    # a two-unit character may not straddle a part boundary: pack those few texts greedily
    for i in np.flatnonzero((units > single) & np.where(gsm, extension, n_astral).astype(bool)):
        if gsm[i]:
            costs = _GSM_COST[[ord(c) for c in items[i]]].tolist()
        else:
            costs = [2 if ord(c) >= 0x10000 else 1 for c in items[i]]
        segments[i] = _greedy_parts(costs, int(part[i]))
    long_ucs2 = np.flatnonzero(~gsm & (segments >= 3))
    long_cyrillic = np.zeros(len(items), dtype=bool)
    long_cyrillic[long_ucs2] = [_CYRILLIC.search(items[i]) is not None for i in long_ucs2]
    return pd.DataFrame(
        {
            "sms_encoding": np.where(gsm, GSM7, UCS2).astype(object),
            "sms_segments": segments.astype(np.int64),
            "sms_units": units.astype(np.int64),
            "long_cyrillic": long_cyrillic,
        },
        index=index,
    )


def cost_estimate(segments: pd.Series | Iterable[int], price_per_segment: float) -> pd.DataFrame:
    """What a send costs, by number of segments per message.

    Parameters
    ----------
    segments : Series or iterable of int
        Segments per message (``sms_segments``).
    price_per_segment : float
        What the provider charges for one segment.

    Returns
    -------
    DataFrame
        One row per segment count (``sms_segments``) with ``messages``, ``segments`` (billed)
        and ``cost``, plus a last row ``"total"``.

    Examples
    --------
    >>> cost_estimate([1, 1, 2], 2.5)["cost"].tolist()
    [5.0, 5.0, 10.0]
    """
    counts = pd.Series(list(segments), dtype="int64")
    table = counts.value_counts().sort_index().rename("messages").to_frame()
    table["segments"] = table.index.to_numpy() * table["messages"]
    table["cost"] = table["segments"] * float(price_per_segment)
    table.index = table.index.astype(object)
    table.index.name = "sms_segments"
    table.loc["total"] = [table["messages"].sum(), table["segments"].sum(), table["cost"].sum()]
    table[["messages", "segments"]] = table[["messages", "segments"]].astype("int64")
    return table


def segment_warnings(counts: pd.DataFrame) -> list[str]:
    """Warnings a marketer should see before sending, from :func:`segment_counts`' frame.

    Returns
    -------
    list of str
        Empty, or one line saying how many messages Cyrillic makes three segments or more.
    """
    long = int(counts["long_cyrillic"].sum())
    if not long:
        return []
    worst = int(counts.loc[counts["long_cyrillic"], "sms_segments"].max())
    return [
        f"{long} SMS in Cyrillic (UCS-2) take 3 or more segments (up to {worst}); each segment "
        f"holds 67 characters, so keep the text within {2 * _PART[UCS2]} characters for 2 "
        "segments or 70 for one"
    ]
