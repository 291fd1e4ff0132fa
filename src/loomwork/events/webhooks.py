"""Webhooks: who hears which events, their deliveries and attempts, and Standard Webhooks signing.

The request's service functions flush and never commit. The worker's steps (`fan_out`, `claim`,
`record_attempt`) each run in a short transaction of their own (events/delivery.py), and no
transaction is open while a receiver is called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets as random_secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from loomwork.db.base import utcnow
from loomwork.db.scoping import in_group
from loomwork.errors import Invalid, NotFound
from loomwork.events.models import Event, EventCursor, Webhook, WebhookAttempt, WebhookDelivery
from loomwork.events.outbox import EVENT_TYPES, last_cursor
from loomwork.principal import Principal
from loomwork.resources import secrets
from loomwork.urlsafety import check_url

TEST_EVENT = "webhook.test"
SECRET_PREFIX = "whsec_"
MAX_WEBHOOKS_PER_GROUP = 50
FAN_OUT_BATCH = 1000


# --- what the webhook routes answer (events/router.py has the response models) -------------------------------


class WebhookInfo(TypedDict):
    webhook_id: uuid.UUID
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class CreatedWebhook(WebhookInfo):
    secret: str


class WebhookPage(TypedDict):
    webhooks: list[WebhookInfo]
    total_count: int


class DeletedWebhook(TypedDict):
    success: bool
    webhook_id: uuid.UUID


class AttemptInfo(TypedDict):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str


class DeliveryInfo(TypedDict):
    delivery_id: uuid.UUID
    message_id: str
    event: str
    status: str
    attempts: list[AttemptInfo]
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


class DeliveryPage(TypedDict):
    webhook: WebhookInfo
    total_count: int
    deliveries: list[DeliveryInfo]


class QueuedDelivery(TypedDict):
    success: bool
    delivery_id: uuid.UUID
    message_id: str


# --- signing (https://www.standardwebhooks.com) ------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(24)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the secret's base64 part."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def message_body(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The Standard Webhooks payload: {type, timestamp, data}."""
    return json.dumps(
        {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )


# --- the admin's operations ---------------------------------------------------------------------------------


def _validated_events(events: list[str]) -> list[str]:
    if not events:
        raise Invalid("events: name at least one event type.", field="events")
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise Invalid(
            f"events: {unknown[0]!r} is not an event type; choose from {', '.join(EVENT_TYPES)}.", field="events"
        )
    return list(dict.fromkeys(events))


def create(session: Session, principal: Principal, url: str, events: list[str], description: str) -> CreatedWebhook:
    url = check_url(url, "url")  # as it goes on the wire: an IDNA host, a percent-encoded path and query
    events = _validated_events(events)
    count = session.scalar(select(func.count()).select_from(Webhook).where(in_group(Webhook, principal.group_id)))
    if (count or 0) >= MAX_WEBHOOKS_PER_GROUP:
        raise Invalid(f"url: a group has at most {MAX_WEBHOOKS_PER_GROUP} webhooks; delete one first.", field="url")
    secret = new_secret()
    webhook = Webhook(
        id=uuid.uuid4(),
        group_id=principal.group_id,
        url=url,
        events=events,
        description=description,
        secret_encrypted=secrets.box().encrypt(secret),
        enabled=True,
        # Only events committed from now on: a new webhook does not replay the group's history.
        fanned_out=last_cursor(session, principal.group_id),
        created_by=principal.profile_id,
        created_at=utcnow(),
    )
    session.add(webhook)
    session.flush()
    return {**view(webhook), "secret": secret}


def view(webhook: Webhook) -> WebhookInfo:
    return {
        "webhook_id": webhook.id,
        "url": webhook.url,
        "events": webhook.events,
        "description": webhook.description,
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason,
        "failing_since": webhook.failing_since,
        "created_at": webhook.created_at,
    }


def _get(session: Session, principal: Principal, webhook_id: uuid.UUID, *, lock: bool = False) -> Webhook:
    query = select(Webhook).where(Webhook.id == webhook_id, in_group(Webhook, principal.group_id))
    webhook = session.scalar(query.with_for_update() if lock else query)
    if webhook is None:
        raise NotFound(f"webhook_id: no webhook {webhook_id} in your group.", field="webhook_id")
    return webhook


def search(session: Session, principal: Principal, limit: int, offset: int) -> WebhookPage:
    condition = in_group(Webhook, principal.group_id)
    rows = session.scalars(
        select(Webhook).where(condition).order_by(Webhook.created_at.desc(), Webhook.id).limit(limit).offset(offset)
    ).all()
    total = session.scalar(select(func.count()).select_from(Webhook).where(condition)) or 0
    return {"webhooks": [view(w) for w in rows], "total_count": total}


def delete(session: Session, principal: Principal, webhook_id: uuid.UUID) -> DeletedWebhook:
    webhook = _get(session, principal, webhook_id, lock=True)
    session.delete(webhook)
    session.flush()
    return {"success": True, "webhook_id": webhook_id}


def deliveries(
    session: Session, principal: Principal, webhook_id: uuid.UUID, status: str | None, limit: int, offset: int
) -> DeliveryPage:
    """Newest first, each with its attempts (status code, time, error) oldest first."""
    webhook = _get(session, principal, webhook_id)
    conditions = [WebhookDelivery.webhook_id == webhook.id]
    if status:
        conditions.append(WebhookDelivery.status == status)
    rows = session.scalars(
        select(WebhookDelivery)
        .where(*conditions)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
        .offset(offset)
    ).all()
    total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(*conditions)) or 0
    attempts: dict[uuid.UUID, list[AttemptInfo]] = {row.id: [] for row in rows}
    if rows:
        for attempt in session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(list(attempts))).order_by(WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(
                {
                    "at": attempt.at,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "duration_ms": attempt.duration_ms,
                    "response": attempt.response_excerpt,
                }
            )
    return {
        "webhook": view(webhook),
        "total_count": total,
        "deliveries": [
            {
                "delivery_id": row.id,
                "message_id": row.message_id,
                "event": row.event_type,
                "status": row.status,
                "attempts": attempts[row.id],
                "attempt_count": row.attempts,
                "last_status_code": row.last_status_code,
                "last_error": row.last_error,
                "next_attempt_at": row.next_attempt_at if row.status == "pending" else None,
                "created_at": row.created_at,
                "finished_at": row.finished_at,
            }
            for row in rows
        ],
    }


def send_test(session: Session, principal: Principal, webhook_id: uuid.UUID) -> QueuedDelivery:
    """Queue a `webhook.test` message for this webhook alone (not an event: the feed never shows it)."""
    webhook = _get(session, principal, webhook_id)
    now, message_id = utcnow(), f"msg_{uuid.uuid4().hex}"
    body = message_body(TEST_EVENT, now, {"webhook_id": str(webhook.id), "sent_by": principal.name})
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        webhook_id=webhook.id,
        group_id=webhook.group_id,
        message_id=message_id,
        event_type=TEST_EVENT,
        body=body,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        retry_from=now,
    )
    session.add(delivery)
    session.flush()
    return {"success": True, "delivery_id": delivery.id, "message_id": message_id}


