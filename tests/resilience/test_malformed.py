"""Malformed input at every route that accepts a write — forms (plain and htmx) and JSON,
with and without CSRF, wrong types, 100 KB fields, invalid UTF-8, bodies over 1 MiB,
broken credentials — against the production server on PostgreSQL: always a clear 4xx
(or a form shown again with its error), never a 5xx, and nothing written.

The routes come from the app's URL map, so a write route added later without being
classified here fails the test instead of going untested.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from flasky import create_app
from tests.resilience.harness import (
    SECRET_KEY,
    Browser,
    client_pool,
    fetch,
    report,
    seed,
    server_env,
)

pytestmark = pytest.mark.resilience

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
MIB = 1024 * 1024
HUGE = "x" * 100_000

# Each write route and the fields it reads; routes that read none act on the URL alone.
FIELDS: dict[str, tuple[str, ...]] = {
    "posts.create_post": ("body",),
    "posts.update_post": ("body",),  # POST /edit/<id> and PUT /post/<id>
    "posts.add_comment": ("body",),
    "posts.preview": ("body", "kind"),
    "social.edit_profile": ("name", "location", "about_me"),
    "moderation.edit_profile_admin": (
        "email",
        "username",
        "confirmed",
        "role",
        "name",
        "location",
        "about_me",
    ),
    "auth.login": ("email", "password", "remember_me"),
    "auth.register": ("email", "username", "password", "password2"),
    "auth.change_password": ("old_password", "password", "password2"),
    "auth.password_reset_request": ("email",),
    "auth.password_reset": ("password", "password2"),
    "auth.change_email_request": ("email", "password"),
    "api_v1.new_post": ("body",),
    "api_v1.edit_post": ("body",),
    "api_v1.new_post_comment": ("body",),
    "notifications.read": ("up_to",),
}
FIELDLESS = {
    "auth.logout",
    "auth.resend_confirmation",
    "auth.tokens",
    "social.follow",
    "social.unfollow",
    "moderation.enable",
    "moderation.disable",
    "posts.delete_post",
    "api_v1.get_token",
}
# Routes where JSON null is a value: it clears optional profile fields, the book's PUT
# keeps the body it is not given (README, "JSON clients and /api/v1"), and mark-read
# without `up_to` marks everything read.
NULLABLE = {"social.edit_profile", "api_v1.edit_post", "notifications.read"}
# Routes whose field takes a whole number (an id).
NUMERIC = {"notifications.read"}
# Forms anonymous visitors use; every other route is tried as the administrator.
ANONYMOUS = {"auth.login", "auth.register", "auth.password_reset_request", "auth.password_reset"}

SNAPSHOT = """
SELECT
 (SELECT md5(coalesce(string_agg(concat_ws(',', id, email, username, role_id, password_hash,
    confirmed, name, location, about_me, avatar_hash), '|' ORDER BY id), '')) FROM users),
 (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM posts t),
 (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM comments t),
 (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM follows t),
 (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM roles t),
 (SELECT count(*) FROM outbox), (SELECT count(*) FROM throttle_events),
 (SELECT count(*) FROM sessions)
