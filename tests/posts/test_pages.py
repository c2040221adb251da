"""The pages people live in, through HTTP (issue "a newcomer's first hour"): the
landing line, People to follow, the no-JS delete confirmation, the post page, the
composer's pieces, the moderation queue's post line and filters, Markdown images as
links, error pages with a heading, and the identicon in both schemes."""

from __future__ import annotations

import re

from flasky.models import Comment, Post
from flasky.text import render_markdown
from tests.conftest import make_user, query_count
from tests.helpers import HTMX, JSON, csrf, text
from tests.posts.conftest import POST_IDS, new_post, sign_in, write_posts

# -- landing and People to follow ------------------------------------------------------------


async def test_a_stranger_is_told_what_the_site_is(client, people):
    body = await text(await client.get("/"))
    assert "Flasky is a small social blog" in body
    assert 'href="/auth/register"' in body and "Hello, stranger" not in body


async def test_a_newcomer_sees_people_to_follow_on_the_followed_tab(client, auth, people):
    await write_posts(people["author"], 2)
    await new_post(people["moderator"], "moderator writes")
    await new_post(people["user"], "my own post")
    await sign_in(auth, "user")
    response = await client.get("/?feed=followed")
    body = await text(response)
    assert "People to follow" in body
    section = body[body.index("People to follow") : body.index('id="feed"')]
    # recent authors, not oneself, each with a follow button and a count to update
    assert "@author" in section and "@mod<" in section and "@user<" not in section
    author = people["author"]
    assert f'id="follow-{author.id}"' in section and f'id="followers-count-{author.id}"' in section
    assert query_count(response) <= 5  # viewer gate, feed, follows, recent authors, users
    # the everyone tab and the JSON do not carry it
    assert "People to follow" not in await text(await client.get("/?feed=all"))
    data = await (await client.get("/?feed=followed", headers=JSON)).get_json()
    assert set(data) == {"posts", "next", "count"}


async def test_people_to_follow_leaves_once_five_are_followed(client, auth, people):
    others = [await make_user(f"writer{i}@example.com") for i in range(6)]
    for other in others:
        await new_post(other, f"post by {other.username}")
    await sign_in(auth, "user")
    for other in others[:4]:
        await people["user"].follow(other)
    body = await text(await client.get("/?feed=followed"))
    assert "People to follow" in body
    for name in ("writer0", "writer1", "writer2", "writer3"):
        assert f"@{name}</span>" not in body.split('id="feed"')[0]
    await people["user"].follow(others[4])
    assert "People to follow" not in await text(await client.get("/?feed=followed"))


# -- delete: a confirmation page without scripts ----------------------------------------------


async def test_delete_confirmation_page_then_delete(client, auth, people, post):
    await sign_in(auth, "author")
    response = await client.get(f"/delete/{post.id}")
    assert response.status_code == 200
    body = await text(response)
    assert "Delete this post?" in body and "1 comment will be gone" in body
    assert f'action="/delete/{post.id}"' in body
    assert await Post.filter(id=post.id).exists()  # a GET changes nothing
    form = {"csrf_token": await csrf(client)}
    deleted = await client.post(f"/delete/{post.id}", form=form)
    assert deleted.status_code == 303 and not await Post.filter(id=post.id).exists()


async def test_delete_confirmation_is_for_the_author_or_an_admin(client, auth, people, post):
    assert (await client.get(f"/delete/{post.id}")).status_code == 302  # to the login page
    await sign_in(auth, "user")
    assert (await client.get(f"/delete/{post.id}")).status_code == 403


async def test_cards_carry_an_inline_confirm_and_open_their_post(client, auth, people, post):
    await sign_in(auth, "author")
    body = await text(await client.get("/?feed=all"))
    card = body[body.index(f'id="post-{post.id}"') :]
    assert f'data-card="/post/{post.id}"' in card
    assert f'href="/delete/{post.id}" data-inline-confirm="delete-{post.id}"' in card
    assert re.search(rf'<form id="delete-{post.id}" class="inline-confirm"[^>]* hidden', card)
    assert "hx-confirm" not in body  # no native confirm() any more


async def test_post_page_has_a_way_back_and_its_full_date(client, post):
    body = await text(await client.get(f"/post/{post.id}"))
    assert "← Back" in body and "data-back" in body
    assert 'class="post post-permalink"' in body and "data-exact" in body
    assert "data-card" not in body  # the post page's own card opens nothing


# -- the composer --------------------------------------------------------------------------------


async def test_composer_is_one_line_with_a_counter_and_no_js_preview(client, auth, people):
    await sign_in(auth, "user")
    body = await text(await client.get("/"))
    form = body[body.index('id="post-form"') : body.index("</form>", body.index('id="post-form"'))]
    assert 'rows="1"' in form and 'placeholder="What&#39;s on your mind?"' in form
    assert 'data-limit="10000"' in form and 'id="post-form-counter"' in form
    assert "data-needs-text" in form and 'formaction="/preview"' in form
    assert "Nothing to preview yet" not in body
    assert "images show as links" in form


async def test_no_js_preview_gives_the_form_back_with_the_text(client, auth, people):
    await sign_in(auth, "user")
    token = await csrf(client)
    response = await client.post(
        "/preview", form={"body": "*hello* there", "kind": "post", "csrf_token": token}
    )
    body = await text(response)
    assert response.status_code == 200
    assert "<em>hello</em> there" in body
    assert 'id="post-form"' in body and "*hello* there</textarea>" in body


async def test_the_inline_edit_form_is_labelled_edit_post(client, auth, people, post):
    await sign_in(auth, "author")
    body = await text(await client.get(f"/edit/{post.id}", headers=HTMX))
    assert ">Edit post</label>" in body and "What&#39;s on your mind?" not in body
    assert f'href="/user/{people["author"].username}"' in body  # the byline above it


