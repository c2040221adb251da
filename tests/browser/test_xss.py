"""Posts, comments and profiles full of XSS payloads render as harmless text: no dialog,
no console error (a script the CSP had to block would log one), nothing executable in
the DOM."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer
from tests.browser.seed import XSS_BODY

# Anything in the page that could run script: script elements other than our three,
# inline handlers, javascript: URLs, frames, SVG and embedded objects.
EXECUTABLE = """() => {
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (attr.name.startsWith("on")) found.push(`${el.tagName} ${attr.name}`);
      const url = /href|src|action/.test(attr.name);
      if (url && /^\\s*(javascript|data|vbscript):/i.test(attr.value)) {
        found.push(`${el.tagName} ${attr.name}=${attr.value}`);
      }
    }
  }
  const tags = "script iframe svg object embed style math details img:not(.avatar)";
  for (const el of document.querySelectorAll(tags.split(" ").map(t => `main ${t}`).join())) {
    found.push(el.tagName);
  }
  const scripts = [...document.scripts].map(s => s.getAttribute("src") || "inline");
  if (scripts.length !== 3 || scripts.some(src => !src.startsWith("/static/js/"))) {
    found.push(`scripts: ${scripts.join(", ")}`);
  }
  return found;
}"""


def assert_inert(page: Page) -> None:
    assert page.evaluate(EXECUTABLE) == []
    expect(page.locator("main")).to_be_visible()  # an injected style did not hide the page
    assert page.evaluate("document.title").endswith("Flasky")


def test_xss_payloads_render_as_text(browsing: Browsing, live_server: LiveServer) -> None:
    ids = live_server.ids
    page = browsing.page("writer")
    page.goto("/")
    page.get_by_label("What's on your mind?").fill(XSS_BODY)
    preview = page.locator("#post-form-preview")
    expect(preview.locator("h1")).to_have_text("XSS gallery")
    assert_inert(page)

    page.get_by_role("button", name="Post", exact=True).click()
    card = page.locator("#feed > li.post").first
    expect(card.locator(".body h1")).to_have_text("XSS gallery")
    expect(card).to_contain_text("{{ 7 * 7 }}")  # not evaluated by a template engine
    assert_inert(page)

    post_url = card.locator("a.permalink").get_attribute("href")
    for path in (
        post_url,
        f"/post/{ids['xss_post']}",
        f"/post/{ids['first_post']}",
        "/user/mallory",
    ):
        page.goto(str(path))
        page.wait_for_load_state("networkidle")
        assert_inert(page)

    moderator = browsing.page("moderator")  # sees disabled bodies too
    moderator.goto("/moderate")
    assert_inert(moderator)

    admin = browsing.page("admin")  # followed by mallory: her name in a notification
    admin.goto("/notifications")
    expect(admin.locator(".notification").first).to_contain_text('<img src=x onerror="alert(1)">')
    assert_inert(admin)

    page.goto("/user/mallory")
    expect(page.locator(".profile h1")).to_have_text('<img src=x onerror="alert(1)">')
    expect(page.locator(".profile .location")).to_have_text("<script>alert('location')</script>")

    page.goto(f"/post/{ids['xss_post']}")
    comment = page.get_by_label("Add a comment")
    comment.fill("Typed: <img src=x onerror=alert('typed')> [x](javascript:alert('typed'))")
    expect(page.locator("#comment-form-preview")).to_contain_text("Typed:")
    page.get_by_role("button", name="Comment").click()
    expect(page.locator("#comments > li.comment").last).to_contain_text("Typed:")
    assert_inert(page)
