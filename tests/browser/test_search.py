"""The header's active search (SPEC §11): results appear under the box while typing
(300 ms after the last key), ArrowDown/ArrowUp walk the result links and back to the
box, Enter opens the focused one, Escape closes the list, `/` focuses the box (when not
typing in a field); Enter alone opens the search page. A hostile post shows up only as
text in the list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import Browsing, LiveServer

FEED_POSTS = "#feed > li.post"
SUGGEST = "#search-suggest"
ITEMS = "#search-suggest a.suggest-item"

# Posts the reader writes (the seed's posts are not in the search index: written here
# through the composer, they are indexed like anyone's).
DAWN = "Carol took the zanzibar ferry at dawn, before the heat."
EVENING = "Another zanzibar ferry crossing, the evening one, much calmer."
# Raw HTML is stripped from a post; the same tag in a code span is text, which the index
# and the snippet see unescaped: the list must escape it again.
HOSTILE_TEXT = '<img src=x onerror="window.__pwned=3">'
HOSTILE = (
    'zanzibar <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>'
    f" and as code: `{HOSTILE_TEXT}`"
)


def write_post(page: Page, text: str) -> int:
    """Post `text` from the home page's composer; the new post's id."""
    card = page.locator(FEED_POSTS).first
    before = card.get_attribute("id") or ""
    box = page.get_by_label("What's on your mind?")
    box.fill(text)
    box.press_sequentially(" ")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(card).not_to_have_id(before)  # the new card is on top
    expect(card).to_contain_text("zanzibar")
    expect(page.get_by_label("What's on your mind?")).to_have_value("")
    href = card.locator("a.permalink").get_attribute("href") or ""
    found = re.fullmatch(r"/post/(\d+)", href)
    assert found, f"unexpected permalink {href!r}"
    return int(found.group(1))


@pytest.fixture(scope="module")
def posts(
    browser: Browser, live_server: LiveServer, sessions: dict[str, Any]
) -> Iterator[dict[str, int]]:
    """The reader's three zanzibar posts (the hostile one first, so the others are newer)."""
    b = Browsing(browser, live_server, sessions)
    try:
        page = b.page("reader")  # the session test_slash_... uses too: one login
        page.goto("/")
        ids = {}
        for name, text in (("hostile", HOSTILE), ("dawn", DAWN), ("evening", EVENING)):
            ids[name] = write_post(page, text)
        # set-up, not under test: no axe audit here, only nothing may have gone wrong
        assert not b.watch(page).problems(), b.watch(page).problems()
        yield ids
    finally:
        b.close()


def search_box(page: Page) -> Locator:
    return page.locator("#site-search-q")


def type_query(page: Page, text: str) -> None:
    """Type `text` where the focus is; wait for the list of exactly that query."""
    page.keyboard.type(text, delay=15)
    query = search_box(page).input_value()
    expect(page.locator(SUGGEST)).to_be_visible()
    expect(page.locator(f"{ITEMS}.suggest-all")).to_have_text(f"All results for “{query}” →")
    expect(search_box(page)).to_have_attribute("aria-expanded", "true")


