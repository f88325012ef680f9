"""Event intake (D4): leads, contacts, orders and activity events from external sources.

Each POST validates its body (422 naming the field) and hands the event to the
group-commit writer (:mod:`api.groupcommit`), which stores it in ``intake_events`` and
commits before the 202 goes out: an acknowledged event is durable. The events land in the
CRM tables through the import path (:func:`api.intake.apply_intake`, run by ``crm worker``),
so a contact from a form is normalised and matched to known people exactly like an import.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import GatewayState, IntakeKey, SessionDep, StateDep
from api.groupcommit import Pending
from api.idempotency import body_hash
from api.intake import event_payload
from api.keys import KeyInfo
from api.schemas import Accepted, ActivityIn, ContactIn, IntakeStatus, LeadIn, OrderIn
from crm.models.gateway import IntakeEvent

__all__ = ["IdempotencyKey", "router"]

router = APIRouter(prefix="/v1", tags=["intake"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="Any unique string per logical request; a retry with it returns the first response.",
    ),
]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one."},
    403: {"description": "The key has no `intake` scope."},
    409: {"description": "The Idempotency-Key was used before for a different body."},
    413: {"description": "The body is larger than the limit."},
    429: {"description": "The key is over its rate limit (see `Retry-After`)."},
}


async def accept(
    state: GatewayState,
    key: KeyInfo,
    request: Request,
    kind: str,
    body: BaseModel,
    idempotency_key: str | None,
) -> JSONResponse:
    """Hand one event to the group-commit writer; answer once its batch is committed."""
    payload = event_payload(kind, body, state.settings.default_timezone)
    stored = await state.intake.submit(
        Pending(
            kind=kind,
            external_id=getattr(body, "external_id"),  # noqa: B009  every intake body has one
            source=getattr(body, "source"),  # noqa: B009
            channel=getattr(body, "channel", None),
            payload=payload,
            key_id=key.key_id,
            idempotency_key=idempotency_key or None,
            request_sha256=body_hash(payload),
            path=request.url.path,
        )
    )
    if stored.replayed:
        return JSONResponse(
            stored.body, stored.status_code, headers={"Idempotent-Replayed": "true"}
        )
    return JSONResponse(stored.body, stored.status_code)


@router.post(
    "/contacts",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Take in a contact (a person) from a form, app or call centre",
    responses=_RESPONSES,
)
async def post_contact(
    body: ContactIn,
    state: StateDep,
    key: IntakeKey,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Normalised and matched to known people like an imported row; needs an email or a phone."""
    if body.email is None and body.phone is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["body", "email"],
                    "field": "email",
                    "msg": "no email and no phone: the contact cannot be reached",
                    "type": "value_error",
                }
            ],
        )
    return await accept(state, key, request, "contact", body, idempotency_key)


@router.post(
    "/leads",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Take in an inquiry (lead) with its source and channel",
    responses=_RESPONSES,
)
async def post_lead(
    body: LeadIn,
    state: StateDep,
    key: IntakeKey,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A lead of a known contact (``customer_external_id``) or of a new one (``contact``)."""
    return await accept(state, key, request, "lead", body, idempotency_key)


@router.post(
    "/orders",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Take in an order of a known contact",
    responses=_RESPONSES,
)
async def post_order(
    body: OrderIn,
    state: StateDep,
    key: IntakeKey,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Upserted on ``external_id``; earns points in the next loyalty run."""
    return await accept(state, key, request, "order", body, idempotency_key)


@router.post(
    "/activities",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Take in a customer activity (review, app install, share…)",
    responses=_RESPONSES,
)
async def post_activity(
    body: ActivityIn,
    state: StateDep,
    key: IntakeKey,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Activities may earn points under the loyalty rules' ``bonuses.activity``."""
    return await accept(state, key, request, "activity", body, idempotency_key)


@router.get(
    "/intake/{intake_id}",
    response_model=IntakeStatus,
    summary="What became of an accepted event",
    responses={404: {"description": "No such event."}, **_RESPONSES},
)
def get_intake(
    intake_id: Annotated[int, Path(ge=1, le=2**62)], session: SessionDep, key: IntakeKey
) -> IntakeStatus:
    """``accepted`` until applied; ``rejected`` names the field and the reason."""
    event = session.get(IntakeEvent, intake_id)
    if event is None or event.key_id != key.key_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no intake event {intake_id}")
    return IntakeStatus(
        intake_id=event.intake_id,
        kind=event.kind,
        external_id=event.external_id,
        status=event.status,  # type: ignore[arg-type]
        field=event.field,
        reason=event.reason,
        received_at=event.received_at,
        applied_at=event.applied_at,
    )
