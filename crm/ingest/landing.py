"""Landing an import: good rows upserted on their natural key, the run recorded.

:func:`import_file` is the whole import (read, validate, land, quarantine);
:func:`land_rows` is the landing alone, shared with the gateway's intake.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from crm.errors import ImportRejectedError
from crm.ingest.fields import _TABLE, ENTITIES
from crm.ingest.matching import _match_people, _new_points, _normalise_people
from crm.ingest.quarantine import close_batch, open_batch, reason_counts, write_quarantine
from crm.ingest.reading import read_rows
from crm.ingest.validation import validate
from crm.store import WriteResult

__all__ = ["ImportSummary", "Landed", "import_file", "land_rows"]


@dataclass
class ImportSummary:
    """What an import did, for people: counts and the reasons rows were quarantined."""

    entity: str
    source_file: str
    batch_id: int
    total: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    matched_existing: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    #: landed email addresses flagged by hygiene: ``role``, ``free``, ``disposable``
    email_flags: dict[str, int] = field(default_factory=dict)


def import_file(
    url: str,
    entity: str,
    path: str | Path,
    *,
    as_of: dt.datetime,
    mapping: Mapping[str, str] | None = None,
    default_region: str = "RU",
    max_rejects: float = 0.5,
) -> ImportSummary:
    """Validate ``path`` and land its good rows; quarantine the bad ones with reasons.

    Idempotent: rows are upserted on ``external_id`` (an unchanged row counts as
    unchanged, not updated), quarantine rows are keyed by (file checksum, line), and
    contact points and consents are only added when new. One batch row records the run.

    Parameters
    ----------
    max_rejects : when every row, or more than this share of the rows, is quarantined,
        nothing lands: the quarantine and the batch (status ``rejected``) are recorded and
        :class:`~crm.errors.ImportRejectedError` is raised, so a wrong file fails a
        scheduled run instead of passing quietly.
    """

    p = Path(path)
    raw, unreadable = read_rows(p)
    checked = validate(raw, entity, mapping)
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    total = len(raw) + len(unreadable)
    bad = pd.concat([unreadable, checked.bad], ignore_index=True)
    batch_id = open_batch(url, entity, p, sha, total, as_of)
    refused = total > 0 and (len(bad) >= total or len(bad) > max_rejects * total)
    result, matched = WriteResult(inserted=0), 0
    email_flags: dict[str, int] = {}
    if not refused:
        landed = land_rows(url, entity, checked.good, as_of=as_of, default_region=default_region)
        result, matched = landed.result, landed.matched
        email_flags = landed.email_flags
        bad = pd.concat([bad, landed.bad], ignore_index=True)
        refused = total > 0 and len(bad) >= total
    write_quarantine(url, bad, batch_id=batch_id, entity=entity, path=p, sha=sha, as_of=as_of)
    close_batch(url, batch_id, result, len(bad), matched, "rejected" if refused else "done", as_of)
    if refused:
        raise ImportRejectedError(str(p), len(bad), total, max_rejects, batch_id)
    reasons = reason_counts(bad)
    return ImportSummary(
        entity=entity,
        source_file=str(p),
        batch_id=batch_id,
        total=total,
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        quarantined=len(bad),
        matched_existing=matched,
        reasons=reasons,
        email_flags=email_flags,
    )


@dataclass
class Landed:
    """What :func:`land_rows` did: the write, rows matched to known people, rows refused.

    ``customer_id`` (contacts only) is the customer each landed row is now part of, indexed
    by the row's ``line``: a new customer, or the known person the row was matched to.
    """

    result: WriteResult
    matched: int
    bad: pd.DataFrame  # line, field, reason, raw: references to rows the base does not have
    customer_id: pd.Series | None = None
    email_flags: dict[str, int] = field(default_factory=dict)


def land_rows(
    url: str,
    entity: str,
    good: pd.DataFrame,
    *,
    as_of: dt.datetime,
    default_region: str = "RU",
) -> Landed:
    """Land the good rows of :func:`validate` the way an import does (D9).

    References (``customer``, ``company`` external ids) are resolved and rows naming
    unknown ones are returned as bad rows; contacts are normalised and matched to the
    people already in the base; everything is upserted on ``external_id``. The gateway's
    intake calls this too, so a contact from a form lands exactly like an imported one.
    """
    from crm import store

    good, bad_refs = _resolve_refs(url, entity, good)
    good = good[~good["line"].isin(bad_refs["line"])] if len(bad_refs) else good
    if entity == "contacts":
        result, matched, customer_id, flags = _land_contacts(
            url, good, as_of=as_of, default_region=default_region
        )
        return Landed(result, matched, bad_refs, customer_id, flags)
    result = (
        store.write_frame(
            url,
            _table_frame(entity, good, as_of),
            _TABLE[entity],
            mode="upsert",
            key=["external_id"],
        )
        if len(good)
        else WriteResult(inserted=0)
    )
    return Landed(result, 0, bad_refs)


def _resolve_refs(url: str, entity: str, good: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn ``customer``/``company`` external ids into ids; unknown ones are bad rows."""
    from crm import store

    bad_parts = []
    good = good.copy()
    for name, spec in ENTITIES[entity].items():
        if spec.kind != "ref" or name not in good:
            continue
        id_col = "customer_id" if spec.ref == "customers" else "company_id"
        wanted = good[name].dropna().unique().tolist()
        known = pd.DataFrame(columns=["external_id", id_col])
        if wanted:
            known = store.read_frame(url, spec.ref or "", columns=["external_id", id_col])
        lookup = known.set_index("external_id")[id_col]
        ids = good[name].map(lookup)
        unknown = good[name].notna() & ids.isna()
        if unknown.any():
            bad_parts.append(
                pd.DataFrame(
                    {
                        "line": good.loc[unknown, "line"].to_numpy(),
                        "field": name,
                        "reason": (
                            name
                            + " '"
                            + good.loc[unknown, name]
                            + "' is not in the base; import "
                            + (spec.ref or "")
                            + " first"
                        ).to_numpy(),
                        "raw": good.loc[unknown]
                        .drop(columns="line")
                        .apply(
                            lambda r: json.dumps(
                                {k: str(v) for k, v in r.items() if pd.notna(v)}, ensure_ascii=False
                            ),
                            axis=1,
                        )
                        .to_numpy(),
                    }
                )
            )
        good[id_col] = ids.astype("Int64")
    bad = (
        pd.concat(bad_parts, ignore_index=True)
        if bad_parts
        else pd.DataFrame(columns=["line", "field", "reason", "raw"])
    )
    return good, bad


