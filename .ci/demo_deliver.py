"""``make demo``'s last step: deliver the day's outbox through the gateway worker, then say where to look.

Starts a local SMTP sink (aiosmtpd) and the fake SMS provider (:mod:`api.fake_sms`) on free
loopback ports, points the settings at them, runs the delivery worker once
(:func:`api.worker.run_worker`, what ``crm worker --once`` runs) on the configured database,
and prints what the sinks received, the campaign reports, a customer card URL and the run
summary. Run from the checkout: ``.venv/bin/python .ci/demo_deliver.py``.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Count:
    """An aiosmtpd handler that counts the messages it accepts."""

    def __init__(self) -> None:
        self.received = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received += 1
        return "250 OK"


def deliver(url: str) -> dict[str, int]:
    """Deliver what is due in the outbox at ``url`` to a local SMTP sink and the fake SMS provider.

    Returns the worker's totals and what the sinks received (``emails_received``,
    ``sms_received``). The notebooks' test database is delivered this way too.
    """
    import uvicorn
    from aiosmtpd.controller import Controller

    from api.fake_sms import make_app

    smtp_port, sms_port = _free_port(), _free_port()
    sink = _Count()
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    sms_app = make_app()
    sms = uvicorn.Server(
        uvicorn.Config(sms_app, host="127.0.0.1", port=sms_port, log_level="error")
    )
    thread = threading.Thread(target=sms.run, daemon=True)
    thread.start()
    while not sms.started:
        time.sleep(0.05)
    os.environ.update(
        {
            "CRM_SMTP_HOST": "127.0.0.1",
            "CRM_SMTP_PORT": str(smtp_port),
            "CRM_SMS_PROVIDER_URL": f"http://127.0.0.1:{sms_port}",
        }
    )
    from api.worker import run_worker
    from crm.settings import get_settings

    get_settings.cache_clear()
    try:
        totals = run_worker(url, once=True, name="demo")
    finally:
        sms.should_exit = True
        thread.join(5)
        smtp.stop()
    return {
        **totals,
        "emails_received": sink.received,
        "sms_received": len(sms_app.state.provider.delivered),
    }


def main() -> int:
    """Deliver the outbox to local sinks and print the delivered counts and where to look."""
    from crm import store
    from crm.settings import get_settings

    url = get_settings().resolved_database_url
    started = time.perf_counter()
    result = deliver(url)
    totals = {k: v for k, v in result.items() if not k.endswith("_received")}
    print(f"\n== delivery (the gateway worker, once, {time.perf_counter() - started:.1f} s)")
    print(
        "worker: " + (", ".join(f"{k} {v:,}" for k, v in sorted(totals.items())) or "nothing due")
    )
    print(
        f"delivered: {result['emails_received']:,} emails to the SMTP sink, "
        f"{result['sms_received']:,} SMS to the fake provider"
    )
    campaigns = store.read_frame(
        url,
        "SELECT campaign_id, COUNT(*) AS n FROM outbox GROUP BY campaign_id ORDER BY campaign_id",
    )
    customer = store.read_frame(url, "SELECT MIN(customer_id) AS id FROM outbox")["id"]
    print("\n== where to look")
    for row in campaigns.itertuples():
        print(
            f"campaign report: .venv/bin/crm campaign report {row.campaign_id}   ({row.n:,} messages)"
        )
    if len(customer) and customer.iloc[0] is not None:
        print(
            "customer card: .venv/bin/crm api & then .venv/bin/crm api key create --scope read, and "
            f"curl -H 'Authorization: Bearer KEY' http://127.0.0.1:8000/v1/customers/{int(customer.iloc[0])}"
        )
    print(
        "run summary: make serve, then http://127.0.0.1:4200 -> Artifacts -> nightly-run-summary "
        "(and Runs -> the nightly flow run)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
