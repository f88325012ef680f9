"""Event intake (D4): leads, contacts, orders and activity events from external sources.

Each POST validates its body (422 naming the field) and hands the event to the
group-commit writer (:mod:`api.groupcommit`), which stores it in ``intake_events`` and
commits before the 202 goes out: an acknowledged event is durable. The events land in the
CRM tables through the import path (:func:`api.intake.apply_intake`, run by ``crm worker``),
so a contact from a form is normalised and matched to known people exactly like an import.

A valid, authorised POST is usually answered by :mod:`api.fastpath` before it reaches these
routes, through the same :func:`pending` and :func:`rendered`; the routes answer the rest
(every error) and are what OpenAPI documents.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, HTTPException, Path, Request, status
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import GatewayState, IntakeKey, SessionDep, StateDep
from api.groupcommit import Pending, Stored
from api.idempotency import body_hash
from api.intake import event_payload
from api.keys import KeyInfo
from api.schemas import Accepted, ActivityIn, ContactIn, IntakeStatus, LeadIn, OrderIn
from crm.models.gateway import IntakeEvent

__all__ = [
    "KINDS",
    "IdempotencyKey",
    "accept",
    "contact_reachable",
    "pending",
    "rendered",
    "router",
]

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


KINDS: dict[str, tuple[str, type[BaseModel]]] = {
    "contacts": ("contact", ContactIn),
    "leads": ("lead", LeadIn),
    "orders": ("order", OrderIn),
    "activities": ("activity", ActivityIn),
}
"""Intake path under ``/v1`` -> (the event's kind, its body model)."""


def contact_reachable(kind: str, body: BaseModel) -> bool:
    """False for a contact with neither email nor phone (refused with a 422 on ``email``)."""
    return (
        kind != "contact"
        or getattr(body, "email", None) is not None
        or (getattr(body, "phone", None) is not None)
    )


def pending(
    state: GatewayState,
    key: KeyInfo,
    path: str,
    kind: str,
    body: BaseModel,
    idempotency_key: str | None,
) -> Pending:
    """The event as the group-commit writer takes it (the stored payload and its hash)."""
    payload = event_payload(kind, body, state.settings.default_timezone)
    return Pending(
        kind=kind,
        external_id=getattr(body, "external_id"),  # noqa: B009  every intake body has one
        source=getattr(body, "source"),  # noqa: B009
        channel=getattr(body, "channel", None),
        payload=payload,
        key_id=key.key_id,
        idempotency_key=idempotency_key or None,
        request_sha256=body_hash(payload),
        path=path,
    )


_JSON = (b"content-type", b"application/json")
_REPLAYED = (b"idempotent-replayed", b"true")


def rendered(stored: Stored) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The answer to an intake POST: status, raw headers, the JSON body (orjson)."""
    content = orjson.dumps(stored.body)
    headers = [(b"content-length", str(len(content)).encode()), _JSON]
    if stored.replayed:
        headers.append(_REPLAYED)
    return stored.status_code, headers, content


async def accept(
    state: GatewayState,
    key: KeyInfo,
    request: Request,
    kind: str,
    body: BaseModel,
    idempotency_key: str | None,
) -> Response:
    """Hand one event to the group-commit writer; answer once its batch is committed."""
    stored = await state.intake.submit(
        pending(state, key, request.url.path, kind, body, idempotency_key)
    )
    status_code, headers, content = rendered(stored)
    response = Response(content, status_code)
    response.raw_headers = headers
    return response


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
) -> Response:
    """Normalised and matched to known people like an imported row; needs an email or a phone."""
    if not contact_reachable("contact", body):
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
) -> Response:
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
) -> Response:
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
) -> Response:
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
