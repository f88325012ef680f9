"""Log masking: emails and phone numbers never reach the logs in the clear.

``j***@example.com`` keeps the first letter and the domain; ``+7***4567`` keeps the
first two characters and the last four digits of anything with ten digits or more (or a
``+`` and seven), dates excepted. Installed as a :class:`logging.Filter` on
the gateway's and uvicorn's loggers by :func:`install`.
"""

from __future__ import annotations

import logging
import re

__all__ = ["MaskingFilter", "install", "mask"]

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# a run of digits with +, spaces, dashes, dots or brackets between them
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d\s().-]{5,}\d(?![\w])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    is_phone = len(digits) >= 10 or (text.startswith("+") and len(digits) >= 7)
    if not is_phone or _DATE.match(text):
        return text
    return text[:2] + "***" + digits[-4:]


def mask(text: str) -> str:
    """``text`` with every email address and phone number masked.

    >>> mask("jane.doe@example.com called from +7 (912) 345-67-89")
    'j***@example.com called from +7***6789'
    """
    return _PHONE.sub(_phone, _EMAIL.sub(r"\1***@\2", text))


class MaskingFilter(logging.Filter):
    """Rewrites each record's message with :func:`mask` (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a record whose args do not fit: leave it alone
            return True
        record.msg = mask(message)
        record.args = None
        return True


def install(*names: str) -> MaskingFilter:
    """Add one :class:`MaskingFilter` to the named loggers and their handlers."""
    flt = MaskingFilter()
    for name in names or ("api", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskingFilter) for f in logger.filters):
            logger.addFilter(flt)
        for handler in logger.handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(flt)
    return flt
