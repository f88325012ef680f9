"""``crm campaign``: check, preview, run and report the marketer's campaigns (C1–C7)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.table import Table

from flows.cli._common import console, database_url, err_console, friendly_errors, now, parse_as_of

__all__ = ["app"]

app = typer.Typer(
    help="Campaigns: check a file, preview one customer's message, run it, report its effect.",
    no_args_is_help=True,
)

CAMPAIGN_FILE = typer.Argument(..., help="The campaign file (YAML).")


def _refuse(problems: object) -> NoReturn:
    for problem in problems:  # type: ignore[attr-defined]
        err_console.print(f"[red]error:[/red] {problem}", soft_wrap=True)
    raise typer.Exit(1)


def _profile_kinds() -> dict[str, object] | None:
    """The kinds of the profile fields, when this database has a snapshot to read them off
    (a check needs no database: without one the fields are checked by name)."""
    from crm.snapshot import NoProfilesError, StaleSnapshotError, read_snapshot
    from crm.store import StoreError
    from segments.schema import schema_from_frame

    try:
        return dict(schema_from_frame(read_snapshot(database_url())))
    except (NoProfilesError, StaleSnapshotError, StoreError):
        return None


def _load(path: str):  # type: ignore[no-untyped-def]
    from campaigns.definitions import check_campaign
    from crm.definitions import DefinitionError
    from crm.snapshot import PROFILE_FIELDS

    try:
        # an inline audience rule's fields: by name always, by kind when profiles are scored
        campaign, problems = check_campaign(path, fields=PROFILE_FIELDS, schema=_profile_kinds())
    except DefinitionError as exc:
        _refuse(exc.problems)
    if problems:
        _refuse(problems)
    return campaign


@app.command("check")
@friendly_errors
def check(path: str = CAMPAIGN_FILE) -> None:
    """Validate a campaign file: fields, trigger, audience rule and every template."""
    campaign = _load(path)
    what = (
        f"trigger {campaign.trigger.kind}"
        if campaign.trigger is not None
        else f"audience {campaign.audience.segment or 'rule'} ({campaign.schedule})"
    )
    languages = "; ".join(f"{c}: {', '.join(campaign.languages(c))}" for c in campaign.channels)
    console.print(
        f"[green]ok[/green] {path}: campaign [bold]{campaign.id}[/bold] ({campaign.name}), "
        f"{what}, channels {languages}, holdout {campaign.holdout:.0%}, "
        f"variants {', '.join(v.name for v in campaign.variants)}"
    )


@app.command("preview")
@friendly_errors
def preview(
    path: str = CAMPAIGN_FILE,
    customer: int = typer.Option(..., "--customer", help="The customer id to preview."),
    as_of: str | None = typer.Option(None, "--as-of", help="Moment of the run (ISO 8601)."),
) -> None:
    """Show the message one customer would get, rendered exactly as the send path does."""
    from flows.campaigns import preview_message

    _load(path)
    message, reason = preview_message(database_url(), path, customer, parse_as_of(as_of))
    if message is None:
        console.print(f"customer {customer} gets no message: [yellow]{reason}[/yellow]")
        return
    for key in ("message_key", "channel", "variant", "language", "address", "scheduled_for"):
        console.print(f"[bold]{key}[/bold]: {message[key]}")
    if message["channel"] == "sms":
        console.print(
            f"[bold]sms[/bold] ({message['sms_encoding']}, {message['sms_segments']} segment(s)):"
        )
        console.print(message["sms_text"], markup=False)
    else:
        console.print(f"[bold]subject[/bold]: {message['subject']}", markup=False)
        console.print(message["body_text"], markup=False)


@app.command("run")
@friendly_errors
def run(
    path: str = CAMPAIGN_FILE,
    as_of: str | None = typer.Option(None, "--as-of", help="Moment of the run (ISO 8601)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and render, queue nothing."),
) -> None:
    """Evaluate the trigger or audience, apply the policy, render and queue (rerun-safe)."""
    from flows.campaigns import run_campaign

    _load(path)
    result = run_campaign(database_url(), path, parse_as_of(as_of), dry_run=dry_run, now=now())
    table = Table(
        title=f"{result['campaign_id']} v{result['version']}: audience {result['audience']:,}"
        + (" (dry run)" if dry_run else "")
    )
    table.add_column("outcome")
    table.add_column("customers", justify="right")
    for key, value in result["counts"].items():
        table.add_row(key, f"{value:,}")
    console.print(f"profiles: {result['profiles']}", markup=False)
    console.print(table)
    channels = ", ".join(f"{k} {v:,}" for k, v in result["channels"].items())
    console.print(
        f"{result['messages']:,} message(s) ({channels or 'none'}); "
        f"{result['queued']:,} new in the outbox; SMS cost estimate {result['sms_cost']:,.2f}"
    )
    for warning in result["warnings"]:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)


@app.command("report")
@friendly_errors
def report(campaign_id: str = typer.Argument(..., help="The campaign id.")) -> None:
    """Audience, exclusions, responses, conversion, revenue and uplift against the holdout."""
    from flows.campaigns import report_campaign

    result = report_campaign(database_url(), campaign_id)
    runs = result["runs"]
    console.print(
        f"[bold]{campaign_id}[/bold]: {len(runs)} run(s), audience {int(runs['audience'].sum()):,}"
    )
    table = Table(title="per variant and channel")
    cols = [
        *("variant", "channel", "audience", "sent", "delivered", "opened", "clicked"),
        *("unsubscribed", "converted", "conversion_rate", "revenue"),
    ]
    for c in cols:
        table.add_column(c, justify="left" if c in ("variant", "channel") else "right")
    for row in result["table"][cols].itertuples(index=False):
        cells = [
            f"{v:.1%}"
            if c == "conversion_rate"
            else f"{v:,.0f}"
            if isinstance(v, float)
            else str(v)
            for c, v in zip(cols, row, strict=True)
        ]
        table.add_row(*cells)
    console.print(table)
    reasons = Table(title="exclusions by reason")
    reasons.add_column("reason")
    reasons.add_column("customers", justify="right")
    for r in result["reasons"].itertuples(index=False):
        reasons.add_row(str(r.reason), f"{int(r.customers):,}")
    console.print(reasons)
    u = result["uplift"]
    if u is None:
        console.print("uplift: no holdout in these runs")
    else:
        note = "" if u.reliable else " (few conversions: the normal approximation is rough)"
        console.print(
            f"uplift (conversion, treated {u.treated_rate:.2%} vs holdout {u.holdout_rate:.2%}): "
            f"{u.difference:+.2%}, 95% CI [{u.low:+.2%}, {u.high:+.2%}]; {u.method}{note}"
        )
    variants = result["variants"]
    if len(variants) > 2:  # more than one variant and "all": each against the holdout
        per = Table(title="uplift per variant (95% CI)")
        for c in ("variant", "sent", "conversion", "uplift", "95% CI"):
            per.add_column(c, justify="left" if c == "variant" else "right")
        for v in variants.itertuples(index=False):
            per.add_row(
                str(v.variant),
                f"{v.sent:,}",
                f"{v.conversion_rate:.2%}",
                f"{v.uplift:+.2%}",
                f"[{v.low:+.2%}, {v.high:+.2%}]",
            )
        console.print(per)
