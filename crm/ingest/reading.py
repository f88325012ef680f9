"""Reading an export: CSV (any of its encodings and separators), Excel or Parquet, as text.

A CSV line the parser cannot take (too many or too few fields, an unclosed quote, a stray
NUL or control character) is not a reason to refuse the file: it is returned apart, with
its line and reason, for the quarantine, and every other line is read.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

from crm.errors import ImportFileError

__all__ = ["read_rows", "read_table"]


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
