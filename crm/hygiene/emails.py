"""Email addresses: syntax and normalisation with ``email-validator`` (no network), flags (D5).

The normalised address is lower-cased (domain in Unicode, so ``.рф`` stays readable).
Domain typos of popular providers (``gmial.com``, ``mail.ry``) are *suggested*, never
silently corrected; role addresses (``info@``, ``sales@``, ``noreply@``), free-mail and
disposable domains are flagged from lists: the maintained ``disposable-email-domains``
package plus the files in ``crm/hygiene/data``.

Plain ASCII addresses that a strict pattern accepts skip the per-value validator (the
pattern accepts a subset of what ``email-validator`` accepts, see the tests); the rest is
validated once per distinct value.

Example
-------
>>> normalise_emails(pd.Series(["Ivan.Petrov@Mail.RU", "info@acme.ru", "anna@gmial.com"]))
"""

from __future__ import annotations

from functools import cache, lru_cache

import email_validator
import numpy as np
import pandas as pd
from rapidfuzz.distance import OSA

from crm.hygiene._common import map_distinct, read_list, read_table, to_text

__all__ = [
    "EMAIL_COLUMNS",
    "EMAIL_REASONS",
    "disposable_domains",
    "email_key",
    "free_domains",
    "normalise_emails",
    "role_local_parts",
    "suggest_domain",
]

#: Columns returned by :func:`normalise_emails`.
EMAIL_COLUMNS = (
    "normalized",
    "is_valid",
    "invalid_reason",
    "detail",
    "local_part",
    "domain",
    "suggestion",
    "is_free",
    "is_disposable",
    "is_role",
    "email_key",
)

#: Why an address is not usable (``invalid_reason``).
EMAIL_REASONS = {
    "invalid_syntax": "not an email address (see detail)",
    "domain_typo": "the domain looks like a typo of a popular provider (see suggestion)",
    "disposable_domain": "a throw-away mailbox service",
}

# Providers whose second-level label is worth fuzzy-matching against (typos of these are common).
_POPULAR = (
    "gmail.com",
    "yandex.ru",
    "mail.ru",
    "rambler.ru",
    "hotmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "inbox.ru",
    "list.ru",
)
_TLD_TYPOS = {
    "ry": "ru",
    "tu": "ru",
    "ri": "ru",
    "rj": "ru",
    "r": "ru",
    "cm": "com",
    "con": "com",
    "cmo": "com",
    "comm": "com",
    "vom": "com",
    "xom": "com",
    "om": "com",
    "co": "com",
}
_STRICT = (
    r"^[a-z0-9_+\-]+(?:\.[a-z0-9_+\-]+)*"  # local part: dot-atoms of common characters
    # domain labels; none with "--" in its 3rd and 4th places but Punycode's "xn--" (RFC 5890's
    # reserved R-LDH labels, which email-validator refuses)
    r"@(?:(?!(?!xn)..--)[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$"
)
# Mailboxes reached under several domains (yandex) or that ignore dots and +tags (gmail).
_ALIASES = {
    "googlemail.com": "gmail.com",
    "ya.ru": "yandex.ru",
    "yandex.com": "yandex.ru",
    "yandex.by": "yandex.ru",
    "yandex.kz": "yandex.ru",
    "yandex.ua": "yandex.ru",
    "narod.ru": "yandex.ru",
}


@cache
def free_domains() -> frozenset[str]:
    """Free (consumer) mailbox domains (``gmail.com``, ``mail.ru``, ``yandex.ru``…)."""
    return read_list("free_email_domains.txt")


@cache
def disposable_domains() -> frozenset[str]:
    """Throw-away mailbox domains: the ``disposable-email-domains`` list plus our own additions."""
    own = read_list("disposable_email_domains.txt")
    try:
        from disposable_email_domains import blocklist
    except (
        ImportError
    ):  # the maintained list is a dependency; our file still covers the common ones
        return own
    return frozenset(blocklist) | own


@cache
def role_local_parts() -> frozenset[str]:
    """Local parts that name a function (``info``, ``sales``, ``noreply``, ``buh``…)."""
    return read_list("role_local_parts.txt")


@cache
def _typo_map() -> dict[str, str]:
    return {typo.lower(): right.lower() for typo, right in read_table("domain_typos.tsv", 2)}


@lru_cache(maxsize=50_000)
def suggest_domain(domain: str) -> str | None:
    """The popular domain ``domain`` is probably a typo of, or ``None``.

    Known domains (free-mail list) are never "corrected": ``ymail.com`` and ``mail.com``
    are real providers. Typo-squatting domains may also be on the disposable list
    (``gmial.com`` is); they still get the suggestion. Rules: the typo list, a misspelt top-level domain
    (``.ry``, ``.con``), or a second-level label one edit (transpositions count as one)
    away from a popular provider with the same top-level domain.

    >>> suggest_domain("gmial.com"), suggest_domain("yandx.ru"), suggest_domain("acme.ru")
    ('gmail.com', 'yandex.ru', None)
    """
    domain = domain.lower()
    known = _typo_map().get(domain)
    if known:
        return known
    if domain in free_domains():
        return None
    label, _, tld = domain.rpartition(".")
    if not label:
        return None
    fixed_tld = _TLD_TYPOS.get(tld)
    if fixed_tld and f"{label}.{fixed_tld}" in _POPULAR:
        return f"{label}.{fixed_tld}"
    for tld_try in (tld, fixed_tld):
        if tld_try is None:
            continue
        for popular in _POPULAR:
            p_label, _, p_tld = popular.rpartition(".")
            if p_tld != tld_try or len(p_label) < 5 or "." in label:
                continue
            if OSA.distance(label, p_label, score_cutoff=1) <= 1:
                return popular
    return None


