"""``crm loyalty``: balances, statements, the daily run, rules check, redemption and adjustments."""

from __future__ import annotations

import datetime as dt
import uuid

import typer
from rich.table import Table

from flows.cli._common import console, database_url, friendly_errors, now, parse_as_of, run_flow

__all__ = ["app"]

app = typer.Typer(
    help="Loyalty program: points ledger, balances, the daily run, prizes.", no_args_is_help=True
)

RULES_OPTION = typer.Option(
    "loyalty/rules.example.yaml", "--rules", help="The operator's rules file (YAML)."
)


@app.command("balance")
@friendly_errors
def balance(
    customer_id: int = typer.Argument(..., help="Customer id."),
    as_of: str | None = typer.Option(None, help="ISO instant (default now)."),
    rules: str = RULES_OPTION,
) -> None:
    """Points balance of a customer: total, pending, available, expiring in 30 days, tier."""
    from flows.loyalty import read_ledger, read_tier_history
    from loyalty import balances, current_tiers, load_rules

    program = load_rules(rules)
    url = database_url()
    at = parse_as_of(as_of)
    bal = balances(read_ledger(url, customer_id), at, point_value=program.program.point_value)
    tiers = current_tiers(read_tier_history(url), at)
    tier = tiers["tier"].get(customer_id, program.tiers.levels[0].code)
    table = Table(title=f"Customer {customer_id} as of {at:%Y-%m-%d %H:%M} UTC")
    for col in ("balance", "pending", "available", "expiring (30 d)", "liability", "tier"):
        table.add_column(col, justify="right" if col != "tier" else "left")
    if customer_id in bal.index:
        row = {str(k): v for k, v in bal.loc[customer_id].to_dict().items()}
        table.add_row(
            f"{int(row['balance']):,}",
            f"{int(row['pending']):,}",
            f"{int(row['available']):,}",
            f"{int(row['expiring']):,}",
            f"{row['liability']:,.2f} {program.program.currency}",
            str(tier),
        )
    else:
        table.add_row("0", "0", "0", "0", f"0.00 {program.program.currency}", str(tier))
    console.print(table)


@app.command("statement")
@friendly_errors
def statement(
    customer_id: int = typer.Argument(..., help="Customer id."),
    limit: int = typer.Option(50, min=1, help="Show the last N entries."),
) -> None:
    """Every ledger entry of a customer, oldest first, with the running balance."""
    from flows.loyalty import read_ledger
    from loyalty import statement as make_statement

    st = make_statement(read_ledger(database_url(), customer_id), customer_id).tail(limit)
    table = Table(title=f"Statement of customer {customer_id} ({len(st)} entries shown)")
    for col in ("when (UTC)", "kind", "points", "reason", "rule / operator", "source", "balance"):
        table.add_column(col, justify="right" if col in ("points", "balance") else "left")
    for row in st.itertuples(index=False):
        who = next((v for v in (row.rule, row.operator) if isinstance(v, str) and v), "")
        source = f"{row.source_kind} {row.source_id}" if isinstance(row.source_id, str) else ""
        table.add_row(
            f"{row.occurred_at:%Y-%m-%d %H:%M}",
            str(row.kind),
            f"{row.points:+,}",
            str(row.reason),
            str(who),
            source,
            f"{row.running_balance:,}",
        )
    console.print(table)


@app.command("run")
@friendly_errors
def run(
    date: str | None = typer.Option(
        None, "--date", help="Local day to run, YYYY-MM-DD (default yesterday)."
    ),
    rules: str = RULES_OPTION,
    lookback_days: int = typer.Option(3, min=1, help="Also pick up late orders of N days."),
) -> None:
    """Run the daily earn / bonuses / returns / expiry / tiers step for one day (rerun-safe)."""
    from crm.asof import AsOfError
    from flows.loyalty import loyalty_daily_flow, loyalty_day
    from loyalty import load_rules

    program = load_rules(rules)
    try:
        run_date = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise AsOfError(f"--date {date}") from None
    day, _ = loyalty_day(program, run_date, now())
    counts = run_flow(
        loyalty_daily_flow,
        run_date=day,
        rules_path=rules,
        lookback_days=lookback_days,
        url=database_url(),
    )
    table = Table(title=f"Loyalty run for {day} ({program.program.timezone})")
    table.add_column("step")
    table.add_column("new", justify="right")
    for name, value in counts.items():
        table.add_row(name, f"{value:,}")
    console.print(table)


@app.command("check-rules")
@friendly_errors
def check_rules(path: str = typer.Argument(..., help="Rules YAML file.")) -> None:
    """Validate a rules file; a mistake is reported with its line and field."""
    from loyalty import load_rules

    program = load_rules(path)
    console.print(
        f"[green]ok[/green] {path}: {len(program.purchase_rules)} purchase rule(s), "
        f"{len(program.tiers.levels)} tier(s), {len(program.promotions)} promotion(s), "
        f"{len(program.activity)} activity bonus(es)"
    )


@app.command("redeem")
@friendly_errors
def redeem(
    customer_id: int = typer.Argument(..., help="Customer id."),
    prize_id: int = typer.Argument(..., help="Prize id."),
    quantity: int = typer.Option(1, min=1),
    key: str | None = typer.Option(
        None, help="Idempotency key (repeat it to retry safely; default a new one)."
    ),
) -> None:
    """Redeem a prize for points: reserves stock and burns points in one transaction."""
    from crm.db import make_engine, session_scope
    from flows.loyalty_db import redeem as do_redeem

    engine = make_engine(database_url())
    with session_scope(engine) as session:
        result = do_redeem(
            session,
            customer_id=customer_id,
            prize_id=prize_id,
            quantity=quantity,
            idempotency_key=key or uuid.uuid4().hex,
            as_of=now(),
        )
    note = " (already done with this key)" if result.replayed else ""
    console.print(
        f"redemption {result.redemption_id}: {result.points:,} points for {result.quantity} x "
        f"prize {result.prize_id}; {result.stock_left} left in stock{note}"
    )


@app.command("adjust")
@friendly_errors
def adjust(
    customer_id: int = typer.Argument(..., help="Customer id."),
    points: int = typer.Option(..., "--points", help="Points to add (negative to take away)."),
    operator: str = typer.Option(..., help="Who makes the correction."),
    reason: str = typer.Option(..., help="Reason code, e.g. goodwill, complaint, correction."),
    key: str | None = typer.Option(None, help="Idempotency key (default a new one)."),
    rules: str = RULES_OPTION,
) -> None:
    """An operator's correction: a new ledger entry, never an edit."""
    from crm.db import make_engine, session_scope
    from flows.loyalty_db import adjust_points
    from loyalty import load_rules

    program = load_rules(rules)
    engine = make_engine(database_url())
    with session_scope(engine) as session:
        added = adjust_points(
            session,
            customer_id=customer_id,
            points=points,
            operator=operator,
            reason=reason,
            idempotency_key=key or uuid.uuid4().hex,
            as_of=now(),
            rules=program,
        )
    console.print(f"{'added' if added else 'already recorded'}: {points:+,} points")


@app.command("prizes")
@friendly_errors
def prizes() -> None:
    """The prize catalogue: price in points and stock left."""
    from crm import store

    frame = store.read_frame(
        database_url(),
        "loyalty_prizes",
        columns=["prize_id", "sku", "name", "points_price", "stock", "active"],
    )
    table = Table(title=f"Prize catalogue ({len(frame)} prizes)")
    for col in frame.columns:
        table.add_column(col, justify="right" if col in ("points_price", "stock") else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)
