"""Tags and mentions (SPEC §11): `#word` and `@username` parsed when a body renders
(links in `body_html`, rows for the tag pages and the `@user` filter), `tags` in the
post JSON, `/tag/<tag>` in three forms with keyset pages and its Atom feed, mention
notifications (§10) — through every write path."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

import pytest

from flasky.models import Notification, Post, PostMention, PostTag, User
from flasky.text import mentions_in, render_markdown, tags_in
from tests.conftest import make_user, query_count
from tests.helpers import HTMX, JSON, POST_KEYS, api_headers, login, text
from tests.posts.conftest import token
from tests.test_feeds import check_valid


@pytest.fixture
async def people() -> dict[str, User]:
    return {
        "john": await make_user("john@example.com"),
        "susan": await make_user("susan@example.com", username="Susan"),
    }


# -- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, tags",
    [
        ("#python and #Quart", ["python", "quart"]),
        ("Unicode: #中文 #Café #café #ÉTÉ", ["中文", "café", "été"]),
        ("#python at the start of a line", ["python"]),
        ("# A heading, not a tag", []),
        ("## Also a heading", []),
        ("Numbers #123 and #1st", ["1st"]),
        ("In `#code` and\n\n```\n#fenced\n```", []),
        ("A [#link](https://example.com) and https://example.com/#anchor", []),
        ("a#b x&#35;y and ##double", []),
        ("#" + "x" * 64 + " #" + "y" * 65, ["x" * 64]),
        ("#snake_case_tag.", ["snake_case_tag"]),
        ("#हिन्दी #العَرَبِيَّة #İstanbul", ["हिन्दी", "العَرَبِيَّة", "i̇stanbul"]),
        ("#a¼ #x⑴ #ﷺ", []),  # not tags once normalised (a fraction slash, brackets, spaces)
    ],
)
def test_tags_are_read_from_the_text(body, tags):
    html = render_markdown(body, "post")
    assert tags_in(html) == tags
    for tag in tags:
        assert f'href="/tag/{quote(tag)}" class="tag"' in html


def test_a_heading_needs_its_space_and_the_old_ones_still_work():
    assert render_markdown("# Title\n\ntext", "post").startswith("<h1>Title</h1>")
    assert render_markdown("### Small", "post") == "<h3>Small</h3>"
    assert render_markdown("#tag", "post").startswith('<p><a href="/tag/tag" class="tag">')


def test_comments_link_mentions_but_not_tags():
    html = render_markdown("@susan look #here", "comment")
    assert 'class="mention"' in html and 'class="tag"' not in html


def test_a_body_links_at_most_30_tags_and_20_names():
    html = render_markdown(" ".join(f"#t{i} @u{i}" for i in range(50)) + " #t0 @U0", "post")
    assert tags_in(html) == [f"t{i}" for i in range(30)]
    assert html.count('class="tag"') == 31  # t0 twice: a tag seen is always linked
    assert len({n.lower() for n in mentions_in(html)}) == 20
    assert "#t30" in html and 'href="/tag/t30"' not in html


async def test_one_post_notifies_at_most_20_people(client, people):
    for i in range(25):
        await make_user(f"fan{i}@example.com")
    await Post.publish(people["john"], " ".join(f"@fan{i}" for i in range(25)))
    assert await Notification.filter(kind="mention").count() == 20


def test_a_writer_cannot_forge_a_tag_or_a_mention_link():
    html = render_markdown(
        '<a href="/tag/x" class="tag">#x</a> <a href="/user/admin" class="mention">@admin</a>',
        "post",
    )
    assert 'class="tag"' not in html and 'class="mention"' not in html
    assert tags_in(html) == []


# -- tags through the write paths ------------------------------------------------------------------


async def tag_rows(post_id: int) -> set[str]:
    return set(await PostTag.filter(post_id=post_id).values_list("tag", flat=True))


async def test_tags_through_every_write_path(client, people):
    john = people["john"]
    await login(client, john)
    csrf = await token(client)
    await client.post("/", form={"body": "from a #Form", "csrf_token": csrf})
    response = await client.post(
        "/", json={"body": "from #json"}, headers={**JSON, "X-CSRFToken": csrf}
    )
    data = await response.get_json()
    assert data["tags"] == ["json"] and set(data) == POST_KEYS
    response = await client.post(
        "/api/v1/posts/", json={"body": "from the #API"}, headers=api_headers(john.email)
    )
    assert (await response.get_json())["tags"] == ["api"]
    ids = {p.body.split("#")[1].lower(): p.id for p in await Post.all()}
    for tag, post_id in ids.items():
        assert await tag_rows(post_id) == {tag}
    # edits move the rows: form, JSON PUT, /api/v1 PUT
    await client.post(f"/edit/{ids['form']}", form={"body": "now #edited", "csrf_token": csrf})
    assert await tag_rows(ids["form"]) == {"edited"}
    await client.put(
        f"/post/{ids['json']}", json={"body": "no tags"}, headers={**JSON, "X-CSRFToken": csrf}
    )
    assert await tag_rows(ids["json"]) == set()
    await client.put(
        f"/api/v1/posts/{ids['api']}",
        json={"body": "#api #more"},
        headers=api_headers(john.email),
    )
    assert await tag_rows(ids["api"]) == {"api", "more"}
    await client.post(f"/delete/{ids['api']}", form={"csrf_token": csrf})
    assert not await PostTag.filter(post_id=ids["api"]).exists()


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"FLASKY_POSTS_PER_PAGE": 2}


async def test_the_tag_page_in_three_forms(client, people):
    john, susan = people["john"], people["susan"]
    made = [await Post.publish(john if i % 2 else susan, f"post {i} #Flask") for i in range(5)]
    await Post.publish(john, "no tag here, flask")
    response = await client.get("/tag/flask", headers=JSON)
    data = await response.get_json()
    assert set(data) == {"posts", "next", "count"} and data["count"] == 5
    seen = [p["id"] for p in data["posts"]]
    while data["next"]:
        data = await (await client.get(data["next"], headers=JSON)).get_json()
        seen += [p["id"] for p in data["posts"]]
    assert seen == [p.id for p in reversed(made)]
    upper = await (await client.get("/tag/FLASK", headers=JSON)).get_json()
    assert [p["id"] for p in upper["posts"]] == seen[:2]  # any case, the same tag
    page = await text(await client.get("/tag/Flask"))
    assert "<h1>#flask</h1>" in page
    assert 'type="application/atom+xml"' in page and 'href="/tag/flask/feed.atom"' in page
    assert 'class="sentinel"' in page
    assert "topic=tag:flask" in page and "data-new-posts" in page  # live: N new posts
    fragment = await text(await client.get("/tag/flask", headers=HTMX))
    assert "<html" not in fragment and fragment.count('class="post"') == 2
    few = query_count(await client.get("/tag/flask", headers=JSON))
    for i in range(4):
        await Post.publish(john, f"more {i} #flask")
    assert query_count(await client.get("/tag/flask", headers=JSON)) == few


async def test_unicode_tags_have_pages(client, people):
    post = await Post.publish(people["john"], "天气 #中文 and #Café #हिन्दी #İstanbul")
    for tag in post.tags + ["CAFÉ", "İSTANBUL"]:
        data = await (await client.get(f"/tag/{quote(tag)}", headers=JSON)).get_json()
        assert [p["id"] for p in data["posts"]] == [post.id], tag
        assert data["posts"][0]["tags"] == ["中文", "café", "हिन्दी", "i̇stanbul"]
    for link in re.findall(r'href="(/tag/[^"]+)" class="tag"', post.body_html):
        assert (await client.get(link)).status_code == 200, link


@pytest.mark.parametrize("tag", ["123", "a-b", "x" * 65, "%20", "a.b"])
async def test_what_cannot_be_a_tag_is_404(client, people, tag):
    for path in (f"/tag/{quote(tag)}", f"/tag/{quote(tag)}/feed.atom"):
        assert (await client.get(path)).status_code == 404


async def test_the_tag_feed_is_valid_atom_with_304(client, people):
    await Post.publish(people["john"], "one #news")
    await Post.publish(people["susan"], "two #News")
    await Post.publish(people["susan"], "untagged")
    response = await client.get("/tag/news/feed.atom")
    assert response.status_code == 200
    feed = ET.fromstring(await response.get_data())
    check_valid(feed)
    assert len(feed.findall("{http://www.w3.org/2005/Atom}entry")) == 2
    again = await client.get(
        "/tag/news/feed.atom", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


async def test_a_tagged_edit_moves_the_cached_tag_page(app, client, people):
    app.config["FLASKY_PAGE_CACHE_SECONDS"] = 3600.0
    post = await Post.publish(people["john"], "plain words")
    assert (await (await client.get("/tag/later", headers=JSON)).get_json())["count"] == 0
    await post.change_body("now #later", actor=people["john"].id)
    data = await (await client.get("/tag/later", headers=JSON)).get_json()
    assert [p["id"] for p in data["posts"]] == [post.id]
    await post.change_body("untagged again", actor=people["john"].id)
    assert (await (await client.get("/tag/later", headers=JSON)).get_json())["posts"] == []


# -- mentions ----------------------------------------------------------------------------------


async def test_mentions_link_existing_users_and_notify_them_once(client, people):
    john, susan = people["john"], people["susan"]
    post = await Post.publish(john, "Hello @susan and @nobody, and @john himself.")
    assert '<a href="/user/Susan" class="mention">@susan</a>' in post.body_html
    assert "@nobody" in post.body_html and "/user/nobody" not in post.body_html
    assert set(await PostMention.filter(post_id=post.id).values_list("user_id", flat=True)) == {
        susan.id,
        john.id,
    }
    lines = await Notification.filter(user_id=susan.id, kind="mention")
    assert [(n.subject, n.actor_count) for n in lines] == [(f"post:{post.id}", 1)]
    assert not await Notification.filter(user_id=john.id).exists()  # not for oneself
    await post.change_body("Still @Susan, edited", actor=john.id)
    assert await Notification.filter(user_id=susan.id, kind="mention").count() == 1
    await post.change_body("nobody now", actor=john.id)
    assert not await PostMention.filter(post_id=post.id).exists()


async def test_a_name_that_ends_in_a_dot_is_mentioned_and_found(client, people):
    """`@ada.` is the user "ada." when there is one, else "ada" and a full stop — in a
    body and in the `@` and `from:` filters alike."""
    john, susan = people["john"], people["susan"]
    dotted = await make_user("dotted@example.com", "ada.")
    post = await Post.publish(john, "Thanks @ada. And @susan. Also @ada, @nobody. @susan...")
    html = post.body_html
    assert '<a href="/user/ada." class="mention">@ada.</a> And' in html
    assert '<a href="/user/Susan" class="mention">@susan</a>. Also' in html
    assert "@ada," in html and '/user/ada"' not in html  # no user "ada"
    assert "@nobody." in html and "/user/nobody" not in html
    assert '<a href="/user/Susan" class="mention">@susan</a>...' in html
    assert set(await PostMention.filter(post_id=post.id).values_list("user_id", flat=True)) == {
        dotted.id,
        susan.id,
    }
    assert await Notification.filter(user_id=dotted.id, kind="mention").count() == 1
    by_dotted = await Post.publish(dotted, "Written by the dotted one")

    async def found(q: str) -> list[int]:
        response = await client.get("/search", query_string={"q": q}, headers=JSON)
        return [p["id"] for p in (await response.get_json())["posts"]]

    assert await found("from:ada.") == [by_dotted.id]
    assert await found("from:susan.") == [] and await found("from:john.") == [post.id]
    assert await found("@ada.") == [post.id] and await found("@susan.") == [post.id]
    assert await found("-from:ada. written") == []


async def test_mentions_in_comments_and_through_the_apis(client, people):
    john, susan = people["john"], people["susan"]
    post = await Post.publish(john, "A post")
    response = await client.post(
        f"/api/v1/posts/{post.id}/comments/",
        json={"body": "cc @SUSAN"},
        headers=api_headers(john.email),
    )
    assert response.status_code == 201
    body_html = (await response.get_json())["body_html"]
    assert '<a href="/user/Susan" class="mention">@SUSAN</a>' in body_html
    (line,) = await Notification.filter(user_id=susan.id, kind="mention")
    assert line.subject.startswith("comment:")
    await client.post(  # the post's author, mentioned in a comment, has one line: the comment
        f"/api/v1/posts/{post.id}/comments/",
        json={"body": f"@{john.username} see this"},
        headers=api_headers(susan.email),
    )
    assert [n.kind for n in await Notification.filter(user_id=john.id)] == ["comment"]
    response = await client.post(
        "/api/v1/posts/", json={"body": "hey @susan"}, headers=api_headers(john.email)
    )
    created = int((await response.get_json())["url"].rsplit("/", 1)[1])
    assert await PostMention.filter(post_id=created, user_id=susan.id).exists()
    assert await Notification.filter(user_id=susan.id, kind="mention").count() == 2
    page = await text(await client.get(f"/post/{created}"))
    assert 'href="/user/Susan" class="mention"' in page


async def test_a_mention_notification_reads_as_one(app, client, people):
    await Post.publish(people["john"], "ping @susan")
    await login(client, people["susan"])
    page = await text(await client.get("/notifications"))
    assert "mentioned you" in page
