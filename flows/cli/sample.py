"""``crm sample``: seeded, realistic, messy bilingual sample data (and its truth file)."""

from __future__ import annotations

import typer
from rich.table import Table

from flows.cli._common import console, database_url, friendly_errors

__all__ = ["sample"]


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
