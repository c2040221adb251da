"""Atom feeds (SPEC §11): valid Atom 1.0 (parsed with the standard library, the required
elements checked), absolute URLs, sanitised content, ETag / Last-Modified and 304, a
fixed number of queries, and the `rel="alternate"` links in the pages' heads."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from flasky.models import Event, Post
from tests.conftest import make_user, query_count

NS = {"a": "http://www.w3.org/2005/Atom"}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


async def atom(client: Any, path: str, **headers: str) -> tuple[Any, ET.Element | None]:
    response = await client.get(path, headers=headers)
    data = await response.get_data()
    return response, (ET.fromstring(data) if response.status_code == 200 else None)


def text(element: ET.Element, path: str) -> str:
    found = element.find(path, NS)
    assert found is not None and found.text, f"no {path}"
    return found.text


def check_valid(feed: ET.Element) -> None:
    """RFC 4287's musts: feed id, title, updated, an author (the feed's or each entry's);
    each entry id, title, updated, an alternate link; times in RFC 3339; absolute URLs."""
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    for path in ("a:id", "a:title", "a:updated"):
        text(feed, path)
    assert RFC3339.match(text(feed, "a:updated"))
    assert feed.find("a:author/a:name", NS) is not None
    self_link = feed.find("a:link[@rel='self']", NS)
    assert self_link is not None and self_link.get("href", "").startswith("http://localhost/")
    for entry in feed.findall("a:entry", NS):
        for path in ("a:id", "a:title", "a:updated", "a:published", "a:author/a:name"):
            text(entry, path)
        assert RFC3339.match(text(entry, "a:updated"))
        link = entry.find("a:link[@rel='alternate']", NS)
        assert link is not None and link.get("href", "").startswith("http://localhost/post/")
        assert text(entry, "a:id").startswith("http://localhost/post/")
        content = entry.find("a:content", NS)
        assert content is not None and content.get("type") == "html"


async def test_everyones_feed_is_valid_atom_newest_first(client: Any) -> None:
    john = await make_user("john@example.com", name="John Smith")
    susan = await make_user("susan@example.com")
    await Post.publish(john, "# First *post*\n\nWith a body.")
    await Post.publish(susan, "Second, by susan")
    response, feed = await atom(client, "/feed.atom")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert feed is not None
    check_valid(feed)
    entries = feed.findall("a:entry", NS)
    assert [text(e, "a:title") for e in entries] == ["Second, by susan", "First post"]
    assert text(entries[1], "a:author/a:name") == "John Smith"
    assert text(entries[1], "a:author/a:uri") == "http://localhost/user/john"
    assert "<em>post</em>" in text(entries[1], "a:content")  # HTML, escaped as text
    assert text(feed, "a:updated") == text(entries[0], "a:updated")


async def test_content_is_the_sanitised_html(client: Any) -> None:
    mallory = await make_user("mallory@example.com")
    await Post.publish(mallory, "<script>alert(1)</script><img src=x onerror=alert(2)> hi")
    response, feed = await atom(client, "/feed.atom")
    assert feed is not None
    content = text(feed, "a:entry/a:content")
    assert "<script" not in content and "onerror" not in content
    # the title is plain text (Atom's default type): shown as written, never markup
    assert feed.find("a:entry/a:title", NS).get("type") is None  # type: ignore[union-attr]
    assert b"<script" not in await response.get_data()


async def test_links_inside_an_entry_are_absolute(client: Any) -> None:
    await make_user("susan@example.com", "susan")
    john = await make_user("john@example.com")
    post = await Post.publish(
        john, "#quinces for @susan, [see](/about), [part](#end), [out](https://example.org/x)"
    )
    _, feed = await atom(client, "/feed.atom")
    assert feed is not None
    content = text(feed, "a:entry/a:content")
    hrefs = re.findall(r'href="([^"]*)"', content)
    assert hrefs == [
        "http://localhost/tag/quinces",
        "http://localhost/user/susan",
        "http://localhost/about",
        f"http://localhost/post/{post.id}#end",
        "https://example.org/x",
    ]
    # a link urljoin cannot read stays as written, and the feed still answers
    await Post.publish(john, "[odd](http://[not-an-ip]/) and [odder](//[nor-this]/x)")
    response, feed = await atom(client, "/feed.atom")
    assert response.status_code == 200 and feed is not None
    assert 'href="http://[not-an-ip]/"' in text(feed, "a:entry/a:content")
    # the titles, too, keep what a name or a word is made of
    await Post.publish(john, "## use snake_case, @ada_l and **bold** `code`")
    _, feed = await atom(client, "/feed.atom")
    assert feed is not None
    assert text(feed, "a:entry/a:title") == "use snake_case, @ada_l and bold code"
    await Post.publish(john, "#quinces first\n\nthen more")
    _, feed = await atom(client, "/feed.atom")
    assert feed is not None
    assert text(feed, "a:entry/a:title") == "#quinces first"


async def test_a_users_feed_and_404(client: Any) -> None:
    john = await make_user("john@example.com")
    susan = await make_user("susan@example.com")
    await Post.publish(john, "John's")
    await Post.publish(susan, "Susan's")
    _, feed = await atom(client, "/user/john/feed.atom")
    assert feed is not None
    check_valid(feed)
    assert [text(e, "a:title") for e in feed.findall("a:entry", NS)] == ["John's"]
    assert text(feed, "a:id") == "http://localhost/user/john/feed.atom"
    assert (await client.get("/user/nobody/feed.atom")).status_code == 404


async def test_an_empty_feed_is_still_valid(client: Any) -> None:
    await make_user("john@example.com")
    _, feed = await atom(client, "/user/john/feed.atom")
    assert feed is not None
    check_valid(feed)
    assert feed.findall("a:entry", NS) == []


async def test_conditional_requests(client: Any) -> None:
    john = await make_user("john@example.com")
    post = await Post.publish(john, "Version one")
    first, _ = await atom(client, "/feed.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and parsedate_to_datetime(modified)

    again = await client.get("/feed.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304 and await again.get_data() == b""
    assert again.headers["ETag"] == etag
    since = await client.get("/feed.atom", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    older = format_datetime(parsedate_to_datetime(modified).replace(year=2000), usegmt=True)
    stale = await client.get("/feed.atom", headers={"If-Modified-Since": older})
    assert stale.status_code == 200
    other = await client.get("/feed.atom", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200

    await post.change_body("Version two")  # an edit changes the feed's ETag
    edited = await client.get("/feed.atom", headers={"If-None-Match": etag})
    assert edited.status_code == 200 and edited.headers["ETag"] != etag
    assert "Version two" in await edited.get_data(as_text=True)


async def test_last_modified_moves_on_with_a_deletion_or_an_edit(client: Any) -> None:
    """A reader that sends only If-Modified-Since hears of a deleted newest post (the
    feed's newest post is then older) and of an edit (no post's time moves)."""
    john = await make_user("john@example.com")
    older = await Post.publish(john, "Older")
    newest = await Post.publish(john, "Newest")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await Post.all().update(timestamp=an_hour_ago)
    await Event.all().update(created_at=an_hour_ago)
    first, _ = await atom(client, "/feed.atom")
    modified = first.headers["Last-Modified"]
    assert parsedate_to_datetime(modified) == an_hour_ago.replace(microsecond=0)
    assert (
        await client.get("/feed.atom", headers={"If-Modified-Since": modified})
    ).status_code == 304

    await newest.remove()
    after_delete = await client.get("/feed.atom", headers={"If-Modified-Since": modified})
    assert after_delete.status_code == 200
    assert "Newest" not in await after_delete.get_data(as_text=True)
    assert parsedate_to_datetime(after_delete.headers["Last-Modified"]) > an_hour_ago

    await Event.all().update(created_at=an_hour_ago)
    modified = (await atom(client, "/feed.atom"))[0].headers["Last-Modified"]
    await older.change_body("Older, edited")
    after_edit = await client.get("/feed.atom", headers={"If-Modified-Since": modified})
    assert after_edit.status_code == 200 and "edited" in await after_edit.get_data(as_text=True)
    # what does not change a feed (a follow, a comment) leaves it where it was
    await Event.all().update(created_at=an_hour_ago)
    modified = (await atom(client, "/feed.atom"))[0].headers["Last-Modified"]
    await john.follow(await make_user("susan@example.com"))
    same = await client.get("/feed.atom", headers={"If-Modified-Since": modified})
    assert same.status_code == 304


async def test_a_feed_runs_one_query_whatever_its_length(client: Any) -> None:
    john = await make_user("john@example.com")
    await Post.publish(john, "one")
    few = query_count((await atom(client, "/feed.atom"))[0])
    for n in range(25):
        await Post.publish(await make_user(f"u{n}@example.com"), f"post {n}")
    response, feed = await atom(client, "/feed.atom")
    assert feed is not None and len(feed.findall("a:entry", NS)) == 20
    assert query_count(response) == few == 2  # the posts, the latest change


async def test_pages_link_their_feeds(client: Any) -> None:
    await make_user("john@example.com")
    home = await (await client.get("/")).get_data(as_text=True)
    link = r'<link rel="alternate" type="application/atom\+xml"[^>]*href="/feed.atom"'
    assert re.search(link, home)
    profile = await (await client.get("/user/john")).get_data(as_text=True)
    assert 'href="/user/john/feed.atom"' in profile and 'href="/feed.atom"' in profile


def test_rfc3339_helper_is_strict() -> None:
    assert RFC3339.match(datetime(2026, 1, 2, 3, 4, 5).isoformat() + "Z")
    assert not RFC3339.match("2026-01-02 03:04:05")


async def test_characters_xml_cannot_hold_are_left_out(client: Any) -> None:
    john = await make_user("john@example.com", name="Bell\x07 Ringer")
    await Post.publish(john, "A bell\x07, a form feed\x0c and an escape\x1b in a post")
    _, feed = await atom(client, "/feed.atom")  # parses: it is well-formed XML
    assert feed is not None
    assert text(feed, "a:entry/a:title") == "A bell, a form feed"  # a form feed ends a line
    assert "in a post" in text(feed, "a:entry/a:content")
    assert text(feed, "a:entry/a:author/a:name") == "Bell Ringer"
