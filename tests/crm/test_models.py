"""The data model's own guarantees: CHECK, FOREIGN KEY and UNIQUE constraints, aware datetimes.

Each test writes a handful of rows through the ORM on a fresh migrated database
(SQLite and PostgreSQL) and checks the database itself refuses what it must.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, StatementError

from crm.db import make_engine, session_scope
from crm.models import Customer, ImportBatch, Lead, Order, Quarantine, Relation

T0 = dt.datetime(2024, 5, 1, 10, 11, 12, 500_000, tzinfo=dt.UTC)
MSK = dt.timezone(dt.timedelta(hours=3))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def _customer(external_id: str = "C1", **kw: object) -> Customer:
    values: dict[str, object] = {
        "external_id": external_id,
        "first_name": "Иван",
        "created_at": T0,
    }
    values.update(kw)
    return Customer(**values)


def _add(engine: Engine, *rows: object) -> None:
    with session_scope(engine) as session:
        session.add_all(rows)


def test_defaults_of_a_new_customer(engine: Engine) -> None:
    _add(engine, _customer())
    with session_scope(engine) as session:
        got = session.scalars(select(Customer)).one()
    assert (got.lifecycle_stage, got.status, got.is_loyalty_member) == ("lead", "active", False)


def test_unknown_lifecycle_stage_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="lifecycle_stage"):
        _add(engine, _customer(lifecycle_stage="vip"))


def test_every_known_lifecycle_stage_is_accepted(engine: Engine) -> None:
    stages = ["subscriber", "lead", "opportunity", "customer", "repeat_customer", "churned"]
    _add(engine, *(_customer(f"C{i}", lifecycle_stage=s) for i, s in enumerate(stages)))
    with session_scope(engine) as session:
        assert sorted(session.scalars(select(Customer.lifecycle_stage))) == sorted(stages)


def test_unknown_customer_status_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="status"):
        _add(engine, _customer(status="deleted"))


def test_unknown_lead_status_is_refused(engine: Engine) -> None:
    # "lost" belongs to deals; a lead is disqualified, never lost (D2)
    with pytest.raises(IntegrityError, match="status"):
        _add(engine, Lead(external_id="L1", source="call", status="lost", created_at=T0))


def test_disqualified_lead_needs_a_reason(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="disqualify_reason"):
        _add(engine, Lead(external_id="L1", source="call", status="disqualified", created_at=T0))
    _add(
        engine,
        Lead(
            external_id="L1",
            source="call",
            status="disqualified",
            disqualify_reason="competitor",
            created_at=T0,
        ),
    )
    with session_scope(engine) as session:
        lead = session.scalars(select(Lead)).one()
    assert (lead.status, lead.disqualify_reason) == ("disqualified", "competitor")


def test_order_of_unknown_customer_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError):
        _add(engine, Order(external_id="O1", customer_id=999, ordered_at=T0, amount=10.0))
    with session_scope(engine) as session:
        assert session.scalars(select(Order)).all() == []


def test_order_of_known_customer_lands(engine: Engine) -> None:
    _add(engine, _customer())
    with session_scope(engine) as session:
        cid = session.scalars(select(Customer.customer_id)).one()
        session.add(Order(external_id="O1", customer_id=cid, ordered_at=T0, amount=10.5))
    with session_scope(engine) as session:
        order = session.scalars(select(Order)).one()
    assert (order.customer_id, order.amount, order.currency, order.status) == (
        cid,
        10.5,
        "RUB",
        "paid",
    )


def test_aware_datetimes_round_trip_as_utc(engine: Engine) -> None:
    moscow = dt.datetime(2024, 5, 1, 13, 11, 12, 500_000, tzinfo=MSK)  # the same instant as T0
    _add(engine, _customer(created_at=moscow, updated_at=None))
    with session_scope(engine) as session:
        got = session.scalars(select(Customer)).one()
        found = session.scalars(select(Customer).where(Customer.created_at >= T0)).all()
    assert got.created_at == T0
    assert got.created_at.utcoffset() == dt.timedelta(0)
    assert got.created_at.microsecond == 500_000
    assert got.updated_at is None
    assert len(found) == 1  # comparisons in SQL see the same instant


def test_naive_datetime_is_refused(engine: Engine) -> None:
    with pytest.raises((StatementError, ValueError), match="naive datetime"):
        _add(engine, _customer(created_at=dt.datetime(2024, 5, 1, 10, 0)))


def test_relation_is_unique_per_pair_and_kind(engine: Engine) -> None:
    _add(engine, _customer("C1"), _customer("C2"))
    with session_scope(engine) as session:
        a, b = session.scalars(select(Customer.customer_id).order_by(Customer.external_id))
    spouse = {"customer_id": a, "related_customer_id": b, "created_at": T0}
    _add(engine, Relation(kind="spouse", **spouse), Relation(kind="referred_by", **spouse))
    with pytest.raises(IntegrityError):
        _add(engine, Relation(kind="spouse", **spouse))
    with pytest.raises(IntegrityError, match="kind"):
        _add(engine, Relation(kind="neighbour", **spouse))


def test_quarantine_is_unique_per_file_checksum_and_line(engine: Engine) -> None:
    _add(
        engine,
        ImportBatch(entity="contacts", source_file="a.csv", file_sha256="ab" * 32, started_at=T0),
    )
    with session_scope(engine) as session:
        batch_id = session.scalars(select(ImportBatch.batch_id)).one()

    def row(line: int, sha: str = "ab" * 32) -> Quarantine:
        return Quarantine(
            batch_id=batch_id,
            entity="contacts",
            source_file="a.csv",
            source_file_sha256=sha,
            line=line,
            reason="no email and no phone",
            raw="{}",
            created_at=T0,
        )

    _add(engine, row(2), row(3), row(2, sha="cd" * 32))
    with pytest.raises(IntegrityError):
        _add(engine, row(2))
    with session_scope(engine) as session:
        assert len(session.scalars(select(Quarantine)).all()) == 3
