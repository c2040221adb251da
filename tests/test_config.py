"""Configuration: the three environments, SPEC's defaults, every variable read from the
environment when `load_config` is called, and a `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flasky import create_app
from flasky.config import load_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: Any, tmp_path: Path) -> None:
    """No variable of ours from the outside, and no .env file."""
    for name in (
        "FLASKY_CONFIG", "SECRET_KEY", "DATABASE_URL", "TEST_DATABASE_URL", "MAIL_SERVER",
        "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME", "MAIL_PASSWORD",
        "FLASKY_MAIL_SENDER", "FLASKY_MAIL_SUBJECT_PREFIX", "FLASKY_ADMIN",
        "FLASKY_POSTS_PER_PAGE", "FLASKY_FOLLOWERS_PER_PAGE", "FLASKY_COMMENTS_PER_PAGE",
        "FLASKY_SLOW_DB_QUERY_TIME", "FLASKY_AVATARS", "FLASKY_QUERY_COUNT_HEADER",
        "FLASKY_PAGE_CACHE_SECONDS", "FLASKY_CSRF_TIME_LIMIT", "FLASKY_MAIL_SENDER_TASK",
    ):  # fmt: skip
        monkeypatch.setenv(name, "placeholder")  # recorded, so teardown restores the original
        monkeypatch.delenv(name)
    monkeypatch.setenv("FLASKY_DOTENV", str(tmp_path / "no.env"))


def test_spec_defaults():
    cfg = load_config("development")
    assert cfg["CONFIG_NAME"] == "development"
    assert cfg["DATABASE_URL"] == "sqlite://data-dev.sqlite"
    assert cfg["MAIL_SERVER"] == ""
    assert (cfg["MAIL_PORT"], cfg["MAIL_USE_TLS"], cfg["MAIL_USE_SSL"]) == (587, True, False)
    assert cfg["FLASKY_MAIL_SENDER"] == "Flasky Admin <flasky@example.com>"
    assert cfg["FLASKY_MAIL_SUBJECT_PREFIX"] == "[Flasky]"
    assert cfg["FLASKY_ADMIN"] == ""
    assert cfg["FLASKY_POSTS_PER_PAGE"] == 20
    assert cfg["FLASKY_FOLLOWERS_PER_PAGE"] == 50
    assert cfg["FLASKY_COMMENTS_PER_PAGE"] == 30
    assert cfg["FLASKY_SLOW_DB_QUERY_TIME"] == 0.5
    assert cfg["FLASKY_AVATARS"] == "identicon"
    assert cfg["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert cfg["TOKEN_EXPIRATION"] == 3600
    assert (cfg["LOGIN_ACCOUNT_LIMIT"], cfg["LOGIN_ADDRESS_LIMIT"]) == (5, 20)
    assert cfg["LOGIN_WINDOW"] == 15 * 60
    assert (cfg["MAIL_LIMIT"], cfg["MAIL_WINDOW"]) == (3, 3600)
    assert (cfg["REGISTRATION_LIMIT"], cfg["REGISTRATION_WINDOW"]) == (10, 3600)
    assert cfg["FLASKY_BASE_URL"] == "http://127.0.0.1:5000"
    assert cfg["FLASKY_TRUSTED_PROXIES"] == 0 and cfg["FLASKY_RATE_LIMITS"] == ""
    assert cfg["SESSION_COOKIE_HTTPONLY"] and cfg["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert cfg["QUART_AUTH_COOKIE_SAMESITE"] == "Lax"
    assert cfg["SECRET_KEY"]  # a fixed development key


def test_development_is_the_default():
    assert load_config()["CONFIG_NAME"] == "development"


def test_flasky_config_picks_the_environment(monkeypatch: Any):
    monkeypatch.setenv("FLASKY_CONFIG", "testing")
    assert load_config()["CONFIG_NAME"] == "testing"


def test_testing():
    cfg = load_config("testing")
    assert cfg["TESTING"] is True and cfg["PRODUCTION"] is False
    assert cfg["DATABASE_URL"] == "sqlite://:memory:"
    assert cfg["PASSWORD_HASH_FAST"] is True
    assert cfg["FLASKY_QUERY_COUNT_HEADER"] is True
    assert cfg["FLASKY_PAGE_CACHE_SECONDS"] == 0
    assert cfg["FLASKY_MAIL_SENDER_TASK"] is False
    assert len(cfg["SECRET_KEY"]) >= 32
    assert load_config("testing")["SECRET_KEY"] != cfg["SECRET_KEY"]  # random each time


def test_testing_uses_test_database_url(monkeypatch: Any):
    monkeypatch.setenv("TEST_DATABASE_URL", "postgres://u@h/test")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/production")
    assert load_config("testing")["DATABASE_URL"] == "postgres://u@h/test"


def test_production_refuses_to_start_without_a_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        load_config("production")


def test_production_refuses_to_start_without_a_base_url(monkeypatch: Any):
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    with pytest.raises(RuntimeError, match="FLASKY_BASE_URL must be set"):
        load_config("production")


@pytest.mark.parametrize("url", ["flasky.example", "ftp://flasky.example", "https://x.example/app"])
def test_a_base_url_that_is_not_an_origin_is_refused(monkeypatch: Any, url: str):
    monkeypatch.setenv("FLASKY_BASE_URL", url)
    with pytest.raises(RuntimeError, match="is not an origin"):
        load_config("development")


def test_production(monkeypatch: Any):
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("FLASKY_BASE_URL", "https://flasky.example")
    cfg = load_config("production")
    assert cfg["FLASKY_BASE_URL"] == "https://flasky.example"
    assert cfg["PRODUCTION"] is True and cfg["TESTING"] is False
    assert cfg["DATABASE_URL"] == "sqlite://data.sqlite"
    assert cfg["SECRET_KEY"] == "s3cret"
    assert cfg["SESSION_COOKIE_SECURE"] and cfg["QUART_AUTH_COOKIE_SECURE"]
    assert cfg["PASSWORD_HASH_FAST"] is False
    assert cfg["FLASKY_QUERY_COUNT_HEADER"] is False
    assert cfg["FLASKY_MAIL_SENDER_TASK"] is True


def test_unknown_environment_is_refused():
    with pytest.raises(RuntimeError, match="Unknown FLASKY_CONFIG 'staging'"):
        load_config("staging")


@pytest.mark.parametrize(
    ("variable", "value", "key", "expected"),
    [
        ("DATABASE_URL", "postgres://app@db/flasky", "DATABASE_URL", "postgres://app@db/flasky"),
        ("SECRET_KEY", "k", "SECRET_KEY", "k"),
        ("MAIL_SERVER", "smtp.example.com", "MAIL_SERVER", "smtp.example.com"),
        ("MAIL_PORT", "2525", "MAIL_PORT", 2525),
        ("MAIL_USE_TLS", "false", "MAIL_USE_TLS", False),
        ("MAIL_USE_TLS", "0", "MAIL_USE_TLS", False),
        ("MAIL_USE_SSL", "yes", "MAIL_USE_SSL", True),
        ("MAIL_USE_SSL", "TRUE", "MAIL_USE_SSL", True),
        ("MAIL_USERNAME", "me", "MAIL_USERNAME", "me"),
        ("MAIL_PASSWORD", "pw", "MAIL_PASSWORD", "pw"),
        ("FLASKY_MAIL_SENDER", "Me <me@example.com>", "FLASKY_MAIL_SENDER", "Me <me@example.com>"),
        ("FLASKY_MAIL_SUBJECT_PREFIX", "[Blog]", "FLASKY_MAIL_SUBJECT_PREFIX", "[Blog]"),
        ("FLASKY_ADMIN", "boss@example.com", "FLASKY_ADMIN", "boss@example.com"),
        ("FLASKY_POSTS_PER_PAGE", "7", "FLASKY_POSTS_PER_PAGE", 7),
        ("FLASKY_FOLLOWERS_PER_PAGE", "8", "FLASKY_FOLLOWERS_PER_PAGE", 8),
        ("FLASKY_COMMENTS_PER_PAGE", "9", "FLASKY_COMMENTS_PER_PAGE", 9),
        ("FLASKY_SLOW_DB_QUERY_TIME", "0.25", "FLASKY_SLOW_DB_QUERY_TIME", 0.25),
        ("FLASKY_AVATARS", "gravatar", "FLASKY_AVATARS", "gravatar"),
        ("FLASKY_QUERY_COUNT_HEADER", "off", "FLASKY_QUERY_COUNT_HEADER", False),
        ("FLASKY_PAGE_CACHE_SECONDS", "0", "FLASKY_PAGE_CACHE_SECONDS", 0.0),
        ("FLASKY_CSRF_TIME_LIMIT", "60", "CSRF_TIME_LIMIT", 60),
        ("FLASKY_MAIL_SENDER_TASK", "0", "FLASKY_MAIL_SENDER_TASK", False),
    ],
)
def test_environment_variables_are_read_when_called(
    monkeypatch: Any, variable: str, value: str, key: str, expected: Any
):
    before = load_config("development")[key]
    monkeypatch.setenv(variable, value)
    assert load_config("development")[key] == expected
    assert expected != before  # the value really came from the environment


def test_unset_mail_credentials_are_none():
    cfg = load_config("development")
    assert cfg["MAIL_USERNAME"] is None and cfg["MAIL_PASSWORD"] is None


def test_a_dotenv_file_is_read(monkeypatch: Any, tmp_path: Path):
    env = tmp_path / ".env"
    env.write_text("FLASKY_ADMIN=dotenv@example.com\nFLASKY_POSTS_PER_PAGE=11\n")
    monkeypatch.setenv("FLASKY_DOTENV", str(env))
    cfg = load_config("development")
    assert cfg["FLASKY_ADMIN"] == "dotenv@example.com"
    assert cfg["FLASKY_POSTS_PER_PAGE"] == 11


def test_the_environment_wins_over_the_dotenv_file(monkeypatch: Any, tmp_path: Path):
    env = tmp_path / ".env"
    env.write_text("FLASKY_ADMIN=dotenv@example.com\n")
    monkeypatch.setenv("FLASKY_DOTENV", str(env))
    monkeypatch.setenv("FLASKY_ADMIN", "shell@example.com")
    assert load_config("development")["FLASKY_ADMIN"] == "shell@example.com"


def test_create_app_applies_overrides_last():
    app = create_app("testing", FLASKY_POSTS_PER_PAGE=3, DATABASE_URL="sqlite://:memory:")
    assert app.config["FLASKY_POSTS_PER_PAGE"] == 3
    assert app.config["TESTING"] is True
    assert app.secret_key == app.config["SECRET_KEY"]
