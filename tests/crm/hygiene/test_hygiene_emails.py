"""Emails (D5): syntax and normalisation without network, typos suggested, role/free/disposable flagged."""

from __future__ import annotations

import email_validator
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crm.hygiene.emails import (
    EMAIL_REASONS,
    disposable_domains,
    email_key,
    free_domains,
    normalise_emails,
    suggest_domain,
)


def test_domain_and_address_are_lower_cased() -> None:
    out = normalise_emails(
        pd.Series(["Ivan.Petrov@Mail.RU", "  <Jane.Smith@Gmail.COM> ", "mailto:a@b.ru"])
    )
    assert out["normalized"].tolist() == ["ivan.petrov@mail.ru", "jane.smith@gmail.com", "a@b.ru"]
    assert out["domain"].tolist() == ["mail.ru", "gmail.com", "b.ru"]
    assert out["is_valid"].tolist() == [True, True, True]


@pytest.mark.parametrize("raw", ["ivan@@mail.ru", "ivan at mail.ru", "a..b@x.ru", "a@x", "иван@"])
def test_broken_syntax_is_invalid_with_the_validators_message(raw: str) -> None:
    out = normalise_emails(pd.Series([raw]))
    assert out.loc[0, "invalid_reason"] == "invalid_syntax"
    assert not out.loc[0, "is_valid"]
    assert out["normalized"].isna().all()
    assert isinstance(out.loc[0, "detail"], str) and out.loc[0, "detail"]


def test_cyrillic_domain_stays_readable() -> None:
    out = normalise_emails(pd.Series(["Иван@Почта.РФ"]))
    assert out.loc[0, "normalized"] == "иван@почта.рф"
    assert out.loc[0, "is_valid"]


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("gmial.com", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("outlok.com", "outlook.com"),
        ("mail.ry", "mail.ru"),
        ("yandex.ry", "yandex.ru"),
        ("yandx.ru", "yandex.ru"),
        ("rambler.tu", "rambler.ru"),
    ],
)
def test_domain_typos_are_suggested_not_silently_fixed(typo: str, meant: str) -> None:
    out = normalise_emails(pd.Series([f"anna@{typo}"]))
    assert out.loc[0, "normalized"] == f"anna@{typo}"  # kept as entered
    assert out.loc[0, "suggestion"] == f"anna@{meant}"
    assert out.loc[0, "invalid_reason"] == "domain_typo"
    assert not out.loc[0, "is_valid"]


def test_real_providers_and_company_domains_are_not_typos() -> None:
    for domain in ("ymail.com", "mail.com", "bk.ru", "acme.ru", "mk.ru", "gmx.de"):
        assert suggest_domain(domain) is None, domain


def test_role_free_and_disposable_addresses_are_flagged() -> None:
    out = normalise_emails(
        pd.Series(
            [
                "info@acme.ru",
                "sales@acme.ru",
                "noreply@acme.ru",
                "buh@acme.ru",
                "ivan@mail.ru",
                "x@mailinator.com",
                "p.ivanov@acme.ru",
            ]
        )
    )
    assert out["is_role"].tolist() == [True, True, True, True, False, False, False]
    assert out["is_free"].tolist() == [False, False, False, False, True, False, False]
    assert out["is_disposable"].tolist() == [False, False, False, False, False, True, False]
    assert out.loc[5, "invalid_reason"] == "disposable_domain"
    assert out.loc[:4, "is_valid"].all()  # role and free addresses are valid, only flagged


def test_lists_hold_the_common_domains() -> None:
    assert {"gmail.com", "mail.ru", "yandex.ru", "bk.ru", "outlook.com"} <= free_domains()
    assert {"mailinator.com", "yopmail.com", "tempmail.ru"} <= disposable_domains()
    assert len(disposable_domains()) > 1000  # the maintained list is in use
    assert set(EMAIL_REASONS) == {"invalid_syntax", "domain_typo", "disposable_domain"}


def test_mailbox_key_folds_gmail_dots_tags_and_yandex_aliases() -> None:
    key = email_key(
        pd.Series(
            [
                "I.Van+promo@googlemail.com",
                "ivan@gmail.com",
                "petr@ya.ru",
                "Petr@yandex.ru",
                "a.b@mail.ru",
                "bad@@x",
            ]
        )
    )
    assert key.tolist()[:5] == [
        "ivan@gmail.com",
        "ivan@gmail.com",
        "petr@yandex.ru",
        "petr@yandex.ru",
        "a.b@mail.ru",
    ]
    assert pd.isna(key.iloc[5])


def test_missing_values_give_missing_results() -> None:
    out = normalise_emails(pd.Series([None, ""], index=[7, 8]))
    assert list(out.index) == [7, 8]
    assert out["is_valid"].isna().all() and out["invalid_reason"].isna().all()
    assert not out["is_role"].any()


_local = st.from_regex(r"[a-z0-9_+\-]{1,10}(\.[a-z0-9_+\-]{1,8}){0,2}", fullmatch=True)
_domain = st.from_regex(r"([a-z0-9]([a-z0-9\-]{0,8}[a-z0-9])?\.){1,2}[a-z]{2,6}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(_local, _domain)
@example("0", "00--0.aa")  # found by this test: a reserved "??--" label, not Punycode
def test_the_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    ours = normalise_emails(pd.Series([address]))
    try:
        theirs = email_validator.validate_email(
            address, check_deliverability=False
        ).normalized.lower()
    except email_validator.EmailNotValidError:
        theirs = None
    assert (ours.loc[0, "normalized"] if pd.notna(ours.loc[0, "normalized"]) else None) == theirs


def test_a_domain_label_with_two_dashes_after_two_characters_is_refused_unless_punycode() -> None:
    out = normalise_emails(pd.Series(["ivan@ab--cd.ru", "ivan@mail.ab--c.ru", "ivan@xn--80a.ru"]))
    assert out["is_valid"].tolist() == [False, False, True]
    assert out["invalid_reason"].iloc[:2].notna().all()
