"""Finding things (SPEC §11): `/search` (people and posts, ranked, keyset pages; the
header's active search asks it for `?suggest=1`) and `/tag/<tag>` (the posts carrying a
tag, newest first). The engine is flasky/search.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, abort, request

from flasky import search
from flasky.cache import anonymous_page_cache, shows
from flasky.exceptions import BadRequest
from flasky.models import Post, User
from flasky.negotiate import respond, wants_fragment, wants_json
from flasky.pagination import collection, cursor, page_of, per_page
from flasky.text import tag_named
from flasky.urls import url_for

bp = Blueprint("finding", __name__)

SUGGESTED_POSTS = 5


@dataclass
class Result:
    """A post found, with its snippet (escaped text, the matches in `<mark>`)."""

    post: Post
    snippet: str


@bp.get("/search")
async def search_page() -> Response:
    """People whose name starts with the words, then the posts that match the query,
    best first; later pages by `?cursor=`. `?suggest=1`: the header's short list."""
    text = request.args.get("q", "")
    try:
        query = search.parse(text)
    except search.QueryTooLong as exc:
        raise BadRequest(str(exc)) from None
    suggest = request.args.get("suggest") == "1" and not wants_json()
    position = cursor()
    after = search.decode_cursor(position) if position else None
    limit = SUGGESTED_POSTS if suggest else per_page("POSTS")
    hits = await search.find_posts(query, after, limit + 1)
    posts = await _posts_of(hits[:limit])
    results = [Result(p, search.snippet(p.body_html, query)) for p in posts]
    next_cursor = None
    if len(hits) > limit and posts:
        last = posts[-1]
        next_cursor = search.encode_cursor(hits[limit - 1].score, last.timestamp, last.id)
    people = [] if position else await User.named_like(query.people, 3 if suggest else 5)
    # the JSON and the page say how many; the header's list and a next page do not
    shows_count = wants_json() or not wants_fragment()
    count = await search.count_posts(query) if shows_count else None

    def data() -> dict[str, Any]:
        nxt = url_for("finding.search_page", q=text, cursor=next_cursor, _external=True)
        return {
            "users": [u.to_json() for u in people],
            "posts": [{**r.post.to_json(), "snippet": r.snippet} for r in results],
            "next": nxt if next_cursor else None,
            "count": count,
        }

    more = url_for("finding.search_page", q=text, cursor=next_cursor) if next_cursor else None
    return await respond(
        "finding/search.html",
        fragment="finding/_suggest.html" if suggest else "finding/_results_page.html",
        data=data,
        q=text,
        query=query,
        people=people,
        results=results,
        count=count,
        next_url=more,
        cursor=position,
    )


async def _posts_of(hits: list[search.Hit]) -> list[Post]:
    """The posts of `hits` with authors and comment counts, in the hits' order (one
    query)."""
    if not hits:
        return []
    found = {p.id: p for p in await Post.listing().filter(id__in=[h.id for h in hits])}
    return [found[h.id] for h in hits if h.id in found]


@bp.get("/tag/<tag>")
@anonymous_page_cache
async def tag(tag: str) -> Response:
    """The posts carrying `tag` (any case), newest first, one keyset page at a time."""
    name = tag_named(tag)
    if name is None:
        abort(404)
    shows(f"tag:{name}")  # a post tagged (or untagged) with it moves the list
    query = Post.tagged(name)
    posts = await page_of(query, "POSTS")

    async def data() -> dict[str, Any]:
        items = [p.to_json() for p in posts.items]
        return collection("posts", items, posts, await query.count(), "finding.tag", tag=name)

    return await respond(
        "finding/tag.html",
        fragment="posts/_feed_page.html",
        data=data,
        tag=name,
        feed=posts,
        feed_endpoint="finding.tag",
        feed_args={"tag": name},
        cursor=cursor(),
        empty_message=f"No posts carry #{name} yet.",
    )
