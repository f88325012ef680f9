"""The ``crm`` command's core: database, sample data, import, status.

Commands of other rooms (segments, loyalty, campaigns) are added to :data:`app`
in :mod:`flows.cli`, which is the installed entry point.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from crm.errors import CRMError
from crm.settings import get_settings

__all__ = ["app", "console", "database_url", "friendly_errors", "parse_as_of"]

app = typer.Typer(
    name="crm",
    help="CRM-marketing platform: clean CRM data, build profiles and segments, run loyalty and campaigns.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema and migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console(stderr=False)
err_console = Console(stderr=True)


def database_url() -> str:
    """The configured database URL (``CRM_DATABASE_URL``, default SQLite under ./var)."""
    return get_settings().resolved_database_url


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's errors (and a few common ones) into one clear line and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):  # a command's own exit: it has said what it had to
            raise
        except (CRMError, FileNotFoundError, PermissionError, ValueError) as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        except Exception as exc:  # database errors and the like: still one line, with the kind
            if "--debug" in sys.argv:
                raise
            err_console.print(
                f"[red]error ({type(exc).__name__}):[/red] {str(exc).splitlines()[0]}"
            )
            raise typer.Exit(1) from None

    return wrapper


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(
    revision: str = typer.Argument("heads", help="Alembic revision to upgrade to."),
) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from crm.db import migrate

    url = database_url()
    migrate(url, revision)
    console.print(f"database at [bold]{_safe(url)}[/bold] is at revision {revision}")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("status")
@friendly_errors
def status() -> None:
    """Row counts and data freshness of every table."""
    from crm.status import table_status

    frame = table_status(database_url())
    table = Table(title=f"CRM database {_safe(database_url())}")
    for col in frame.columns:
        table.add_column(col, justify="right" if col == "rows" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if v is None or v != v else str(v) for v in row))
    console.print(table)


def _now() -> dt.datetime:  # the CLI is a top-level caller: it reads the clock, passes as_of down
    return dt.datetime.now(dt.UTC)


def parse_as_of(value: str | None) -> dt.datetime:
    """An ``--as-of`` option: ISO 8601 (naive means UTC), or now when not given."""
    if not value:
        return _now()
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@app.command("sample")
@friendly_errors
def sample(
    customers: int = typer.Option(
        10_000, "--customers", "-n", min=1, help="Customer records to generate."
    ),
    seed: int = typer.Option(42, help="Random seed: the same seed gives the same data."),
    out: str = typer.Option(
        "var/sample", help="Folder for the Parquet files, truth file and import CSV."
    ),
    orders_per_customer: float = typer.Option(10.0, help="Average orders per customer."),
    load_db: bool = typer.Option(
        False, "--load/--no-load", help="Also load the data into the database."
    ),
) -> None:
    """Generate realistic, messy, bilingual sample CRM data (the truth kept aside in truth.parquet)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from crm import sample as gen

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("generating", total=len(gen.LOAD_ORDER) + 1)
        data = gen.generate(
            customers,
            seed=seed,
            orders_per_customer=orders_per_customer,
            progress=lambda step: bar.update(task, description=f"generating {step}"),
        )
        bar.update(task, advance=1, description="writing files")
        gen.write(data, out)
        if load_db:
            from crm.db import migrate

            url = database_url()
            migrate(url)
            gen.load(
                url,
                data,
                progress=lambda name, rows: bar.update(
                    task, advance=1, description=f"loaded {name} ({rows:,})"
                ),
            )
        bar.update(task, completed=len(gen.LOAD_ORDER) + 1, description="done")
    table = Table(
        title=f"sample data: {customers:,} customers, seed {seed}"
        + (" (loaded)" if load_db else "")
    )
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in data.counts().items():
        table.add_row(name, f"{rows:,}")
    truth = data.truth
    table.add_row("[dim]truth: people[/dim]", f"[dim]{truth.person_id.nunique():,}[/dim]")
    table.add_row(
        "[dim]truth: duplicate records[/dim]",
        f"[dim]{int(truth.is_duplicate_record.sum()):,}[/dim]",
    )
    console.print(table)
    console.print(f"files in [bold]{out}[/bold]")


@app.command("import")
@friendly_errors
def import_(
    entity: str = typer.Argument(..., help="contacts, companies, leads, deals, orders or events"),
    path: str = typer.Argument(..., help="CSV, Excel (.xlsx) or Parquet file"),
    map_: list[str] = typer.Option(
        [], "--map", "-m", help="COLUMN=field, repeatable (known RU/EN headers map themselves)"
    ),
    show: int = typer.Option(10, help="How many quarantined rows to show."),
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
        as_of=_now(),
        mapping=mapping,
        default_region=get_settings().default_region,
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
