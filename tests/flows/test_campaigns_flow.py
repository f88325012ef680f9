"""The campaign flow on SQLite and PostgreSQL: triggers → policy → render → outbox, rerun-safe.

A generated base (hygiene, dedup, loyalty and segments run on it by the nightly job) is the
input; the example campaigns (a Russian SMS win-back with promo codes, an English birthday
email with bonus points) run on it. The tests check that every candidate is either queued or
excluded with a reason, that a rerun queues and fires nothing new, that a run killed part-way
(SIGKILL in a child process, after some outbox chunks committed) reruns to exactly the outbox
of an uninterrupted run, and that the preview is byte for byte the queued message.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm import store
from crm.sample import generate, load
from crm.settings import get_settings
from flows.campaigns import DEFAULT_CAMPAIGNS, preview_message, report_campaign, run_campaign
from flows.nightly import nightly_flow

AS_OF = dt.datetime(2026, 11, 2, 7, 30, tzinfo=dt.UTC)  # 10:30 in Moscow: outside quiet hours
NOW = dt.datetime(2026, 11, 2, 7, 31, tzinfo=dt.UTC)
WINBACK = next(p for p in DEFAULT_CAMPAIGNS if p.endswith("winback_sms_ru.yaml"))
BIRTHDAY = next(p for p in DEFAULT_CAMPAIGNS if p.endswith("birthday_email_en.yaml"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def base(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> Iterator[str]:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    load(db_url, generate(customers=400, seed=5))
    nightly_flow(url=db_url, as_of=AS_OF, loyalty_lookback_days=1100, campaign_paths=())
    yield db_url
    get_settings.cache_clear()


def _count(url: str, table: str) -> int:
    return int(store.read_frame(url, f"SELECT COUNT(*) AS n FROM {table}")["n"].iloc[0])


def test_every_candidate_is_queued_or_excluded_and_a_rerun_adds_nothing(base: str) -> None:
    first = run_campaign(base, WINBACK, AS_OF, now=NOW)
    assert first["audience"] > 0 and first["queued"] == first["messages"] > 0
    assert sum(first["counts"].values()) == first["audience"]
    assert first["channels"].get("sms", 0) > 0  # E.164 mobiles after hygiene
    assert first["sms_cost"] > 0 and isinstance(first["warnings"], list)
    outbox = store.read_frame(
        base, "SELECT message_key, channel, address, sms_text, status FROM outbox"
    )
    assert outbox["message_key"].is_unique and set(outbox["status"]) == {"queued"}
    sms = outbox.loc[outbox["channel"] == "sms"]
    assert sms["address"].str.fullmatch(r"\+\d{8,15}").all()
    assert sms["sms_text"].str.contains("WB-").any()  # a personal promo code
    codes = store.read_frame(base, "SELECT code FROM loyalty_promo_codes WHERE code LIKE 'WB-%'")
    assert len(codes) > 0
    exclusions = store.read_frame(base, "SELECT reason FROM campaign_exclusions")
    assert len(exclusions) + first["messages"] == first["audience"]

    tables = {t: _count(base, t) for t in ("outbox", "trigger_firings", "campaign_exclusions")}
    again = run_campaign(base, WINBACK, AS_OF, now=NOW)
    assert again["queued"] == 0 and again["firings"] == first["firings"]
    assert {t: _count(base, t) for t in tables} == tables
    # the next day only lapses that are new fire: every firing key stays unique
    later = run_campaign(base, WINBACK, AS_OF + dt.timedelta(days=1), now=NOW)
    keys = store.read_frame(base, "SELECT firing_key FROM trigger_firings")["firing_key"]
    assert keys.is_unique and len(keys) == first["firings"] + later["firings"]
    report = report_campaign(base, "winback_sms_ru")
    assert int(report["table"]["sent"].sum()) == first["messages"]
    overall = report["variants"].set_index("variant").loc["all"]  # what a notebook plots
    assert overall["sent"] == first["messages"]
    assert overall["holdout"] == first["counts"]["holdout"]
    assert overall["low"] <= overall["uplift"] <= overall["high"]


def test_a_run_killed_part_way_reruns_to_the_same_outbox(base: str, tmp_path: Path) -> None:
    # the child queues the campaign 7 messages at a time and is SIGKILLed after two chunks
    child = textwrap.dedent(
        f"""
        import datetime as dt, os, signal
        import flows.campaigns as fc
        real, calls = fc.write_outbox, []
        def write_then_die(url, frame):
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            calls.append(1)
            return real(url, frame)
        fc.write_outbox = write_then_die
        fc.run_campaign({base!r}, {WINBACK!r}, dt.datetime.fromisoformat({AS_OF.isoformat()!r}),
                        now=dt.datetime.fromisoformat({NOW.isoformat()!r}), chunk_rows=7)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRM_DATA_DIR": str(tmp_path / "var")}
    done = subprocess.run([sys.executable, "-c", child], env=env, cwd=ROOT, check=False)
    assert done.returncode == -9  # killed, not finished
    assert _count(base, "outbox") == 14  # two chunks committed
    assert _count(base, "campaign_runs") == 0  # the summary is written last
    rerun = run_campaign(base, WINBACK, AS_OF, now=NOW, chunk_rows=7)
    assert rerun["queued"] == rerun["messages"] - 14
    keys = store.read_frame(base, "SELECT message_key FROM outbox")["message_key"]
    assert keys.is_unique and len(keys) == rerun["messages"]
    firings = store.read_frame(base, "SELECT firing_key, run_id FROM trigger_firings")
    assert firings["firing_key"].is_unique and len(firings) == rerun["firings"]
    assert set(firings["run_id"]) == {rerun["run_id"]}
    # the same as an uninterrupted run: a second rerun finds nothing to do
    assert run_campaign(base, WINBACK, AS_OF, now=NOW)["queued"] == 0


