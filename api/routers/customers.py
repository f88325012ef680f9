"""The customer card: ``GET /v1/customers/{customer_id}`` (scope ``read``).

A merged duplicate answers 308 with the survivor's card as ``Location`` (D6), so a link
kept by a call centre or an app keeps working after a merge.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from api.deps import ReadKey, SessionDep, StateDep
from api.schemas import (
    CardConsent,
    CardContactPoint,
    CardEntry,
    CardLeadScore,
    CardLoyalty,
    CardMessage,
    CardScores,
    CardSuppression,
    CustomerCard,
)
from crm.models import Consent, ContactPoint, Customer, Suppression
from crm.models.campaigns import OutboxMessage
from crm.models.gateway import MessageEvent
from crm.models.loyalty import TierChange
from crm.models.segments import CustomerProfile, LeadScore, SegmentMembership
from flows.loyalty_db import customer_ledger
from loyalty import balances
from loyalty.ledger import statement

__all__ = ["router"]

router = APIRouter(prefix="/v1/customers", tags=["customers"])

_LAST = 20


def _survivor(session: SessionDep, customer: Customer) -> int:
    seen = {customer.customer_id}
    while customer.status == "duplicate" and customer.merged_into is not None:
        nxt = session.get(Customer, customer.merged_into)
        if nxt is None or nxt.customer_id in seen:
            break
        seen.add(nxt.customer_id)
        customer = nxt
    return customer.customer_id


@router.get(
    "/{customer_id}",
    response_model=CustomerCard,
    summary="The customer card",
    responses={
        308: {"description": "A merged duplicate: the survivor's card is at `Location`."},
        404: {"description": "No such customer."},
        401: {"description": "No API key, or an unknown or revoked one."},
        403: {"description": "The key has no `read` scope."},
    },
)
def get_card(
    customer_id: Annotated[int, Path(ge=1, le=2**62)],
    session: SessionDep,
    state: StateDep,
    key: ReadKey,
) -> Any:
    """Profile, RFM segment, value and budget, scores with their explanations, segments,
    consents, loyalty balance and statement, the last messages and their status."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {customer_id}")
    survivor = _survivor(session, customer)
    if survivor != customer_id:
        return RedirectResponse(f"/v1/customers/{survivor}", status.HTTP_308_PERMANENT_REDIRECT)
    at = state.clock()

    points = session.scalars(
        select(ContactPoint)
        .where(ContactPoint.customer_id == customer_id)
        .order_by(ContactPoint.contact_point_id)
    ).all()
    consents: dict[str, Consent] = {}
    for row in session.scalars(
        select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.recorded_at)
    ):
        consents[row.channel] = row  # the latest per channel wins
    suppressions = session.scalars(
        select(Suppression).where(
            Suppression.customer_id == customer_id, Suppression.lifted_at.is_(None)
        )
    ).all()
    profile = session.get(CustomerProfile, customer_id)
    scores = session.scalars(
        select(LeadScore)
        .where(LeadScore.customer_id == customer_id)
        .order_by(LeadScore.rule_score.desc())
    ).all()
    segments = session.scalars(
        select(SegmentMembership.segment)
        .where(SegmentMembership.customer_id == customer_id, SegmentMembership.left_at.is_(None))
        .order_by(SegmentMembership.segment)
    ).all()

    ledger = customer_ledger(session, customer_id)
    bal = balances(ledger, at)
    own: dict[str, Any] = (
        {str(k): v for k, v in bal.loc[customer_id].to_dict().items()}
        if customer_id in bal.index
        else {}
    )
    lines = statement(ledger, customer_id, at).tail(_LAST).iloc[::-1]
    tier = session.scalar(
        select(TierChange.tier)
        .where(TierChange.customer_id == customer_id, TierChange.effective_at <= at)
        .order_by(TierChange.effective_at.desc())
        .limit(1)
    )
    messages = session.execute(
        select(
            OutboxMessage.message_key,
            OutboxMessage.campaign_id,
            OutboxMessage.channel,
            OutboxMessage.status,
            OutboxMessage.scheduled_for,
            OutboxMessage.sent_at,
        )
        .where(OutboxMessage.customer_id == customer_id)
        .order_by(OutboxMessage.scheduled_for.desc(), OutboxMessage.id.desc())
        .limit(_LAST)
    ).all()
    keys = [m.message_key for m in messages]
    events: dict[str, list[str]] = {k: [] for k in keys}
    if keys:
        for mk, kind in session.execute(
            select(MessageEvent.message_key, MessageEvent.kind)
            .where(MessageEvent.message_key.in_(keys))
            .order_by(MessageEvent.occurred_at)
        ):
            events[mk].append(kind)

    return CustomerCard(
        customer_id=customer.customer_id,
        external_id=customer.external_id,
        status=customer.status,
        first_name=customer.first_name,
        last_name=customer.last_name,
        middle_name=customer.middle_name,
        gender=customer.gender,
        birth_date=customer.birth_date,
        city=customer.city,
        language=customer.language,
        source=customer.source,
        lifecycle_stage=customer.lifecycle_stage,
        created_at=customer.created_at,
        contact_points=[
            CardContactPoint(
                kind=p.kind,
                value=p.value,
                normalized=p.normalized,
                is_valid=p.is_valid,
                is_primary=p.is_primary,
            )
            for p in points
        ],
        consents=[
            CardConsent(
                channel=c.channel, granted=c.granted, source=c.source, recorded_at=c.recorded_at
            )
            for c in consents.values()
        ],
        suppressions=[
            CardSuppression(
                scope=s.scope, target=s.target, reason=s.reason, suppressed_at=s.suppressed_at
            )
            for s in suppressions
        ],
        scores=None
        if profile is None
        else CardScores(
            as_of=profile.as_of,
            rfm_code=profile.rfm_code,
            rfm_segment=profile.rfm_segment,
            recency=profile.recency,
            frequency=profile.frequency,
            monetary=profile.monetary,
            probability_alive=profile.probability_alive,
            predicted_value=profile.predicted_value,
            personal_budget=profile.personal_budget,
            lead_score=profile.lead_score,
        ),
        lead_scores=[
            CardLeadScore(
                lead_id=s.lead_id,
                rule_score=s.rule_score,
                model_probability=s.model_probability,
                factors=s.factors,
            )
            for s in scores
        ],
        segments=list(segments),
        loyalty=CardLoyalty(
            tier=tier,
            balance=int(own.get("balance", 0)),
            pending=int(own.get("pending", 0)),
            available=int(own.get("available", 0)),
            expiring=int(own.get("expiring", 0)),
            statement=[
                CardEntry(
                    occurred_at=e.occurred_at,
                    kind=e.kind,
                    points=int(e.points),  # type: ignore[arg-type]
                    running_balance=int(e.running_balance),  # type: ignore[arg-type]
                    reason=e.reason if isinstance(e.reason, str) else None,
                )
                for e in lines.itertuples(index=False)
            ],
        ),
        messages=[
            CardMessage(
                message_key=m.message_key,
                campaign_id=m.campaign_id,
                channel=m.channel,
                status=m.status,
                scheduled_for=m.scheduled_for,
                sent_at=m.sent_at,
                events=events[m.message_key],
            )
            for m in messages
        ],
    )
