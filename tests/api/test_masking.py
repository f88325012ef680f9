"""Logs mask emails and phone numbers."""

from __future__ import annotations

import logging

import pytest

from api.masking import MaskingFilter, mask


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("jane.doe@example.com", "j***@example.com"),
        ("call +7 (912) 345-67-89 now", "call +7***6789 now"),
        ("89123456789", "89***6789"),
        ("order 12345 of 2026-06-01 12:00", "order 12345 of 2026-06-01 12:00"),  # not phones
    ],
)
def test_mask(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_filter_masks_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("api.test")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="api.test"):
        logger.info("contact %s / %s", "ivan@mail.ru", "+79123456789")
    assert caplog.records[-1].getMessage() == "contact i***@mail.ru / +7***6789"
