"""Campaign definitions: the example files load; mistakes are reported with line and field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from campaigns.definitions import Campaign, check_campaign, definition_sha256, load_campaign
from crm.definitions import DefinitionError

EXAMPLES = Path(__file__).resolve().parents[2] / "campaigns" / "examples"


def test_the_two_example_campaigns_load() -> None:
    winback, text = load_campaign(EXAMPLES / "winback_sms_ru.yaml")
    assert winback.channels == ["sms", "email"] and winback.trigger is not None
    assert winback.trigger.kind == "no_purchase" and winback.trigger.days == 120
    assert winback.promo is not None and winback.promo.discount_percent == 15
    assert winback.languages("sms") == ["ru"]
    assert definition_sha256(text) == definition_sha256(
        (EXAMPLES / "winback_sms_ru.yaml").read_text(encoding="utf-8")
    )
    birthday, _ = load_campaign(EXAMPLES / "birthday_email_en.yaml")
    assert birthday.trigger is not None and birthday.trigger.kind == "birthday"
    assert [v.name for v in birthday.variants] == ["A", "B"]
    assert "A birthday gift" in birthday.templates_of("B").email["en"].subject
    assert birthday.templates_of("A").email["en"].subject.startswith("Happy birthday")


def test_every_mistake_in_one_pass_with_line_and_closest_name() -> None:
    text = "id: bad id\nnmae: Oops\nchannels: [fax]\ntrigger: {kind: birthdya}\ntemplates: {}\n"
    with pytest.raises(DefinitionError) as err:
        load_campaign(text)
    found = {(p.line, p.field) for p in err.value.problems}
    assert (2, "nmae") in found
    assert (3, "channels[0]") in found
    assert any(p.field.startswith("trigger") and p.line == 4 for p in err.value.problems)
    assert any("did you mean 'name'" in p.message for p in err.value.problems)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"variants": [{"name": "A", "share": 0.6}, {"name": "B", "share": 0.6}]}, "add up"),
        ({"channels": ["sms"]}, "no template"),
        ({"trigger": {"kind": "deal_stalled", "stage": "Booking"}}, "needs days"),
        ({"audience": None, "trigger": None}, "needs an audience"),
        ({"quiet_hours": {"start": "25:00"}}, "HH:MM"),
    ],
)
def test_inconsistent_definitions_are_refused(extra: dict[str, object], message: str) -> None:
    data: dict[str, object] = {
        "id": "c1",
        "name": "C1",
        "audience": {"segment": "all"},
        "channels": ["email"],
        "templates": {"email": {"en": {"subject": "s", "html": "h", "text": "t"}}},
    }
    data.update(extra)
    with pytest.raises(ValueError, match=message):
        Campaign.model_validate(data)


def test_the_schedule_period_names_one_message_per_period() -> None:
    data = {
        "id": "c1",
        "name": "C1",
        "audience": {"segment": "all"},
        "channels": ["email"],
        "templates": {"email": {"en": {"subject": "s", "html": "h", "text": "t"}}},
    }
    day = dt.date(2026, 12, 1)
    periods = {
        s: Campaign.model_validate({**data, "schedule": s}).period(day)
        for s in ("once", "daily", "weekly", "monthly")
    }
    assert periods == {
        "once": "once",
        "daily": "2026-12-01",
        "weekly": "2026-W49",
        "monthly": "2026-12",
    }


BROKEN_RULE = """\
id: broken_rule
name: A hand-made broken file
audience:
  rule:
    all:
      - orderz: {gte: 3}
      - city: {gte: 5}
      - revenue: {eq: lots}
schedule: monthly
channels: [sms]
templates:
  sms:
    ru:
      text: "{{ greting }} скидка"
"""
PROFILE = {"orders": "integer", "city": "string", "revenue": "number", "first_name": "string"}


def test_check_reports_the_rules_fields_and_kinds_with_the_templates_in_one_pass() -> None:
    _, problems = check_campaign(BROKEN_RULE, fields=list(PROFILE), schema=PROFILE)
    found = {(p.line, p.field): p.message for p in problems}
    assert found[(6, "audience.rule.all.0.orderz")] == (
        "unknown field 'orderz'; did you mean 'orders'? the profiles have no such column"
    )
    assert found[(7, "audience.rule.all.1.city")].startswith(
        "operator 'gte' does not apply to a string field"
    )
    assert found[(8, "audience.rule.all.2.revenue")].startswith("eq: expects a number, got 'lots'")
    assert found[(14, "templates.sms.ru.text")] == (
        "unknown variable 'greting'; did you mean 'greeting'?"
    )
    assert len(problems) == 4


def test_check_without_kinds_still_checks_the_rules_field_names() -> None:
    _, problems = check_campaign(BROKEN_RULE, fields=list(PROFILE))
    rule = [(p.line, p.field) for p in problems if p.field.startswith("audience")]
    assert rule == [(6, "audience.rule.all.0.orderz")]  # kinds unknown: only the name


def test_a_broken_model_and_a_broken_rule_are_reported_together() -> None:
    text = BROKEN_RULE.replace("schedule: monthly", "schedule: hourly").replace("id: ", "idd: ")
    with pytest.raises(DefinitionError) as err:
        check_campaign(text, fields=list(PROFILE))
    found = {(p.line, p.field) for p in err.value.problems}
    assert (1, "idd") in found
    assert (9, "schedule") in found
    assert (6, "audience.rule.all.0.orderz") in found