def redeliver(session: Session, principal: Principal, delivery_id: uuid.UUID) -> QueuedDelivery:
    """Send a delivery again now, with its webhook-id unchanged; re-enables a disabled webhook."""
    delivery = session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, in_group(WebhookDelivery, principal.group_id))
        .with_for_update()
    )
    if delivery is None:
        raise NotFound(f"delivery_id: no delivery {delivery_id} in your group.", field="delivery_id")
    now = utcnow()
    if delivery.status == "pending" and delivery.claim is not None and delivery.next_attempt_at > now:
        return {"success": True, "delivery_id": delivery.id, "message_id": delivery.message_id}  # on its way now
    delivery.status, delivery.next_attempt_at, delivery.finished_at, delivery.claim = "pending", now, None, None
    delivery.retry_from = now  # a fresh retry window
    session.execute(
        update(Webhook)
        .where(Webhook.id == delivery.webhook_id)
        .values(enabled=True, disabled_reason=None, failing_since=None)
    )
    session.flush()
    return {"success": True, "delivery_id": delivery.id, "message_id": delivery.message_id}


# --- the worker's steps -------------------------------------------------------------------------------------


def fan_out(session: Session, skip_locked: bool) -> int:
    """Create the deliveries of events committed since each enabled webhook last looked; how many."""
    query = (
        select(Webhook)
        .join(EventCursor, EventCursor.group_id == Webhook.group_id)
        .where(Webhook.enabled.is_(True), EventCursor.last > Webhook.fanned_out)
    )
    if skip_locked:
        query = query.with_for_update(of=Webhook, skip_locked=True)
    created, now = 0, utcnow()
    for webhook in session.scalars(query).all():
        events = session.scalars(
            select(Event)
            .where(in_group(Event, webhook.group_id), Event.cursor > webhook.fanned_out)
            .order_by(Event.cursor)
            .limit(FAN_OUT_BATCH)
        ).all()
        if not events:
            continue
        wanted = set(webhook.events)
        rows = [
            {
                "id": uuid.uuid4(),
                "webhook_id": webhook.id,
                "group_id": webhook.group_id,
                "message_id": f"msg_{e.id.hex}",
                "event_type": e.type,
                "body": message_body(e.type, e.at, e.data),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": e.at,
                "created_at": now,
                "retry_from": now,
            }
            for e in events
            if e.type in wanted
        ]
        if rows:
            session.execute(insert(WebhookDelivery.__table__), rows)
        webhook.fanned_out = events[-1].cursor
        created += len(rows)
    session.flush()
    return created


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    claim: str
    url: str
    secret_encrypted: str
    message_id: str
    body: str


