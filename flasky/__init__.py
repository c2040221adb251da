"""Flasky: social blogging on Quart, htmx and Tortoise-ORM."""

from __future__ import annotations

from quart import Quart
from quart_auth import QuartAuth

from flasky.config import load_config


def create_app(config_name: str | None = None, **overrides: object) -> Quart:
    """Build the application: configuration, extensions, blueprints — nothing else."""
    # Imported when an app is built, not with the package: not for a cycle (there is
    # none), but so that the Markdown workers (`python -m flasky.text`) and aerich's
    # `flasky.models` start without loading the web stack.
    from flasky import (
        api_v1,
        auth,
        cache,
        db,
        email,
        errormail,
        errors,
        feed,
        feeds,
        finding,
        health,
        identity,
        live,
        moderation,
        notifications,
        posts,
        security,
        social,
        templating,
        text,
        throttle,
        urls,
    )
    from flasky.safejson import SafeJSONProvider

    app = Quart(__name__, template_folder="../templates", static_folder="../static")
    app.config.update(load_config(config_name))
    app.config.update(overrides)
    app.secret_key = app.config["SECRET_KEY"]
    text.BUDGET = float(app.config["FLASKY_RENDER_BUDGET"])  # the process's render pool
    app.json = SafeJSONProvider(app)

    QuartAuth(app)
    db.init_app(app)
    security.init_app(app)
    identity.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    email.init_app(app)
    feed.init_app(app)
    live.init_app(app)
    errormail.init_app(app)
    throttle.init_app(app)
    cache.init_app(app)
    urls.init_app(app)  # last: its ASGI layer is the outermost, its host check the first

    for blueprint in (
        health.bp,
        posts.bp,
        social.bp,
        moderation.bp,
        notifications.bp,
        auth.bp,
        api_v1.bp,
        live.bp,
        feeds.bp,
        finding.bp,
    ):
        app.register_blueprint(blueprint)
    return app
