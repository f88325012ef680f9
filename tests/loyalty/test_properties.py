"""Ledger invariants for random event sequences (hypothesis stateful testing).

The state machine is :class:`ledger_machine.LedgerMachine`; this runs at least 1,000
generated sequences in the normal test run. ``LOYALTY_PROPERTY_EXAMPLES`` raises the count
for a longer soak (``bench/`` or a nightly job).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from ledger_machine import LedgerMachine

EXAMPLES = int(os.environ.get("LOYALTY_PROPERTY_EXAMPLES", "1000"))

TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