def _validate(address: str) -> tuple[str | None, bool, str | None, str | None]:
    try:
        info = email_validator.validate_email(
            address, check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as exc:
        return None, False, "invalid_syntax", str(exc)
    return info.normalized.lower(), True, None, None


def _clean(values: pd.Series) -> pd.Series:
    s = to_text(values).str.lower()
    s = s.str.replace(r"^mailto:", "", regex=True).str.strip("<>\"' ,;.")
    return s.mask(s == "")


def normalise_emails(values: pd.Series) -> pd.DataFrame:
    """Validate and normalise email addresses and flag role, free-mail and disposable ones.

    Parameters
    ----------
    values : pandas.Series
        Raw addresses as entered; missing values allowed.

    Returns
    -------
    pandas.DataFrame
        Same index as ``values``, with columns

        - ``normalized``: the lower-cased address, missing when the syntax is invalid;
        - ``is_valid``: syntax valid and not a domain typo or disposable (missing for a missing value);
        - ``invalid_reason``: a key of :data:`EMAIL_REASONS`; ``detail``: the validator's message;
        - ``local_part``, ``domain``;
        - ``suggestion``: the address with the domain a typo probably meant (``anna@gmail.com``);
        - ``is_free``, ``is_disposable``, ``is_role``: flags (``False`` for missing values);
        - ``email_key``: the mailbox for duplicate matching (gmail without dots and ``+tag``,
          yandex's alias domains folded to ``yandex.ru``).
    """
    text = _clean(values)
    strict = text.str.fullmatch(_STRICT).fillna(False).astype(bool)
    tld = text.str.extract(r"\.([^.]*)$")[0]
    strict &= ~tld.isin(email_validator.SPECIAL_USE_DOMAIN_NAMES).to_numpy()
    strict &= (text.str.len() <= 254) & (text.str.find("@") <= 64)
    slow = map_distinct(text.where(~strict), _validate, ("normalized", "ok", "reason", "detail"))
    normalized = text.where(strict, slow["normalized"]).astype("str")
    ok = strict | slow["ok"].fillna(False).astype(bool)

    parts = normalized.str.extract(r"^(?P<local>.*)@(?P<domain>[^@]*)$")
    local = parts["local"].astype("str")
    domain = parts["domain"].astype("str")
    dom_codes, dom_uniques = pd.factorize(domain)
    free, disp = free_domains(), disposable_domains()
    u_free = np.array([d in free for d in dom_uniques] + [False])
    u_disp = np.array([d in disp for d in dom_uniques] + [False])
    u_sugg = np.array([suggest_domain(d) for d in dom_uniques] + [None], dtype=object)
    is_free = pd.Series(u_free[dom_codes], index=values.index)
    is_disp = pd.Series(u_disp[dom_codes], index=values.index)
    sugg_dom = pd.Series(u_sugg[dom_codes], index=values.index, dtype="str")
    base_local = local.str.replace(r"\+.*$", "", regex=True)
    is_role = base_local.isin(role_local_parts()).fillna(False).astype(bool) & ok

    reason = pd.Series(
        np.select(
            [~ok & text.notna(), sugg_dom.notna(), is_disp],
            ["invalid_syntax", "domain_typo", "disposable_domain"],
            default="",
        ),
        index=values.index,
        dtype="str",
    ).mask(lambda s: s == "")
    valid = (ok & reason.isna()).astype("boolean").mask(text.isna())
    detail = slow["detail"].astype("str").where(reason == "invalid_syntax")
    detail = detail.where(reason != "domain_typo", "did you mean " + local + "@" + sugg_dom + "?")
    return pd.DataFrame(
        {
            "normalized": normalized,
            "is_valid": valid,
            "invalid_reason": reason,
            "detail": detail,
            "local_part": local,
            "domain": domain,
            "suggestion": (local + "@" + sugg_dom).where(sugg_dom.notna()),
            "is_free": is_free,
            "is_disposable": is_disp,
            "is_role": is_role,
            "email_key": _mailbox(local, domain),
        },
        index=values.index,
    )


def _mailbox(local: pd.Series, domain: pd.Series) -> pd.Series:
    dom = domain.replace(_ALIASES)
    plus = dom.isin(("gmail.com", "yandex.ru", "outlook.com", "hotmail.com", "icloud.com"))
    loc = local.where(~plus, local.str.replace(r"\+.*$", "", regex=True))
    gmail = dom == "gmail.com"
    loc = loc.where(~gmail, loc.str.replace(".", "", regex=False))
    yandex = dom == "yandex.ru"
    loc = loc.where(~yandex, loc.str.replace(".", "-", regex=False))  # yandex: "." and "-" alike
    return (loc + "@" + dom).astype("str")


def email_key(values: pd.Series) -> pd.Series:
    """The mailbox key of each syntactically valid address (missing otherwise), for matching."""
    out = normalise_emails(values)
    return out["email_key"].where(out["normalized"].notna())
