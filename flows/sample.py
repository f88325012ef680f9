"""Flow: generate seeded sample CRM data and load it into the configured database."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from crm import sample as gen
from crm.db import migrate
from crm.settings import get_settings

__all__ = ["load_sample_flow"]


@task(name="generate sample data")
def generate_sample(customers: int, seed: int, out: str) -> gen.SampleData:
    data = gen.generate(customers, seed=seed)
    gen.write(data, out)
    return data


@task(name="load sample data")
def load_sample(url: str, data: gen.SampleData) -> dict[str, int]:
    migrate(url)
    return gen.load(url, data)


@flow(name="load-sample")
def load_sample_flow(
    customers: int = 10_000, seed: int = 42, out: str = "var/sample", url: str | None = None
) -> dict[str, int]:
    """Generate ``customers`` records with ``seed`` (files under ``out``) and load them.

    Meant for an empty database: loading twice is refused by the primary keys.
    """
    logger = get_run_logger()
    url = url or get_settings().resolved_database_url
    data = generate_sample(customers, seed, out)
    counts = load_sample(url, data)
    logger.info("loaded %s rows into %d tables", f"{sum(counts.values()):,}", len(counts))
    create_table_artifact(
        key="sample-load",
        table=[{"table": name, "rows": rows} for name, rows in counts.items()],
        description=f"Sample data: {customers:,} customers, seed {seed}",
    )
    return counts
