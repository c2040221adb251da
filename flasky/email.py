"""Email through a durable outbox: `queue_mail` writes a row in the caller's transaction,
a sender task in each server process claims due rows atomically and sends them with
aiosmtplib, retrying with backoff while SMTP is down and giving up after a day.

Nothing lives only in memory: a row is `pending` until a sender claims it (`sending`,
with a `claimed_until` lease), then `sent` or, after a day of failures, `failed`. A lease
that runs out (a process died mid-send) returns the row to `pending`. With no
`MAIL_SERVER` the message is written to the log (logger `flasky.email`) and marked sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import aiosmtplib
from quart import Quart, current_app
from tortoise.transactions import in_transaction

from flasky import db, feed, throttle
from flasky.models import IdempotentRequest, LoginSession, Outbox, utcnow

log = logging.getLogger("flasky.email")

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
STATUSES = (PENDING, SENDING, SENT, FAILED)

# Defaults for settings a deployment rarely changes (override in the app config).
DEFAULTS: dict[str, Any] = {
    "FLASKY_MAIL_BATCH": 10,  # rows claimed per pass
    "FLASKY_MAIL_POLL_INTERVAL": 5.0,  # seconds between looks at the outbox when idle
    "FLASKY_MAIL_RETRY_BASE": 30.0,  # first retry after this many seconds, then doubling
    "FLASKY_MAIL_RETRY_MAX": 3600.0,  # ... up to an hour between attempts
    "FLASKY_MAIL_GIVE_UP_AFTER": 24 * 3600.0,  # a row still unsent after a day is failed
    "FLASKY_ERROR_MAIL_INTERVAL": 3600.0,  # one mail per distinct error per hour
    "FLASKY_HOUSEKEEPING_INTERVAL": 600.0,  # seconds between prunes of old rows
}


def setting(name: str) -> Any:
    """A mail setting of the running app, or its default."""
    return current_app.config.get(name, DEFAULTS[name])


# -- writing ------------------------------------------------------------------------------


async def render_mail(template: str, **context: Any) -> tuple[str, str]:
    """The text and HTML bodies of `email/<template>.txt` and `.html`.

    Rendered straight from the Jinja environment (no request context processors), so a
    message can be written from a request, a command or a log handler alike.
    """
    env = current_app.jinja_env
    text = await env.get_template(f"email/{template}.txt").render_async(**context)
    html = await env.get_template(f"email/{template}.html").render_async(**context)
    return text, html


async def queue_mail(
    to: str,
    subject: str,
    template: str,
    connection: Any = None,
    dedupe_key: str | None = None,
    **context: Any,
) -> Outbox:
    """Write a multipart message to the outbox (in `connection`'s transaction if given);
    the subject gets FLASKY_MAIL_SUBJECT_PREFIX. The sender task delivers it later."""
    text, html = await render_mail(template, **context)
    prefix = current_app.config.get("FLASKY_MAIL_SUBJECT_PREFIX", "")
    row = Outbox(
        recipient=to,
        subject=f"{prefix} {subject}".strip(),
        text_body=text,
        html_body=html,
        dedupe_key=dedupe_key,
    )
    await row.save(using_db=connection)
    sender = current_app.extensions.get("flasky_mail_sender")
    if sender is not None:
        sender.wake_soon()
    return row


# -- claiming -----------------------------------------------------------------------------


def _lease() -> timedelta:
    """How long a claim holds: long enough for a whole batch to time out one by one."""
    per_message = float(current_app.config.get("MAIL_TIMEOUT", 30.0))
    return timedelta(seconds=per_message * (int(setting("FLASKY_MAIL_BATCH")) + 1) + 60)


async def release_stale() -> int:
    """Return rows whose lease ran out (their sender died) to `pending`."""
    return await Outbox.filter(status=SENDING, claimed_until__lt=utcnow()).update(
        status=PENDING, claimed_until=None
    )


async def claim_due(limit: int) -> list[Outbox]:
    """Atomically take up to `limit` due rows for this process (never a row another
    process holds): FOR UPDATE SKIP LOCKED on PostgreSQL, a conditional update elsewhere."""
    now = utcnow()
    until = now + _lease()
    due = Outbox.filter(status=PENDING, next_attempt_at__lte=now).order_by("next_attempt_at", "id")
    if db.dialect() == "postgres":
        async with in_transaction() as conn:
            rows = await due.limit(limit).select_for_update(skip_locked=True).using_db(conn)
            if rows:
                await (
                    Outbox.filter(id__in=[r.id for r in rows])
                    .using_db(conn)
                    .update(status=SENDING, claimed_until=until)
                )
    else:
        rows = []
        # Another sender may take every candidate between our select and our updates:
        # look again then, so "nothing claimed" always means "nothing due".
        while not rows and (candidates := await due.limit(limit)):
            rows = [
                row
                for row in candidates
                if await Outbox.filter(id=row.id, status=PENDING).update(
                    status=SENDING, claimed_until=until
                )
            ]
    for row in rows:
        row.status, row.claimed_until = SENDING, until
    return rows


# -- sending ------------------------------------------------------------------------------


def _plain_text(msg: EmailMessage) -> str:
    """The text/plain part of a message we built (every one has it)."""
    part = msg.get_body(("plain",))
    return part.get_content() if part is not None else ""


def build_message(row: Outbox, sender: str) -> EmailMessage:
    """The multipart message of an outbox row; its Message-ID is stable per row, so a
    receiver can recognise a copy re-sent after a crash."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<outbox-{row.id}.{int(row.created_at.timestamp())}@{domain}>"
    msg.set_content(row.text_body)
    msg.add_alternative(row.html_body, subtype="html")
    return msg


async def send_message(msg: EmailMessage) -> None:
    """Hand one message to the configured SMTP server, or to the log without one."""
    cfg = current_app.config
    if not cfg.get("MAIL_SERVER"):
        log.info(
            "No MAIL_SERVER: mail not sent but logged.\nTo: %s\nSubject: %s\n\n%s",
            msg["To"],
            msg["Subject"],
            _plain_text(msg),
        )
        return
    use_ssl = bool(cfg.get("MAIL_USE_SSL"))
    await aiosmtplib.send(
        msg,
        hostname=cfg["MAIL_SERVER"],
        port=cfg.get("MAIL_PORT") or (465 if use_ssl else 587),
        username=cfg.get("MAIL_USERNAME") or None,
        password=cfg.get("MAIL_PASSWORD") or None,
        use_tls=use_ssl,
        start_tls=False if use_ssl else bool(cfg.get("MAIL_USE_TLS")),
        timeout=float(cfg.get("MAIL_TIMEOUT", 30.0)),
    )


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: the base, doubling, capped."""
    base = float(setting("FLASKY_MAIL_RETRY_BASE"))
    ceiling = float(setting("FLASKY_MAIL_RETRY_MAX"))
    return timedelta(seconds=min(ceiling, base * 2 ** max(0, attempts - 1)))


async def deliver(row: Outbox) -> bool:
    """Send one claimed row and record the outcome; True when it was sent."""
    attempts = row.attempts + 1
    try:
        await send_message(build_message(row, current_app.config["FLASKY_MAIL_SENDER"]))
    except Exception as exc:  # SMTP down, refused, timed out: all mean "try again later"
        now = utcnow()
        error = f"{type(exc).__name__}: {exc}"[:2000]
        given_up = now - row.created_at >= timedelta(
            seconds=float(setting("FLASKY_MAIL_GIVE_UP_AFTER"))
        )
        await Outbox.filter(id=row.id, status=SENDING).update(
            status=FAILED if given_up else PENDING,
            attempts=attempts,
            last_error=error,
            claimed_until=None,
            next_attempt_at=now + backoff(attempts),
        )
        if given_up:
            log.error(
                "mail #%s to %s failed for good after %d attempts: %s",
                row.id,
                row.recipient,
                attempts,
                error,
            )
        else:
            log.warning(
                "mail #%s to %s not sent (attempt %d): %s", row.id, row.recipient, attempts, error
            )
        return False
    await Outbox.filter(id=row.id, status=SENDING).update(
        status=SENT, attempts=attempts, sent_at=utcnow(), claimed_until=None, last_error=None
    )
    return True


async def deliver_due(limit: int | None = None, stop: Callable[[], bool] | None = None) -> int:
    """One pass: recover stale claims, claim due rows, send them. Returns rows handled.

    When `stop()` turns true mid-pass, the rows not yet sent go back to `pending`.
    """
    await release_stale()
    rows = await claim_due(limit or int(setting("FLASKY_MAIL_BATCH")))
    for index, row in enumerate(rows):
        if stop is not None and stop():
            left = [r.id for r in rows[index:]]
            await Outbox.filter(id__in=left, status=SENDING).update(
                status=PENDING, claimed_until=None
            )
            return index
        await deliver(row)
    return len(rows)


async def deliver_all() -> int:
    """Send everything due now (passes until none is left); for commands and tests."""
    total = 0
    while handled := await deliver_due():
        total += handled
    return total


# -- the sender task ----------------------------------------------------------------------


class MailSender:
    """The per-process sender: a loop that delivers due rows, woken when mail is queued
    and otherwise every FLASKY_MAIL_POLL_INTERVAL seconds."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Run the loop in a task of its own (outside Quart's background tasks)."""
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._wake = asyncio.Event()
        self.task = self._loop.create_task(self._run(), name="flasky-mail-sender")

    def wake_soon(self) -> None:
        """Look at the outbox shortly (after the caller's transaction has committed)."""
        if self._loop is not None and self.task is not None and not self.task.done():
            self._loop.call_later(0.1, self._wake.set)

    async def stop(self, timeout: float = 5.0) -> None:
        """Finish the message in hand, put the rest of the batch back, then end."""
        if self.task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except TimeoutError:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = None

    async def _run(self) -> None:
        poll = float(
            self.app.config.get("FLASKY_MAIL_POLL_INTERVAL", DEFAULTS["FLASKY_MAIL_POLL_INTERVAL"])
        )
        async with self.app.app_context():
            every = float(setting("FLASKY_HOUSEKEEPING_INTERVAL"))
            next_prune = time.monotonic()
            while not self._stopping:
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + every
                    try:
                        await housekeeping()
                    except Exception:  # the database may be down: next time
                        log.warning("housekeeping failed", exc_info=True)
                try:
                    handled = await deliver_due(stop=lambda: self._stopping)
                except Exception:  # the database may be down: try again at the next tick
                    log.warning("outbox pass failed", exc_info=True)
                    handled = 0
                if handled or self._stopping:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), poll)