def claim(session: Session, skip_locked: bool, lease_s: float, batch: int) -> list[Claimed]:
    """Take up to `batch` due deliveries for `lease_s`: no other worker takes them meanwhile."""
    now = utcnow()
    query = (
        select(
            WebhookDelivery.id, WebhookDelivery.message_id, WebhookDelivery.body, Webhook.url, Webhook.secret_encrypted
        )
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now, Webhook.enabled.is_(True))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(batch)
    )
    if skip_locked:
        query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
    rows = session.execute(query).all()
    if not rows:
        return []
    token = uuid.uuid4().hex  # one per batch: each attempt's outcome is recorded only while it still holds
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([r.id for r in rows]))
        .values(claim=token, next_attempt_at=now + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    return [Claimed(r.id, token, r.url, r.secret_encrypted, r.message_id, r.body) for r in rows]


def release(session: Session, claimed: list[Claimed]) -> None:
    """Claims a stopping worker did not attempt: due again at once, for the next worker."""
    for item in claimed:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == item.delivery_id, WebhookDelivery.claim == item.claim)
            .values(claim=None, next_attempt_at=utcnow())
        )


def backoff_s(attempt: int, base_s: float, cap_s: float = 3 * 3600) -> float:
    """Exponential with full jitter on the upper half: attempt 1 waits base..., doubling up to the cap."""
    ceiling = min(cap_s, base_s * 2.0 ** (attempt - 1))
    return ceiling * random.uniform(0.5, 1.0)


Outcome = tuple[int | None, str | None, int, str]  # status code, error, duration in ms, the answer's start


