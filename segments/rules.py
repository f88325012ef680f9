"""Marketer-defined segments (S1, S2): the language, and the names callers import.

The work is done in one module per step, each re-exported here:
:mod:`segments.language` (kinds, operators, the definition tree), :mod:`segments.loader`
(the YAML file with line numbers), :mod:`segments.schema` (a profile schema from a frame),
:mod:`segments.validation` (definitions against a schema), :mod:`segments.evaluation`
(vectorised masks over the profiles) and :mod:`segments.memberships` (entered / left).

A marketer writes segments in YAML; each condition remembers its line, so a mistake is reported
as ``line N, field F: what is wrong; how to fix`` before anything runs, and every mistake of a
file is reported at once. Evaluation is vectorised over a whole profiles frame (one row per
customer, any columns) and relative windows ("the last 90 days") are computed against an
explicit ``as_of``.

The language
------------
.. code-block:: yaml

    segments:
      - name: vip_moscow                   # unique, no spaces
        title: "VIP Москва"                # optional, for people
        description: Champions in Moscow   # optional
        where:
          all:                             # all / any: a non-empty list (or a mapping)
            - rfm_segment: {in: [Champions, Loyal]}
            - city: Москва                 # a bare scalar means eq; a bare list means in
            - revenue: {gte: 50000, lt: 1000000}   # several operators on one field: all of them
            - last_order_at: {within_last: 90 days}
            - not: {tags: {has_any: ["interest:sport"]}}
            - any: [{email_consent: true}, {sms_consent: true}]
            - birth_date: {birthday_within_next: 7 days}

A mapping with several keys is ``all`` of them; ``not`` takes one condition (a mapping);
``field: null`` means ``is_null: true``.

====================================  =====================================================
operators                             field kinds
====================================  =====================================================
``eq ne``                             every kind but tags (``eq``/``in`` on tags: has_any)
``gt gte lt lte between``             number, integer, datetime, date (``between: [lo, hi]``,
                                      both ends included)
``in not_in``                         number, integer, string, category, datetime, date
``is_null not_null``                  every kind (``is_null: true``); tags: no tags at all
``contains starts_with``              string, category
``has_any has_all has_none``          tags (a list of tags, or one tag)
``within_last not_within_last``       datetime, date (a window: ``"90 days"``,
``older_than within_next``            ``"2 weeks"``, ``"3 months"``, ``"7 дней"``)
``birthday_within_next``              date, datetime (month and day only)
``birthday_within_last``
====================================  =====================================================

Text (string, category and tags) is compared after :func:`normalize_text`: stripped, NFC,
``str.casefold`` and "ё" read as "е", so ``city: москва`` matches "Москва" and "Королёв"
matches "королев" (Russian writes ё as е often enough that a marketer expects this).

Windows (``w`` = the window, ``t`` = the value; for date columns the same with whole days
against ``as_of``'s date, ``d0``):

* ``within_last w``: ``as_of - w < t <= as_of``; ``within_next w``: ``as_of <= t < as_of + w``;
* ``older_than w``: ``t <= as_of - w``;
* ``not_within_last w``: a known ``t`` outside ``within_last`` (older, or in the future);
* ``birthday_within_next N days``: the birthday (month, day) falls on one of the ``N`` days
  ``d0, d0 + 1, …, d0 + N - 1`` (today counts; 28 December + 7 days reaches 3 January), and
  ``birthday_within_last N days`` on ``d0 - N + 1, …, d0``. Someone born on 29 February has the
  birthday on 28 February in common years (as in :mod:`loyalty.bonuses`). Months are
  calendar months (``as_of + 1 month``), a week 7 days.

Missing values (three-valued logic, simplified)
-----------------------------------------------
A missing value (NaN, NaT, None) never satisfies a comparison: ``eq``, ``ne``, ``gt``, ``in``,
``not_in``, ``contains``, windows, birthdays are all False on it; only ``is_null`` is True.
``not`` simply negates the boolean mask, so it *includes* the missing rows:
``city: {ne: Москва}`` is "a known city other than Moscow" while
``not: {city: Москва}`` is "not known to be in Moscow" (other cities and no city). Missing
tags (None) read as no tags. This is SQL's ``WHERE`` with ``NOT`` taken as "not true" rather
than the full three-valued ``NOT``; it is what marketers expect of "not in Moscow" lists.

Relative times
--------------
``as_of`` is read by :func:`crm.asof.as_instant` (in UTC): a bare date is the end of that day
(that day's orders count as "within the last 90 days"), a naive datetime is UTC wall-clock
time, an aware datetime is taken as it is. Datetime columns (naive ones read as UTC) are
compared with that instant; date columns (and birthdays) with ``as_of``'s calendar date as
written (an aware datetime's date in its own zone), so pass ``as_of`` in the business's zone
for local birthdays (a birthday kept in a tz-aware datetime column is read by its UTC date).

Evaluation
----------
Every condition becomes a numpy boolean mask over the rows; ``all``/``any``/``not`` combine
masks. A field is prepared once per :class:`PreparedProfiles` (the first time a condition
reads it) into arrays that make each later condition a single array operation:

* text and categories → integer codes of the normalised distinct values: ``eq``/``in`` mark
  the wanted codes in a small table and index it with the codes; ``contains``/``starts_with``
  test the distinct values only (tens or thousands, not a million rows);
* tags → postings (for each tag the sorted rows that hold it; the columns of a sparse
  rows × tags matrix): ``has_any`` sets the rows of the wanted tags, ``has_all`` counts them;
* datetimes → int64 nanoseconds (UTC), dates → int64 days, numbers → float64 / int64, each with
  a "known" mask; birthdays → ``month * 32 + day`` codes looked up in the window's table.

Within one :func:`evaluate_many` call identical conditions in different segments share a mask.
100 segments over 1M profiles take about a second, a one-segment preview a third of one from a
raw frame and milliseconds on a prepared one (``bench/results/segments.md``).

Example
-------
>>> schema = schema_from_frame(profiles, {"rfm_segment": SEGMENTS})   # RFM names are checked
>>> definitions = load_segments("segments/segments.example.yaml", schema)
>>> prepared = PreparedProfiles(profiles, categories={"rfm_segment": SEGMENTS})
>>> members = evaluate_many(definitions, prepared, as_of=date(2026, 11, 1))  # segment, customer_id
>>> count, sample = preview(definitions[0], prepared, as_of=date(2026, 11, 1), sample=10)
>>> changes = membership_changes(last_run, members, as_of=date(2026, 11, 1))  # entered / left
"""

from __future__ import annotations

from segments.evaluation import PreparedProfiles, evaluate, evaluate_many, preview
from segments.language import (
    KINDS,
    OPERATORS,
    Condition,
    FieldSpec,
    Group,
    SegmentDefinition,
    normalize_text,
)
from segments.loader import load_segments
from segments.memberships import membership_changes
from segments.schema import schema_from_frame
from segments.validation import validate

__all__ = [
    "KINDS",
    "OPERATORS",
    "Condition",
    "FieldSpec",
    "Group",
    "PreparedProfiles",
    "SegmentDefinition",
    "evaluate",
    "evaluate_many",
    "load_segments",
    "membership_changes",
    "normalize_text",
    "preview",
    "schema_from_frame",
    "validate",
]
