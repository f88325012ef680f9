"""What comes back after a send: provider webhooks, one-click unsubscribe, opens and clicks.

- ``POST /v1/webhooks/{channel}`` (scope ``delivery-admin``): delivered, bounced (hard or
  soft), complained. A hard bounce or a complaint suppresses the address on that channel
  at once, so the worker drops any queued message to it before the next send (D8).
- ``GET /u/{token}`` shows a confirmation page; ``POST /u/{token}`` is the RFC 8058
  one-click opt-out (mail clients POST ``List-Unsubscribe=One-Click``). A tampered token
  gets 400 and an expired one 410; neither changes anything.
- ``GET /c/{token}`` records a click and redirects to the URL signed inside the token (so
  only to URLs the message contained); ``GET /o/{token}`` is the open pixel.

Every event is stored once (``message_events.external_id``) and mirrored into
``marketing_events`` so profiles and campaign reports see it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.deps import AdminKey, SessionDep, StateDep
from api.schemas import Unsubscribed, WebhookIn, WebhookOut
from campaigns.errors import ExpiredLinkError, LinkError
from campaigns.links import read_click_token, read_open_token, read_unsubscribe_token
from crm.asof import as_instant
from crm.models import Consent, Customer, MarketingEvent
from crm.models.campaigns import OutboxMessage
from crm.models.gateway import MessageEvent
from crm.models.hygiene import Suppression

__all__ = ["record_event", "router", "suppress"]

router = APIRouter(tags=["delivery"])

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_SCOPE = {"email": "email", "sms": "phone"}
_MARKETING_KIND = {
    "delivered": "delivered",
    "bounced_hard": "bounced",
    "bounced_soft": "bounced",
    "complained": "complained",
    "opened": "opened",
    "clicked": "clicked",
    "unsubscribed": "unsubscribed",
}
_STATUS = {"delivered": "delivered", "bounced_hard": "bounced", "complained": "complained"}
Token = Annotated[str, Path(min_length=8, max_length=4096)]


def record_event(
    session: Session,
    *,
    external_id: str,
    message_key: str,
    customer_id: int | None,
    channel: str,
    kind: str,
    detail: str | None,
    at: dt.datetime,
    campaign_id: str | None = None,
) -> bool:
    """Store one message event (and its marketing event) unless its id was seen; True if new."""
    seen = session.scalar(
        select(MessageEvent.event_id).where(MessageEvent.external_id == external_id)
    )
    if seen is not None:
        return False
    session.add(
        MessageEvent(
            external_id=external_id,
            message_key=message_key,
            customer_id=customer_id,
            channel=channel,
            kind=kind,
            detail=detail[:255] if detail else None,
            occurred_at=at,
        )
    )
    if customer_id is not None:
        session.add(
            MarketingEvent(
                external_id=("gw:" + hashlib.sha256(external_id.encode()).hexdigest())[:64],
                customer_id=customer_id,
                campaign_id=campaign_id,
                channel=channel,
                kind=_MARKETING_KIND[kind],
                detail=detail[:255] if detail else None,
                occurred_at=at,
            )
        )
    return True


def suppress(
    session: Session, customer_id: int, channel: str, target: str, reason: str, at: dt.datetime
) -> None:
    """Suppress ``target`` (or the whole channel when ``""``) for a customer, once per reason."""
    scope = _SCOPE[channel]
    exists = session.scalar(
        select(Suppression.suppression_id).where(
            Suppression.customer_id == customer_id,
            Suppression.scope == scope,
            Suppression.target == target,
            Suppression.reason == reason,
        )
    )
    if exists is None:
        session.add(
            Suppression(
                customer_id=customer_id,
                scope=scope,
                target=target,
                reason=reason,
                evidence_at=at,
                suppressed_at=at,
            )
        )


@router.post(
    "/v1/webhooks/{channel}",
    response_model=WebhookOut,
    summary="A delivery report from the email or SMS provider",
    responses={
        404: {"description": "No such message."},
        401: {"description": "No API key, or an unknown or revoked one."},
        403: {"description": "The key has no `delivery-admin` scope."},
    },
)
def webhook(
    channel: Literal["email", "sms"],
    body: WebhookIn,
    session: SessionDep,
    state: StateDep,
    key: AdminKey,
) -> WebhookOut:
    """Updates the message's status; a hard bounce or complaint suppresses the address."""
    message = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.channel == channel,
            or_(
                OutboxMessage.message_key == body.message_key,
                OutboxMessage.provider_message_id == body.provider_message_id,
            ),
        )
    )
    if message is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such message on this channel")
    at = as_instant(body.occurred_at or state.clock(), state.settings.default_timezone)
    recorded = record_event(
        session,
        external_id=f"{channel}:{body.event_id}",
        message_key=message.message_key,
        customer_id=message.customer_id,
        channel=channel,
        kind=body.kind,
        detail=body.detail,
        at=at.to_pydatetime(),
        campaign_id=message.campaign_id,
    )
    hard = body.kind in ("bounced_hard", "complained")
    if recorded:
        if body.kind in _STATUS and (body.kind != "delivered" or message.status == "sent"):
            message.status = _STATUS[body.kind]
        if hard:
            reason = "hard_bounce" if body.kind == "bounced_hard" else "complaint"
            suppress(
                session, message.customer_id, channel, message.address, reason, at.to_pydatetime()
            )
        if body.kind == "complained":
            session.add(
                Consent(
                    customer_id=message.customer_id,
                    channel=channel,
                    granted=False,
                    source="complaint",
                    recorded_at=at.to_pydatetime(),
                )
            )
    session.commit()
    return WebhookOut(
        message_key=message.message_key, status=message.status, recorded=recorded, suppressed=hard
    )


