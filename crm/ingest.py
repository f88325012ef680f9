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

import csv
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crm import columns as c
from crm.errors import ImportFileError, ImportRejectedError, MappingError
from crm.store import WriteResult

__all__ = [
    "ENTITIES",
    "FieldSpec",
    "ImportSummary",
    "Landed",
    "Validated",
    "import_file",
    "land_rows",
    "read_table",
    "resolve_mapping",
    "validate",
]


@dataclass(frozen=True)
class FieldSpec:
    """One importable field: its type, whether it is required, allowed values."""

    kind: str = "str"  # str, int, float, date, datetime, bool, enum, email, phone, ref
    required: bool = False
    choices: tuple[str, ...] = ()
    ref: str | None = None  # for kind="ref": the table whose external_id it names
    max_len: int | None = None
    positive: bool = False


_CUSTOMER_REF = FieldSpec("ref", required=True, ref="customers")

#: What each entity accepts. ``external_id`` is the natural key of every entity.
ENTITIES: dict[str, dict[str, FieldSpec]] = {
    "contacts": {
        "external_id": FieldSpec(required=True, max_len=64),
        "first_name": FieldSpec(max_len=128),
        "last_name": FieldSpec(max_len=128),
        "middle_name": FieldSpec(max_len=128),
        "gender": FieldSpec("enum", choices=("f", "m")),
        "birth_date": FieldSpec("date"),
        "job_title": FieldSpec(max_len=255),
        "city": FieldSpec(max_len=128),
        "postcode": FieldSpec(max_len=16),
        "address": FieldSpec(max_len=255),
        "timezone": FieldSpec(max_len=64),
        "language": FieldSpec("enum", choices=("ru", "en")),
        "source": FieldSpec(max_len=32),
        "lifecycle_stage": FieldSpec("enum", choices=c.LIFECYCLE_STAGES),
        "owner": FieldSpec(max_len=64),
        "company": FieldSpec("ref", ref="companies"),
        "email": FieldSpec("email"),
        "phone": FieldSpec("phone"),
        "email_consent": FieldSpec("bool"),
        "sms_consent": FieldSpec("bool"),
    },
    "companies": {
        "external_id": FieldSpec(required=True, max_len=64),
        "name": FieldSpec(required=True, max_len=255),
        "industry": FieldSpec(max_len=64),
        "size_band": FieldSpec(max_len=16),
        "employees": FieldSpec("int"),
        "domain": FieldSpec(max_len=255),
        "city": FieldSpec(max_len=128),
    },
    "leads": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": FieldSpec("ref", ref="customers"),
        "company": FieldSpec("ref", ref="companies"),
        "source": FieldSpec(required=True, max_len=32),
        "channel": FieldSpec(max_len=32),
        "status": FieldSpec("enum", required=True, choices=c.LEAD_STATUSES),
        "disqualify_reason": FieldSpec(max_len=32),
        "budget": FieldSpec("float"),
        "authority": FieldSpec("bool"),
        "need": FieldSpec(max_len=128),
        "timing_days": FieldSpec("int"),
        "created_at": FieldSpec("datetime", required=True),
        "qualified_at": FieldSpec("datetime"),
        "converted_at": FieldSpec("datetime"),
    },
    "deals": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": FieldSpec("ref", ref="customers"),
        "company": FieldSpec("ref", ref="companies"),
        "amount": FieldSpec("float"),
        "currency": FieldSpec(max_len=3),
        "status": FieldSpec("enum", required=True, choices=c.DEAL_STATUSES),
        "won_reason": FieldSpec(max_len=64),
        "lost_reason": FieldSpec(max_len=64),
        "created_at": FieldSpec("datetime", required=True),
        "closed_at": FieldSpec("datetime"),
    },
    "orders": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": _CUSTOMER_REF,
        "ordered_at": FieldSpec("datetime", required=True),
        "amount": FieldSpec("float", required=True, positive=True),
        "currency": FieldSpec(max_len=3),
        "status": FieldSpec("enum", choices=c.ORDER_STATUSES),
        "channel": FieldSpec(max_len=16),
        "category": FieldSpec(max_len=64),
    },
    "activity_events": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": _CUSTOMER_REF,
        "kind": FieldSpec(required=True, max_len=32),
        "occurred_at": FieldSpec("datetime", required=True),
    },
    "events": {
        "external_id": FieldSpec(required=True, max_len=64),
        "customer": _CUSTOMER_REF,
        "campaign_id": FieldSpec(max_len=64),
        "channel": FieldSpec("enum", required=True, choices=("email", "sms")),
        "kind": FieldSpec("enum", required=True, choices=c.EVENT_KINDS),
        "detail": FieldSpec(max_len=255),
        "occurred_at": FieldSpec("datetime", required=True),
    },
}