async def housekeeping() -> None:
    """Drop what no rule reads any more: throttle events past the longest window,
    sessions unused for longer than their cookie lives, change-feed events and
    Idempotency-Key answers past a day."""
    now = utcnow()
    await throttle.prune(now)
    await feed.prune(now)
    duration = float(current_app.config.get("QUART_AUTH_DURATION") or 365 * 24 * 3600)
    await LoginSession.purge(now - timedelta(seconds=duration))
    await IdempotentRequest.purge(now - timedelta(hours=24))


# -- the outbox at a glance (for `flasky mail`) -------------------------------------------


async def outbox_summary(recent: int = 10) -> dict[str, Any]:
    """Counts per status and the most recent rows of each."""
    counts = {status: await Outbox.filter(status=status).count() for status in STATUSES}
    rows = {
        status: await Outbox.filter(status=status).order_by("-created_at", "-id").limit(recent)
        for status in STATUSES
        if counts[status]
    }
    return {"counts": counts, "recent": rows}


async def retry_failed() -> int:
    """Put failed rows back in the queue, as if new (the day of retries starts again)."""
    now = utcnow()
    return await Outbox.filter(status=FAILED).update(
        status=PENDING, attempts=0, created_at=now, next_attempt_at=now, claimed_until=None
    )


# -- wiring -------------------------------------------------------------------------------


def _log_mail_to_console() -> None:
    """Make `flasky.email` INFO lines visible when mail is only logged (no MAIL_SERVER):
    a server started with no logging setup would otherwise show WARNING and up only."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not any(h.level <= logging.INFO for h in _handlers(log)):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)


def _handlers(logger: logging.Logger) -> list[logging.Handler]:
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found.extend(current.handlers)
        current = current.parent if current.propagate else None
    return found


def init_app(app: Quart) -> None:
    """Run one outbox sender per server process (FLASKY_MAIL_SENDER_TASK)."""
    sender = MailSender(app)
    app.extensions["flasky_mail_sender"] = sender

    if not app.config.get("MAIL_SERVER") and not app.config.get("TESTING"):
        _log_mail_to_console()

    # while_serving runs after before_serving (the database is connected) and ends
    # before after_serving (still connected): the sender can put its batch back.
    @app.while_serving
    async def _serve() -> Any:
        if app.config.get("FLASKY_MAIL_SENDER_TASK"):
            sender.start()
        try:
            yield
        finally:
            await sender.stop()
