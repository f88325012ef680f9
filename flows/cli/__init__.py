"""The ``crm`` command: every command of the platform, grouped as a user sees them.

One module per group, each registered here and nowhere else (no command is added as a side
effect of an import):

=====================  =====================================================
``crm db``, ``status`` :mod:`flows.cli.db`
``crm sample``         :mod:`flows.cli.sample`
``crm import``         :mod:`flows.cli.imports`
``crm clean|quality|dedup``  :mod:`flows.cli.hygiene`
``crm segments …``     :mod:`flows.cli.segments`
``crm loyalty …``      :mod:`flows.cli.loyalty`
``crm campaign …``     :mod:`flows.cli.campaign`
``crm nightly``        :mod:`flows.cli.nightly`
``crm api|worker``     :mod:`flows.cli.api`
``crm serve``          :mod:`flows.cli.serve` (Prefect's server, UI, pool, deployments, worker)
=====================  =====================================================

Each command is a thin caller: it parses options, calls the one job function that the
matching Prefect flow also calls, and prints what a person wants to read.
"""

from __future__ import annotations

from flows.prefect_setup import apply_command_defaults

# before anything imports prefect, which reads its settings once (see flows/prefect_setup.py)
apply_command_defaults()

import typer  # noqa: E402

from flows.cli import (  # noqa: E402
    api,
    campaign,
    db,
    hygiene,
    imports,
    loyalty,
    nightly,
    sample,
    segments,
    serve,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="crm",
    help="CRM-marketing platform: clean CRM data, build profiles and segments, run loyalty and campaigns.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.add_typer(db.app, name="db")
app.command("status")(db.status)
app.command("sample")(sample.sample)
app.command("import")(imports.import_)
app.command("clean")(hygiene.clean)
app.command("quality")(hygiene.quality)
app.command("dedup")(hygiene.dedup)
app.add_typer(segments.app, name="segments")
app.add_typer(loyalty.app, name="loyalty")
app.add_typer(campaign.app, name="campaign")
app.command("nightly")(nightly.nightly)
app.add_typer(api.app, name="api")
app.command("worker")(api.worker)
app.command("serve")(serve.serve)


def main() -> None:
    """Entry point of the ``crm`` console script."""
    app()
