"""What every ``crm`` command shares: the consoles, the database URL, ``--as-of`` and errors."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import pandas as pd
import typer
from rich.console import Console

from crm.asof import AsOfError, as_instant
from crm.errors import CRMError
from crm.settings import get_settings

__all__ = [
    "console",
    "database_url",
    "err_console",
    "friendly_errors",
    "now",
    "parse_as_of",
    "run_flow",
    "safe_url",
]

console = Console(stderr=False)
err_console = Console(stderr=True)


def database_url() -> str:
    """The configured database URL (``CRM_DATABASE_URL``, default ``var/crm.db``).

    The default database's folder (``CRM_DATA_DIR``) is the platform's own and is created
    when missing; the folder of a URL the user gave must exist (a typo is an error, not a
    new empty database).
    """
    settings = get_settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.resolved_database_url


def safe_url(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def now() -> dt.datetime:
    """The clock, read here: the command line is a top-level caller and passes ``as_of`` down."""
    return dt.datetime.now(dt.UTC)


def parse_as_of(value: str | None, option: str = "--as-of") -> pd.Timestamp:
    """An ``--as-of`` option as an aware instant (see :mod:`crm.asof`), or now when not given.

    A bare date is the end of that day and a naive time is wall-clock time, both in the
    program's time zone (``CRM_DEFAULT_TIMEZONE``).
    """
    if not value:
        return as_instant(now())
    try:
        return as_instant(value, get_settings().default_timezone)
    except AsOfError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def run_flow(flow: Callable[..., Any], **params: Any) -> Any:
    """Run a Prefect flow from a command, its ephemeral server's output in a log file.

    Every command that runs a flow goes through here, so none prints the local server's
    background noise (:func:`flows.prefect_server.quiet_local_api`).
    """
    from flows.prefect_server import quiet_local_api

    quiet_local_api()
    return flow(**params)


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's errors (and a few common ones) into one clear line and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):  # said what it had to
            raise
        except (CRMError, FileNotFoundError, LookupError, PermissionError, ValueError) as exc:
            err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # database errors and the like: still one line, with the kind
            if "--debug" in sys.argv:
                raise
            err_console.print(
                f"[red]error ({type(exc).__name__}):[/red] {str(exc).splitlines()[0]}",
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper
