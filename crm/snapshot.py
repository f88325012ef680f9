"""The scored-profiles snapshot: a database's last segments run, as one Parquet file.

Written by the segments run after its database transaction commits; read by
``crm segments preview`` and the notebooks, which need a few columns of a million rows in
well under a second and should not pay for importing the whole scoring stack to get them.

Each database has its own file (``<CRM_DATA_DIR>/profiles-<digest of the URL>.parquet``), and
the file records how many profiles it holds and the ``as_of`` they were scored at. Reading
checks both against the database's ``customer_profiles``: the profiles shown are always those
of the database asked about, never another database's, and never a run older than the one
stored there.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from crm import store
from crm.errors import CRMError
from crm.settings import get_settings

__all__ = [
    "PROFILE_FIELDS",
    "NoProfilesError",
    "StaleSnapshotError",
    "read_snapshot",
    "snapshot_path",
    "stored_profiles",
    "write_snapshot",
]

_META_KEY = b"crm.snapshot"


def _profile_fields() -> tuple[str, ...]:
    from crm.models import CustomerProfile
    from crm.profiles import PROFILE_COLUMNS

    stored = (c.name for c in CustomerProfile.__table__.columns)
    return tuple(dict.fromkeys((*PROFILE_COLUMNS, *stored)))


#: Every field of a scored profile (what a segment can read): the built profile's columns
#: (:data:`crm.profiles.PROFILE_COLUMNS`) and the scored ones stored in ``customer_profiles``.
PROFILE_FIELDS: tuple[str, ...] = _profile_fields()


class NoProfilesError(CRMError):
    """The database has no scored profiles yet (no segments run, or an empty base)."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"{_safe(url)} has no scored profiles yet; run `crm segments run` on it first"
        )
        self.url = url


class StaleSnapshotError(CRMError):
    """The database has scored profiles, but no snapshot of them (or one of another run)."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(
            f"{path}: no snapshot of the last segments run of {_safe(url)}; run "
            "`crm segments run` again, or build the profiles from the database (--fresh)"
        )
        self.url = url
        self.path = path


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def snapshot_path(url: str) -> Path:
    """Where the latest scored profiles of the database at ``url`` are kept."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return get_settings().data_dir / f"profiles-{digest}.parquet"


def stored_profiles(url: str) -> tuple[int, pd.Timestamp | None]:
    """How many scored profiles the database holds, and their ``as_of`` (0 and None: none)."""
    try:
        state = store.read_frame(
            url, "SELECT COUNT(*) AS n, MAX(as_of) AS scored_at FROM customer_profiles"
        )
    except Exception as exc:  # a database the migrations never reached has no such table
        if "customer_profiles" in str(exc):
            return 0, None
        raise
    n = int(state["n"].iloc[0]) if len(state) else 0
    at = state["scored_at"].iloc[0] if n else None
    return n, (None if at is None or pd.isna(at) else pd.Timestamp(at).tz_convert("UTC"))


def _stamp(as_of: object) -> str:
    return pd.Timestamp(as_of).tz_convert("UTC").as_unit("us").isoformat()  # type: ignore[arg-type]


def write_snapshot(profiles: pd.DataFrame, url: str, path: Path | None = None) -> Path:
    """Write the profiles atomically (readers see the old file or the new one, never half).

    ``profiles`` carries an ``as_of`` column (the moment scored), recorded with the row count
    so :func:`read_snapshot` can tell the snapshot belongs to the database's last run.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = path or snapshot_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    as_of = profiles["as_of"].iloc[0] if len(profiles) and "as_of" in profiles else None
    meta = {"rows": len(profiles), "as_of": None if as_of is None else _stamp(as_of)}
    table = pa.Table.from_pandas(profiles)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode("utf-8")}
    )
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def _snapshot_meta(path: Path) -> dict[str, object] | None:
    import pyarrow.parquet as pq

    if not path.exists():
        return None
    raw = (pq.read_schema(path).metadata or {}).get(_META_KEY)
    return None if raw is None else dict(json.loads(raw))


def read_snapshot(
    url: str, columns: list[str] | None = None, path: Path | None = None
) -> pd.DataFrame:
    """The scored profiles of the last segments run on the database at ``url``.

    Parameters
    ----------
    url : str
        The database whose profiles are wanted.
    columns : list of str, optional
        Read only those that exist (the ``customer_id`` index always comes along).
    path : Path, optional
        The snapshot file (default :func:`snapshot_path`).

    Raises
    ------
    NoProfilesError
        When the database holds no scored profiles (never scored, or empty).
    StaleSnapshotError
        When it does but the snapshot is missing or is of another run (another row count or
        ``as_of``).
    """
    import pyarrow.parquet as pq

    path = path or snapshot_path(url)
    rows, as_of = stored_profiles(url)
    if rows == 0:
        raise NoProfilesError(url)
    meta = _snapshot_meta(path)
    if meta is None or meta.get("rows") != rows or meta.get("as_of") != _stamp(as_of):
        raise StaleSnapshotError(url, path)
    if columns is not None:
        present = set(pq.read_schema(path).names)
        columns = [c for c in dict.fromkeys(columns) if c in present]
    return pd.read_parquet(path, columns=columns)