_TABLE = {
    "contacts": "customers",
    "companies": "companies",
    "leads": "leads",
    "deals": "deals",
    "orders": "orders",
    "events": "marketing_events",
    "activity_events": "loyalty_events",  # site/app activity that may earn points (L1)
}

#: Header synonyms (lower-cased) recognised without an explicit mapping, Russian and English.
SYNONYMS: dict[str, str] = {
    "id": "external_id",
    "external id": "external_id",
    "код": "external_id",
    "ид": "external_id",
    "фамилия": "last_name",
    "surname": "last_name",
    "last name": "last_name",
    "имя": "first_name",
    "first name": "first_name",
    "given name": "first_name",
    "отчество": "middle_name",
    "patronymic": "middle_name",
    "middle name": "middle_name",
    "e-mail": "email",
    "email": "email",
    "почта": "email",
    "эл. почта": "email",
    "телефон": "phone",
    "phone": "phone",
    "мобильный": "phone",
    "mobile": "phone",
    "тел.": "phone",
    "дата рождения": "birth_date",
    "birthday": "birth_date",
    "date of birth": "birth_date",
    "др": "birth_date",
    "город": "city",
    "city": "city",
    "стадия": "lifecycle_stage",
    "stage": "lifecycle_stage",
    "источник": "source",
    "source": "source",
    "пол": "gender",
    "gender": "gender",
    "должность": "job_title",
    "job title": "job_title",
    "title": "job_title",
    "компания": "company",
    "company": "company",
    "ответственный": "owner",
    "owner": "owner",
    "адрес": "address",
    "индекс": "postcode",
    "язык": "language",
    "клиент": "customer",
    "customer": "customer",
    "сумма": "amount",
    "amount": "amount",
    "дата заказа": "ordered_at",
    "order date": "ordered_at",
    "статус": "status",
    "status": "status",
    "валюта": "currency",
    "категория": "category",
}
_TRUE = {"1", "true", "yes", "y", "да", "д", "+", "t"}
_FALSE = {"0", "false", "no", "n", "нет", "н", "-", "f"}
# the last one is how pandas writes an Excel date cell read as text
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d.%m.%y", "%Y-%m-%d %H:%M:%S")


@dataclass
class Validated:
    """The outcome of :func:`validate`: typed good rows, and bad rows with their reasons."""

    good: pd.DataFrame  # typed values, one column per field, plus ``line``
    bad: pd.DataFrame  # line, field, reason, raw (JSON)


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


