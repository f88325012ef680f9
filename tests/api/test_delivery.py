"""Delivery: real SMTP to an in-process aiosmtpd server, the fake SMS provider, retries,
attempts, suppression by webhooks and one-click unsubscribe, click and open tracking."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gateway_helpers import BASE, SECRET, Sink, auth, fake_provider, queue_messages, smtp_sink

from api.worker import run_worker
from crm import store
from crm.settings import Settings


def _settings(tmp_path: Path, smtp_port: int = 1, sms_url: str = "http://127.0.0.1:1") -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key=SECRET,
        smtp_port=smtp_port,
        sms_provider_url=sms_url,  # type: ignore[arg-type]
        email_from="Shop <news@shop.example>",
        public_base_url=BASE,
        worker_batch=50,
    )


def _outbox(url: str) -> dict[str, str]:
    frame = store.read_frame(url, "outbox", columns=["message_key", "status"])
    return dict(zip(frame["message_key"], frame["status"], strict=True))


def test_email_over_smtp_has_both_parts_and_a_working_unsubscribe(
    client: TestClient, tmp_path: Path
) -> None:
    url = client.db_url  # type: ignore[attr-defined]
    queue_messages(url, emails=3, sms=0)
    sink = Sink()
    with smtp_sink(sink) as port:
        totals = run_worker(url, once=True, settings=_settings(tmp_path, port))
    assert totals["sent"] == 3
    assert len(sink.messages) == 3
    mails = [message_from_bytes(m, policy=policy.default) for m in sink.messages]
    mail = sorted(mails, key=lambda m: str(m["To"]))[0]  # four senders: any arrival order
    assert mail["Subject"] == "Скидка для вас"
    assert mail["To"] == "user1@example.com"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = [p.get_content_type() for p in mail.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = next(mail.iter_parts()).get_content()
    assert text.startswith("Анна, скидка: http://127.0.0.1:8000/c/")
    link = str(mail["List-Unsubscribe"]).strip("<>")
    token = link.rsplit("/u/", 1)[1]
    assert set(_outbox(url).values()) == {"sent"}

    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.post(f"/u/{tampered}").status_code == 400
    assert store.read_frame(url, "consents").empty  # nothing changed
    assert client.get(f"/u/{token}").status_code == 200  # the page; GET changes nothing
    assert store.read_frame(url, "consents").empty
    done = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert done.json() == {"customer_id": 1, "channel": "email", "recorded": True}
    assert client.post(f"/u/{token}").json()["recorded"] is False  # once
    consents = store.read_frame(url, "consents")
    assert consents[["customer_id", "channel", "granted"]].values.tolist() == [[1, "email", False]]
    supp = store.read_frame(url, "suppressions")
    assert supp[["customer_id", "scope", "reason"]].values.tolist() == [
        [1, "email", "unsubscribed"]
    ]


def test_expired_unsubscribe_link_is_410(db_url: str, tmp_path: Path) -> None:
    from api.app import create_app

    queue_messages(db_url, emails=1, sms=0)  # links signed on 2026-06-01
    mime = store.read_frame(db_url, "outbox", columns=["mime"])["mime"].iloc[0]
    token = str(message_from_bytes(mime, policy=policy.default)["List-Unsubscribe"]).strip("<>")
    token = token.rsplit("/u/", 1)[1]
    settings = _settings(tmp_path).model_copy(update={"link_max_age_days": 30})
    with TestClient(create_app(settings, database_url=db_url)) as c:
        assert c.post(f"/u/{token}").status_code == 410
    assert store.read_frame(db_url, "consents").empty


def test_sms_through_the_fake_provider_with_retries_recorded(
    client: TestClient, tmp_path: Path
) -> None:
    url = client.db_url  # type: ignore[attr-defined]
    queue_messages(url, emails=0, sms=2)
    with fake_provider() as (base, provider):
        provider.fail_next = 2  # type: ignore[attr-defined]  # two 503s, then it works
        totals = run_worker(url, once=True, settings=_settings(tmp_path, sms_url=base))
        delivered = provider.delivered  # type: ignore[attr-defined]
    assert totals["sent"] == 2
    assert sorted(delivered) == ["camp:1:1", "camp:1:2"]
    assert delivered["camp:1:1"]["text"] == "Анна, скидка 10% по коду A1"
    attempts = store.read_frame(url, "delivery_attempts").sort_values("attempt_id")
    assert attempts["outcome"].tolist().count("temporary") == 2
    assert attempts["outcome"].tolist().count("sent") == 2
    assert set(attempts.loc[attempts["outcome"] == "temporary", "code"]) == {"503"}
    ids = store.read_frame(url, "outbox", columns=["provider_message_id"])["provider_message_id"]
    assert sorted(ids) == sorted(v["id"] for v in delivered.values())


@pytest.mark.parametrize(
    ("code", "status", "tries"),
    [("451 4.3.0 try later", "sent", 2), ("550 5.1.1 no such user", "failed", 1)],
)
def test_smtp_retries_temporary_failures_only(
    db_url: str, tmp_path: Path, code: str, status: str, tries: int
) -> None:
    queue_messages(db_url, emails=1, sms=0)
    sink = Sink(fail_first=1, fail_code=code)
    with smtp_sink(sink) as port:
        run_worker(db_url, once=True, settings=_settings(tmp_path, port))
    assert list(_outbox(db_url).values()) == [status]
    assert len(sink.messages) == (1 if status == "sent" else 0)
    attempts = store.read_frame(db_url, "delivery_attempts")
    assert len(attempts) == tries
    assert attempts["code"].iloc[0] == code[:3]


def test_hard_bounce_webhook_suppresses_before_the_next_send(
    client: TestClient, tmp_path: Path
) -> None:
    url = client.db_url  # type: ignore[attr-defined]
    queue_messages(url, emails=0, sms=1)
    with fake_provider() as (base, provider):
        run_worker(url, once=True, settings=_settings(tmp_path, sms_url=base))
        pid = next(iter(provider.delivered.values()))["id"]  # type: ignore[attr-defined]
        report = {
            "event_id": "e1",
            "provider_message_id": pid,
            "kind": "bounced_hard",
            "detail": "absent subscriber",
        }
        assert (
            client.post("/v1/webhooks/sms", json=report, headers=auth(client, "intake")).status_code
            == 403
        )
        out = client.post("/v1/webhooks/sms", json=report, headers=auth(client, "delivery-admin"))
        assert out.status_code == 200
        assert out.json() == {
            "message_key": "camp:1:1",
            "status": "bounced",
            "recorded": True,
            "suppressed": True,
        }
        again = client.post("/v1/webhooks/sms", json=report, headers=auth(client, "delivery-admin"))
        assert again.json()["recorded"] is False
        # a second campaign queues another SMS to the same number: it is not sent
        frame = store.read_frame(url, "outbox").drop(columns=["id"]).iloc[[0]]
        frame = frame.assign(
            message_key="camp2:1:1",
            status="queued",
            provider_message_id=None,
            sent_at=None,
            claimed_by=None,
            lease_until=None,
            attempts=0,
        )
        store.write_frame(url, frame, "outbox")
        totals = run_worker(url, once=True, settings=_settings(tmp_path, sms_url=base))
        assert totals == {"sent": 0, "failed": 0, "retry": 0, "suppressed": 1}
        assert len(provider.delivered) == 1  # type: ignore[attr-defined]
    assert _outbox(url) == {"camp:1:1": "bounced", "camp2:1:1": "suppressed"}
    attempts = store.read_frame(url, "delivery_attempts")
    assert attempts.loc[attempts["outcome"] == "suppressed", "channel"].tolist() == ["sms"]
    events = store.read_frame(url, "marketing_events")
    assert events["kind"].tolist() == ["bounced"]


def test_click_redirects_only_to_the_signed_url_and_open_pixel(client: TestClient) -> None:
    from campaigns.links import click_url, open_pixel_url

    url = client.db_url  # type: ignore[attr-defined]
    queue_messages(url, emails=1, sms=0)
    link = click_url(BASE, SECRET, "camp:1:1", "https://shop.example/sale")
    token = link.rsplit("/c/", 1)[1]
    response = client.get(f"/c/{token}", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/sale"
    evil = click_url(BASE, "another-secret", "camp:1:1", "https://evil.example/")
    assert client.get(f"/c/{evil.rsplit('/c/', 1)[1]}", follow_redirects=False).status_code == 400
    pixel = open_pixel_url(BASE, SECRET, "camp:1:1").rsplit("/o/", 1)[1]
    image = client.get(f"/o/{pixel}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/gif"
    events = store.read_frame(url, "message_events").sort_values("event_id")
    assert events["kind"].tolist() == ["clicked", "opened"]
    assert events["detail"].tolist()[0] == "https://shop.example/sale"


def test_dot_stuffing_doubles_a_leading_dot_on_every_line() -> None:
    from api.delivery import _dot_stuffed

    assert _dot_stuffed(b".a\r\nb.\r\n.\r\n..c\r\nd") == b"..a\r\nb.\r\n..\r\n...c\r\nd"
    assert _dot_stuffed(b"no dots\r\n") == b"no dots\r\n"
