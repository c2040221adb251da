"""Configuration for development, testing and production, read from the environment.

The environment is read when `load_config` is called (not at import), so a test or a
command can set variables first. A `.env` file in the working directory is read too.
"""

from __future__ import annotations

import os
import secrets
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv

CONFIG_NAMES = ("development", "testing", "production")


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _base() -> dict[str, Any]:
    """Settings shared by every environment."""
    return {
        "SECRET_KEY": _env("SECRET_KEY"),
        "MAIL_SERVER": _env("MAIL_SERVER"),
        "MAIL_PORT": _int("MAIL_PORT", 587),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", True),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL", False),
        "MAIL_USERNAME": _env("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": _env("MAIL_PASSWORD") or None,
        "MAIL_TIMEOUT": _float("MAIL_TIMEOUT", 30.0),
        "FLASKY_MAIL_SENDER": _env("FLASKY_MAIL_SENDER", "Flasky Admin <flasky@example.com>"),
        "FLASKY_MAIL_SUBJECT_PREFIX": _env("FLASKY_MAIL_SUBJECT_PREFIX", "[Flasky]"),
        "FLASKY_ADMIN": _env("FLASKY_ADMIN"),
        "FLASKY_POSTS_PER_PAGE": _int("FLASKY_POSTS_PER_PAGE", 20),
        "FLASKY_FOLLOWERS_PER_PAGE": _int("FLASKY_FOLLOWERS_PER_PAGE", 50),
        "FLASKY_COMMENTS_PER_PAGE": _int("FLASKY_COMMENTS_PER_PAGE", 30),
        "FLASKY_NOTIFICATIONS_PER_PAGE": _int("FLASKY_NOTIFICATIONS_PER_PAGE", 30),
        "FLASKY_SLOW_DB_QUERY_TIME": _float("FLASKY_SLOW_DB_QUERY_TIME", 0.5),
        "FLASKY_AVATARS": _env("FLASKY_AVATARS", "identicon"),
        # The origin of every absolute URL we send (mail, JSON, feeds); never the Host.
        "FLASKY_BASE_URL": _env("FLASKY_BASE_URL"),
        # More `host` / `host:port` values production answers for (comma-separated).
        "FLASKY_ALLOWED_HOSTS": _env("FLASKY_ALLOWED_HOSTS"),
        # How many X-Forwarded-For entries (proxies in front of us) to trust; 0 ignores it.
        "FLASKY_TRUSTED_PROXIES": _int("FLASKY_TRUSTED_PROXIES", 0),
        # Per-user write limits: "posts=30/h,comments=60/h,follows=200/h", or "off".
        "FLASKY_RATE_LIMITS": _env("FLASKY_RATE_LIMITS"),
        # The safety time to live of an anonymous rendered page in the in-process cache
        # (the change feed drops it as soon as something it shows changes); 0 turns it off.
        "FLASKY_PAGE_CACHE_SECONDS": _float("FLASKY_PAGE_CACHE_SECONDS", 3600.0),
        # Seconds a Markdown render may take in a worker before it is killed (→ 400).
        "FLASKY_RENDER_BUDGET": _float("FLASKY_RENDER_BUDGET", 1.0),
        # Show the per-request query count in an X-Query-Count header.
        "FLASKY_QUERY_COUNT_HEADER": _bool("FLASKY_QUERY_COUNT_HEADER", False),
        # Each server process runs one change-feed listener unless this is off (SPEC §8);
        # on SQLite it looks at the events table this often, for other processes' writes.
        "FLASKY_FEED_LISTENER": _bool("FLASKY_FEED_LISTENER", True),
        "FLASKY_FEED_POLL_SECONDS": _float("FLASKY_FEED_POLL_SECONDS", 0.05),
        # After losing the database the listener tries again this often; on PostgreSQL
        # it checks its connection this often.
        "FLASKY_FEED_RETRY_SECONDS": _float("FLASKY_FEED_RETRY_SECONDS", 0.5),
        "FLASKY_FEED_KEEPALIVE_SECONDS": _float("FLASKY_FEED_KEEPALIVE_SECONDS", 5.0),
        # Live streams (SPEC §9): each ends after this long (the browser reconnects),
        # sends a keep-alive comment this often, and a client may hold this many open.
        "FLASKY_STREAM_SECONDS": _float("FLASKY_STREAM_SECONDS", 300.0),
        "FLASKY_STREAM_KEEPALIVE_SECONDS": _float("FLASKY_STREAM_KEEPALIVE_SECONDS", 15.0),
        "FLASKY_STREAMS_PER_CLIENT": _int("FLASKY_STREAMS_PER_CLIENT", 8),
        # Where the servers of this machine count each client's open streams (lock
        # files); empty: a folder in the temporary directory named after the database.
        "FLASKY_STREAM_SLOTS_DIR": _env("FLASKY_STREAM_SLOTS_DIR"),
        # Each server process runs an outbox sender task unless this is off.
        "FLASKY_MAIL_SENDER_TASK": _bool("FLASKY_MAIL_SENDER_TASK", True),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # CSRF tokens live a week: a feed left open for hours can still post.
        "CSRF_TIME_LIMIT": _int("FLASKY_CSRF_TIME_LIMIT", 7 * 24 * 3600),
        # Throttles of SPEC §6 (not tuned by FLASKY_RATE_LIMITS).
        "LOGIN_ACCOUNT_LIMIT": 5,
        "LOGIN_ADDRESS_LIMIT": 20,
        "LOGIN_WINDOW": 15 * 60,
        "MAIL_LIMIT": 3,
        "MAIL_WINDOW": 3600,
        "REGISTRATION_LIMIT": 10,
        "REGISTRATION_WINDOW": 3600,
        "TOKEN_EXPIRATION": 3600,
        "PASSWORD_HASH_FAST": False,
        "QUART_AUTH_COOKIE_NAME": "flasky_auth",
        "QUART_AUTH_COOKIE_SECURE": False,
        "QUART_AUTH_COOKIE_SAMESITE": "Lax",
        "QUART_AUTH_DURATION": 365 * 24 * 3600,
        "SESSION_COOKIE_NAME": "flasky_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,
        "SEND_FILE_MAX_AGE_DEFAULT": 365 * 24 * 3600,
        "TESTING": False,
        "PRODUCTION": False,
    }


