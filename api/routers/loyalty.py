"""Loyalty at checkout: the per-order quote and prize redemption (L1-L3).

Both call the loyalty room (:func:`loyalty.earn.calculate_order`, the batch's own rules) and
:mod:`flows.loyalty_db` (the ledger read and the atomic redemption); nothing is recomputed here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Header, HTTPException, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import IntakeKey, SessionDep, StateDep
from api.schemas import Quote, QuoteIn, RedemptionIn, RedemptionOut
from crm.asof import as_instant
from crm.models.loyalty import TierChange
from flows.loyalty_db import customer_ledger, redeem
from loyalty import balances, current_tiers, load_rules
from loyalty.earn import calculate_order
from loyalty.errors import InsufficientPointsError, NotFoundError, OutOfStockError
from loyalty.rules import Rules
from loyalty.tiers import TIER_HISTORY_COLUMNS

__all__ = ["router"]

router = APIRouter(prefix="/v1/loyalty", tags=["loyalty"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one."},
    403: {"description": "The key has no `intake` scope."},
    429: {"description": "The key is over its rate limit."},
}


@lru_cache(maxsize=4)
def _rules(path: Path, mtime: float) -> Rules:
    return load_rules(path)


def rules_of(state: StateDep) -> Rules:
    """The loyalty rules named by the settings (reloaded when the file changes)."""
    path = Path(state.settings.loyalty_rules)
    return _rules(path, path.stat().st_mtime)


@router.post(
    "/quote",
    response_model=Quote,
    summary="Points an order earns and may burn",
    responses={409: {"description": "use_points is more than the available points."}, **_RESPONSES},
)
def quote(body: QuoteIn, state: StateDep, session: SessionDep, key: IntakeKey) -> Quote:
    """The customer's available points and tier now, and the quote for this basket."""
    rules = rules_of(state)
    at = as_instant(body.ordered_at or state.clock(), state.settings.default_timezone)
    ledger = customer_ledger(session, body.customer_id)
    available = int(balances(ledger, at)["available"].get(body.customer_id, 0))
    rows = session.execute(
        select(*(getattr(TierChange, c) for c in TIER_HISTORY_COLUMNS)).where(
            TierChange.customer_id == body.customer_id
        )
    ).all()
    history = pd.DataFrame(rows, columns=TIER_HISTORY_COLUMNS)
    tier = None
    if len(history):
        history["effective_at"] = pd.to_datetime(history["effective_at"], utc=True)
        tier = current_tiers(history, at)["tier"].get(body.customer_id)
    try:
        q = calculate_order(
            {
                "customer_id": body.customer_id,
                "amount": body.amount,
                "ordered_at": at,
                "category": body.category,
                "channel": body.channel,
            },
            rules,
            tier=tier,
            available_points=available,
            use_points=body.use_points,
        )
    except InsufficientPointsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return Quote(
        customer_id=q.customer_id,
        tier=q.tier,
        available_points=available,
        amount=q.amount,
        max_burn_points=q.max_burn_points,
        burn_points=q.burn_points,
        paid_amount=q.paid_amount,
        earn_points=q.earn_points,
        earn_breakdown=q.earn_breakdown,
        pending_days=q.pending_days,
    )


@router.post(
    "/redemptions",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    summary="Redeem a prize for points (Idempotency-Key required)",
    responses={
        404: {"description": "Unknown or inactive prize."},
        409: {"description": "Out of stock, or not enough available points."},
        **_RESPONSES,
    },
)
def post_redemption(
    body: RedemptionIn,
    state: StateDep,
    session: SessionDep,
    key: IntakeKey,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=100,
            description="One per customer action: a retry returns the first redemption.",
        ),
    ],
) -> RedemptionOut:
    """Burns the points and reserves the stock in one transaction (or neither)."""
    args = {
        "customer_id": body.customer_id,
        "prize_id": body.prize_id,
        "quantity": body.quantity,
        "idempotency_key": f"api:{key.key_id}:{idempotency_key}",
    }
    try:
        try:
            done = redeem(session, **args, as_of=state.clock())  # type: ignore[arg-type]
            session.commit()
        except IntegrityError:  # the same key at the same moment: the other request won
            session.rollback()
            done = redeem(session, **args, as_of=state.clock())  # type: ignore[arg-type]
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except (OutOfStockError, InsufficientPointsError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return RedemptionOut(
        redemption_id=done.redemption_id,
        customer_id=done.customer_id,
        prize_id=done.prize_id,
        quantity=done.quantity,
        points=done.points,
        stock_left=done.stock_left,
        replayed=done.replayed,
    )
