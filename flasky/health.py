"""Liveness that touches the database: `/healthz`."""

from __future__ import annotations

import logging

from quart import Blueprint, Response, jsonify

from flasky import db

bp = Blueprint("health", __name__)
log = logging.getLogger("flasky.health")


@bp.get("/healthz")
async def healthz() -> Response:
    """{"status": "ok"} when the database answers, else 503."""
    try:
        await db.ping()
    except Exception as exc:  # any failure to answer is an outage to report
        log.warning("health check failed: %s", exc)
        message = "The database does not answer."
        response = jsonify({"error": "service unavailable", "message": message})
        response.status_code = 503
    else:
        response = jsonify({"status": "ok"})
    response.headers["Cache-Control"] = "no-store"
    return response
