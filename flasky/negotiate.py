"""The one place that picks the answer's form: JSON, htmx fragment, or full page."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from quart import (
    Response,
    g,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
)
from quart import flash as queue_flash
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header
from wtforms import Form

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
    hx_redirect: str | None = None,
    created: str | None = None,
    flash: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    undo: tuple[str, str] | None = None,
    **context: Any,
) -> Response:
    """Answer in the form this request wants; always `Vary: Accept, HX-Request`.

    The one rule, in order:
    - JSON, when the request wants it and `data` is given. `data` may be a callable
      (sync or async), called only here, so pages never build JSON they do not send.
      `created` makes it 201 with that `Location`.
    - Otherwise `flash` (if any) is queued, unless JSON was asked for: it shows in this
      htmx answer (out of band) or on the page the browser lands on next. `undo` (a URL
      to POST and the element its answer replaces) adds an Undo button to an htmx
      answer's toast.
    - htmx fragment requests: `hx_redirect` answers an empty 200 with `HX-Redirect`
      (htmx navigates there); else the `fragment`, with the pending flashes.
    - `redirect_to`: Post/Redirect/Get (303 after a write, 302 after a GET).
    - the full `page`; with nothing to render, `data` as JSON, or 204.
    """
    form = representation()
    if form == "json" and data is not None:
        response = jsonify(await _resolve(data))
        if created is not None:
            status = 201
            response.headers["Location"] = created
    else:
        toast = flash if form == "fragment" and undo is not None else None
        if flash and form != "json" and toast is None:
            await queue_flash(flash, "success")
        if form == "fragment" and hx_redirect is not None:
            response = Response(status=200)
            response.headers["HX-Redirect"] = hx_redirect
        elif form == "fragment" and fragment is not None:
            html = await render_template(fragment, **context)
            html += await _oob_flashes(toast, undo)
            response = Response(html, mimetype="text/html")
        elif redirect_to is not None:
            response = redirect(redirect_to, 303 if request.method != "GET" else 302)
            status = response.status_code
        elif page is not None:
            response = Response(await render_template(page, **context), mimetype="text/html")
        elif data is not None:
            response = jsonify(await _resolve(data))
        else:
            response = Response(status=204)
            status = 204 if status == 200 else status
    response.status_code = status
    if headers:
        response.headers.update(headers)
    add_vary(response)
    return response


async def invalid(
    form: Form,
    page: str | None = None,
    *,
    fragment: str | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """The one answer to a form with errors: for JSON 400 `{"error": "bad request",
    "message", "errors": {field: [messages]}}`; for pages and htmx fragments the form
    again, with its messages beside the fields, status 422 (htmx swaps it in place)."""
    if representation() == "json":
        return form_error_json(form)
    return await respond(page, fragment=fragment, status=422, headers=headers, form=form, **context)


def form_error_json(form: Form) -> Response:
    """A form's errors as the JSON error body (400)."""
    errors = {name: list(messages) for name, messages in form.errors.items()}
    name, messages = next(iter(errors.items()), ("form", ["The form is not valid."]))
    response = jsonify(
        {"error": "bad request", "message": f"{name}: {messages[0]}", "errors": errors}
    )
    response.status_code = 400
    return add_vary(response)


async def _resolve(data: Any) -> Any:
    """`data`, or what calling it gives (awaited when that is a coroutine)."""
    if callable(data):
        data = data()
    if inspect.isawaitable(data):
        data = await data
    return data


def add_vary(response: Response) -> Response:
    """Mark the answer as depending on Accept and HX-Request."""
    existing = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    known = {v.lower() for v in existing}
    wanted = [v for v in ("Accept", "HX-Request") if v.lower() not in known]
    response.headers["Vary"] = ", ".join(existing + wanted)
    return response


async def _oob_flashes(toast: str | None = None, undo: tuple[str, str] | None = None) -> str:
    """Pending flash messages (and `toast`, with its Undo) as an out-of-band swap, so
    htmx answers show them too."""
    messages = get_flashed_messages(with_categories=True)
    if toast:
        messages = [*messages, ("success", toast)]
    if not messages:
        return ""
    return await render_template("_flashes.html", messages=messages, oob=True, undo=undo)


def json_error(status: int, error: str, message: str) -> Response:
    """The error body of SPEC §4."""
    response = jsonify({"error": error, "message": message})
    response.status_code = status
    return add_vary(response)
