"""Validating rows: the header mapped to fields, every column parsed and checked, vectorised.

A bad row is kept with its line, the field at fault and a reason a person can act on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.errors import MappingError
from crm.ingest.fields import ENTITIES, SYNONYMS, FieldSpec

__all__ = ["Validated", "resolve_mapping", "validate"]

_TRUE = {"1", "true", "yes", "y", "да", "д", "+", "t"}
_FALSE = {"0", "false", "no", "n", "нет", "н", "-", "f"}
# the last one is how pandas writes an Excel date cell read as text
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d.%m.%y", "%Y-%m-%d %H:%M:%S")


@dataclass
class Validated:
    """The outcome of :func:`validate`: typed good rows, and bad rows with their reasons."""

    good: pd.DataFrame  # typed values, one column per field, plus ``line``
    bad: pd.DataFrame  # line, field, reason, raw (JSON)


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
    if entity == "orders" and "returned_amount" in good:
        back, amount = good["returned_amount"], good["amount"]
        shown = back.map("{:,.2f}".format, na_action="ignore")
        fail(back < 0, "returned_amount", "returned_amount " + shown + " is negative")
        fail(
            back > amount + 0.005,  # a cent of rounding is not a refund beyond the order
            "returned_amount",
            "returned_amount " + shown + " is more than the order's amount "
            + amount.map("{:,.2f}".format, na_action="ignore"),
        )  # fmt: skip
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