def focus_slash(page: Page) -> None:
    """`/` with the focus on the body focuses the header's search box."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("/")
    expect(search_box(page)).to_be_focused()
    expect(search_box(page)).to_have_value("")  # the key focused, it did not type


def post_item(page: Page, post_id: int) -> Locator:
    return page.locator(f'{ITEMS}[href="/post/{post_id}"]')


def test_slash_typing_arrows_escape_and_enter(
    browsing: Browsing, live_server: LiveServer, posts: dict[str, int]
) -> None:
    page = browsing.page("reader")
    page.goto("/")
    box, suggest, items = search_box(page), page.locator(SUGGEST), page.locator(ITEMS)
    expect(box).to_be_visible()  # a desktop viewport: the box is in the header
    expect(suggest).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    focus_slash(page)

    # people first, then posts, then "All results"; the typed word marked
    type_query(page, "carol")
    expect(items.first).to_have_attribute("href", "/user/carol")
    expect(items.first).to_contain_text("Carol Danvers")
    dawn = post_item(page, posts["dawn"])
    expect(dawn.locator("mark")).to_have_text("Carol")
    assert items.last.get_attribute("href") == "/search?q=carol"

    # a new word replaces the list
    box.fill("")
    type_query(page, "zanzibar")
    for name in ("dawn", "evening", "hostile"):
        expect(post_item(page, posts[name]).locator("mark")).to_have_text("zanzibar")
    expect(items.filter(has=page.locator("mark", has_text="zanzibar"))).to_have_count(3)
    expect(page.locator(f"{SUGGEST} a[href^='/user/']")).to_have_count(0)
    count = items.count()
    assert count == 4, items.all_inner_texts()  # three posts and "All results"

    # the arrows walk the links, and up from the first returns to the box
    box.press("ArrowDown")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(2)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(box).to_be_focused()
    expect(suggest).to_be_visible()
    # ArrowDown stops at the last link
    for _ in range(count + 2):
        page.keyboard.press("ArrowDown")
    expect(items.last).to_be_focused()
    expect(items.last).to_have_class(re.compile(r"\bsuggest-all\b"))

    # Escape on a link closes the list and returns to the box...
    page.keyboard.press("Escape")
    expect(suggest).to_be_hidden()
    expect(box).to_be_focused()
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value("zanzibar")
    # ...ArrowDown opens it again (the focus stays in the box), Escape in the box closes it
    page.keyboard.press("ArrowDown")
    expect(suggest).to_be_visible()
    expect(box).to_be_focused()
    expect(box).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Escape")
    expect(suggest).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value("zanzibar")  # the list closed, the words stay
    # leaving the box (Shift+Tab to the site name) closes it; coming back opens it...
    page.keyboard.press("ArrowDown")
    expect(suggest).to_be_visible()
    page.keyboard.press("Shift+Tab")
    expect(page.locator("a.brand")).to_be_focused()
    expect(suggest).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    box.focus()
    expect(suggest).to_be_visible()
    # ...and a click outside it (on the footer's text) closes it too
    page.locator(".site-footer").click(position={"x": 2, "y": 2})
    expect(suggest).to_be_hidden()
    box.focus()
    expect(suggest).to_be_visible()

    # typing more narrows the list; down to the evening post, and Enter opens it
    box.press("End")
    type_query(page, " evening")
    evening = post_item(page, posts["evening"])
    expect(evening).to_be_visible()
    expect(post_item(page, posts["dawn"])).to_have_count(0)
    box.press("ArrowDown")
    while not evening.evaluate("el => el === document.activeElement"):
        before = page.evaluate("document.activeElement.getAttribute('href')")
        page.keyboard.press("ArrowDown")
        after = page.evaluate("document.activeElement.getAttribute('href')")
        assert after != before, "ArrowDown never reached the evening post"
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/post/{posts['evening']}")
    expect(page.locator("main")).to_contain_text(EVENING)
    expect(page.locator(SUGGEST)).to_be_hidden()


def test_enter_in_the_box_opens_the_search_page(
    browsing: Browsing, live_server: LiveServer, posts: dict[str, int]
) -> None:
    page = browsing.page()  # anyone may search
    page.goto("/")
    focus_slash(page)
    type_query(page, "ferry")
    page.keyboard.press("Enter")  # no link focused: the form is sent
    expect(page).to_have_url(f"{live_server.url}/search?q=ferry")
    expect(page.locator("h1")).to_have_text("Search")
    results = page.locator("#search-results > li.search-result")
    expect(results).to_have_count(2)
    for name in ("dawn", "evening"):
        expect(page.locator(f"#result-{posts[name]} mark")).to_have_text("ferry")
    expect(page.locator("#search-page-q")).to_have_value("ferry")
    expect(page.locator(SUGGEST)).to_be_hidden()
    expect(search_box(page)).to_have_attribute("aria-expanded", "false")


def test_a_hostile_post_is_only_text_in_the_list(browsing: Browsing, posts: dict[str, int]) -> None:
    page = browsing.page()
    page.goto("/")
    focus_slash(page)
    type_query(page, "zanzibar onerror")
    item = post_item(page, posts["hostile"])
    expect(item).to_contain_text(HOSTILE_TEXT)
    expect(item.locator("mark")).to_have_text(["zanzibar", "onerror"])
    suggest = page.locator(SUGGEST)
    expect(suggest.locator("img:not(.avatar), script, [onerror]")).to_have_count(0)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # and on the page it links to
    item.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/post/{posts['hostile']}$"))
    expect(page.locator("main")).to_contain_text(HOSTILE_TEXT)
    assert page.evaluate("typeof window.__pwned") == "undefined"
