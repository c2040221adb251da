"""Every main page in light and dark: saved as screenshots to look at, and checked for
what a person would call broken (unstyled page, sideways scrolling, missing avatars,
text too faint to read)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer
from tests.browser.helpers import broken_images, layout_problems, low_contrast

TEXT = [
    "body",
    ".brand",
    ".nav-links a",
    ".link-button",
    ".byline .author",
    ".byline .handle",
    ".byline time",
    ".body",
    ".body p",
    ".post-footer a",
    ".tabs a",
    ".button",
    ".profile .handle",
    ".profile-meta",
    ".counts a",
    ".badge",
    ".disabled-note",
    ".preview-title",
    ".field label",
    ".hint",
    ".error",
    ".form-links",
    ".error-code",
    ".error-message",
    ".muted",
    ".empty",
    ".flash",
    ".site-footer",
    ".notification-link",
    ".notification-time",
]
PHONE = {"width": 390, "height": 844}


def check_page(page: Page, shot: Callable[[Page, str], Path] | None = None, name: str = "") -> None:
    """Styled, nothing sticking out (desktop and phone width), avatars loaded, readable;
    with `shot`, saved at both widths (`name`, `name-phone`)."""
    assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).position") == (
        "sticky"
    ), "the stylesheet did not load"
    assert broken_images(page) == []
    assert layout_problems(page) == []
    assert low_contrast(page, TEXT) == []
    if shot:
        shot(page, name)
    page.set_viewport_size(PHONE)
    assert layout_problems(page) == [], "at phone width"
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    if shot:
        shot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_main_pages(
    browsing: Browsing,
    live_server: LiveServer,
    screenshot: Callable[[Page, str], Path],
    scheme: str,
) -> None:
    ids = live_server.ids
    page = browsing.page("moderator", scheme=scheme)
    pages = {
        "home": "/",
        "post": f"/post/{ids['first_post']}",
        "profile": "/user/alice",
        "moderation": "/moderate",
    }
    for name, path in pages.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        check_page(page, screenshot, f"{name}-{scheme}")

    admin = browsing.page("admin", scheme=scheme)  # followed by alice and mallory (seed)
    admin.goto("/notifications")
    expect(admin.locator(".notification").first).to_be_visible()
    check_page(admin, screenshot, f"notifications-{scheme}")

    anonymous = browsing.page(scheme=scheme)
    anonymous.goto("/")
    check_page(anonymous, screenshot, f"landing-{scheme}")
    anonymous.goto("/auth/login")
    check_page(anonymous, screenshot, f"login-{scheme}")

    # Chromium logs every 4xx document as a console error; this one is the point.
    browsing.watch(anonymous).expect_console_error(r"status of 404\b")
    response = anonymous.goto("/no/such/page")
    assert response is not None and response.status == 404
    expect(anonymous.locator(".error-code")).to_have_text("404")
    check_page(anonymous, screenshot, f"error-{scheme}")

    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(247, 247, 251)" if scheme == "light" else "rgb(17, 17, 24)")
