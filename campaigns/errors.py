"""Exceptions of the ``campaigns`` package.

Every exception raised on purpose by ``campaigns`` derives from :class:`CampaignsError`, so a
flow, the CLI or the gateway catches the whole family with one ``except``. Each carries what
is at fault (the template and its line, the token's purpose) and says how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CampaignsError",
    "ExpiredLinkError",
    "InvalidLinkError",
    "LinkError",
    "TemplateRenderError",
    "TemplateResourceError",
]


class CampaignsError(Exception):
    """Base class of every error raised by the ``campaigns`` package."""


class LinkError(CampaignsError, ValueError):
    """A signed link token cannot be used.

    Attributes
    ----------
    purpose : str
        What the token was for (``"unsubscribe"``, ``"click"``, ``"open"``).
    """

    def __init__(self, purpose: str, message: str) -> None:
        self.purpose = purpose
        super().__init__(f"{purpose} token: {message}")


class InvalidLinkError(LinkError):
    """The token was not signed with our secret for this purpose, or was altered."""


class ExpiredLinkError(LinkError):
    """The token is genuine but older than the accepted age."""


class TemplateRenderError(CampaignsError, ValueError):
    """A template failed for a recipient (missing variable, forbidden attribute, bad value).

    Attributes
    ----------
    template : str
        Which template (``"templates.email.ru.subject"``).
    line : int or None
        1-based line in that template, when known.
    """

    def __init__(self, template: str, message: str, line: int | None = None) -> None:
        self.template = template
        self.line = line
        self.message = message
        where = f"{template}, line {line}" if line else template
        super().__init__(f"{where}: {message}")


class TemplateResourceError(TemplateRenderError):
    """A template tried to use more time or memory than any message needs (huge ranges,
    string repetition, deep recursion, a giant output) and was stopped."""