def _table_frame(entity: str, good: pd.DataFrame, as_of: dt.datetime) -> pd.DataFrame:
    drop = [name for name, spec in ENTITIES[entity].items() if spec.kind == "ref"] + ["line"]
    frame = good.drop(columns=[col for col in drop if col in good])
    if entity in ("companies",) and "created_at" not in frame:
        frame["created_at"] = as_of
    if entity == "orders":
        frame["currency"] = frame.get("currency", pd.Series(index=frame.index, dtype="str")).fillna(
            "RUB"
        )
        frame["status"] = frame.get("status", pd.Series(index=frame.index, dtype="str")).fillna(
            "paid"
        )
    if entity == "deals":
        frame["currency"] = frame.get("currency", pd.Series(index=frame.index, dtype="str")).fillna(
            "RUB"
        )
    return frame


def _land_contacts(
    url: str, good: pd.DataFrame, *, as_of: dt.datetime, default_region: str
) -> tuple[WriteResult, int, pd.Series, dict[str, int]]:
    """Upsert customers, then add their new contact points and consents.

    D9: the rows are normalised first (names, titles, cities); a row whose ``external_id``
    the base does not know yet is compared with the people already in the base and with the
    other new rows of the file. A row that is someone already known lands as that person's
    new contact points and consents, not as a new customer; rows of the file that are one
    person land as one customer (the first of them). Nothing is dropped.
    """
    from crm import store

    good = _normalise_people(good, default_region)
    same_as, same_row = _match_people(url, good, default_region)
    matched = int(same_as.notna().sum() + same_row.notna().sum())
    people = good[(same_as.isna() & same_row.isna()).to_numpy()].drop(
        columns=[
            col
            for col in ("line", "email", "phone", "email_consent", "sms_consent", "company")
            if col in good
        ]
    )
    people = people.assign(updated_at=as_of)
    if "lifecycle_stage" in people:
        people["lifecycle_stage"] = people["lifecycle_stage"].fillna("lead")
    update_cols = [
        col for col in people.columns if col not in ("external_id", "created_at", "updated_at")
    ]
    # created_at only lands for new rows: the upsert updates update_cols only
    people["created_at"] = as_of
    result = (
        store.write_frame(
            url, people, "customers", mode="upsert", key=["external_id"], update=update_cols
        )
        if len(people)
        else WriteResult(inserted=0)
    )

    ids = store.read_frame(url, "customers", columns=["external_id", "customer_id"]).set_index(
        "external_id"
    )["customer_id"]
    customer_id = good["external_id"].map(ids).astype("Int64")
    customer_id = customer_id.fillna(same_row.map(ids).astype("Int64"))
    customer_id = customer_id.fillna(same_as.astype("Int64"))
    good = good.assign(customer_id=customer_id.astype("int64"))
    points = []
    for kind in ("email", "phone"):
        if kind in good:
            sel = good[good[kind].notna()]
            points.append(
                pd.DataFrame(
                    {
                        "customer_id": sel["customer_id"].to_numpy(),
                        "kind": kind,
                        "value": sel[kind].to_numpy(),
                    }
                )
            )
    flags: dict[str, int] = {}
    if points:
        cp, flags = _new_points(url, pd.concat(points, ignore_index=True), default_region, as_of)
        if len(cp):
            store.write_frame(
                url,
                cp,
                "contact_points",
                mode="upsert",
                key=["customer_id", "kind", "value"],
                update=[],
            )
    consents = []
    for col, channel in (("email_consent", "email"), ("sms_consent", "sms")):
        if col in good:
            sel = good[good[col].notna()]
            consents.append(
                pd.DataFrame(
                    {
                        "customer_id": sel["customer_id"].to_numpy(),
                        "channel": channel,
                        "granted": sel[col].astype(bool).to_numpy(),
                        "source": "import",
                        "recorded_at": as_of,
                    }
                )
            )
    if consents:
        frame = pd.concat(consents, ignore_index=True)
        latest = store.read_frame(
            url, "SELECT customer_id, channel, granted, recorded_at FROM consents"
        )
        if len(latest):
            latest = latest.sort_values("recorded_at").drop_duplicates(
                ["customer_id", "channel"], keep="last"
            )
            merged = frame.merge(
                latest[["customer_id", "channel", "granted"]],
                on=["customer_id", "channel"],
                how="left",
                suffixes=("", "_was"),
            )
            frame = frame[
                (
                    merged["granted_was"].isna() | (merged["granted_was"] != merged["granted"])
                ).to_numpy()
            ]
        if len(frame):
            store.write_frame(url, frame, "consents")
    customer_of_line = pd.Series(good["customer_id"].to_numpy(), index=good["line"].to_numpy())
    return result, matched, customer_of_line, flags
