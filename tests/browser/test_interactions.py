"""What a person does with the mouse and keyboard, answered in place: logging in,
scrolling the feed, following, moderating, previewing and posting."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer, log_in
from tests.browser.helpers import assert_same_document, item_ids, mark_document
from tests.browser.seed import PASSWORD, POST_COUNT

FEED_POSTS = "#feed > li.post"


def test_log_in_through_the_form(browsing: Browsing, live_server: LiveServer) -> None:
    page = browsing.page()
    page.goto("/")
    expect(page.locator(".intro")).to_contain_text("Flasky is a small social blog")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/auth/login")
    expect(page.get_by_label("Email")).to_be_focused()

    page.get_by_label("Email").fill("reader@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#password-error")).to_have_text("Invalid email or password.")
    expect(page.get_by_label("Email")).to_have_value("reader@example.com")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Profile")).to_have_attribute("href", "/user/reader")
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    expect(nav.get_by_role("link", name="Log in")).to_have_count(0)
    expect(page.get_by_label("What's on your mind?")).to_be_visible()

    nav.get_by_role("button", name="Log out").click()
    expect(page.locator(".flash")).to_have_text("You have been logged out.")
    # a toast at the bottom centre, over the page, not pushing it
    assert page.evaluate("getComputedStyle(document.getElementById('flashes')).position") == "fixed"
    box = page.locator(".flash").bounding_box()
    assert box and box["y"] + box["height"] <= 900 and abs(box["x"] + box["width"] / 2 - 640) < 2
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()


def test_scrolling_the_home_feed_loads_older_posts_in_place(browsing: Browsing) -> None:
    page = browsing.page("reader")
    page.goto("/all")  # sets the "All" tab and lands on the home page
    posts = page.locator(FEED_POSTS)
    expect(posts).to_have_count(20)
    url = mark_document(page)
    page.mouse.move(640, 450)

    seen = 20
    while page.locator("#feed > li.sentinel").count():
        page.mouse.wheel(0, page.evaluate("document.scrollingElement.scrollHeight"))
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length > n"
            " || !document.querySelector('#feed > li.sentinel')",
            arg=[FEED_POSTS, seen],
        )
        seen = posts.count()

    ids = item_ids(page, FEED_POSTS)
    assert len(ids) == len(set(ids)), "a post was shown twice"
    assert len(ids) >= POST_COUNT + 1  # the seeded posts, and any the other tests wrote
    expect(posts.last).to_contain_text(f"Post number {POST_COUNT}.")
    expect(page.locator("#feed > li.sentinel")).to_have_count(0)
    assert_same_document(page, url)


def test_follow_toggles_in_place_and_updates_the_count(
    browsing: Browsing, live_server: LiveServer
) -> None:
    carol = live_server.ids["user_ids"]["carol"]
    page = browsing.page("reader")
    page.goto("/user/carol")
    count = page.locator(f"#followers-count-{carol}")
    expect(count).to_have_text("2 followers")
    url = mark_document(page)

    page.get_by_role("button", name="Follow carol").click()
    button = page.locator(f"#follow-{carol} button")
    expect(button).to_have_class(re.compile(r"\bis-following\b"))
    expect(count).to_have_text("3 followers")
    # under the pointer that just clicked it, it still reads "Following" (no red flip)...
    expect(button.locator(".when-rest")).to_be_visible()
    expect(button.locator(".when-hover")).to_be_hidden()
    page.mouse.move(0, 0)
    button.hover()  # ...and once the pointer has left and comes back: "Unfollow", in danger
    expect(button).to_have_accessible_name("Unfollow carol")
    expect(button.locator(".when-hover")).to_be_visible()
    expect(button.locator(".when-rest")).to_be_hidden()
    page.mouse.move(0, 0)
    expect(button.locator(".when-rest")).to_have_text("Following")
    expect(button.locator(".when-rest")).to_be_visible()
    assert_same_document(page, url)

    other = page.context.new_page()  # the change is stored, not only drawn
    other.goto("/user/carol")
    expect(other.locator(f"#followers-count-{carol}")).to_have_text("3 followers")
    expect(other.locator(f"#follow-{carol} button")).to_have_class(re.compile("is-following"))
    other.close()

    button.click()
    expect(page.get_by_role("button", name="Follow carol")).to_be_visible()
    expect(count).to_have_text("2 followers")
    assert_same_document(page, url)


def _disable_in_place(page: Page, comment_id: int) -> None:
    item = page.locator(f"#comment-{comment_id}")
    expect(item).not_to_have_class(re.compile(r"\bis-disabled\b"))
    url = mark_document(page)
    item.get_by_role("button", name="Disable").click()
    expect(item).to_have_class(re.compile(r"\bis-disabled\b"))
    expect(item.get_by_role("button", name="Enable")).to_be_visible()
    expect(item.locator(".disabled-note")).to_contain_text("readers see a notice")
    expect(item.locator(".body")).to_be_visible()  # moderators still see the text
    assert_same_document(page, url)


def test_moderator_disables_and_enables_comments_in_place(
    browsing: Browsing, live_server: LiveServer
) -> None:
    ids = live_server.ids
    page = browsing.page("moderator")
    page.goto("/moderate")
    _disable_in_place(page, ids["queue_comment"])

    reader = browsing.page("reader")
    reader.goto(f"/post/{ids['second_post']}")
    hidden = reader.locator(f"#comment-{ids['queue_comment']}")
    expect(hidden).to_contain_text("This comment has been disabled by a moderator.")
    expect(hidden).not_to_contain_text("Disable me")
    expect(hidden.get_by_role("button")).to_have_count(0)

    item = page.locator(f"#comment-{ids['queue_comment']}")
    item.get_by_role("button", name="Enable").click()
    expect(item).not_to_have_class(re.compile(r"\bis-disabled\b"))
    expect(item.get_by_role("button", name="Disable")).to_be_visible()
    reader.reload()
    expect(hidden).to_contain_text("Disable me from the moderation queue.")

    page.goto(f"/post/{ids['third_post']}")
    _disable_in_place(page, ids["post_page_comment"])


def test_typing_updates_the_preview_and_posting_inserts_the_card(browsing: Browsing) -> None:
    page = browsing.page("writer")
    page.goto("/")
    url = mark_document(page)
    body = page.get_by_label("What's on your mind?")
    preview = page.locator("#post-form-preview")
    body.press_sequentially("Hello **bold** and _slanted_ with `code`", delay=15)
    expect(preview.locator("strong")).to_have_text("bold")
    expect(preview.locator("em")).to_have_text("slanted")
    expect(preview.locator("code")).to_have_text("code")

    body.press("End")
    body.press_sequentially("\n\n- one\n- two", delay=15)
    expect(preview.locator("ul > li")).to_have_text(["one", "two"])

    page.get_by_role("button", name="Post", exact=True).click()
    first = page.locator(FEED_POSTS).first
    expect(first).to_contain_text("Hello bold and slanted with code")
    expect(first.locator(".byline .handle")).to_have_text("@writer")
    expect(first.locator("time")).to_have_text("just now")
    expect(page.get_by_label("What's on your mind?")).to_have_value("")
    expect(page.locator("#post-form-preview")).to_be_empty()
    expect(page.locator(".flash").last).to_have_text("Your post has been published.")
    assert_same_document(page, url)


def test_without_javascript_posting_and_older_links_work(
    browsing: Browsing, live_server: LiveServer
) -> None:
    page = browsing.page(js=False)
    log_in(page, "writer")
    page.get_by_label("What's on your mind?").fill("Written with *scripts off*.")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator(".flash")).to_have_text("Your post has been published.")
    expect(page.locator(FEED_POSTS).first).to_contain_text("Written with scripts off.")
    expect(page.locator(FEED_POSTS).first.locator("em")).to_have_text("scripts off")

    pages = [item_ids(page, FEED_POSTS)]
    while page.get_by_role("link", name="Older").count():
        page.get_by_role("link", name="Older").click()
        expect(page).to_have_url(re.compile(r"/\?cursor="))
        pages.append(item_ids(page, FEED_POSTS))
    assert len(pages) >= 4  # 60+ posts, 20 a page
    assert all(len(p) == 20 for p in pages[:-1])
    every = [post_id for p in pages for post_id in p]
    assert len(every) == len(set(every)), "a post came back on a later page"
    expect(page.locator(FEED_POSTS).last).to_contain_text(f"Post number {POST_COUNT}.")
