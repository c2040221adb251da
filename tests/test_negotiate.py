"""`negotiate`: which of the three forms a request gets, and what `respond` sends back."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Response, flash

from flasky.negotiate import (
    add_vary,
    json_error,
    representation,
    respond,
    wants_fragment,
    wants_json,
)
from tests.helpers import HTMX, JSON

CONTEXT = {"code": 418, "message": "I am a teapot"}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "page"),
        ({"Accept": "*/*"}, "page"),
        ({"Accept": "text/html"}, "page"),
        ({"Accept": "application/json"}, "json"),
        ({"Accept": "application/json, text/html"}, "page"),  # a tie goes to HTML
        ({"Accept": "text/html, application/json"}, "page"),
        ({"Accept": "application/json, text/html;q=0.9"}, "json"),
        ({"Accept": "text/html;q=0.1, application/json;q=0.2"}, "json"),
        ({"Accept": "application/xml"}, "page"),
        ({"Accept": "application/json", "HX-Request": "true"}, "json"),
        ({"HX-Request": "true"}, "fragment"),
        ({"HX-Request": "true", "HX-Boosted": "true"}, "page"),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, "page"),
        ({"HX-Request": "false"}, "page"),
    ],
)
async def test_representation(app: Any, headers: dict[str, str], expected: str):
    async with app.test_request_context("/", headers=headers):
        assert representation() == expected
        assert wants_json() is (expected == "json")
        if expected != "json":
            assert wants_fragment() is (expected == "fragment")


async def answer(app: Any, sent: dict[str, str], method: str = "GET", **kwargs: Any) -> Any:
    async with app.test_request_context("/", method=method, headers=sent):
        response = await respond(**kwargs)
        return response, await response.get_data(as_text=True)


ALL = {
    "page": "errors/error.html",
    "fragment": "errors/_error.html",
    "data": {"teapot": True},
    **CONTEXT,
}


async def test_respond_json(app: Any):
    response, text = await answer(app, JSON, **ALL)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert await response.get_json() == {"teapot": True}
    assert response.headers["Vary"] == "Accept, HX-Request"


async def test_respond_fragment(app: Any):
    response, text = await answer(app, HTMX, **ALL)
    assert response.mimetype == "text/html"
    assert 'id="error"' in text and "I am a teapot" in text
    assert "<html" not in text
    assert response.headers["Vary"] == "Accept, HX-Request"


async def test_respond_page(app: Any):
    response, text = await answer(app, {}, **ALL)
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert 'id="error"' in text and "418" in text
    assert response.headers["Vary"] == "Accept, HX-Request"


async def test_respond_redirects_after_a_form_post(app: Any):
    response, _ = await answer(app, {}, method="POST", redirect_to="/done", **ALL)
    assert response.status_code == 303
    assert response.headers["Location"] == "/done"
    assert response.headers["Vary"] == "Accept, HX-Request"
    response, _ = await answer(app, {}, method="GET", redirect_to="/done", page=ALL["page"])
    assert response.status_code == 302


async def test_htmx_and_json_answers_are_not_redirected(app: Any):
    response, text = await answer(app, HTMX, method="POST", redirect_to="/done", **ALL)
    assert response.status_code == 200 and 'id="error"' in text
    response, _ = await answer(app, JSON, method="POST", redirect_to="/done", **ALL)
    assert response.status_code == 200 and await response.get_json() == {"teapot": True}


async def test_missing_forms_fall_back(app: Any):
    # JSON asked for, but only a page exists: the page
    response, text = await answer(app, JSON, page="errors/error.html", **CONTEXT)
    assert "<html" in text
    # a fragment asked for, but only a page exists: the page
    response, text = await answer(app, HTMX, page="errors/error.html", **CONTEXT)
    assert "<html" in text
    # a page asked for, only data given: JSON
    response, _ = await answer(app, {}, data={"a": 1})
    assert await response.get_json() == {"a": 1}
    # nothing at all: 204
    response, text = await answer(app, HTMX)
    assert response.status_code == 204 and text == ""
    response, text = await answer(app, {}, status=204)
    assert response.status_code == 204 and text == ""


async def test_hx_redirect_is_for_fragment_requests_only(app: Any):
    response, text = await answer(app, HTMX, method="POST", redirect_to="/x", hx_redirect="/x")
    assert response.status_code == 200 and text == "" and response.headers["HX-Redirect"] == "/x"
    response, _ = await answer(app, {}, method="POST", redirect_to="/x", hx_redirect="/x")
    assert response.status_code == 303 and "HX-Redirect" not in response.headers


async def test_data_is_computed_only_for_json(app: Any):
    calls: list[str] = []

    def build() -> dict[str, int]:
        calls.append("sync")
        return {"n": 1}

    async def build_later() -> dict[str, int]:
        calls.append("async")
        return {"n": 2}

    await answer(app, {}, page="errors/error.html", data=build, **CONTEXT)
    await answer(app, HTMX, fragment="errors/_error.html", data=build_later, **CONTEXT)
    assert calls == []
    response, _ = await answer(app, JSON, data=build)
    assert await response.get_json() == {"n": 1}
    response, _ = await answer(app, JSON, data=build_later)
    assert await response.get_json() == {"n": 2}
    assert calls == ["sync", "async"]


async def test_created_is_201_with_location_for_json(app: Any):
    response, _ = await answer(app, JSON, method="POST", data={}, created="http://x/post/1",
                               redirect_to="/")  # fmt: skip
    assert response.status_code == 201 and response.headers["Location"] == "http://x/post/1"
    response, _ = await answer(app, {}, method="POST", data={}, created="http://x/post/1",
                               redirect_to="/")  # fmt: skip
    assert response.status_code == 303 and response.headers["Location"] == "/"


@pytest.mark.parametrize(("sent", "shown"), [({}, True), (HTMX, True), (JSON, False)])
async def test_flash_is_queued_unless_json_was_asked_for(app: Any, sent, shown):
    from quart import get_flashed_messages

    async with app.test_request_context("/", method="POST", headers=sent):
        await respond(data={}, redirect_to="/", flash="Saved.")
        assert (get_flashed_messages() == ["Saved."]) is shown


async def test_status_and_headers_pass_through(app: Any):
    response, _ = await answer(app, JSON, status=201, headers={"Location": "/post/1"}, data={})
    assert response.status_code == 201
    assert response.headers["Location"] == "/post/1"


async def test_htmx_answers_carry_flashes_out_of_band(app: Any):
    async with app.test_request_context("/", headers=HTMX):
        await flash("Your post has been published.", "success")
        response = await respond(fragment="errors/_error.html", **CONTEXT)
        text = await response.get_data(as_text=True)
    assert 'id="flashes"' in text and 'hx-swap-oob="true"' in text
    published = '<span class="flash-text">Your post has been published.</span>'
    assert f'<p class="flash flash-success">{published}</p>' in text


async def test_fragments_without_flashes_add_nothing(app: Any):
    response, text = await answer(app, HTMX, fragment="errors/_error.html", **CONTEXT)
    assert "flashes" not in text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "Accept, HX-Request"),
        ("Cookie", "Cookie, Accept, HX-Request"),
        ("Accept", "Accept, HX-Request"),
        ("accept-encoding, hx-request", "accept-encoding, hx-request, Accept"),
        ("Accept, HX-Request", "Accept, HX-Request"),
    ],
)
def test_add_vary_merges(before: str | None, after: str):
    response = Response("x")
    if before is not None:
        response.headers["Vary"] = before
    assert add_vary(response).headers["Vary"] == after
    assert add_vary(response).headers["Vary"] == after  # twice changes nothing


async def test_json_error_body(app: Any):
    async with app.app_context():
        response = json_error(404, "not found", "There is nothing here.")
        assert response.status_code == 404
        assert await response.get_json() == {
            "error": "not found",
            "message": "There is nothing here.",
        }
        assert response.headers["Vary"] == "Accept, HX-Request"


@pytest.mark.parametrize(
    ("headers", "marker"),
    [({}, "<html"), (HTMX, 'id="error"'), (JSON, '"error"')],
    ids=["page", "fragment", "json"],
)
async def test_a_real_route_answers_in_each_form(client: Any, headers: dict[str, str], marker: str):
    response = await client.get("/user/nobody-here", headers=headers)
    assert response.status_code == 404
    text = await response.get_data(as_text=True)
    assert marker in text
    assert ("<html" in text) is (headers == {})
    assert response.headers["Vary"] == "Accept, HX-Request"