# -- cursor pages ---------------------------------------------------------------------------------


async def test_cursor_pages_offer_newer_and_back_to_top(client, app, people):
    app.config["FLASKY_POSTS_PER_PAGE"] = 2
    await write_posts(people["author"], 5)
    first = await text(await client.get("/"))
    assert "Newer posts" not in first and "Back to top" not in first
    cursor = re.search(r'hx-get="/\?cursor=([^"&]+)"', first).group(1)
    deeper = await text(await client.get(f"/?cursor={cursor}"))
    assert '<a href="/">← Newer posts</a>' in deeper and 'href="#main"' in deeper
    profile = await text(await client.get(f"/user/author/posts?cursor={cursor}"))
    assert '<a href="/user/author/posts">← Newer posts</a>' in profile


# -- moderation: the post of each comment, filters in the URL ----------------------------------


async def test_moderation_queue_names_the_post_and_filters(client, auth, people):
    post = await new_post(
        people["author"], "# A post about **cats** and [dogs](https://d.example)\n\nmore"
    )
    kept = await Comment.publish(people["user"], post, "kept comment")
    hidden = await Comment.publish(people["user"], post, "hidden comment")
    await hidden.set_disabled(True)
    await sign_in(auth, "moderator")
    everything = await text(await client.get("/moderate"))
    assert "kept comment" in everything and "hidden comment" in everything
    assert f'On <a href="/post/{post.id}">A post about cats and dogs</a>' in everything
    assert 'href="/moderate?show=disabled"' in everything
    disabled = await text(await client.get("/moderate?show=disabled"))
    assert "hidden comment" in disabled and "kept comment" not in disabled
    assert re.search(r'href="/moderate\?show=disabled" aria-current="page"', disabled)
    enabled = await (await client.get("/moderate?show=enabled", headers=JSON)).get_json()
    assert [c["id"] for c in enabled["comments"]] == [kept.id] and enabled["count"] == 1
    assert (await client.get("/moderate?show=some", headers=JSON)).status_code == 400
    # switching one in the queue keeps the post line
    answer = await client.post(
        f"/moderate/enable/{hidden.id}",
        form={"csrf_token": await csrf(client), "in": "queue"},
        headers=HTMX,
    )
    assert f'On <a href="/post/{post.id}">A post about cats and dogs</a>' in await text(answer)


async def test_moderation_filter_pages_keep_the_filter(client, app, auth, people):
    app.config["FLASKY_COMMENTS_PER_PAGE"] = 1
    post = await new_post(people["author"])
    for i in range(3):
        comment = await Comment.publish(people["user"], post, f"c{i}")
        await comment.set_disabled(True)
    await sign_in(auth, "moderator")
    body = await text(await client.get("/moderate?show=disabled"))
    assert re.search(r'hx-get="/moderate\?cursor=[^"]+&amp;show=disabled"', body)


# -- Markdown images --------------------------------------------------------------------------


def test_markdown_images_become_links():
    assert render_markdown("![cat](https://example.com/cat.png)") == (
        '<p><a href="https://example.com/cat.png" rel="nofollow">Image: cat</a></p>'
    )
    assert render_markdown("![](https://example.com/a.png)", "comment") == (
        '<a href="https://example.com/a.png" rel="nofollow">Image</a>'
    )
    # inside a link: the link stays, with the image's words
    assert render_markdown("[![badge](https://b.example/i.png)](https://b.example/)") == (
        '<p><a href="https://b.example/" rel="nofollow">Image: badge</a></p>'
    )
    # a hostile source is dropped like any hostile link
    hostile = render_markdown("![x](javascript:alert(1))")
    assert "javascript" not in hostile and "<img" not in hostile


async def test_an_image_post_shows_a_link(client, people):
    post = await Post.publish(people["author"], "look ![my cat](https://example.com/cat.png)")
    body = await text(await client.get(f"/post/{post.id}"))
    assert '<a href="https://example.com/cat.png" rel="nofollow">Image: my cat</a>' in body


# -- error pages, messages ------------------------------------------------------------------


async def test_error_pages_have_a_heading(client):
    body = await text(await client.get("/post/999999"))
    assert re.search(r'<h1 class="error-title"><span class="error-code">404</span>', body)


async def test_a_field_with_an_error_shows_the_error_not_the_hint(client, auth, people):
    await sign_in(auth, "admin")
    user = people["user"]
    token = await csrf(client)
    response = await client.post(
        f"/edit-profile/{user.id}",
        form={"csrf_token": token, "email": user.email, "username": "1bad", "role": user.role_id},
    )
    body = await text(response)
    assert response.status_code == 422
    assert "Letters, digits, dots or underscores, starting with a letter." not in body
    assert 'id="username-error"' in body


async def test_registration_message_reads_well(client, app):
    token = await csrf_of(client, "/auth/register")
    response = await client.post(
        "/auth/register",
        form={
            "email": "new@example.org",
            "username": "newbie",
            "password": "long-enough-password",
            "password2": "long-enough-password",
            "csrf_token": token,
        },
    )
    assert response.status_code in (302, 303)
    page = await text(await client.get(response.headers["Location"]))
    assert "We sent you an email with a link to confirm your account." in page
    assert "by email" not in page


async def csrf_of(client, path: str) -> str:
    from tests.conftest import csrf_from

    return csrf_from(await text(await client.get(path)))


def test_post_ids_pattern_still_finds_cards():
    assert POST_IDS.findall('<li id="post-12" class="post" data-card="/post/12">') == ["12"]
