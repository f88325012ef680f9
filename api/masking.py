"""Log masking: emails and phone numbers never reach the logs in the clear.

``j***@example.com`` keeps the first letter and the domain; ``+7***4567`` keeps the
country code's first digits and the last four. Installed as a :class:`logging.Filter` on
the gateway's and uvicorn's loggers by :func:`install`.
"""

from __future__ import annotations

import logging
import re

__all__ = ["MaskingFilter", "install", "mask"]

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# a run of 7+ digits, possibly with +, spaces, dashes, dots or brackets between them
_PHONE = re.compile(r"(?<![\w])(\+?\d)[\d\s().-]{5,}(\d{4})(?![\w])")


def mask(text: str) -> str:
    """``text`` with every email address and phone number masked.

    >>> mask("jane.doe@example.com called from +7 (912) 345-67-89")
    'j***@example.com called from +7***6789'
    """
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(lambda m: m.group(1) + "***" + m.group(2), text)


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
