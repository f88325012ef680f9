"""``crm import``: validate and land a CRM export; bad rows go to quarantine with their reason."""

from __future__ import annotations

import typer
from rich.table import Table

from crm.settings import get_settings
from flows.cli._common import console, database_url, friendly_errors, now

__all__ = ["import_"]


@friendly_errors
def import_(
    entity: str = typer.Argument(..., help="contacts, companies, leads, deals, orders or events"),
    path: str = typer.Argument(..., help="CSV, Excel (.xlsx) or Parquet file"),
    map_: list[str] = typer.Option(
        [], "--map", "-m", help="COLUMN=field, repeatable (known RU/EN headers map themselves)"
    ),
    show: int = typer.Option(10, help="How many quarantined rows to show."),
    max_rejects: float = typer.Option(
        0.5,
        "--max-rejects",
        min=0.0,
        max=1.0,
        help="Refuse the file (exit 1, nothing lands) when more than this share of its rows "
        "is quarantined; every row quarantined always refuses it.",
    ),
) -> None:
    """Import a file: valid rows land (upserted on external_id), bad rows go to quarantine with their reason."""
    from crm.errors import MappingError
    from crm.ingest import ENTITIES, import_file

    if entity not in ENTITIES:
        raise MappingError(entity, f"unknown entity; choose one of {', '.join(ENTITIES)}")
    mapping = {}
    for item in map_:
        if "=" not in item:
            raise MappingError(item, "write --map as COLUMN=field")
        col, fld = item.split("=", 1)
        mapping[col.strip()] = fld.strip()
    url = database_url()
    from crm.db import migrate

    migrate(url)
    summary = import_file(
        url,
        entity,
        path,
        as_of=now(),
        mapping=mapping,
        default_region=get_settings().default_region,
        max_rejects=max_rejects,
    )
    console.print(
        f"[bold]{summary.source_file}[/bold] ({entity}): {summary.total:,} rows — "
        f"[green]{summary.inserted:,} new[/green], [cyan]{summary.updated:,} updated[/cyan], "
        f"{summary.unchanged:,} unchanged, [red]{summary.quarantined:,} quarantined[/red]"
        + (
            f", {summary.matched_existing:,} matched to existing people"
            if summary.matched_existing
            else ""
        )
    )
    flagged = {k: v for k, v in summary.email_flags.items() if v}
    if flagged:
        console.print(
            "email addresses flagged (stored on contact_points): "
            + ", ".join(f"{v:,} {k}" for k, v in flagged.items())
        )
    if summary.reasons:
        table = Table(title="why rows were quarantined")
        table.add_column("reason")
        table.add_column("rows", justify="right")
        for reason, count in summary.reasons.items():
            table.add_row(reason, str(count))
        console.print(table)
        if show:
            from crm import store

            rows = store.read_frame(
                url,
                "quarantine",
                columns=["line", "field", "reason"],
                where="batch_id = ?",
                params=[summary.batch_id],
            )
            detail = Table(
                title=f"quarantined rows (first {show}; all in table quarantine, batch {summary.batch_id})"
            )
            for col in ("line", "field", "reason"):
                detail.add_column(col)
            for row in rows.sort_values("line").head(show).itertuples(index=False):
                detail.add_row(str(row.line), str(row.field), str(row.reason))
            console.print(detail)
