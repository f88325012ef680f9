"""The installed ``crm`` command: the core commands of :mod:`crm.cli` plus every room's own.

Each room that has commands exposes a ``typer.Typer`` here; they are added below.
"""

from __future__ import annotations

from crm.cli import app

__all__ = ["app", "main"]


def _register() -> None:
    # Rooms add their sub-commands here, e.g.
    #   from flows.cli_loyalty import app as loyalty_app
    #   app.add_typer(loyalty_app, name="loyalty")
    from flows.cli_loyalty import app as loyalty_app

    app.add_typer(loyalty_app, name="loyalty")
    import crm.cli_identity  # noqa: F401  (registers `crm dedup` on the app)
    import crm.cli_hygiene  # noqa: F401  (registers `crm clean` and `crm quality`)

    pass


_register()


def main() -> None:
    """Entry point of the ``crm`` console script."""
    app()
