"""Schemathesis over the gateway's OpenAPI schema: no 5xx, every response as documented.

Skipped when schemathesis is not installed (it is in the dev extras and the lock file).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_helpers import NOW

from api.app import create_app
from api.keys import create_key
from crm.db import make_engine, session_scope
from crm.settings import Settings

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def gateway(sqlite_url: str, tmp_path: Path) -> tuple[object, str]:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        _, key = create_key(session, "fuzz", ["intake", "delivery-admin", "read"], NOW)
    engine.dispose()
    app = create_app(
        Settings(data_dir=tmp_path, secret_key="fuzz", api_rate_burst=100_000),  # type: ignore[arg-type]
        database_url=sqlite_url,
        key_cache_s=60,
        clock=lambda: NOW,
    )
    return app, key


def test_no_server_errors_and_no_schema_violations(gateway: tuple[object, str]) -> None:
    """Every operation, 25 generated requests each (valid and invalid), with a key of all scopes."""
    app, key = gateway
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

        check()
