"""The pages people live in, clicked and looked at: the composer's states, toasts (on
success and when the network fails), follow without the red flip, inline delete with
its confirm, Undo of an unfollow, cards that open their post, keyboard shortcuts, the
phone layout with its bottom bar, and the newcomer's People to follow."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Browsing, LiveServer
from tests.browser.helpers import layout_problems

FEED_POSTS = "#feed > li.post"
PHONE = {"width": 390, "height": 844}


def composer(page: Page):  # noqa: ANN201 (a Playwright locator)
    return page.get_by_label("What's on your mind?")


def test_composer_states(browsing: Browsing) -> None:
    page = browsing.page("writer")
    page.goto("/")
    body, post = composer(page), page.get_by_role("button", name="Post", exact=True)
    preview = page.locator("#post-form .preview")
    one_line = body.bounding_box()
    assert one_line and one_line["height"] < 60, "the composer starts as one line"
    expect(preview).to_be_hidden()
    expect(post).to_be_disabled()
    expect(page.locator("#post-form-counter")).to_have_text("")

    body.click()
    # it grows on focus (a 0.15 s transition: wait for it rather than read mid-way)
    page.wait_for_function(
        "([box, h]) => box.getBoundingClientRect().height > h",
        arg=[body.element_handle(), one_line["height"] + 10],
    )
    body.press_sequentially("Some *words*", delay=10)
    expect(preview).to_be_visible()
    expect(preview.locator("em")).to_have_text("words")
    expect(post).to_be_enabled()

    body.fill("x" * 9_850)
    body.press_sequentially("y")
    expect(page.locator("#post-form-counter")).to_have_text("149")
    body.fill("x" * 10_005)
    body.press_sequentially("z")
    counter = page.locator("#post-form-counter")
    expect(counter).to_have_text("-6")
    expect(counter).to_have_class(re.compile(r"\bis-over\b"))
    expect(post).to_be_disabled()
    body.fill("   ")
    body.press_sequentially(" ")
    expect(post).to_be_disabled()  # blank is empty


def test_a_toast_says_it_worked_and_replaces_the_last(browsing: Browsing) -> None:
    page = browsing.page("writer")
    page.goto("/")
    main_top = page.locator("#main").bounding_box()
    composer(page).fill("First of two toasts.")
    composer(page).press_sequentially(" ")
    page.get_by_role("button", name="Post", exact=True).click()
    toast = page.locator("#flashes .flash")
    expect(toast).to_have_text("Your post has been published.")
    region = page.locator("#flashes").bounding_box()
    assert region and region["y"] > 600, "toasts sit at the bottom of the viewport"
    after = page.locator("#main").bounding_box()
    assert main_top and after and abs(after["y"] - main_top["y"]) < 1, "the toast pushed nothing"
    expect(composer(page)).to_have_value("")
    expect(page.get_by_role("button", name="Post", exact=True)).to_be_disabled()

    composer(page).fill("Second of two toasts.")
    composer(page).press_sequentially(" ")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator(FEED_POSTS).first).to_contain_text("Second of two toasts.")
    expect(toast).to_have_count(1)  # replaced, not stacked
    expect(toast).to_be_hidden(timeout=9_000)  # and it leaves by itself


def test_a_failed_send_says_so_keeps_the_text_and_retries(browsing: Browsing) -> None:
    page = browsing.page("writer")
    page.goto("/")
    watch = browsing.watch(page)
    # the aborted request, and htmx's own log of it
    watch.expect_console_error(r"ERR_FAILED|ERR_INTERNET_DISCONNECTED|Failed to load")
    watch.expect_console_error(r"^htmx:(sendError|afterRequest)")

    home = page.url

    def offline(route: Route) -> None:
        if route.request.method == "POST" and route.request.url == home:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/*", offline)
    composer(page).fill("Sent while offline, then again.")
    composer(page).press_sequentially(" ")
    page.get_by_role("button", name="Post", exact=True).click()
    toast = page.locator("#flashes .flash")
    expect(toast).to_contain_text("Not sent — check your connection.")
    expect(composer(page)).to_have_value("Sent while offline, then again. ")

    page.unroute("**/*")
    toast.get_by_role("button", name="Retry").click()
    expect(page.locator(FEED_POSTS).first).to_contain_text("Sent while offline, then again.")
    expect(toast).to_have_text("Your post has been published.")


def test_unfollow_offers_undo(browsing: Browsing, live_server: LiveServer) -> None:
    writer = live_server.ids["user_ids"]["writer"]
    page = browsing.page("bob")
    page.goto("/user/writer")
    count = page.locator(f"#followers-count-{writer}")
    page.get_by_role("button", name="Follow writer").click()
    button = page.locator(f"#follow-{writer} button")
    expect(button).to_have_class(re.compile(r"\bis-following\b"))
    expect(button.locator(".when-rest")).to_be_visible()  # no red "Unfollow" flip
    followed = count.inner_text()

    page.mouse.move(0, 0)
    button.click()
    expect(page.get_by_role("button", name="Follow writer")).to_be_visible()
    toast = page.locator("#flashes .flash")
    expect(toast).to_contain_text("You are not following writer anymore.")
    toast.get_by_role("button", name="Undo").click()
    expect(page.locator(f"#follow-{writer} button")).to_have_class(re.compile("is-following"))
    expect(count).to_have_text(followed)
    expect(toast).to_contain_text("You are now following writer.")


def test_delete_asks_inline_and_cancel_keeps_the_post(browsing: Browsing) -> None:
    page = browsing.page("alice")
    page.goto("/")
    composer(page).fill("A post to delete.")
    composer(page).press_sequentially(" ")
    page.get_by_role("button", name="Post", exact=True).click()
    card = page.locator(FEED_POSTS).first
    expect(card).to_contain_text("A post to delete.")

    card.get_by_role("link", name="Delete").click()
    confirm = card.locator("form.inline-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Delete this post?")
    expect(confirm.get_by_role("button", name="Delete")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(card.get_by_role("link", name="Delete")).to_be_focused()

    card.get_by_role("link", name="Delete").click()
    card.locator("form.inline-confirm").get_by_role("button", name="Delete").click()
    expect(page.locator(FEED_POSTS).filter(has_text="A post to delete.")).to_have_count(0)
    expect(page.locator("#flashes .flash")).to_have_text("The post has been deleted.")
    # no native confirm() dialog was opened (the watch fails the test on any dialog)


def test_delete_without_javascript_goes_through_a_confirmation_page(
    browsing: Browsing, live_server: LiveServer
) -> None:
    from tests.browser.conftest import log_in

    page = browsing.page(js=False)
    log_in(page, "alice")
    composer(page).fill("Deleted with scripts off.")
    page.get_by_role("button", name="Post", exact=True).click()
    card = page.locator(FEED_POSTS).first
    card.get_by_role("link", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/delete/\d+$"))
    expect(page.get_by_role("heading", name="Delete this post?")).to_be_visible()
    page.get_by_role("button", name="Delete").last.click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator(FEED_POSTS).filter(has_text="Deleted with scripts off.")).to_have_count(0)


def test_a_card_opens_its_post_and_the_post_page_goes_back(browsing: Browsing) -> None:
    page = browsing.page("reader")
    page.goto("/?feed=all")
    card = page.locator(FEED_POSTS).nth(2)
    post_id = card.get_attribute("id").removeprefix("post-")  # type: ignore[union-attr]
    card.locator(".body").click()
    expect(page).to_have_url(re.compile(rf"/post/{post_id}$"))
    expect(page.locator(".post-permalink .full-date time")).not_to_have_text(re.compile("ago"))
    page.get_by_role("link", name="← Back").click()
    expect(page).to_have_url(re.compile(r"/\?feed=all$"))

    # the author link inside a card still goes to the profile
    page.locator(FEED_POSTS).first.locator(".byline .author").click()
    expect(page).to_have_url(re.compile(r"/user/\w+$"))


def test_keyboard_shortcuts(browsing: Browsing) -> None:
    page = browsing.page("reader")
    page.goto("/?feed=all")
    cards = page.locator(FEED_POSTS)
    page.keyboard.press("j")
    expect(cards.nth(0)).to_be_focused()
    page.keyboard.press("j")
    expect(cards.nth(1)).to_be_focused()
    page.keyboard.press("k")
    expect(cards.nth(0)).to_be_focused()
    post_id = cards.nth(0).get_attribute("id").removeprefix("post-")  # type: ignore[union-attr]
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/post/{post_id}$"))
    page.goto("/?feed=all")

    page.keyboard.press("n")
    expect(composer(page)).to_be_focused()
    page.keyboard.type("jk")  # typing in a field is typing, not shortcuts
    expect(composer(page)).to_have_value("jk")
    expect(composer(page)).to_be_focused()
    composer(page).fill("")
    page.locator("body").click(position={"x": 5, "y": 400})

    page.keyboard.press("?")
    dialog = page.locator("#shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("next / previous post")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_layout_with_the_bottom_bar(
    browsing: Browsing, screenshot: Callable[[Page, str], Path], scheme: str
) -> None:
    page = browsing.page("alice", scheme=scheme)
    page.set_viewport_size(PHONE)
    page.goto("/")
    bar = page.get_by_role("navigation", name="Sections")
    expect(bar).to_be_visible()
    box = bar.bounding_box()
    assert box and abs(box["y"] + box["height"] - PHONE["height"]) < 1, "pinned to the bottom"
    header = page.get_by_role("navigation", name="Main")
    expect(header.get_by_role("link", name="Home")).to_be_hidden()
    expect(header.get_by_role("button", name="Log out")).to_be_visible()
    assert layout_problems(page) == []
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    first_screen = page.locator(FEED_POSTS).first.bounding_box()
    assert first_screen and first_screen["y"] < 400, "the first post shows on the first screen"
    screenshot(page, f"phone-home-{scheme}")

    page.mouse.wheel(0, 3000)
    bar.get_by_role("link", name="Post").click()
    expect(composer(page)).to_be_focused()
    composer(page).fill("Posted from a phone.")
    composer(page).press_sequentially(" ")
    page.get_by_role("button", name="Post", exact=True).click()
    toast = page.locator("#flashes .flash")
    expect(toast).to_have_text("Your post has been published.")
    toast_box, bar_box = toast.bounding_box(), bar.bounding_box()
    assert toast_box and bar_box and toast_box["y"] + toast_box["height"] <= bar_box["y"]

    page.goto(f"/post/{page.locator(FEED_POSTS).first.get_attribute('id')[5:]}")  # type: ignore[index]
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"phone-post-{scheme}")


def test_a_newcomer_finds_people_to_follow(browsing: Browsing, live_server: LiveServer) -> None:
    page = browsing.page("writer")  # follows nobody but themselves
    page.goto("/?feed=followed")
    people = page.get_by_role("region", name="People to follow")
    expect(people).to_be_visible()
    expect(people).to_contain_text("Follow people to fill this feed")
    first = people.locator(".person").first
    first.get_by_role("button", name=re.compile("^Follow ")).click()
    expect(first.locator(".follow-button")).to_have_class(re.compile(r"\bis-following\b"))
    expect(first.locator(".followers-count")).to_be_visible()


def test_anonymous_landing_says_what_the_site_is(browsing: Browsing) -> None:
    page = browsing.page()
    page.goto("/")
    intro = page.locator(".intro")
    expect(intro).to_contain_text("Flasky is a small social blog")
    expect(intro.get_by_role("link", name="Register")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe(browsing: Browsing, live_server: LiveServer, scheme: str) -> None:
    """Open each kind of page; `browsing.check()` runs axe on all of them."""
    ids = live_server.ids
    pages = [
        "/",
        "/?feed=followed",
        f"/post/{ids['first_post']}",
        "/user/alice",
        "/user/alice/posts",
        "/user/alice/timeline",
        "/followers/alice",
        "/followed_by/alice",
        "/moderate",
        "/moderate?show=disabled",
        "/edit-profile",
        f"/edit-profile/{ids['user_ids']['alice']}",
        f"/edit/{ids['first_post']}",
        f"/delete/{ids['first_post']}",
        "/notifications",
    ]
    admin = browsing.page("admin", scheme=scheme)
    for path in pages:
        admin.goto(path)
        admin.wait_for_load_state("networkidle")
        browsing.accessibility_now(admin)
    anonymous = browsing.page(scheme=scheme)
    browsing.watch(anonymous).expect_console_error(r"status of 404\b")
    for path in ["/", "/auth/login", "/auth/register", "/auth/reset", "/no/such/page"]:
        anonymous.goto(path)
        browsing.accessibility_now(anonymous)


def test_retry_after_a_lost_answer_posts_once(browsing: Browsing) -> None:
    """The server saved the post but the answer never arrived: Retry sends the same
    Idempotency-Key (the composer's), and gets the first answer back, not a second post."""
    page = browsing.page("writer")
    page.goto("/")
    watch = browsing.watch(page)
    watch.expect_console_error(r"ERR_FAILED|ERR_INTERNET_DISCONNECTED|Failed to load")
    watch.expect_console_error(r"^htmx:(sendError|afterRequest)")
    lost: list[str] = []

    home = page.url  # POST / is the composer's

    def lose_the_answer(route: Route) -> None:
        if route.request.method == "POST" and route.request.url == home and not lost:
            route.fetch()  # the server gets it and saves the post...
            lost.append(route.request.url)
            route.abort("internetdisconnected")  # ...but the answer is lost
        else:
            route.continue_()

    page.route("**/*", lose_the_answer)
    text = "Saved once, though the answer was lost."
    composer(page).fill(text)
    composer(page).press_sequentially(" ")
    page.get_by_role("button", name="Post", exact=True).click()
    toast = page.locator("#flashes .flash")
    expect(toast).to_contain_text("Not sent — check your connection.")
    assert lost, "the post reached the server"
    toast.get_by_role("button", name="Retry").click()
    expect(toast).to_have_text("Your post has been published.")
    expect(page.locator(FEED_POSTS).filter(has_text=text)).to_have_count(1)
    page.unroute("**/*")
    page.reload()
    expect(page.locator(FEED_POSTS).filter(has_text=text)).to_have_count(1)
