"""The stored htmx worm of the audit, replayed in Chromium: a post holding raw HTML with
single-quoted hx-* attributes, and a second post linking to the first one's /api/v1 JSON.
An administrator who reads and clicks changes nothing: links inside user content are not
boosted (hx-disable), htmx swaps only HTML, and /api/v1 ignores the session cookie."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer, log_in


def csrf(page: Page) -> str:
    headers = page.locator("body").get_attribute("hx-headers") or "{}"
    return json.loads(headers)["X-CSRFToken"]


def post_json(page: Page, body: str) -> dict:
    response = page.request.post(
        "/",
        data=json.dumps({"body": body}),
        headers={"Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": csrf(page)},
    )  # fmt: skip
    assert response.status == 201, response.text()
    return response.json()


def post_count(page: Page) -> int:
    return page.request.get("/", headers={"Accept": "application/json"}).json()["count"]


def test_the_stored_htmx_worm_changes_nothing(browsing: Browsing, live_server: LiveServer):
    mallory_id = live_server.ids["user_ids"]["mallory"]
    attacker = browsing.page("mallory")
    attacker.goto("/")
    promote = json.dumps(
        {"email": "mallory@example.com", "username": "mallory", "role": "3", "confirmed": "y"}
    )
    worm = (
        f"<div hx-post='/edit-profile/{mallory_id}' hx-trigger='load' hx-vals='{promote}'"
        " hx-target='body' hx-swap='none'>promoted</div>"
        "<p hx-post='/' hx-trigger='load' hx-vals='{\"body\": \"the worm again\"}'>again</p>"
        '<span hx-get="/moderate" hx-trigger="load" hx-target="body">x</span>'
    )
    first = post_json(attacker, worm)
    second = post_json(
        attacker, f"Look at [this post]({first['url'].replace('/post/', '/api/v1/posts/')})"
    )
    assert "/api/v1/posts/" in second["body_html"]

    admin = browsing.page("admin")
    # the plain navigation to the JSON is refused (401, a Basic challenge)
    browsing.watch(admin).expect_console_error(r"401|net::ERR_")
    before = post_count(admin)
    admin.goto(f"/post/{second['id']}")
    link = admin.locator(f"#post-{second['id']} .body a", has_text="this post")
    expect(link).to_be_visible()
    assert link.evaluate("a => a.closest('[hx-disable]') !== null")
    with admin.expect_response(re.compile(r"/api/v1/posts/\d+$")) as answer:
        link.click()
    # not boosted: a plain navigation (no HX-Request), and the JSON refuses the cookie
    assert "hx-request" not in answer.value.request.headers
    assert answer.value.status == 401

    # even if something asked htmx for JSON, the raw body would never be swapped in
    admin.goto("/")
    with admin.expect_response(re.compile(rf"/post/{first['id']}$")) as answer:
        admin.evaluate(
            f"""htmx.ajax('GET', '/post/{first["id"]}',
                {{target: '#main', swap: 'innerHTML', headers: {{Accept: 'application/json'}}}})"""
        )
    assert answer.value.headers["content-type"].startswith("application/json")
    admin.wait_for_timeout(500)
    expect(admin.locator("#feed")).to_be_visible()
    assert admin.locator("main [hx-trigger='load']").count() == 0
    # the worm's own card is inert: its markup never reached the page
    admin.goto(f"/post/{first['id']}")
    expect(admin.locator(f"#post-{first['id']}")).to_be_visible()
    assert admin.locator("[hx-post^='/edit-profile']").count() == 0
    admin.wait_for_timeout(500)

    assert post_count(admin) == before
    assert admin.request.get("/api/v1/posts/").status == 401  # the cookie is not a credential
    attacker.goto("/")
    assert attacker.request.get("/moderate").status == 403  # still an ordinary user
    edit = admin.request.get(f"/edit-profile/{mallory_id}", headers={"Accept": "application/json"})
    assert edit.status == 200


def test_no_signed_in_page_stays_in_the_history_cache(browsing: Browsing) -> None:
    page = browsing.page()
    log_in(page, "carol")  # a session of its own: logging out ends only this one
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Profile").click()  # boosted navigations
    page.wait_for_url(re.compile(r"/user/carol$"))
    nav.get_by_role("link", name="Home").click()
    page.wait_for_url(re.compile(r"/$"))
    cached = page.evaluate("localStorage.getItem('htmx-history-cache') || '[]'")
    assert "Log out" not in cached and "X-CSRFToken" not in cached
    # an older snapshot, as an earlier version could have kept, is cleared on logout
    old = json.dumps([{"url": "/x", "content": "Log out"}])
    page.evaluate("old => localStorage.setItem('htmx-history-cache', old)", old)
    nav.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()
    cached = page.evaluate("localStorage.getItem('htmx-history-cache') || '[]'")
    assert "Log out" not in cached
    page.go_back()  # back to a signed-in page: it is fetched anew, and shows signed out
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in")
    ).to_be_visible()