"""


@dataclass
class Case:
    """One malformed request and what it may be answered with."""

    label: str
    method: str
    path: str
    who: str  # "admin", "anonymous" or "bearer"
    headers: dict[str, str] = field(default_factory=dict)
    content: Any = None
    # "4xx"; "413"; "400"; or "4xx|form": a plain form may also come back at 200 with
    # its error beside the field, as SPEC §4 allows (htmx gets 422)
    expect: str = "4xx"


def form_bytes(fields: dict[str, str], raw_value: bytes | None = None) -> bytes:
    """An urlencoded body; with `raw_value`, every field carries those exact bytes."""
    parts = []
    for name, value in fields.items():
        encoded = raw_value if raw_value is not None and name != "csrf_token" else None
        parts.append(name.encode() + b"=" + (encoded or quote(value).encode()))
    return b"&".join(parts)


def multipart(fields: dict[str, str], raw_value: bytes) -> tuple[bytes, str]:
    """A multipart body whose fields (not the token) carry `raw_value` bytes."""
    boundary = "flaskyboundary7MA4YWxkTrZu0gW"
    chunks = []
    for name, value in fields.items():
        data = value.encode() if name == "csrf_token" else raw_value
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def cases_for(endpoint: str, method: str, path: str, token: str) -> list[Case]:
    """The malformed requests one route gets."""
    names = FIELDS.get(endpoint, ())
    header_only = endpoint == "auth.tokens" or endpoint.startswith("api_v1.")
    who = "anonymous" if endpoint in ANONYMOUS else "admin"
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    json_type = {"Content-Type": "application/json", "Accept": "application/json"}
    csrf = {"X-CSRFToken": token}
    hx = {"HX-Request": "true"}
    cases: list[Case] = []

    def add(label: str, **kwargs: Any) -> None:
        cases.append(
            Case(
                f"{label} {method} {path} as {kwargs.get('who', who)}",
                method,
                path,
                **{"who": who, **kwargs},
            )
        )

    # Broken credentials reach every route first.
    basic = base64.b64encode(("y" * 1000 + "@example.com:pw").encode()).decode()
    for label, value in (
        ("garbage Basic", "Basic !!!not base64!!!"),
        ("Basic with a 1 KB address", f"Basic {basic}"),
        ("Basic not UTF-8", "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()),
        ("huge bearer", "Bearer " + "z" * 4000),
    ):
        add(
            label,
            who="nobody",
            headers={**json_type, "Authorization": value},
            content=json.dumps({n: "x" for n in names}).encode(),
        )
    # Too large, announced or chunked, before anything else is looked at.
    add(
        "form over 1 MiB",
        headers={**form_type, **csrf},
        content=form_bytes({"csrf_token": token, "body": "x" * (MIB + 10)}),
        expect="413",
    )
    add(
        "chunked form over 1 MiB",
        headers={**form_type, **csrf},
        content=_chunks(form_bytes({"csrf_token": token, "body": "x" * (MIB + 10)})),
        expect="413",
    )
    add(
        "JSON over 1 MiB",
        headers={**json_type, **csrf},
        content=json.dumps({"body": "x" * (MIB + 10)}).encode(),
        expect="413",
    )

    if not header_only:
        plain = {n: "plain text" for n in names}
        add("form without CSRF", headers=form_type, content=form_bytes(plain), expect="400")
        add(
            "form with a forged CSRF",
            headers=form_type,
            content=form_bytes({**plain, "csrf_token": token[:-4] + "AAAA"}),
            expect="400",
        )
        add(
            "form with a non-UTF-8 CSRF",
            headers=form_type,
            content=form_bytes(plain) + b"&csrf_token=%FF%FE%FD",
            expect="400",
        )
        add(
            "JSON without CSRF", headers=json_type, content=json.dumps(plain).encode(), expect="400"
        )

    if not names:
        return cases
    creds = "bearer" if header_only else who
    with_csrf = {} if header_only else csrf
    for kind, headers, refusal in (("form", {}, "4xx|form"), ("htmx form", hx, "4xx")):
        if header_only:
            continue
        base = {"csrf_token": token}
        add(
            f"{kind} with 100 KB fields",
            headers={**form_type, **headers},
            content=form_bytes({**base, **{n: HUGE for n in names}}),
            expect=refusal,
        )
        add(
            f"{kind} with invalid UTF-8 (%FF)",
            headers={**form_type, **headers},
            content=form_bytes({**base, **dict.fromkeys(names, "")}, b"%FF%FEok%C3"),
            expect=refusal,
        )
        add(
            f"{kind} with raw non-UTF-8 bytes",
            headers={**form_type, **headers},
            content=form_bytes({**base, **dict.fromkeys(names, "")}, b"\xff\xfe\xc3ok"),
            expect=refusal,
        )
        add(
            f"{kind} with NUL characters",
            headers={**form_type, **headers},
            content=form_bytes({**base, **dict.fromkeys(names, "")}, b"a%00b"),
            expect=refusal,
        )
        body, content_type = multipart({**base, **dict.fromkeys(names, "")}, b"\xff\xfe ok")
        add(
            f"multipart {kind} with invalid UTF-8",
            headers={"Content-Type": content_type, **headers},
            content=body,
            expect=refusal,
        )
    # null clears a profile's optional fields (a legitimate write); elsewhere it is wrong
    wrong = (12345, 1.5, True, ["a", "b"], {"nested": "object"})
    if endpoint in NUMERIC:  # a whole number is the right type there
        wrong = tuple(v for v in wrong if type(v) is not int)
    for value in wrong if endpoint in NULLABLE else (*wrong, None):
        add(
            f"JSON fields of type {type(value).__name__}",
            who=creds,
            headers={**json_type, **with_csrf},
            content=json.dumps({n: value for n in names}).encode(),
        )
    for label, raw in (
        ("JSON array", b'["body", "x"]'),
        ("JSON string", b'"body"'),
        ("JSON number", b"42"),
        ("JSON null", b"null"),
        ("truncated JSON", b'{"body": "unterminated'),
        ("JSON with invalid UTF-8", b'{"' + names[0].encode() + b'": "\xff\xfe"}'),
        ("JSON with a lone surrogate", b'{"' + names[0].encode() + b'": "\\ud800"}'),
        ("JSON with NUL", b'{"' + names[0].encode() + b'": "a\\u0000b"}'),
        ("empty body", b""),
    ):
        add(label, who=creds, headers={**json_type, **with_csrf}, content=raw)
    add(
        "JSON with 100 KB fields",
        who=creds,
        headers={**json_type, **with_csrf},
        content=json.dumps({n: HUGE for n in names}).encode(),
    )
    return cases


def read_route(rule: Any) -> bool:
    """A GET route of the app's own (static files are the server's business)."""
    return "GET" in (rule.methods or ()) and rule.endpoint != "static"


def read_cases(pattern: str, good: dict[str, str]) -> list[Case]:
    """A GET route with each path value malformed in turn, and with garbage in the query
    parameters lists take, as a page and as JSON: any answer but a 5xx will do (a value
    that cannot name anything is a 404, a bad cursor a 400, an ignored one a 200)."""
    slot = re.compile(r"<(?:([^:>]+):)?(\w+)>")
    names = [m.group(2) for m in slot.finditer(pattern)]
    bad_values = {
        "int": ["99999999999999999999", "00000000000000000000001"],
        None: ["a%00b", "%FF%FE", "%ED%A0%80", "a" * 1000, "%20%0A"],
    }
    paths = []
    for name in names:
        kind = next(m.group(1) for m in slot.finditer(pattern) if m.group(2) == name)
        for bad in bad_values["int" if kind == "int" else None]:
            paths.append(
                slot.sub(
                    lambda m, n=name, b=bad: b if m.group(2) == n else good[m.group(2)], pattern
                )
            )
    query = "?cursor=%00&page=99999999999999999999&until=%FF&next=%00&kind=%ED%A0%80&q=%00%FF"
    paths.append(slot.sub(lambda m: good[m.group(2)], pattern) + query)
    who = "bearer" if pattern.startswith("/api/") else "admin"
    return [
        Case(f"GET {path[:80]} as {who} {label}", "GET", path, who, headers, expect="not 5xx")
        for path in paths
        for label, headers in (("page", {}), ("JSON", {"Accept": "application/json"}))
    ]


def _chunks(data: bytes) -> Callable[[], AsyncIterator[bytes]]:
    async def gen() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    return gen


def violates(case: Case, response: httpx.Response) -> str | None:
    """Why this answer breaks the rule, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status} server error"
    if case.expect == "not 5xx":
        return None
    if case.expect == "413":
        return None if status == 413 else f"{status} instead of 413"
    if case.expect == "400":
        return None if status == 400 else f"{status} instead of 400"
    if 400 <= status < 500:
        return None
    shown = any(m in response.text for m in ('class="error', "has-error", 'aria-invalid="true"'))
    if case.expect == "4xx|form" and status == 200 and shown:
        return None
    return f"{status} is not a clear refusal"