# --------------------------------------------------------------------------- reading
def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8 or Windows-1251, ``,`` or ``;``), Excel or Parquet file as text.

    Returns a frame of strings (empty cells are missing) with a ``line`` column giving
    each row's line in the source (the header is line 1). Lines a CSV parser cannot take
    are left out; :func:`read_rows` returns them with their reasons.
    """
    return read_rows(path)[0]


def read_rows(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a file as :func:`read_table` does, and the CSV lines that could not be read.

    Returns
    -------
    (frame, rejected)
        ``rejected`` has ``line, field, reason, raw``: a line with more or fewer fields than
        the header (``"10 fields, the header has 8"``), an unclosed or stray quote, a NUL
        character, or only empty cells; every other line is in ``frame``.

    Raises
    ------
    ImportFileError
        When the file is missing, of an unsupported type, has no header, or is not text in
        any supported encoding.
    """
    p = Path(path)
    if not p.exists():
        raise ImportFileError(str(p), "no such file")
    suffix = p.suffix.lower()
    rejected = _rejected([])
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            frame, rejected = _read_csv(p)
        elif suffix in (".xlsx", ".xlsm", ".xls"):
            frame = pd.read_excel(p, dtype=str)
        elif suffix == ".parquet":
            frame = pd.read_parquet(p).astype("str").where(lambda f: f.notna(), None)
        else:
            raise ImportFileError(
                str(p), f"unsupported file type {suffix!r}: use CSV, Excel or Parquet"
            )
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise ImportFileError(str(p), f"cannot be read: {exc}") from exc
    if frame.columns.empty:
        raise ImportFileError(str(p), "no header row")
    frame.columns = [str(col).strip() for col in frame.columns]
    frame = frame.replace(r"^\s*$", None, regex=True)
    if "line" not in frame.columns:
        frame.insert(0, "line", np.arange(2, len(frame) + 2))
    return frame, rejected


def _rejected(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line": pd.Series([r[0] for r in rows], dtype="int64"),
            "field": pd.Series([None] * len(rows), dtype="object"),
            "reason": pd.Series([r[1] for r in rows], dtype="object"),
            "raw": pd.Series(
                [json.dumps({"text": r[2][:1000]}, ensure_ascii=False) for r in rows],
                dtype="object",
            ),
        }
    )


#: a file whose first 64 KiB hold more of these control bytes is not text (a binary file)
_CONTROL = bytes(range(0, 9)) + bytes(range(14, 32))


