"""What the generator returns (:class:`SampleData`), its tables' load order and default date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["DEFAULT_AS_OF", "LOAD_ORDER", "SampleData"]

#: Tables in foreign-key order: parents before children.
LOAD_ORDER = (
    "companies",
    "customers",
    "contact_points",
    "consents",
    "relations",
    "tag_definitions",
    "customer_tags",
    "leads",
    "pipelines",
    "pipeline_stages",
    "deals",
    "products",
    "orders",
    "order_lines",
    "invoices",
    "payments",
    "activities",
    "marketing_events",
)

DEFAULT_AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclass
class SampleData:
    """Generated tables (``frames``, by table name) and the truth kept aside."""

    frames: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    as_of: dt.datetime
    seed: int
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.frames[table]

    def __iter__(self) -> Iterator[str]:
        return iter(self.frames)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {name: len(frame) for name, frame in self.frames.items()}
