"""The outbox writer: set-wise, ON CONFLICT DO NOTHING on message_key, on both databases."""

from __future__ import annotations

import pandas as pd

from crm import store
from flows.campaigns_db import write_firings, write_outbox

AT = pd.Timestamp("2026-12-01 09:00", tz="UTC")


def _messages(keys: list[str]) -> pd.DataFrame:
    n = len(keys)
    return pd.DataFrame(
        {
            "message_key": keys,
            "campaign_id": ["winback"] * n,
            "campaign_version": [1] * n,
            "run_id": ["winback:v1:2026-12-01T09:00:00+00:00"] * n,
            "customer_id": list(range(1, n + 1)),
            "channel": ["email"] * n,
            "variant": ["A"] * n,
            "language": ["ru"] * n,
            "address": [f"c{i}@example.org" for i in range(1, n + 1)],
            "subject": ["Привет"] * n,
            "body_html": ["<p>Привет</p>"] * n,
            "body_text": ["Привет"] * n,
            "sms_text": [None] * n,
            "sms_encoding": [None] * n,
            "sms_segments": pd.array([None] * n, dtype="Int64"),
            "mime": [f"MIME-Version: 1.0\r\n\r\n{k}".encode() for k in keys],
            "scheduled_for": [AT] * n,
            "created_at": [AT] * n,
        }
    )


def test_outbox_queues_each_message_key_once(db_url: str) -> None:
    first = write_outbox(db_url, _messages(["winback:1:1:2026-12", "winback:1:2:2026-12"]))
    again = write_outbox(
        db_url,
        _messages(["winback:1:1:2026-12", "winback:1:2:2026-12", "winback:1:3:2026-12"]),
    )
    assert (first.inserted, again.inserted, again.unchanged) == (2, 1, 2)
    out = store.read_frame(db_url, "SELECT message_key, status, mime FROM outbox ORDER BY id")
    assert out["message_key"].tolist() == [
        "winback:1:1:2026-12",
        "winback:1:2:2026-12",
        "winback:1:3:2026-12",
    ]
    assert set(out["status"]) == {"queued"}
    assert bytes(out["mime"].iloc[0]) == b"MIME-Version: 1.0\r\n\r\nwinback:1:1:2026-12"


def test_a_firing_key_keeps_its_first_run(db_url: str) -> None:
    firing = pd.DataFrame(
        {
            "firing_key": ["birthday:7:2026"],
            "campaign_id": ["birthday"],
            "campaign_version": [1],
            "trigger": ["birthday"],
            "customer_id": [7],
            "event_ref": ["2026"],
            "event_at": [AT],
            "fired_at": [AT],
            "run_id": ["first"],
        }
    )
    write_firings(db_url, firing)
    result = write_firings(db_url, firing.assign(run_id="second"))
    assert result.inserted == 0
    runs = store.read_frame(db_url, "SELECT run_id FROM trigger_firings")
    assert runs["run_id"].tolist() == ["first"]


def test_a_chunk_without_any_email_keeps_mime_binary(db_url: str) -> None:
    sms = _messages(["winback:1:9:2026-12"]).assign(
        channel="sms",
        address="+79161234567",
        subject=None,
        body_html=None,
        body_text=None,
        sms_text="Привет",
        sms_encoding="UCS-2",
        sms_segments=pd.array([1], dtype="Int64"),
        mime=[None],
    )
    assert write_outbox(db_url, sms).inserted == 1
    out = store.read_frame(db_url, "SELECT sms_text, mime FROM outbox")
    assert out["sms_text"].tolist() == ["Привет"] and out["mime"].isna().all()