def record_batch(
    session: Session, outcomes: list[tuple[Claimed, Outcome]], *, retry_base_s: float, retry_window_s: float
) -> None:
    """A batch's outcomes in a few statements: the attempts in one INSERT, the delivered in one UPDATE per
    status code; a failure (rare) goes through `record_attempt`."""
    now = utcnow()
    delivered = [(item, outcome) for item, outcome in outcomes if outcome[0] is not None and 200 <= outcome[0] < 300]
    for item, outcome in outcomes:
        if (item, outcome) not in delivered:
            record_attempt(session, item, *outcome, retry_base_s=retry_base_s, retry_window_s=retry_window_s)
    if not delivered:
        return
    held = set(
        session.scalars(
            select(WebhookDelivery.id).where(
                WebhookDelivery.id.in_([item.delivery_id for item, _ in delivered]),
                WebhookDelivery.claim == delivered[0][0].claim,
            )
        )
    )
    delivered = [(item, outcome) for item, outcome in delivered if item.delivery_id in held]
    if not delivered:
        return
    session.execute(
        insert(WebhookAttempt.__table__),
        [
            {
                "delivery_id": item.delivery_id,
                "at": now,
                "status_code": status,
                "error": None,
                "duration_ms": duration,
                "response_excerpt": excerpt,
            }
            for item, (status, _error, duration, excerpt) in delivered
        ],
    )
    for code in {outcome[0] for _, outcome in delivered}:
        ids = [item.delivery_id for item, outcome in delivered if outcome[0] == code]
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(
                status="delivered",
                finished_at=now,
                attempts=WebhookDelivery.attempts + 1,
                claim=None,
                last_status_code=code,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )
    hooks = select(WebhookDelivery.webhook_id).where(WebhookDelivery.id.in_([i.delivery_id for i, _ in delivered]))
    session.execute(
        update(Webhook)
        .where(Webhook.id.in_(hooks), Webhook.failing_since.is_not(None))
        .values(failing_since=None)
        .execution_options(synchronize_session=False)
    )


def record_attempt(
    session: Session,
    item: Claimed,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    excerpt: str,
    *,
    retry_base_s: float,
    retry_window_s: float,
) -> None:
    """The attempt's outcome: delivered, retried later with backoff, or after the window failed (and the
    webhook disabled, saying why). A claim another worker has taken over since is left to it."""
    delivery = session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == item.delivery_id, WebhookDelivery.claim == item.claim)
        .with_for_update()
    )
    if delivery is None:
        return
    now = utcnow()
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            at=now,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            response_excerpt=excerpt,
        )
    )
    delivery.attempts += 1
    delivery.claim, delivery.last_status_code, delivery.last_error = None, status_code, error
    ok = status_code is not None and 200 <= status_code < 300
    webhook = session.get(Webhook, delivery.webhook_id)
    if ok:
        delivery.status, delivery.finished_at = "delivered", now
        if webhook is not None and webhook.failing_since is not None:
            webhook.failing_since = None
    elif now - delivery.retry_from >= timedelta(seconds=retry_window_s):
        delivery.status, delivery.finished_at = "failed", now
        if webhook is not None and webhook.enabled:
            why = f"HTTP {status_code}" if status_code is not None else (error or "no answer")
            webhook.enabled = False
            webhook.disabled_reason = (
                f"Disabled at {now.isoformat(timespec='seconds')}: a delivery failed every "
                f"attempt for {retry_window_s / 3600:g} hours (last: {why}). Redeliver to "
                "enable it again."
            )[:500]
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempts, retry_base_s))
        if webhook is not None and webhook.failing_since is None:
            webhook.failing_since = now
    session.flush()


def pending_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(and_(WebhookDelivery.status == "pending"))
        )
        or 0
    )


def has_work(session: Session) -> bool:
    """A cheap read first, so an idle worker takes no write lock (SQLite has one writer at a time)."""
    fan = (
        select(Webhook.id)
        .join(EventCursor, EventCursor.group_id == Webhook.group_id)
        .where(Webhook.enabled.is_(True), EventCursor.last > Webhook.fanned_out)
        .limit(1)
    )
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
        .limit(1)
    )
    return session.scalar(fan) is not None or session.scalar(due) is not None
