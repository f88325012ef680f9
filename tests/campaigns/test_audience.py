"""Audience policy: every rule with its counted reason; the counts add up to the audience."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaigns.audience import (
    REASONS,
    PolicyDefaults,
    apply_policy,
    households,
    personal_codes,
    quiet_hours_release,
    resolve_survivors,
    stable_unit,
)
from campaigns.definitions import Campaign

AS_OF = pd.Timestamp("2026-12-01 10:00", tz="UTC")  # 13:00 in Moscow


def _campaign(**extra: object) -> Campaign:
    data: dict[str, object] = {
        "id": "winback",
        "name": "Win-back",
        "audience": {"segment": "lapsed"},
        "channels": ["sms", "email"],
        "templates": {
            "sms": {"ru": {"text": "Привет"}},
            "email": {"en": {"subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"}},
        },
    }
    data.update(extra)
    return Campaign.model_validate(data)


def _person(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "email": None,
        "phone": None,
        "has_email": False,
        "has_mobile": False,
        "email_consent": False,
        "sms_consent": False,
        "unsubscribed": False,
        "hard_bounced": False,
        "reachable_email": False,
        "reachable_sms": False,
        "timezone": "Europe/Moscow",
        "language": "ru",
        "avg_order_value": 1000.0,
        "personal_budget": 500.0,
    }
    base.update(kw)
    return base


SMS_OK = {"phone": "+79161234567", "has_mobile": True, "sms_consent": True, "reachable_sms": True}
EMAIL_OK = {
    "email": "a@example.org",
    "has_email": True,
    "email_consent": True,
    "reachable_email": True,
}


def _people() -> pd.DataFrame:
    rows = {
        1: _person(**SMS_OK),
        2: _person(**EMAIL_OK, language="en"),
        3: _person(),
        4: _person(phone="+74951234567"),  # a fixed line: not a valid mobile
        5: _person(phone="+79160000005", has_mobile=True),
        6: _person(phone="+79160000006", has_mobile=True, sms_consent=True),  # suppressed
        9: _person(**SMS_OK),
        10: _person(**SMS_OK),
        11: _person(**SMS_OK),
        12: _person(**SMS_OK),
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "customer_id"
    return frame


def test_each_rule_is_counted_with_its_reason_and_the_counts_add_up() -> None:
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    candidates = pd.DataFrame({"customer_id": ids, "message_ref": "2026-12"})
    survivors = pd.Series([1], index=[7])  # 7 was merged into 1
    household = pd.Series([9, 9], index=[9, 10])
    history = pd.DataFrame(
        {
            "customer_id": [11, 12, 12, 12],
            "scheduled_for": [
                AS_OF - pd.Timedelta(hours=3),
                *(AS_OF - pd.Timedelta(days=d) for d in (2, 3, 4)),
            ],
        }
    )
    result = apply_policy(
        candidates,
        _people(),
        _campaign(household_level=True),
        AS_OF,
        survivors=survivors,
        history=history,
        household_of=household,
        defaults=PolicyDefaults(per_day=1, per_week=3),
    )
    reasons = dict(zip(result.exclusions["customer_id"], result.exclusions["reason"], strict=True))
    assert reasons == {
        3: "sms_no_address",
        4: "sms_invalid",
        5: "sms_no_consent",
        6: "sms_suppressed",
        7: "duplicate_person",
        8: "not_active",
        11: "cap_day",
        12: "cap_week",
        # 9 and 10 share a household: the one with the lower stable hash keeps the offer
        (10 if stable_unit("winback", [9])[0] < stable_unit("winback", [10])[0] else 9): (
            "household_copy"
        ),
    }
    sent = result.recipients.set_index("customer_id")
    assert sent.loc[1, "channel"] == "sms" and sent.loc[1, "address"] == "+79161234567"
    assert sent.loc[2, "channel"] == "email" and sent.loc[2, "language"] == "en"
    assert result.counts["sent"] == 3
    assert result.counts.sum() == result.audience == 12
    assert set(result.counts.index) == {"sent", *REASONS}


def test_email_blockers_in_order() -> None:
    people = pd.DataFrame.from_dict(
        {
            1: _person(email="x@", has_email=False),
            2: _person(email="b@example.org", has_email=True),
            3: _person(**{**EMAIL_OK, "unsubscribed": True, "reachable_email": False}),
            4: _person(**{**EMAIL_OK, "hard_bounced": True, "reachable_email": False}),
            5: _person(**{**EMAIL_OK, "reachable_email": False}),
        },
        orient="index",
    )
    campaign = _campaign(channels=["email"])
    result = apply_policy(
        pd.DataFrame({"customer_id": [1, 2, 3, 4, 5], "message_ref": "once"}),
        people,
        campaign,
        AS_OF,
    )
    assert result.exclusions["reason"].tolist() == [
        "email_invalid",
        "email_no_consent",
        "email_unsubscribed",
        "email_hard_bounce",
        "email_suppressed",
    ]


def test_holdout_and_variants_come_from_a_stable_hash() -> None:
    ids = np.arange(1, 2001)
    people = pd.DataFrame([_person(**SMS_OK)] * len(ids), index=ids)
    campaign = _campaign(
        holdout=0.2, variants=[{"name": "A", "share": 0.5}, {"name": "B", "share": 0.5}]
    )
    candidates = pd.DataFrame({"customer_id": ids, "message_ref": "once"})
    first = apply_policy(candidates, people, campaign, AS_OF)
    again = apply_policy(candidates.iloc[::-1], people, campaign, AS_OF)
    held = set(first.exclusions.loc[first.exclusions["reason"] == "holdout", "customer_id"])
    assert held == set(ids[stable_unit("winback", ids) < 0.2])
    assert held == set(again.exclusions["customer_id"])
    assert 0.17 < len(held) / len(ids) < 0.23
    variants = first.recipients.set_index("customer_id")["variant"]
    assert variants.equals(again.recipients.set_index("customer_id")["variant"].loc[variants.index])
    share_a = (variants == "A").mean()
    assert 0.45 < share_a < 0.55


def test_stable_unit_is_the_same_in_every_process() -> None:
    # SipHash with a fixed key over "campaign:salt:id": a value anyone can recompute
    assert stable_unit("winback", [1, 2]).tolist() == stable_unit("winback", [1, 2]).tolist()
    assert stable_unit("winback", [1])[0] != stable_unit("birthday", [1])[0]
    assert 0.0 <= stable_unit("winback", [123456789])[0] < 1.0


@pytest.mark.parametrize(
    ("utc", "zone", "expected"),
    [
        ("2026-12-01 20:30", "Europe/Moscow", "2026-12-02 06:00"),  # 23:30 MSK -> 09:00 MSK
        ("2026-12-01 02:00", "Europe/Moscow", "2026-12-01 06:00"),  # 05:00 MSK -> 09:00 MSK
        ("2026-12-01 10:00", "Europe/Moscow", "2026-12-01 10:00"),  # 13:00 MSK: allowed
        ("2026-12-01 17:59", "Europe/Moscow", "2026-12-01 17:59"),  # 20:59 MSK: allowed
        ("2026-12-01 18:00", "Europe/Moscow", "2026-12-02 06:00"),  # 21:00 MSK: quiet
        ("2026-12-01 20:30", "Asia/Vladivostok", "2026-12-01 23:00"),  # 06:30 local -> 09:00
        ("2026-12-01 06:00", "Europe/Moscow", "2026-12-01 06:00"),  # 09:00 sharp is allowed
    ],
)
def test_quiet_hours_defer_to_the_next_allowed_minute(utc: str, zone: str, expected: str) -> None:
    release = quiet_hours_release(pd.Timestamp(utc, tz="UTC"), zone, "21:00", "09:00")
    assert release == pd.Timestamp(expected, tz="UTC")


def test_quiet_hours_in_the_recipients_own_zone_defer_never_drop() -> None:
    late = pd.Timestamp("2026-12-01 19:00", tz="UTC")  # 22:00 Moscow, 14:00 New York
    people = pd.DataFrame(
        [_person(**SMS_OK), _person(**SMS_OK, timezone="America/New_York")], index=[1, 2]
    )
    result = apply_policy(
        pd.DataFrame({"customer_id": [1, 2], "message_ref": "once"}), people, _campaign(), late
    )
    when = result.recipients.set_index("customer_id")["scheduled_for"]
    assert when[1] == pd.Timestamp("2026-12-02 06:00", tz="UTC")
    assert when[2] == late
    assert result.counts["sent"] == 2


def test_incentive_never_above_the_personal_budget() -> None:
    people = pd.DataFrame(
        [
            _person(**SMS_OK, personal_budget=200.0),  # 15% of 1000 = 150: fits
            _person(**SMS_OK, personal_budget=90.0),  # capped to 9% (90)
            _person(**SMS_OK, personal_budget=np.nan),  # no budget known: no incentive
        ],
        index=[1, 2, 3],
    )
    candidates = pd.DataFrame({"customer_id": [1, 2, 3], "message_ref": "once"})
    capped = apply_policy(
        candidates, people, _campaign(promo={"discount_percent": 15}), AS_OF
    ).recipients.set_index("customer_id")
    assert capped["discount_percent"].tolist() == [15.0, 9.0, 0.0]
    assert capped["incentive_cost"].tolist() == [150.0, 90.0, 0.0]
    assert capped["incentive_capped"].tolist() == [False, True, True]
    assert capped["no_incentive"].tolist() == [False, False, True]
    dropped = apply_policy(
        candidates,
        people,
        _campaign(promo={"discount_percent": 15, "over_budget": "no_incentive"}),
        AS_OF,
    ).recipients.set_index("customer_id")
    assert dropped["discount_percent"].tolist() == [15.0, 0.0, 0.0]
    assert (dropped["incentive_cost"] <= people["personal_budget"].fillna(0)).all()


def test_bonus_points_are_priced_at_the_point_value() -> None:
    people = pd.DataFrame([_person(**EMAIL_OK, personal_budget=30.0)], index=[1])
    result = apply_policy(
        pd.DataFrame({"customer_id": [1], "message_ref": "2026"}),
        people,
        _campaign(channels=["email"], promo={"bonus_points": 500, "point_value": 0.1}),
        AS_OF,
    ).recipients
    # 500 points x 0.10 = 50 > 30: capped to floor(500 x 30 / 50) = 300 points, cost 30
    assert result["bonus_points"].tolist() == [300]
    assert result["incentive_cost"].tolist() == [30.0]


def test_survivors_follow_merge_chains() -> None:
    customers = pd.DataFrame({"customer_id": [1, 2, 3, 4], "merged_into": [None, 3, 4, None]})
    assert resolve_survivors(customers).to_dict() == {1: 1, 2: 4, 3: 4, 4: 4}


def test_households_join_transitively() -> None:
    relations = pd.DataFrame(
        {
            "customer_id": [1, 2, 5, 7],
            "related_customer_id": [2, 3, 6, 8],
            "kind": ["household", "household", "household", "spouse"],
        }
    )
    assert households(relations).to_dict() == {1: 1, 2: 1, 3: 1, 5: 5, 6: 5}


def test_a_pair_left_for_review_is_one_home_for_a_household_offer() -> None:
    # Павел Громов and his undated namesake at one flat: one person or father and son,
    # either way one home, so a once-per-household offer reaches it once
    relations = pd.DataFrame(
        {
            "customer_id": [1, 3, 5],
            "related_customer_id": [2, 4, 6],
            "kind": ["maybe_same", "household", "referred_by"],
        }
    )
    assert households(relations).to_dict() == {1: 1, 2: 1, 3: 3, 4: 3}


def test_a_message_queued_by_an_earlier_run_is_counted_as_already_sent() -> None:
    people = pd.DataFrame([_person(**SMS_OK)] * 2, index=[1, 2])
    result = apply_policy(
        pd.DataFrame({"customer_id": [1, 2], "message_ref": "2026-12"}),
        people,
        _campaign(),
        AS_OF,
        already_sent=[2],
    )
    assert result.exclusions["reason"].tolist() == ["already_sent"]
    assert result.counts["sent"] + result.counts["already_sent"] == 2


def test_personal_codes_are_stable_distinct_and_keyed_by_the_secret() -> None:
    keys = [f"winback:1:{i}:2026-12" for i in range(1000)]
    codes = personal_codes(keys, "secret", "WB")
    assert codes[0] == personal_codes(keys[:1], "secret", "WB")[0]
    assert len(set(codes)) == 1000
    assert all(c.startswith("WB-") and len(c) == 13 for c in codes)
    assert personal_codes(keys[:1], "other", "WB")[0] != codes[0]
    assert not set("01IO") & set("".join(c[3:] for c in codes))


def test_sms_goes_only_to_a_valid_mobile_in_e164() -> None:
    people = pd.DataFrame(
        [_person(**SMS_OK), _person(**{**SMS_OK, "phone": "8 (916) 123-45-67"})], index=[1, 2]
    )
    result = apply_policy(
        pd.DataFrame({"customer_id": [1, 2], "message_ref": "once"}),
        people,
        _campaign(channels=["sms"]),
        AS_OF,
    )
    assert result.recipients["customer_id"].tolist() == [1]
    assert result.exclusions["reason"].tolist() == ["sms_invalid"]
