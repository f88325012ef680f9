from __future__ import annotations

from pathlib import Path

import pytest

from loyalty import load_rules, parse_rules
from loyalty.errors import RulesError

ROOT = Path(__file__).resolve().parents[2]


def test_example_rules_file_loads() -> None:
    rules = load_rules(ROOT / "loyalty" / "rules.example.yaml")
    assert rules.program.timezone == "Europe/Moscow"
    assert [r.id for r in rules.purchase_rules] == ["base", "kids_extra", "app_order"]
    assert rules.tiers.levels[2].code == "gold"
    assert rules.activity["app_install"].once is True
    assert rules.program.name == {"ru": "Клуб бонусов", "en": "Bonus club"}


def _error(text: str) -> RulesError:
    with pytest.raises(RulesError) as info:
        parse_rules(text, source="rules.yaml")
    return info.value


def test_out_of_range_value_names_field_and_line() -> None:
    err = _error("program:\n  hold_days: 14\npurchase_rules:\n  - id: base\n    percent: 150\n")
    assert err.field == "purchase_rules[0].percent"
    assert err.line == 5
    assert "rules.yaml:5: purchase_rules[0].percent:" in str(err)


def test_misspelt_field_is_refused_with_its_line() -> None:
    err = _error("program:\n  validty_days: 30\n")
    assert (err.field, err.line) == ("program.validty_days", 2)
    assert "unknown field" in str(err)


def test_rule_needs_exactly_one_of_percent_or_points() -> None:
    err = _error("purchase_rules:\n  - id: base\n    percent: 3\n    points: 10\n")
    assert err.field == "purchase_rules[0]"
    assert err.line == 2
    assert "exactly one of percent or points" in str(err)


def test_duplicate_key_is_refused() -> None:
    err = _error("bonuses:\n  welcome: 100\n  welcome: 200\n")
    assert err.line == 3
    assert "duplicate key 'welcome' (first at line 2)" in str(err)


def test_broken_yaml_reports_line() -> None:
    err = _error("program:\n  hold_days: [14\n")
    assert err.field == "<yaml>"
    assert err.line == 3


def test_unknown_time_zone_and_tier_order() -> None:
    assert _error("program:\n  timezone: Mars/Olympus\n").field == "program.timezone"
    err = _error(
        "tiers:\n  levels:\n    - {code: base, threshold: 0}\n    - {code: gold, threshold: 0}\n"
    )
    assert err.field == "tiers.levels"
    assert "increase strictly" in str(err)


def test_promotion_must_name_known_tiers_and_dates_in_order() -> None:
    err = _error("promotions:\n  - {id: p, start: 2026-01-02, end: 2026-01-01}\n")
    assert err.field == "promotions[0]" and err.line == 2
    err = _error("promotions:\n  - {id: p, start: 2026-01-01, end: 2026-01-02, tiers: [vip]}\n")
    assert "unknown tier(s) ['vip']" in str(err)


def test_every_mistake_of_a_rules_file_in_one_pass() -> None:
    err = _error("program:\n  validty_days: 30\npurchase_rules:\n  - id: base\n    percent: 150\n")
    assert [(p.line, p.field) for p in err.problems] == [
        (2, "program.validty_days"),
        (5, "purchase_rules[0].percent"),
    ]
    assert "did you mean 'validity_days'?" in str(err)
