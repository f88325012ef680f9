"""SIGKILL a worker mid-batch, restart it: every message arrives exactly once (counted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gateway_helpers import Sink, fake_provider, queue_messages, smtp_sink

from crm import store

ROOT = Path(__file__).resolve().parents[2]
EMAILS, SMS = 300, 100


def _worker(url: str, data_dir: Path, smtp_port: int, sms_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CRM_DATABASE_URL": url,
        "CRM_DATA_DIR": str(data_dir),
        "CRM_SMTP_PORT": str(smtp_port),
        "CRM_SMS_PROVIDER_URL": sms_url,
        "CRM_EMAIL_FROM": "Shop <news@shop.example>",
        "CRM_EMAIL_RATE_PER_S": "250",  # slow enough that the kill lands mid-batch
        "CRM_SMS_RATE_PER_S": "100",
        "CRM_WORKER_BATCH": "40",
        "CRM_WORKER_CONCURRENCY": "2",
        "CRM_WORKER_LEASE_S": "1.5",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from flows.cli import main; main()",
            "worker",
            "--once",
            "--name",
            "w1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_sends_each_message_once(
    db_url: str, tmp_path: Path
) -> None:
    queue_messages(db_url, emails=EMAILS, sms=SMS)
    sink = Sink()
    with smtp_sink(sink) as port, fake_provider() as (base, provider):
        first = _worker(db_url, tmp_path, port, base)
        deadline = time.monotonic() + 60
        while len(sink.messages) < 100 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        arrived_before = len(sink.messages)
        status = store.read_frame(db_url, "outbox", columns=["status"])["status"]
        assert 100 <= arrived_before < EMAILS  # killed mid-run, with work left
        assert (status == "queued").sum() > 0
        time.sleep(1.6)  # the dead worker's leases run out
        second = _worker(db_url, tmp_path, port, base)
        _out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err.decode()
        delivered = dict(provider.delivered)  # type: ignore[attr-defined]
    ids = sink.message_ids()
    assert len(ids) == EMAILS  # every email arrived ...
    assert len(set(ids)) == EMAILS  # ... once
    assert len(delivered) == SMS  # every SMS delivered once (the provider keys by message)
    final = store.read_frame(db_url, "outbox", columns=["status"])["status"]
    assert final.value_counts().to_dict() == {"sent": EMAILS + SMS}
