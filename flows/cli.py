"""The installed ``crm`` command: the core commands of :mod:`crm.cli` plus every room's own.

Each room that has commands exposes a ``typer.Typer`` here; they are added below.
"""

from __future__ import annotations

import importlib

from crm.cli import app, friendly_errors

__all__ = ["app", "main"]


def _register() -> None:
    """Add every room's sub-commands to the core app (imports register them as a side effect)."""
    # importing these modules registers `crm clean`, `crm quality` and `crm dedup` on the app
    for module in ("crm.cli_hygiene", "crm.cli_identity"):
        importlib.import_module(module)
    from flows.cli_loyalty import app as loyalty_app
    from flows.cli_segments import app as segments_app
    from flows.cli_segments import nightly

    app.add_typer(loyalty_app, name="loyalty")
    app.add_typer(segments_app, name="segments")
    app.command("nightly")(friendly_errors(nightly))


_register()


def main() -> None:
    """Entry point of the ``crm`` console script."""
    app()