def _development() -> dict[str, Any]:
    return {
        "DATABASE_URL": _env("DATABASE_URL", "sqlite://data-dev.sqlite"),
        "SECRET_KEY": _env("SECRET_KEY", "dev-secret-key-not-for-production"),
        "FLASKY_BASE_URL": _env("FLASKY_BASE_URL", "http://127.0.0.1:5000"),
        "FLASKY_QUERY_COUNT_HEADER": _bool("FLASKY_QUERY_COUNT_HEADER", True),
    }


def _testing() -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": _env("TEST_DATABASE_URL", "sqlite://:memory:"),
        "SECRET_KEY": _env("SECRET_KEY") or secrets.token_hex(32),
        # Quart's test client asks for http://localhost/.
        "FLASKY_BASE_URL": _env("FLASKY_BASE_URL", "http://localhost"),
        "FLASKY_QUERY_COUNT_HEADER": True,
        "FLASKY_PAGE_CACHE_SECONDS": 0.0,
        "FLASKY_FEED_RETRY_SECONDS": 0.02,
        "FLASKY_MAIL_SENDER_TASK": False,
        # Tests hash many passwords; production keeps argon2's slow defaults.
        "PASSWORD_HASH_FAST": True,
    }


def _production() -> dict[str, Any]:
    return {
        "PRODUCTION": True,
        "DATABASE_URL": _env("DATABASE_URL", "sqlite://data.sqlite"),
        "QUART_AUTH_COOKIE_SECURE": True,
        "SESSION_COOKIE_SECURE": True,
    }


_OVERLAYS = {"development": _development, "testing": _testing, "production": _production}


def load_config(name: str | None = None) -> dict[str, Any]:
    """Return the settings of `name` (default: $FLASKY_CONFIG or development)."""
    load_dotenv(os.environ.get("FLASKY_DOTENV", ".env"))
    name = name or _env("FLASKY_CONFIG", "development")
    if name not in _OVERLAYS:
        raise RuntimeError(f"Unknown FLASKY_CONFIG {name!r}; use one of {', '.join(CONFIG_NAMES)}")
    settings = _base()
    settings.update(_OVERLAYS[name]())
    settings["CONFIG_NAME"] = name
    if name == "production" and not settings["SECRET_KEY"]:
        raise RuntimeError("SECRET_KEY must be set in production")
    if name == "production" and not settings["FLASKY_BASE_URL"]:
        raise RuntimeError(
            "FLASKY_BASE_URL must be set in production (the origin of the links we send, "
            "e.g. https://flasky.example)"
        )
    check_base_url(settings["FLASKY_BASE_URL"])
    return settings


def check_base_url(url: str) -> None:
    """Refuse a FLASKY_BASE_URL that is not an http(s) origin."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        raise RuntimeError(
            f"FLASKY_BASE_URL {url!r} is not an origin such as https://flasky.example"
        )