def test_preview_is_byte_for_byte_the_queued_message(base: str) -> None:
    run_campaign(base, WINBACK, AS_OF, now=NOW)
    run_campaign(base, BIRTHDAY, AS_OF, now=NOW)
    queued = store.read_frame(
        base,
        "SELECT customer_id, channel, message_key, subject, body_html, body_text, sms_text, "
        "sms_segments, mime FROM outbox ORDER BY id",
    )
    for channel in ("sms", "email"):
        row = queued.loc[queued["channel"] == channel].iloc[0]
        source = WINBACK if row["message_key"].startswith("winback") else BIRTHDAY
        message, reason = preview_message(base, source, int(row["customer_id"]), AS_OF)
        assert reason is None and message is not None
        assert message["message_key"] == row["message_key"]
        if channel == "sms":
            assert message["sms_text"] == row["sms_text"]
            assert int(message["sms_segments"]) == int(row["sms_segments"])
        else:
            assert bytes(message["mime"]) == bytes(row["mime"])
            assert (message["subject"], message["body_html"], message["body_text"]) == (
                row["subject"],
                row["body_html"],
                row["body_text"],
            )


SCHEDULED = """
id: {id}
name: Scheduled
audience: {audience}
schedule: monthly
channels: [email, sms]
templates:
  email: {{ru: {{subject: "{{{{ greeting }}}}", html: "<p>{{{{ greeting }}}}</p>", text: "{{{{ greeting }}}}"}}}}
  sms: {{ru: {{text: "{{{{ greeting }}}}"}}}}
"""


def test_scheduled_campaigns_on_a_segment_and_on_an_inline_rule(base: str) -> None:
    members = store.read_frame(
        base,
        "SELECT customer_id FROM segment_memberships WHERE segment = 'new_customers' "
        "AND left_at IS NULL",
    )
    by_segment = run_campaign(
        base, SCHEDULED.format(id="seg", audience="{segment: new_customers}"), AS_OF, now=NOW
    )
    assert by_segment["audience"] == len(members) > 0
    assert by_segment["firings"] == 0
    keys = store.read_frame(base, "SELECT message_key FROM outbox WHERE campaign_id = 'seg'")
    assert keys["message_key"].str.endswith(":2026-11").all()  # one message per month
    rule = run_campaign(
        base, SCHEDULED.format(id="rule", audience="{rule: {orders: {gte: 3}}}"), AS_OF, now=NOW
    )
    profiles = store.read_frame(
        base, "SELECT COUNT(*) AS n FROM customer_profiles WHERE orders >= 3"
    )
    assert rule["audience"] == int(profiles["n"].iloc[0]) > 0
    assert sum(rule["counts"].values()) == rule["audience"]
    # a second run in the same month finds every message already queued
    again = run_campaign(
        base,
        SCHEDULED.format(id="seg", audience="{segment: new_customers}"),
        AS_OF + dt.timedelta(days=3),
        now=NOW,
    )
    assert again["queued"] == 0
    assert again["counts"].get("already_sent", 0) == by_segment["messages"]


