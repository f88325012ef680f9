"""``crm api`` (serve the gateway), ``crm api key create|revoke|list`` and ``crm worker``."""

from __future__ import annotations

import typer
from rich.table import Table

from flows.cli._common import console, database_url, friendly_errors, now

__all__ = ["app", "worker"]

app = typer.Typer(
    help="The FastAPI gateway: serve it, manage its API keys.", invoke_without_command=True
)
key_app = typer.Typer(
    help="API keys (shown once when created, stored hashed).", no_args_is_help=True
)
app.add_typer(key_app, name="key")


@app.callback()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int | None = typer.Option(
        None,
        help="Server processes (uvicorn workers); default: 1 on SQLite (one write lock), "
        "one per core on PostgreSQL.",
        show_default=False,
    ),
) -> None:
    """Start the gateway (uvicorn) on the configured database; subcommands manage keys."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from api.app import default_workers

    if workers is None:
        workers = default_workers(database_url())

    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@key_app.command("create")
@friendly_errors
def key_create(
    scope: list[str] = typer.Option(
        ..., "--scope", "-s", help="intake, delivery-admin or read (repeat for several)."
    ),
    name: str = typer.Option("default", help="A name to tell keys apart."),
) -> None:
    """Create an API key and print it (the only time it is shown)."""
    from api.keys import create_key
    from crm.db import make_engine, session_scope

    engine = make_engine(database_url())
    try:
        with session_scope(engine) as session:
            key_id, plain = create_key(session, name, scope, now())
    finally:
        engine.dispose()
    console.print(f"key {key_id} ({', '.join(sorted(set(scope)))}): {plain}", soft_wrap=True)


@key_app.command("revoke")
@friendly_errors
def key_revoke(key_id: int = typer.Argument(..., help="The key's id (crm api key list).")) -> None:
    """Revoke an API key: requests with it get 401 from then on."""
    from api.keys import revoke_key
    from crm.db import make_engine, session_scope

    engine = make_engine(database_url())
    try:
        with session_scope(engine) as session:
            done = revoke_key(session, key_id, now())
    finally:
        engine.dispose()
    if not done:
        raise ValueError(f"key {key_id} does not exist or is already revoked")
    console.print(f"key {key_id} revoked")


@key_app.command("list")
@friendly_errors
def key_list() -> None:
    """Every key: id, name, prefix, scopes, created, revoked."""
    from api.keys import list_keys
    from crm.db import make_engine, session_scope

    engine = make_engine(database_url())
    try:
        with session_scope(engine) as session:
            keys = list_keys(session)
    finally:
        engine.dispose()
    table = Table(title="API keys")
    for col in ("id", "name", "prefix", "scopes", "created", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            str(k.key_id),
            k.name,
            k.prefix + "…",
            k.scopes,
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
        )
    console.print(table)


@friendly_errors
def worker(
    once: bool = typer.Option(False, "--once", help="Drain what is due now, then exit."),
    name: str = typer.Option("", help="Worker name (default host-pid); its journal's name."),
) -> None:
    """The delivery worker: drains the outbox (SMTP, SMS provider) and lands intake events."""
    from api.worker import run_worker

    totals = run_worker(database_url(), once=once, name=name or None)
    console.print(", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "nothing due")
