"""Exceptions of the ``loyalty`` package.

Every exception raised on purpose by ``loyalty`` derives from :class:`LoyaltyError`, so a
caller (a flow, the CLI, the gateway) can catch the family with one ``except``. Each
specific class carries what is at fault (the rules field and line, the customer, the prize,
the promo code) and its message says how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from crm import errors as crm_errors
from crm.definitions import DefinitionError, Problem

__all__ = [
    "InsufficientPointsError",
    "InvalidLedgerError",
    "LoyaltyError",
    "MissingColumnsError",
    "NotFoundError",
    "OutOfStockError",
    "PromoCodeError",
    "RulesError",
    "require_columns",
]


class LoyaltyError(Exception):
    """Base class of every error raised by the ``loyalty`` package."""


class RulesError(DefinitionError, LoyaltyError):
    """The operator's rules file is invalid (every problem listed, see :mod:`crm.definitions`).

    Attributes
    ----------
    problems : tuple of crm.definitions.Problem
        Every problem found, in file order.
    field : str
        Dotted path of the first field at fault (``"purchase_rules[1].percent"``).
    line : int or None
        1-based line of that field in the YAML file, when known.
    """

    def __init__(
        self,
        field: str | Iterable[Problem],
        message: str = "",
        line: int | None = None,
        source: str = "<rules>",
    ) -> None:
        problems = [Problem(source, line, field, message)] if isinstance(field, str) else field
        super().__init__(problems)
        self.field = self.problems[0].field
        self.line = self.problems[0].line


class MissingColumnsError(LoyaltyError, crm_errors.MissingColumnsError):
    """A frame lacks columns a function needs (``columns``, ``frame``: what it is)."""

    hint = "select them when reading the table"


class InvalidLedgerError(LoyaltyError, ValueError):
    """Ledger entries break a ledger rule (duplicate idempotency key, wrong sign for the kind).

    Attributes
    ----------
    field : str
        The column at fault.
    keys : tuple of str
        Idempotency keys of (up to ten of) the offending entries.
    """

    def __init__(self, field: str, keys: Iterable[str], problem: str) -> None:
        self.field = field
        self.keys = tuple(keys)[:10]
        super().__init__(f"ledger {field}: {problem}; entries {', '.join(self.keys)}")


class InsufficientPointsError(LoyaltyError, ValueError):
    """A customer tried to spend more points than are available.

    Attributes
    ----------
    customer_id : int
    needed, available : int
        Points asked for and points the customer can spend now.
    """

    def __init__(self, customer_id: int, needed: int, available: int) -> None:
        self.customer_id = customer_id
        self.needed = needed
        self.available = available
        super().__init__(
            f"customer {customer_id} needs {needed} points but has {available} available "
            "(pending points become available after the hold period)"
        )


class OutOfStockError(LoyaltyError, ValueError):
    """A prize has less stock than the redemption asks for.

    Attributes
    ----------
    prize_id : int
    requested, stock : int
    """

    def __init__(self, prize_id: int, requested: int, stock: int) -> None:
        self.prize_id = prize_id
        self.requested = requested
        self.stock = stock
        super().__init__(
            f"prize {prize_id}: {requested} requested but only {stock} left in stock; "
            "restock it or offer another prize"
        )


class PromoCodeError(LoyaltyError, ValueError):
    """A promo code cannot be used (unknown, not yet valid, expired, used up).

    Attributes
    ----------
    code : str
        The promo code.
    reason : str
        A short code: ``unknown``, ``not_started``, ``expired``, ``used_up``,
        ``customer_limit``, ``inactive``.
    """

    def __init__(self, code: str, reason: str, message: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"promo code {code!r}: {message}")


class NotFoundError(LoyaltyError, LookupError):
    """A prize, promo code or customer the caller named does not exist.

    Attributes
    ----------
    field : str
        What was looked up (``"prize_id"``, ``"code"``, ``"customer_id"``).
    value : object
        The value given.
    """

    def __init__(self, field: str, value: object) -> None:
        self.field = field
        self.value = value
        hint = {
            "prize_id": "check the id (crm loyalty prizes lists them)",
            "customer_id": "no such customer in this database; check the id",
        }.get(field, "check the spelling")
        super().__init__(f"no {field} {value!r}; {hint}")

    def __str__(self) -> str:  # LookupError/KeyError style quoting is not wanted here
        return str(self.args[0])


def require_columns(frame: Any, columns: Sequence[str], name: str) -> None:
    """Raise :class:`MissingColumnsError` naming what ``frame`` (called ``name``) lacks."""
    have = set(frame.columns.tolist())  # one pass: Index membership costs µs a column
    if not have.issuperset(columns):
        crm_errors.require_columns(frame, columns, name, MissingColumnsError)