def test_the_nightly_chain_runs_the_campaigns_after_segments(base: str) -> None:
    result = nightly_flow(url=base, as_of=AS_OF, loyalty_lookback_days=1100)
    names = [r["campaign_id"] for r in result["campaigns"]]
    assert names == ["birthday_email_en", "winback_sms_ru"]
    queued = _count(base, "outbox")
    assert queued == sum(r["messages"] for r in result["campaigns"]) > 0
    again = nightly_flow(url=base, as_of=AS_OF, loyalty_lookback_days=1100)
    assert all(r["queued"] == 0 for r in again["campaigns"])
    assert _count(base, "outbox") == queued


def test_a_run_reuses_the_nights_scored_profiles_or_rebuilds_them_and_says_which(
    base: str,
) -> None:
    from campaigns.definitions import load_campaign
    from crm.snapshot import snapshot_path
    from flows.campaigns import prepare_run

    campaign, _ = load_campaign(WINBACK)
    reused = prepare_run(base, campaign, 1, AS_OF, created_at=NOW)
    scored = _count(base, "customer_profiles")  # 400 generated, fewer after the merges
    assert reused.profiles == (
        f"reused the segments run's {scored:,} scored profiles as of 2026-11-02 07:30:00+00:00"
    )
    # no snapshot: the same as_of, built again, and the very same messages
    snapshot_path(base).unlink()
    rebuilt = prepare_run(base, campaign, 1, AS_OF, created_at=NOW)
    assert rebuilt.profiles.startswith("rebuilt ")
    assert rebuilt.profiles.endswith("(the snapshot is missing or of another run)")
    columns = ["message_key", "channel", "address", "sms_text", "subject", "body_html", "mime"]
    assert len(reused.messages) > 0
    assert reused.messages[columns].equals(rebuilt.messages[columns])
    # another day than the night scored: built for that day, and the run's output says so
    later = run_campaign(base, WINBACK, AS_OF + dt.timedelta(days=1), dry_run=True, now=NOW)
    assert later["profiles"].startswith("rebuilt ")
    assert later["profiles"].endswith(
        "(the last segments run is as of 2026-11-02 07:30:00+00:00, not 2026-11-03 07:30:00+00:00)"
    )


def test_crm_campaign_check_lists_every_mistake_of_a_broken_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.db'}")  # never scored
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        SCHEDULED.format(
            id="bad", audience="{rule: {all: [{revenu: {gte: 5}}, {orders: {gte: 1}}]}}"
        ).replace("{{ greeting }}", "{{ greting }}"),
        encoding="utf-8",
    )
    refused = CliRunner().invoke(app, ["campaign", "check", str(bad)])
    get_settings.cache_clear()
    assert refused.exit_code == 1
    text = " ".join(refused.output.split())
    assert "unknown field 'revenu'; did you mean 'revenue'?" in text
    assert "audience.rule.all.0.revenu" in text
    assert "unknown variable 'greting'; did you mean 'greeting'?" in text


def test_the_report_counts_the_orders_placed_after_the_messages(base: str) -> None:
    # stored instants must be read as instants on both databases (SQLite keeps microseconds)
    run = run_campaign(base, WINBACK, AS_OF, now=NOW)
    sent = store.read_frame(base, "SELECT DISTINCT customer_id FROM outbox")["customer_id"]
    top = int(store.read_frame(base, "SELECT MAX(order_id) AS m FROM orders")["m"].iloc[0])
    bought = pd.DataFrame(
        {
            "order_id": top + 1 + np.arange(len(sent)),
            "customer_id": sent.to_numpy(),
            "ordered_at": pd.Timestamp(AS_OF) + pd.Timedelta(days=2),
            "amount": 100.0,
            "currency": "RUB",
            "status": "paid",
        }
    )
    store.write_frame(base, bought, "orders", mode="append")
    report = report_campaign(base, "winback_sms_ru")
    table = report["table"]
    treated = table.loc[table["variant"] != "holdout"]
    assert int(treated["converted"].sum()) == run["messages"] == len(sent)
    assert float(treated["revenue"].sum()) == pytest.approx(100.0 * len(sent))
    overall = report["variants"].set_index("variant").loc["all"]
    assert overall["uplift"] > 0  # the holdout bought nothing in those two days
