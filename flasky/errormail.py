"""ERROR log records mailed to FLASKY_ADMIN through the outbox: one mail per distinct
error per hour (`FLASKY_ERROR_MAIL_INTERVAL`), on when FLASKY_MAIL_ERRORS is (default:
production)."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import time
import traceback
from collections.abc import AsyncIterator
from datetime import timedelta

from quart import Quart

from flasky.email import DEFAULTS, queue_mail, setting
from flasky.email import log as mail_log
from flasky.models import Outbox, utcnow


def error_key(record: logging.LogRecord) -> str:
    """What makes two errors "the same": logger, message template, exception type and
    where it was raised — not ids or paths that differ between occurrences."""
    parts = [record.name, str(record.msg)]
    if record.exc_info and record.exc_info[0] is not None:
        parts.append(record.exc_info[0].__qualname__)
        frames = traceback.extract_tb(record.exc_info[2]) if record.exc_info[2] else []
        if frames:
            parts.append(f"{frames[-1].filename}:{frames[-1].lineno}")
    return hashlib.sha256("|".join(parts).encode("utf-8", "replace")).hexdigest()


class ErrorMailHandler(logging.Handler):
    """Mails ERROR records to FLASKY_ADMIN through the outbox, one per distinct error per
    hour (checked in the outbox, so all processes share the limit). It never blocks the
    event loop (the write runs in a task) and never recurses (its own failures and
    records of `flasky.email` are dropped)."""

    def __init__(self, app: Quart) -> None:
        super().__init__(level=logging.ERROR)
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self._recent: dict[str, float] = {}
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d]\n%(message)s")
        )

    def emit(self, record: logging.LogRecord) -> None:
        """Schedule the outbox write on the server's loop (from any thread)."""
        loop = self.loop
        if loop is None or loop.is_closed() or record.name.startswith(mail_log.name):
            return
        try:
            key = error_key(record)
            now = time.monotonic()
            interval = float(
                self.app.config.get(
                    "FLASKY_ERROR_MAIL_INTERVAL", DEFAULTS["FLASKY_ERROR_MAIL_INTERVAL"]
                )
            )
            if now - self._recent.get(key, -interval) < interval:
                return
            self._recent[key] = now
            subject = f"Error: {record.getMessage()}".splitlines()[0][:150]
            args = (key, subject, self.format(record))
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._spawn(loop, *args)
            else:
                loop.call_soon_threadsafe(self._spawn, loop, *args)
        except Exception:  # a log handler must never raise into the code that logged
            return

    def _spawn(self, loop: asyncio.AbstractEventLoop, key: str, subject: str, report: str) -> None:
        # A fresh context: the record may come from inside a transaction that will be
        # gone (or rolled back) by the time this task runs.
        task = loop.create_task(self._write(key, subject, report), context=contextvars.Context())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _write(self, key: str, subject: str, report: str) -> None:
        try:
            async with self.app.app_context():
                admin = self.app.config.get("FLASKY_ADMIN")
                interval = timedelta(seconds=float(setting("FLASKY_ERROR_MAIL_INTERVAL")))
                if (
                    not admin
                    or await Outbox.filter(
                        dedupe_key=key, created_at__gte=utcnow() - interval
                    ).exists()
                ):
                    return
                await queue_mail(admin, subject, "error", dedupe_key=key, report=report)
        except Exception:  # the database may be what failed: nothing more to do here
            return

    async def drain(self) -> None:
        """Wait for the writes scheduled so far (used at shutdown and in tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


def init_app(app: Quart) -> None:
    """Attach the handler to the `flasky` logger while the server runs."""
    handler = ErrorMailHandler(app)
    app.extensions["flasky_error_mail"] = handler
    app_logger = logging.getLogger("flasky")

    @app.while_serving
    async def _serve() -> AsyncIterator[None]:
        mail_errors = app.config.get("FLASKY_MAIL_ERRORS", app.config.get("PRODUCTION"))
        if mail_errors and app.config.get("FLASKY_ADMIN"):
            handler.loop = asyncio.get_running_loop()
            app_logger.addHandler(handler)
        try:
            yield
        finally:
            app_logger.removeHandler(handler)
            await handler.drain()
            handler.loop = None
