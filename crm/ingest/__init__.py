"""Import CRM exports (CSV, Excel, Parquet) of contacts, companies, leads, deals, orders and events.

Every row is validated, column by column and vectorised: a bad row goes to the
``quarantine`` table with its file, line, the field at fault and the reason; the good
rows land, upserted on their natural key (``external_id``), so importing the same file
twice leaves the same state. Hygiene (:mod:`crm.hygiene`, when present) normalises
contact data before it lands, and rows that match a person already in the base are
attached to that person instead of creating a duplicate (D9).

The pure part (:func:`read_table`, :func:`validate`) takes and returns frames; only
:func:`import_file` touches the database.

Example
-------
>>> summary = import_file(url, "contacts", "export.csv", mapping={"Фамилия": "last_name"}, as_of=now)
>>> summary.inserted, summary.updated, summary.quarantined, summary.reasons
"""

from __future__ import annotations

from crm.ingest.fields import ENTITIES, SYNONYMS, FieldSpec
from crm.ingest.landing import ImportSummary, Landed, import_file, land_rows
from crm.ingest.reading import read_rows, read_table
from crm.ingest.validation import Validated, resolve_mapping, validate

__all__ = [
    "ENTITIES",
    "SYNONYMS",
    "FieldSpec",
    "ImportSummary",
    "Landed",
    "Validated",
    "import_file",
    "land_rows",
    "read_rows",
    "read_table",
    "resolve_mapping",
    "validate",
]
