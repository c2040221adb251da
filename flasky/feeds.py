"""Atom feeds (SPEC §11): everyone's latest posts (`/feed.atom`), a user's
(`/user/<username>/feed.atom`) and a tag's (`/tag/<tag>/feed.atom`), valid Atom 1.0,
with `ETag` and `Last-Modified` and a 304 for a reader that already has this version.
Pages link them in their `<head>` (`rel="alternate"`, base.html, the profile and the tag page)."""

from __future__ import annotations

import contextlib
import hashlib
import re
from datetime import UTC, datetime
from urllib.parse import urljoin

from quart import Blueprint, Response, abort, render_template, request
from tortoise.functions import Max

from flasky.models import Event, Post, User
from flasky.text import tag_named
from flasky.urls import base_url, url_for

bp = Blueprint("feeds", __name__)

FEED_SIZE = 20
ATOM = "application/atom+xml; charset=utf-8"
# `updated` of a feed with no posts yet: a fixed moment, so its ETag stays put too.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The change-feed kinds that can change what a feed shows (a post written, edited or
# deleted, a name changed, bodies loaded or rendered again): the latest of them bounds
# `Last-Modified` from below, so a deletion or an edit moves it on (never back).
FEED_KINDS = (
    "post-created",
    "post-updated",
    "post-deleted",
    "user-updated",
    "bulk-insert",
    "bulk-load",
    "rerender",
    "search-reindex",
)
# Characters XML 1.0 cannot hold at all, even escaped (a post may contain them).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# A link of sanitised HTML: an `a` or `img` tag's href or src, found by stepping over
# whole attributes (the sanitiser writes them double-quoted; `<` in text is escaped).
LINK_IN_TAG = re.compile(r'(<(?:a|img)\b(?:\s+[\w:-]+="[^"]*")*?\s+(?:href|src)=")([^"]*)(")')
HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@bp.app_template_filter("absolute_links")
def absolute_links(html: str, page: str) -> str:
    """`html` with each relative link made absolute against `page` (a tag, a mention, a
    link a writer gave as `/path` or `#part`): feed readers show entries away from the
    site. A link with a scheme, or one `urljoin` cannot read, stays as it is."""

    def absolute(found: re.Match[str]) -> str:
        value = found[2]
        if not HAS_SCHEME.match(value):
            # "//[not-an-ip]/" cannot be joined: left relative, the feed still answers
            with contextlib.suppress(ValueError):
                value = urljoin(page, value)
        return found[1] + value + found[3]

    return LINK_IN_TAG.sub(absolute, html)


@bp.app_template_filter("xml_text")
def xml_text(value: object) -> str:
    """`value` as text XML can hold: the characters it cannot are left out."""
    return NOT_XML.sub("", str(value))


@bp.get("/feed.atom")
async def everyone() -> Response:
    """Everyone's latest posts."""
    return await _atom(
        await Post.latest(limit=FEED_SIZE),
        title="Flasky — everyone's posts",
        subtitle="The latest posts on Flasky.",
        self_url=url_for("feeds.everyone", _external=True),
        page_url=url_for("posts.index", _external=True),
    )


@bp.get("/user/<username>/feed.atom")
async def user(username: str) -> Response:
    """One user's latest posts."""
    found = await User.get_or_none(username=username)
    if found is None:
        abort(404)
    name = found.name or found.username
    return await _atom(
        await Post.latest(found, limit=FEED_SIZE),
        title=f"{name} (@{found.username}) — Flasky",
        subtitle=f"The latest posts of @{found.username} on Flasky.",
        self_url=url_for("feeds.user", username=found.username, _external=True),
        page_url=url_for("social.user", username=found.username, _external=True),
    )


@bp.get("/tag/<tag>/feed.atom")
async def tag(tag: str) -> Response:
    """The latest posts carrying a tag."""
    name = tag_named(tag)
    if name is None:
        abort(404)
    return await _atom(
        await Post.latest(limit=FEED_SIZE, tag=name),
        title=f"#{name} — Flasky",
        subtitle=f"The latest posts tagged #{name} on Flasky.",
        self_url=url_for("feeds.tag", tag=name, _external=True),
        page_url=url_for("finding.tag", tag=name, _external=True),
    )


async def _atom(posts: list[Post], **context: str) -> Response:
    """The feed of `posts`, or 304 when the reader's copy is this one (its ETag, or —
    without one — a Last-Modified no older than the newest post and the latest change of
    FEED_KINDS)."""
    updated = max((post.timestamp for post in posts), default=EPOCH)
    body = await render_template(
        "feeds/feed.atom.xml", posts=posts, updated=updated, base=base_url(), **context
    )
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    last_modified = max(updated, await _last_change()).replace(microsecond=0)
    if request.if_none_match:
        fresh = request.if_none_match.contains_weak(etag)
    else:
        since = request.if_modified_since
        fresh = since is not None and last_modified <= since
    response = Response(b"" if fresh else body.encode(), status=304 if fresh else 200)
    response.headers["Content-Type"] = ATOM
    response.set_etag(etag)
    response.last_modified = last_modified
    response.headers["Cache-Control"] = "no-cache"  # keep it, but ask again each time
    return response


async def _last_change() -> datetime:
    """When the latest change of FEED_KINDS happened (EPOCH when the change feed, which
    keeps a day, has none): one query on `ix_events_kind_created`."""
    latest = Event.filter(kind__in=FEED_KINDS).annotate(last=Max("created_at"))
    found = await latest.values_list("last", flat=True)
    return found[0] if found and found[0] is not None else EPOCH