def _decode_lines(p: Path, data: bytes) -> list[str]:
    """The file's physical lines, each decoded as UTF-8 or else Windows-1251."""
    sample = data[:65536]
    if sample and sum(sample.count(bytes([b])) for b in _CONTROL) > 0.02 * len(sample):
        raise ImportFileError(
            str(p), "is not a text file in a supported encoding (UTF-8 or Windows-1251)"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = []
    for raw in data.split(b"\n"):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:  # a line saved by another program (mixed encodings)
            lines.append(raw.decode("cp1251", errors="replace"))
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _read_csv(p: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse a CSV line by line: a line the parser cannot take is rejected, not the file."""
    lines = _decode_lines(p, p.read_bytes())
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        return pd.DataFrame(), _rejected([])
    first = lines[start]
    sep = max([",", ";", "\t"], key=first.count)
    header = next(csv.reader([first], delimiter=sep))
    width = len(header)
    rows: list[list[str]] = []
    numbers: list[int] = []
    bad: list[tuple[int, str, str]] = []
    i = start + 1
    while i < len(lines):
        text = lines[i]
        number = i + 1
        if not text.strip():
            i += 1
            continue
        if "\x00" in text:
            bad.append((number, "the line contains a NUL character", text.replace("\x00", "")))
            i += 1
            continue
        record, used, problem = _record(lines, i, sep, width)
        if problem:
            bad.append((number, problem, text))
        elif len(record) != width:
            bad.append((number, f"{len(record)} fields, the header has {width}", text))
        elif not any(cell.strip() for cell in record):
            bad.append((number, "empty row", text))
        else:
            rows.append(record)
            numbers.append(number)
        i += used
    frame = (
        pd.DataFrame(rows, columns=header, dtype="str")
        if rows
        else pd.DataFrame(columns=header, dtype="str")
    )
    frame.insert(0, "line", np.asarray(numbers, dtype=np.int64))
    return frame, _rejected(bad)


def _record(lines: list[str], i: int, sep: str, width: int) -> tuple[list[str], int, str | None]:
    """The record starting at physical line ``i``: its fields, lines used, or a problem.

    A quoted field may run over several lines; a quote that is still open after the
    record has its header's width of fields (or after 20 lines) is an unclosed quote.
    """
    for used in range(1, 21):
        chunk = "\n".join(lines[i : i + used])
        if chunk.count('"') % 2 == 0:
            try:
                record = next(csv.reader([chunk], delimiter=sep, strict=True))
            except csv.Error as exc:
                return [], 1, f"bad quoting: {exc}"
            if used > 1 and len(record) != width:  # the quote was opened by mistake
                break
            return record, used, None
        if i + used >= len(lines):
            break
    return [], 1, "unclosed quote"


def resolve_mapping(
    columns: list[str], entity: str, mapping: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Map file columns to fields: the explicit ``mapping`` first, then known header synonyms.

    Raises
    ------
    MappingError
        When the mapping names a column the file lacks or a field the entity lacks.
    """
    fields = ENTITIES[entity]
    mapping = dict(mapping or {})
    resolved: dict[str, str] = {}
    for source, target in mapping.items():
        if source not in columns:
            raise MappingError(
                source, f"the file has no column {source!r} (it has: {', '.join(columns)})"
            )
        if target not in fields:
            raise MappingError(
                target, f"{entity} have no field {target!r} (fields: {', '.join(fields)})"
            )
        resolved[source] = target
    taken = set(resolved.values())
    for col in columns:
        if col in resolved or col == "line":
            continue
        guess = col if col in fields else SYNONYMS.get(col.lower())
        if guess and guess in fields and guess not in taken:
            resolved[col] = guess
            taken.add(guess)
    return resolved


# --------------------------------------------------------------------------- validation
def validate(raw: pd.DataFrame, entity: str, mapping: Mapping[str, str] | None = None) -> Validated:
    """Type and check every row of ``raw`` (from :func:`read_table`) for ``entity``.

    Each field is parsed for the whole column at once; a row with any failing field is
    set aside with the first failure as its reason. Duplicate natural keys within the file
    keep their first row; later ones are set aside, naming the line they repeat.
    """
    if entity not in ENTITIES:
        raise MappingError(entity, f"unknown entity; choose one of {', '.join(ENTITIES)}")
    fields = ENTITIES[entity]
    cols = [col for col in raw.columns if col != "line"]
    mapped = resolve_mapping(cols, entity, mapping)
    frame = raw.rename(columns=mapped)
    missing_required = [f for f, spec in fields.items() if spec.required and f not in frame.columns]
    if missing_required:
        raise MappingError(
            missing_required[0],
            f"required field has no column; map one with --map COLUMN={missing_required[0]}",
        )

    reason = pd.Series(None, index=frame.index, dtype="object")
    bad_field = pd.Series(None, index=frame.index, dtype="object")
    good = pd.DataFrame({"line": frame["line"].to_numpy()}, index=frame.index)

    def fail(mask: pd.Series, name: str | None, message: pd.Series | str) -> None:
        new = mask & reason.isna()
        if new.any():
            msg = message[new] if isinstance(message, pd.Series) else message
            reason.loc[new] = msg
            bad_field.loc[new] = name

    cells = frame.drop(columns="line")
    fail(cells.isna().all(axis=1) if len(cells.columns) else ~reason.isna(), None, "empty row")

    for name, spec in fields.items():
        if name not in frame.columns:
            continue
        text = frame[name].astype("str").where(frame[name].notna(), None).str.strip()
        present = text.notna()
        if spec.required:
            fail(~present, name, f"{name} is required")
        value, invalid = _parse(text, spec)
        shown = text.fillna("").str.slice(0, 60)
        if spec.kind == "enum":
            fail(
                invalid & present,
                name,
                name + " " + _quoted(shown) + f" is not one of {', '.join(spec.choices)}",
            )
        elif spec.kind in ("date", "datetime"):
            fail(invalid & present, name, name + " " + _quoted(shown) + " is not a valid date")
        elif spec.kind in ("int", "float"):
            fail(invalid & present, name, name + " " + _quoted(shown) + " is not a number")
        elif spec.kind == "bool":
            fail(invalid & present, name, name + " " + _quoted(shown) + " is not yes/no")
        elif spec.kind == "email":
            fail(invalid & present, name, name + " " + _quoted(shown) + " is not an email address")
        elif spec.kind == "phone":
            fail(
                invalid & present,
                name,
                name + " " + _quoted(shown) + " has too few digits for a phone number",
            )
        if spec.max_len:
            fail(
                present & (text.str.len() > spec.max_len),
                name,
                f"{name} is longer than {spec.max_len} characters",
            )
        if spec.positive:
            fail(present & ~invalid & (value <= 0), name, f"{name} must be positive")
        good[name] = value

    if entity == "contacts":
        has_email = good["email"].notna() if "email" in good else pd.Series(False, index=good.index)
        has_phone = good["phone"].notna() if "phone" in good else pd.Series(False, index=good.index)
        fail(
            ~has_email & ~has_phone & reason.isna(),
            "email",
            "no email and no phone: the contact cannot be reached",
        )
    if entity == "leads" and "disqualify_reason" in good:
        fail(
            (good["status"] == "disqualified") & good["disqualify_reason"].isna(),
            "disqualify_reason",
            "a disqualified lead needs a disqualify_reason (spam, non_target, competitor, click_fraud…)",
        )

    key = good["external_id"]
    first_line = good.groupby(key, sort=False)["line"].transform("min")
    dup = key.notna() & key.duplicated(keep="first") & reason.isna()
    fail(dup, "external_id", "external_id repeats line " + first_line.astype("Int64").astype(str))

    is_bad = reason.notna()
    raw_json = (
        raw.loc[is_bad]
        .drop(columns="line")
        .apply(
            lambda row: json.dumps(
                {k: v for k, v in row.items() if pd.notna(v)}, ensure_ascii=False
            ),
            axis=1,
        )
        if is_bad.any()
        else pd.Series(dtype="str")
    )
    bad = pd.DataFrame(
        {
            "line": raw.loc[is_bad, "line"].to_numpy(),
            "field": bad_field[is_bad].to_numpy(),
            "reason": reason[is_bad].to_numpy(),
            "raw": raw_json.to_numpy() if len(raw_json) else np.array([], dtype=object),
        }
    )
    return Validated(good=good.loc[~is_bad].reset_index(drop=True), bad=bad)


def _quoted(text: pd.Series) -> pd.Series:
    return "'" + text + "'"


def _parse(text: pd.Series, spec: FieldSpec) -> tuple[pd.Series, pd.Series]:
    """Parse a text column by ``spec.kind``; returns (values, invalid mask where text was present)."""
    present = text.notna()
    kind = spec.kind
    if kind in ("str", "ref"):
        return text, pd.Series(False, index=text.index)
    if kind == "enum":
        low = text.str.lower()
        return low, present & ~low.isin(spec.choices)
    if kind in ("int", "float"):
        cleaned = text.str.replace(r"[\s\u00a0]", "", regex=True).str.replace(",", ".", regex=False)
        num = pd.to_numeric(cleaned, errors="coerce")
        invalid = present & num.isna()
        if kind == "int":
            invalid |= present & num.notna() & (num % 1 != 0)
            return num.where(~invalid).astype("Int64"), invalid
        return num.astype("float64"), invalid
    if kind == "bool":
        low = text.str.lower()
        val = pd.Series(pd.NA, index=text.index, dtype="boolean")
        val[low.isin(_TRUE)] = True
        val[low.isin(_FALSE)] = False
        return val, present & val.isna()
    if kind == "date":
        parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
        for fmt in _DATE_FORMATS:
            todo = parsed.isna() & present
            if not todo.any():
                break
            parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        invalid = present & parsed.isna()
        return parsed.dt.date.where(parsed.notna(), None), invalid
    if kind == "datetime":
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
        todo = parsed.isna() & present
        if todo.any():
            parsed[todo] = pd.to_datetime(
                text[todo], errors="coerce", dayfirst=True, utc=True, format="mixed"
            )
        return parsed.astype("datetime64[us, UTC]"), present & parsed.isna()
    if kind == "email":
        ok = text.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]{2,}", na=False)
        return text, present & ~ok
    if kind == "phone":
        digits = text.str.replace(r"\D", "", regex=True)
        return text, present & (digits.str.len() < 7)
    raise ValueError(f"unknown field kind {kind!r}")


# --------------------------------------------------------------------------- database
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
    from crm import store

    p = Path(path)
    raw, unreadable = read_rows(p)
    checked = validate(raw, entity, mapping)
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    total = len(raw) + len(unreadable)
    bad = pd.concat([unreadable, checked.bad], ignore_index=True)
    batch_id = _open_batch(url, entity, p, sha, total, as_of)
    refused = total > 0 and (len(bad) >= total or len(bad) > max_rejects * total)
    result, matched = WriteResult(inserted=0), 0
    email_flags: dict[str, int] = {}
    if not refused:
        landed = land_rows(url, entity, checked.good, as_of=as_of, default_region=default_region)
        result, matched = landed.result, landed.matched
        email_flags = landed.email_flags
        bad = pd.concat([bad, landed.bad], ignore_index=True)
        refused = total > 0 and len(bad) >= total
    if len(bad):
        quarantine = bad.assign(
            batch_id=batch_id,
            entity=entity,
            source_file=str(p),
            source_file_sha256=sha,
            created_at=as_of,
        )
        store.write_frame(
            url,
            quarantine,
            "quarantine",
            mode="upsert",
            key=["source_file_sha256", "line"],
            update=["batch_id", "field", "reason", "raw"],
        )
    _close_batch(url, batch_id, result, len(bad), matched, "rejected" if refused else "done", as_of)
    if refused:
        raise ImportRejectedError(str(p), len(bad), total, max_rejects, batch_id)
    reasons: dict[str, int] = {}
    if len(bad):
        counted = bad["reason"].str.replace(r"'[^']*'", "'…'", regex=True).value_counts()
        reasons = {str(k): int(v) for k, v in counted.items()}
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


def _open_batch(url: str, entity: str, p: Path, sha: str, total: int, as_of: dt.datetime) -> int:
    """Record the start of an import; returns its ``batch_id``."""
    from crm.db import make_engine, session_scope
    from crm.models import ImportBatch

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            batch = ImportBatch(
                entity=entity,
                source_file=str(p),
                file_sha256=sha,
                rows_total=total,
                started_at=as_of,
            )
            session.add(batch)
            session.flush()
            return int(batch.batch_id)
    finally:
        engine.dispose()


def _close_batch(
    url: str,
    batch_id: int,
    result: WriteResult,
    quarantined: int,
    matched: int,
    status: str,
    as_of: dt.datetime,
) -> None:
    from crm import store

    store.execute(
        url,
        "UPDATE import_batches SET rows_inserted = ?, rows_updated = ?, rows_unchanged = ?, "
        "rows_quarantined = ?, rows_matched = ?, status = ?, finished_at = ? WHERE batch_id = ?",
        [
            result.inserted,
            result.updated,
            result.unchanged,
            quarantined,
            matched,
            status,
            store.instant_param(url, as_of),
            batch_id,
        ],
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


def _normalise_people(good: pd.DataFrame, default_region: str) -> pd.DataFrame:
    """Names recased and split, gender from the patronymic, canonical titles and cities."""
    from crm.hygiene import normalise_contacts

    cols = ("first_name", "last_name", "middle_name", "gender", "job_title", "city")
    present = [c for c in cols if c in good.columns]
    if not present:
        return good
    clean = normalise_contacts(good[present], default_region=default_region)
    out = good.copy()
    for col in cols:
        if col in clean.columns:
            out[col] = clean[col]
    return out


def _match_people(url: str, good: pd.DataFrame, default_region: str) -> tuple[pd.Series, pd.Series]:
    """Who each new row already is.

    Returns, indexed like ``good``: the existing ``customer_id`` a new row matches (else
    NA), and the ``external_id`` of the earlier row of the same file it is the same person
    as (else NA). Rows whose ``external_id`` the base knows are updates, never matched.
    """
    from crm import store
    from crm.identity import find_duplicates, match_to_existing
    from crm.identity.database import PEOPLE_ROLES, read_people

    none = pd.Series(pd.NA, index=good.index, dtype="object")
    known = store.read_frame(url, "customers", columns=["external_id"])["external_id"]
    # not Series.isin: pandas 3 builds a text lookup set one Python scalar at a time
    # (about 10 µs per key, seconds for a base of a million customers)
    codes = pd.factorize(pd.concat([known, good["external_id"]], ignore_index=True))[0]
    seen = np.zeros(int(codes.max(initial=-1)) + 2, dtype=bool)
    seen[codes[: len(known)] + 1] = True
    seen[0] = False  # a missing external_id is never known
    new = good[~seen[codes[len(known) :] + 1]]
    if new.empty:
        return none.astype("Int64"), none
    blank = pd.Series(None, index=new.index, dtype="object")
    # an import row has one phone and one email: they go in the first of read_people's slots
    sources = {col: {"phone_1": "phone", "email_1": "email"}.get(col, col) for col in PEOPLE_ROLES}
    rows = pd.DataFrame(
        {col: new[src] if src in new.columns else blank for col, src in sources.items()},
        index=new.index,
    )
    roles = {c: r for c, r in PEOPLE_ROLES.items() if rows[c].notna().any()}
    same_as = none.astype("Int64")
    if roles and rows.notna().any().any():
        existing = read_people(url)
        if len(existing):
            hits = match_to_existing(rows, existing, roles, default_region=default_region)
            same_as.loc[hits["new_row_index"].to_numpy()] = hits["existing_customer_id"].to_numpy()
    same_row = none.copy()
    rest = rows[same_as.loc[rows.index].isna().to_numpy()]
    if roles and len(rest) > 1:
        clusters = find_duplicates(rest, roles, default_region=default_region).clusters
        # a cluster's id is its first record in file order: that row stands for the person
        dup = clusters[(clusters["record_id"] != clusters["cluster_id"]).to_numpy()]
        if len(dup):
            same_row.loc[dup["record_id"].to_numpy()] = good.loc[
                dup["cluster_id"].to_numpy(), "external_id"
            ].to_numpy()
    return same_as, same_row


def _new_points(
    url: str, cp: pd.DataFrame, default_region: str, as_of: dt.datetime
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The contact points not yet in the base, normalised, flagged and ranked.

    A person has at most one primary point per channel: a new point is primary only when
    the person has none of that kind yet, and then only the first such point of the file;
    the others (and every point of a person matched on import) land as secondary. Email
    addresses carry hygiene's flags (``is_role``: ``info@``…, ``is_free``, ``is_disposable``);
    returns their counts too.
    """
    from crm import store
    from crm.hygiene import normalise_contact_points, normalise_emails

    cp = cp.drop_duplicates(["customer_id", "kind", "value"])
    known = store.read_frame(
        url, "contact_points", columns=["customer_id", "kind", "value", "is_primary"]
    )
    if len(known):
        seen = cp.merge(
            known[["customer_id", "kind", "value"]].drop_duplicates(),
            on=["customer_id", "kind", "value"],
            how="left",
            indicator=True,
        )["_merge"].to_numpy()
        cp = cp[seen == "left_only"]
    if cp.empty:
        return cp, {}
    cp = normalise_contact_points(cp.reset_index(drop=True), default_region=default_region)
    has_primary = known[known["is_primary"].fillna(False).astype(bool).to_numpy()]
    taken = cp.merge(
        has_primary[["customer_id", "kind"]].drop_duplicates(),
        on=["customer_id", "kind"],
        how="left",
        indicator=True,
    )["_merge"].to_numpy()
    first = ~cp.duplicated(["customer_id", "kind"]).to_numpy()
    cp = cp.assign(is_primary=(taken == "left_only") & first, created_at=as_of)
    is_email = (cp["kind"] == "email").to_numpy()
    for col in ("is_role", "is_free", "is_disposable"):
        cp[col] = pd.Series(pd.NA, index=cp.index, dtype="boolean")
    if is_email.any():
        em = normalise_emails(cp.loc[is_email, "value"])
        for col in ("is_role", "is_free", "is_disposable"):
            cp.loc[is_email, col] = em[col].astype("boolean").to_numpy()
    flags = {
        name: int(cp[col].fillna(False).astype(bool).sum())
        for name, col in (("role", "is_role"), ("free", "is_free"), ("disposable", "is_disposable"))
    }
    return cp, flags
