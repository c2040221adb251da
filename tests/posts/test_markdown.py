"""Markdown sanitised on every write path, and `/preview` in its forms."""

from __future__ import annotations

from flasky.models import Comment, Post
from tests.helpers import FORMS, HTMX, JSON, PAGE, basic, text
from tests.posts.conftest import (
    XSS,
    assert_clean,
    assert_vary,
    page_is_safe,
    sign_in,
    token,
)

# -- Markdown sanitising on every path ---------------------------------------------------------


async def test_markdown_is_sanitised_on_every_write_path(client, auth, people):
    await sign_in(auth, "author")
    csrf = await token(client)
    json_headers = {**JSON, "X-CSRFToken": csrf}
    await client.post("/", form={"body": XSS, "csrf_token": csrf})
    await client.post("/", form={"body": XSS, "csrf_token": csrf}, headers=HTMX)
    await client.post("/", json={"body": XSS}, headers=json_headers)
    await client.post("/", json={"body": XSS}, headers={**JSON, **basic("author@example.com")})
    posts = await Post.all().order_by("id")
    assert len(posts) == 4
    target = posts[0].id
    await client.post(f"/edit/{posts[1].id}", form={"body": XSS + " edited", "csrf_token": csrf})
    await client.put(f"/post/{posts[2].id}", json={"body": XSS + " put"}, headers=json_headers)
    await client.post(f"/post/{target}/comments", form={"body": XSS, "csrf_token": csrf})
    await client.post(
        f"/post/{target}/comments", form={"body": XSS, "csrf_token": csrf}, headers=HTMX
    )
    await client.post(f"/post/{target}/comments", json={"body": XSS}, headers=json_headers)
    for item in [*await Post.all(), *await Comment.all()]:
        assert_clean(item.body_html)
        assert "bold" in item.body_html
    assert await Comment.all().count() == 3
    for path in ("/", f"/post/{target}", f"/post/{target}/comments", f"/edit/{target}"):
        for headers in (PAGE, HTMX):
            page_is_safe(await text(await client.get(path, headers=headers)))
    for headers in (HTMX, JSON):
        response = await client.post(
            "/preview", form={"body": XSS, "csrf_token": csrf}, headers=headers
        )
        assert response.status_code == 200
        markup = (
            (await response.get_json())["body_html"] if headers is JSON else await text(response)
        )
        assert_clean(markup)


async def test_comments_allow_fewer_tags_than_posts(client, auth, people, post):
    await sign_in(auth, "user")
    csrf = await token(client)
    await client.post(
        f"/post/{post.id}/comments", form={"body": "# Big\n\n> quote", "csrf_token": csrf}
    )
    comment = await Comment.filter(post_id=post.id).order_by("-id").first()
    assert "<h1>" not in comment.body_html and "<blockquote>" not in comment.body_html
    assert "Big" in comment.body_html


# -- preview -----------------------------------------------------------------------------------


@FORMS
async def test_preview_three_forms(client, auth, people, headers):
    await sign_in(auth, "user")
    csrf = await token(client)
    response = await client.post(
        "/preview",
        form={"body": "# Title\n\nSee https://example.com", "csrf_token": csrf},
        headers=headers,
    )
    assert response.status_code == 200
    assert_vary(response)
    if headers is JSON:
        markup = (await response.get_json())["body_html"]
    else:
        markup = await text(response)
        assert ("<html" in markup) is (headers is PAGE)
    assert "<h1>Title</h1>" in markup
    assert '<a href="https://example.com" rel="nofollow">https://example.com</a>' in markup


async def test_preview_matches_what_is_stored(client, auth, people):
    await sign_in(auth, "user")
    csrf = await token(client)
    body = "Some **bold** and `code` and <em>raw</em> <script>x</script>"
    preview = await client.post(
        "/preview", json={"body": body}, headers={**JSON, "X-CSRFToken": csrf}
    )
    created = await client.post("/", json={"body": body}, headers={**JSON, "X-CSRFToken": csrf})
    assert (await preview.get_json())["body_html"] == (await created.get_json())["body_html"]
    comment_preview = await client.post(
        "/preview", json={"body": "# h", "kind": "comment"}, headers={**JSON, "X-CSRFToken": csrf}
    )
    assert "<h1>" not in (await comment_preview.get_json())["body_html"]


async def test_preview_limits_and_types(client, auth, people):
    await sign_in(auth, "user")
    csrf = await token(client)
    headers = {**JSON, "X-CSRFToken": csrf}
    assert (await client.post("/preview", json={"body": 5}, headers=headers)).status_code == 400
    assert (
        await client.post("/preview", json={"body": "x" * 10_001}, headers=headers)
    ).status_code == 400
    response = await client.post(
        "/preview", form={"body": "x" * 10_001, "csrf_token": csrf}, headers=HTMX
    )
    assert response.status_code == 200 and "Too long to preview" in await text(response)
    response = await client.post("/preview", form={"body": "", "csrf_token": csrf}, headers=HTMX)
    assert (await text(response)).strip() == ""


async def test_forms_carry_live_preview(client, auth, people, post):
    await sign_in(auth, "user")
    home = await text(await client.get("/"))
    assert 'hx-post="/preview"' in home and 'hx-trigger="input changed delay:400ms"' in home
    assert 'hx-target="#post-form-preview"' in home and "data-reset-on-success" in home
    page = await text(await client.get(f"/post/{post.id}"))
    assert 'hx-target="#comment-form-preview"' in page