def _unsubscribe_claims(state: StateDep, token: str) -> Any:
    try:
        return read_unsubscribe_token(
            state.settings.secret_key.get_secret_value(),
            token,
            state.settings.link_max_age_days * 86_400,
        )
    except ExpiredLinkError:
        raise HTTPException(status.HTTP_410_GONE, "this unsubscribe link has expired") from None
    except LinkError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "this unsubscribe link is not valid"
        ) from None


_UNSUB_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The token was altered or is not ours."},
    404: {"description": "The customer does not exist."},
    410: {"description": "The token has expired."},
}


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="The unsubscribe page (confirms with a POST; GET changes nothing)",
    responses=_UNSUB_RESPONSES,
)
def unsubscribe_page(token: Token, state: StateDep) -> HTMLResponse:
    """Link prefetchers follow GETs, so the opt-out itself is the page's POST (RFC 8058)."""
    claims = _unsubscribe_claims(state, token)
    what = "emails" if claims.channel == "email" else "SMS"
    return HTMLResponse(
        f"<!doctype html><meta charset=utf-8><title>Unsubscribe</title>"
        f"<form method=post><p>Stop {what} from us? / Отписаться?</p>"
        f"<input type=hidden name=List-Unsubscribe value=One-Click>"
        f"<button>Unsubscribe / Отписаться</button></form>"
    )


@router.post(
    "/u/{token}",
    response_model=Unsubscribed,
    summary="One-click unsubscribe (RFC 8058)",
    responses=_UNSUB_RESPONSES,
)
def unsubscribe(token: Token, session: SessionDep, state: StateDep) -> Unsubscribed:
    """Records the opt-out and suppresses the channel before the next send."""
    claims = _unsubscribe_claims(state, token)
    if claims.channel not in _SCOPE:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this unsubscribe link is not valid")
    if session.get(Customer, claims.customer_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such customer")
    at = state.clock()
    recorded = record_event(
        session,
        external_id=f"unsub:{claims.message_key}:{claims.channel}",
        message_key=claims.message_key,
        customer_id=claims.customer_id,
        channel=claims.channel,
        kind="unsubscribed",
        detail=None,
        at=at,
    )
    if recorded:
        session.add(
            Consent(
                customer_id=claims.customer_id,
                channel=claims.channel,
                granted=False,
                source="unsubscribe",
                recorded_at=at,
            )
        )
        suppress(session, claims.customer_id, claims.channel, "", "unsubscribed", at)
    session.commit()
    return Unsubscribed(customer_id=claims.customer_id, channel=claims.channel, recorded=recorded)


def _message(session: Session, message_key: str) -> OutboxMessage | None:
    return session.scalar(select(OutboxMessage).where(OutboxMessage.message_key == message_key))


@router.get(
    "/c/{token}",
    status_code=status.HTTP_302_FOUND,
    summary="A tracked click: recorded, then redirected to the URL the message contained",
    responses={
        302: {"description": "To the signed URL."},
        400: {"description": "Bad token."},
        410: {"description": "The token has expired."},
    },
)
def click(token: Token, session: SessionDep, state: StateDep) -> RedirectResponse:
    """Only a URL inside a token we signed is ever a redirect target (no open redirect)."""
    secret = state.settings.secret_key.get_secret_value()
    try:
        claims = read_click_token(secret, token, state.settings.link_max_age_days * 86_400)
    except ExpiredLinkError:
        raise HTTPException(status.HTTP_410_GONE, "this link has expired") from None
    except LinkError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this link is not valid") from None
    if not claims.url.startswith(("https://", "http://")):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this link is not valid")
    message = _message(session, claims.message_key)
    if message is not None:
        digest = hashlib.sha256(claims.url.encode()).hexdigest()[:16]
        record_event(
            session,
            external_id=f"click:{claims.message_key}:{digest}",
            message_key=claims.message_key,
            customer_id=message.customer_id,
            channel=message.channel,
            kind="clicked",
            detail=claims.url[:255],
            at=state.clock(),
            campaign_id=message.campaign_id,
        )
        session.commit()
    return RedirectResponse(claims.url, status.HTTP_302_FOUND)


@router.get(
    "/o/{token}",
    summary="The open pixel (a 1×1 GIF)",
    response_class=Response,
    responses={200: {"content": {"image/gif": {}}}, 400: {"description": "Bad token."}},
)
def open_pixel(token: Token, session: SessionDep, state: StateDep) -> Response:
    """Records the first open of a message."""
    secret = state.settings.secret_key.get_secret_value()
    try:
        claims = read_open_token(secret, token, state.settings.link_max_age_days * 86_400)
    except LinkError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this link is not valid") from None
    message = _message(session, claims.message_key)
    if message is not None:
        record_event(
            session,
            external_id=f"open:{claims.message_key}",
            message_key=claims.message_key,
            customer_id=message.customer_id,
            channel=message.channel,
            kind="opened",
            detail=None,
            at=state.clock(),
            campaign_id=message.campaign_id,
        )
        session.commit()
    return Response(_PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})
