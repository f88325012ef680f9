"""Fixtures of the loyalty tests."""

from __future__ import annotations

import pytest
from loyalty_helpers import RULES_YAML

from loyalty import parse_rules
from loyalty.rules import Rules


@pytest.fixture
def rules() -> Rules:
    return parse_rules(RULES_YAML)
