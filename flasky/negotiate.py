"""The one place that picks the answer's form: JSON, htmx fragment, or full page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart import (
    Response,
    current_app,
    g,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
)
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

VARY = "Accept, HX-Request"


def representation_from(header: Callable[[str], str | None]) -> str:
    """'json', 'fragment' or 'page' from request headers (`header(name)` gives a header's
    one value, or None). The one reading of the headers: Quart and the page cache in front
    of it both call it, on headers that `urls.RequestHygiene` folded to one value each.

    JSON when Accept prefers application/json to text/html (ties go to HTML); a fragment
    for htmx requests that are neither boosted navigations nor history restores."""
    accept = parse_accept_header(header("Accept") or None, MIMEAccept)
    if accept.best_match(["text/html", "application/json"]) == "application/json":
        return "json"
    if (
        header("HX-Request") == "true"
        and header("HX-Boosted") is None
        and header("HX-History-Restore-Request") is None
    ):
        return "fragment"
    return "page"


def representation() -> str:
    """'json', 'fragment' or 'page' for this request."""
    found = g.get("_representation")
    if found is None:
        found = g._representation = representation_from(request.headers.get)
    return found


def wants_json() -> bool:
    """The Accept header prefers application/json to text/html (ties go to HTML)."""
    return representation() == "json"


def wants_fragment() -> bool:
    """An htmx request for a part of the page (boosts and history restores want it all)."""
    return representation() == "fragment"


async def respond(
    page: str | None = None,
    *,
    fragment: str | None = None,
    data: Any = None,
    redirect_to: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """Answer in the form this request wants; always `Vary: Accept, HX-Request`.

    JSON when wanted and `data` is given; else the fragment for htmx; else a redirect
    (Post/Redirect/Get) when `redirect_to` is given; else the full page.
    """
    form = representation()
    if form == "json" and data is not None:
        response = jsonify(data)
    elif form == "fragment" and fragment is not None:
        html = await render_template(fragment, **context)
        html += await _oob_flashes()
        response = Response(html, mimetype="text/html")
    elif redirect_to is not None:
        response = redirect(redirect_to, 303 if request.method != "GET" else 302)
        status = response.status_code
    elif page is not None:
        response = Response(await render_template(page, **context), mimetype="text/html")
    elif data is not None:
        response = jsonify(data)
    else:
        response = Response(status=204)
    response.status_code = status
    if headers:
        response.headers.update(headers)
    add_vary(response)
    return response


def add_vary(response: Response) -> Response:
    """Mark the answer as depending on Accept and HX-Request."""
    existing = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    known = {v.lower() for v in existing}
    wanted = [v for v in ("Accept", "HX-Request") if v.lower() not in known]
    response.headers["Vary"] = ", ".join(existing + wanted)
    return response


async def _oob_flashes() -> str:
    """Pending flash messages as an out-of-band swap, so htmx answers show them too."""
    messages = get_flashed_messages(with_categories=True)
    if not messages:
        return ""
    return await render_template("_flashes.html", messages=messages, oob=True)


def json_error(status: int, error: str, message: str) -> Response:
    """The error body of SPEC §4."""
    response = jsonify({"error": error, "message": message})
    response.status_code = status
    return add_vary(response)


def is_htmx() -> bool:
    return current_app is not None and request.headers.get("HX-Request") == "true"
