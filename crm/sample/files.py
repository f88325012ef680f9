"""Sample data on disk and in the database: Parquet files, the import CSV, loading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from crm.sample import mess
from crm.sample.dataset import DEFAULT_AS_OF, LOAD_ORDER, SampleData

__all__ = ["import_contacts", "load", "read", "write"]


def write(data: SampleData, out_dir: str | Path) -> Path:
    """Write every table as Parquet, the truth file, and a messy contacts CSV for ``crm import``.

    ``import_contacts.csv`` holds 2% of the people as a CRM export would: mixed phone
    formats, a few broken rows (no contact data, a bad date, an unknown lifecycle stage)
    and rows of people already in the base, so an import shows landed, updated and
    quarantined rows. ``people_export.csv`` holds every person record with ISO, dotted
    and US birth dates in one column (:func:`crm.sample.mess.people_export`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in data.frames.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    data.truth.to_parquet(out / "truth.parquet", index=False)
    import_contacts(data).to_csv(out / "import_contacts.csv", index=False)
    mess.people_export(data["customers"], data["contact_points"], data.seed).to_csv(
        out / "people_export.csv", index=False
    )
    return out


def import_contacts(data: SampleData, share: float = 0.02) -> pd.DataFrame:
    """A contacts export in the shape marketers get from other systems (see :func:`write`)."""
    rng = np.random.default_rng(data.seed + 1)
    cust = data["customers"]
    cp = data["contact_points"]
    m = max(10, int(len(cust) * share))
    rows = cust.sample(n=min(m, len(cust)), random_state=data.seed).reset_index(drop=True)
    email = cp[cp.kind == "email"].drop_duplicates("customer_id").set_index("customer_id")["value"]
    phone = cp[cp.kind == "phone"].drop_duplicates("customer_id").set_index("customer_id")["value"]
    out = pd.DataFrame(
        {
            "ID": "X" + rows["external_id"].str[1:],
            "Фамилия": rows["last_name"],
            "Имя": rows["first_name"],
            "Отчество": rows["middle_name"],
            "E-mail": rows["customer_id"].map(email),
            "Телефон": rows["customer_id"].map(phone),
            "Дата рождения": pd.to_datetime(rows["birth_date"]).dt.strftime("%d.%m.%Y"),
            "Город": rows["city"],
            "Стадия": rows["lifecycle_stage"],
            "Источник": rows["source"],
        }
    )
    k = len(out)
    bad = rng.choice(k, size=max(3, k // 25), replace=False)
    third = len(bad) // 3
    out.loc[bad[:third], ["E-mail", "Телефон"]] = None  # no way to reach them
    out.loc[bad[third : 2 * third], "Дата рождения"] = "31.02.1990"  # no such date
    out.loc[bad[2 * third :], "Стадия"] = "vip???"  # not a lifecycle stage
    return out


def read(src_dir: str | Path) -> SampleData:
    """Read back what :func:`write` wrote."""
    src = Path(src_dir)
    frames = {
        name: pd.read_parquet(src / f"{name}.parquet")
        for name in LOAD_ORDER
        if (src / f"{name}.parquet").exists()
    }
    truth = pd.read_parquet(src / "truth.parquet")
    stamps = (
        frames["orders"]["ordered_at"]
        if len(frames.get("orders", []))
        else pd.Series([DEFAULT_AS_OF])
    )
    return SampleData(frames=frames, truth=truth, as_of=stamps.max().to_pydatetime(), seed=-1)


def load(
    url: str, data: SampleData, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Append every table to the database at ``url`` (set-wise, through Arrow), parents first.

    Meant for an empty database: generated ids are kept, so loading twice is refused by
    the primary keys rather than duplicating anything.
    """
    from crm import store
    from crm.errors import CRMError

    present = store.read_frame(url, "SELECT COUNT(*) AS n FROM customers")["n"].iloc[0]
    if present:
        raise CRMError(
            f"the database already holds {present:,} customers; sample data loads into an empty "
            "database (point CRM_DATABASE_URL at a new file, e.g. sqlite:///var/sample.db)"
        )
    counts: dict[str, int] = {}
    for name in LOAD_ORDER:
        frame = data.frames.get(name)
        if frame is None or frame.empty:
            continue
        counts[name] = store.write_frame(url, frame, name, mode="append").inserted
        if progress:
            progress(name, counts[name])
    return counts