async def test_malformed_input_gets_a_clear_4xx_and_writes_nothing(database, servers):
    await seed(database, 2)
    server = await servers.start(server_env(database), workers=1)
    admin_id = (await fetch(database, "SELECT id FROM users WHERE username = 'admin'"))[0][0]
    post_id = (await fetch(database, "SELECT id FROM posts ORDER BY id LIMIT 1"))[0][0]
    app = create_app("testing", SECRET_KEY=SECRET_KEY, DATABASE_URL=database)
    values = {"id": post_id, "username": "user1", "token": "", "admin_id": admin_id}
    values["avatar_hash"] = "0" * 32
    values["tag"] = "python"

    async with client_pool(8) as pool:
        admin = Browser(pool, server.base_url)
        assert (await admin.login("admin@example.com")).status_code == 303
        await admin.request(
            "POST",
            f"/post/{post_id}/comments",
            data={"body": "a comment", "csrf_token": admin.token},
        )
        comment_id = (await fetch(database, "SELECT id FROM comments LIMIT 1"))[0][0]
        values["token"] = await _reset_token(app, database, admin_id)
        anonymous = Browser(pool, server.base_url)
        await anonymous.csrf("/auth/login")
        basic = base64.b64encode(b"admin@example.com:correct horse battery").decode()
        minted = await pool.post(
            server.base_url + "/auth/tokens", headers={"Authorization": f"Basic {basic}"}
        )
        bearer = minted.json()["token"]

        cases: list[Case] = []
        covered = set()
        for rule in app.url_map.iter_rules():
            for method in sorted((rule.methods or set()) & UNSAFE):
                endpoint = rule.endpoint
                assert endpoint in FIELDS or endpoint in FIELDLESS, f"unclassified {endpoint}"
                covered.add(endpoint)
                ident = {"id": comment_id} if endpoint.startswith("moderation.") else {}
                if endpoint == "moderation.edit_profile_admin":
                    ident = {"id": admin_id}
                args = {k: {**values, **ident}[k] for k in rule.arguments}
                path = rule.build(args)[1]  # type: ignore[index]
                token = anonymous.token if endpoint in ANONYMOUS else admin.token
                cases += cases_for(endpoint, method, path, token)
        assert covered == set(FIELDS) | FIELDLESS
        reads = [rule for rule in app.url_map.iter_rules() if read_route(rule)]
        for rule in reads:
            cases += read_cases(rule.rule, {k: str(v) for k, v in values.items()})

        conn = await asyncpg.connect(database)
        try:
            before = await conn.fetchrow(SNAPSHOT)
            problems = []
            for case in cases:
                browser = {"admin": admin, "anonymous": anonymous}.get(case.who)
                headers = dict(case.headers)
                if case.who == "bearer":
                    headers["Authorization"] = f"Bearer {bearer}"
                content = case.content() if callable(case.content) else case.content
                try:
                    if browser is not None:
                        response = await browser.request(
                            case.method, case.path, headers=headers, content=content
                        )
                    else:
                        url = server.base_url + case.path
                        response = await pool.request(
                            case.method, url, headers=headers, content=content
                        )
                except httpx.TransportError as exc:
                    problems.append(f"{case.label}: no answer ({type(exc).__name__})")
                    continue
                if reason := violates(case, response):
                    problems.append(f"{case.label}: {reason}: {response.text[:160]!r}")
                after = await conn.fetchrow(SNAPSHOT)
                if after != before:
                    problems.append(f"{case.label}: wrote to the database")
                    before = after
                if "flasky_auth" not in admin.cookies:
                    problems.append(f"{case.label}: signed the administrator out")
                    await admin.login("admin@example.com")
        finally:
            await conn.close()
    report(
        f"malformed input: {len(cases)} requests to {len(covered)} write routes"
        f" and {len(reads)} read routes: no 5xx, nothing written"
    )
    assert not problems, "\n".join(problems) + "\n" + server.failures()


async def _reset_token(app: Any, url: str, user_id: int) -> str:
    """A valid password-reset token of the user (the reset form is then really parsed)."""
    from flasky.models import User

    row = (await fetch(url, "SELECT password_hash FROM users WHERE id = $1", user_id))[0]
    async with app.app_context():
        return User(id=user_id, password_hash=row["password_hash"]).generate_reset_token()
