"""Live updates in the browser (SPEC §9): two Chromium pages, one writes, comments or
moderates, the other shows it without a reload — the "N new posts" button, the new
comment, the disabled notice and back, an edited and a deleted post, a profile's
counts, the notification badge. A page marks its window first: the mark still being
there proves nothing reloaded."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer

FEED_POSTS = "#feed > li.post"


def mark(page: Page) -> None:
    """Mark the window (a reload would lose it) and wait until its stream is open."""
    page.evaluate("window.__notReloaded = true")
    page.wait_for_function("document.getElementById('live') !== null")
    page.wait_for_timeout(300)  # the EventSource connects


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


def write_post(page: Page, text: str) -> None:
    box = page.get_by_label("What's on your mind?")
    box.fill(text)
    box.press_sequentially(" ")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator(FEED_POSTS).first).to_contain_text(text)


def test_new_posts_wait_under_a_button(browsing: Browsing) -> None:
    reader, writer = browsing.page("reader"), browsing.page("writer")
    reader.goto("/?feed=all")
    writer.goto("/?feed=all")
    mark(reader)
    first_before = reader.locator(FEED_POSTS).first.get_attribute("id")

    write_post(writer, "Fresh off the press, live.")
    button = reader.get_by_role("button", name="1 new post")
    expect(button).to_be_visible()
    # the page did not move under the reader: the top card is the same
    assert reader.locator(FEED_POSTS).first.get_attribute("id") == first_before
    write_post(writer, "And a second one.")
    expect(reader.get_by_role("button", name="2 new posts")).to_be_visible()

    reader.get_by_role("button", name="2 new posts").click()
    expect(reader.locator(FEED_POSTS).first).to_contain_text("And a second one.")
    expect(reader.locator(FEED_POSTS).nth(1)).to_contain_text("Fresh off the press, live.")
    expect(reader.locator(".new-posts")).to_be_hidden()
    # the writer's own page shows each of its posts once, and no button for them
    expect(writer.locator(FEED_POSTS).filter(has_text="And a second one.")).to_have_count(1)
    expect(writer.locator(".new-posts")).to_be_hidden()
    assert not_reloaded(reader)
    browsing.check()


def test_the_followed_feed_counts_only_the_followed(browsing: Browsing) -> None:
    alice, carol = browsing.page("alice"), browsing.page("carol")
    alice.goto("/?feed=followed")  # alice follows bob and carol, not the writer
    writer = browsing.page("writer")
    writer.goto("/")
    carol.goto("/")
    mark(alice)
    write_post(writer, "The writer is not followed by alice.")
    write_post(carol, "Carol is followed by alice.")
    expect(alice.get_by_role("button", name="1 new post")).to_be_visible()
    alice.get_by_role("button", name="1 new post").click()
    expect(alice.locator(FEED_POSTS).first).to_contain_text("Carol is followed by alice.")
    assert not_reloaded(alice)
    browsing.check()


def test_comments_and_moderation_arrive_live(browsing: Browsing, live_server: LiveServer) -> None:
    post_id = live_server.ids["third_post"]
    reader, bob, moderator = (
        browsing.page("reader"),
        browsing.page("bob"),
        browsing.page("moderator"),
    )
    reader.goto(f"/post/{post_id}")
    moderator.goto("/moderate")
    bob.goto(f"/post/{post_id}")
    mark(reader)
    mark(moderator)

    bob.get_by_label("Add a comment").fill("A live comment from Bob.")
    bob.get_by_label("Add a comment").press_sequentially(" ")
    bob.get_by_role("button", name="Comment", exact=True).click()
    mine = bob.locator("#comments li.comment").filter(has_text="A live comment from Bob.")
    expect(mine).to_have_count(1)  # the writer's own answer and its event: shown once
    mine = bob.locator(f"#{mine.get_attribute('id')}")

    arrived = reader.locator("#comments li.comment").last
    expect(arrived).to_contain_text("A live comment from Bob.")
    queued = moderator.locator("#moderation-queue li.comment").first
    expect(queued).to_contain_text("A live comment from Bob.")

    queued.get_by_role("button", name="Disable").click()
    expect(arrived).to_contain_text("This comment has been disabled by a moderator.")
    expect(arrived).not_to_contain_text("A live comment from Bob.")
    expect(mine).to_contain_text("This comment has been disabled by a moderator.")

    moderator.locator("#moderation-queue li.comment").first.get_by_role(
        "button", name="Enable"
    ).click()
    expect(arrived).to_contain_text("A live comment from Bob.")
    assert not_reloaded(reader) and not_reloaded(moderator)
    browsing.check()


def test_an_edited_and_a_deleted_post_change_for_every_reader(browsing: Browsing) -> None:
    writer, reader = browsing.page("writer"), browsing.page("reader")
    writer.goto("/")
    write_post(writer, "A post that will change.")
    card = writer.locator(FEED_POSTS).first
    post_id = (card.get_attribute("id") or "")[5:]
    reader.goto(f"/post/{post_id}")
    home = browsing.page("carol")
    home.goto("/?feed=all")
    mark(reader)
    mark(home)

    writer.goto(f"/edit/{post_id}")
    writer.get_by_label("Edit post").fill("A post that has changed.")
    writer.get_by_role("button", name="Save").click()
    expect(reader.locator(f"#post-{post_id}")).to_contain_text("A post that has changed.")
    expect(home.locator(f"#post-{post_id}")).to_contain_text("A post that has changed.")

    writer.goto(f"/post/{post_id}")
    writer.locator(f"#post-{post_id}").get_by_role("link", name="Delete").click()
    writer.locator(f"#post-{post_id}").get_by_role("button", name="Delete").click()
    expect(reader.locator(f"#post-{post_id}")).to_have_text("This post has been deleted.")
    expect(home.locator(f"#post-{post_id}")).to_have_text("This post has been deleted.")
    assert not_reloaded(reader) and not_reloaded(home)
    browsing.check()


def test_profile_counts_and_the_badge_move_live(browsing: Browsing) -> None:
    # writer follows nobody: its follow of mallory is new each run of this package
    watcher, mallory, writer = (
        browsing.page("reader"),
        browsing.page("mallory"),
        browsing.page("writer"),
    )
    watcher.goto("/user/mallory")
    mallory.goto("/")
    mark(watcher)
    mark(mallory)
    followers = watcher.locator(".followers-count strong")
    before = int(followers.inner_text())
    badge = mallory.locator("#notification-badge")
    unread_before = badge.inner_text()

    writer.goto("/user/mallory")
    writer.get_by_role("button", name="Follow").click()
    expect(followers).to_have_text(str(before + 1))
    expect(badge).not_to_have_text(unread_before)
    expect(badge).to_contain_text(re.compile(r"\d"))
    assert not_reloaded(watcher) and not_reloaded(mallory)
    browsing.check()
