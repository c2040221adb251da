"""Fast checks of the input handling the resilience suite led to, through Quart's test
client on the suite's database (SQLite, or PostgreSQL with TEST_DATABASE_URL). Not
marked `resilience`: they run in `make test`, so the fixes are guarded on every run.

Text that is not UTF-8 or holds NUL or lone surrogates is refused with 400 before
anything is written; a chunked body over 1 MiB is a 413 even where the route never
reads its body; values no row can hold are a 404 (read) or a 401 (Basic name) — never a
500. Good non-ASCII text still goes through.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from flasky.models import Follow, Post, User
from tests.conftest import make_user

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
BOUNDARY = "inputchecks0123"


def multipart(fields: dict[str, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body of raw field bytes, and its Content-Type header."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value
        + b"\r\n"
        for name, value in fields.items()
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode(), {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"
    }


@pytest.fixture
async def writer(client: Any, auth: Any) -> str:
    """A signed-in, confirmed author; the CSRF token of their home page."""
    await make_user("writer@example.com")
    await make_user("other@example.com")
    await auth.login("writer@example.com")
    return await auth.csrf("/")


@pytest.mark.parametrize(
    "body",
    [b"body=%FF%FEok", b"body=\xff\xfe ok", b"body=a%00b", b"body=%ED%A0%80"],
    ids=["percent-encoded", "raw bytes", "NUL", "encoded surrogate"],
)
async def test_a_form_with_bad_text_is_refused(client: Any, writer: str, body: bytes):
    response = await client.post("/", data=body + b"&csrf_token=" + writer.encode(), headers=FORM)
    assert response.status_code == 400
    assert await Post.all().count() == 0


async def test_a_multipart_form_with_bad_text_is_refused(client: Any, writer: str):
    data, headers = multipart({"csrf_token": writer.encode(), "body": b"\xff\xfe ok"})
    response = await client.post("/", data=data, headers=headers)
    assert response.status_code == 400
    assert await Post.all().count() == 0


@pytest.mark.parametrize(
    "raw",
    [b'{"body": "\xff\xfe"}', b'{"body": "a\\u0000b"}', b'{"body": "\\ud800"}'],
    ids=["not UTF-8", "NUL", "lone surrogate"],
)
async def test_json_with_bad_text_is_refused(client: Any, writer: str, raw: bytes):
    response = await client.post("/", data=raw, headers={**JSON, "X-CSRFToken": writer})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "bad request"
    assert await Post.all().count() == 0


async def test_good_non_ascii_text_goes_through(client: Any, writer: str):
    text = "Grüße — 東京 ✓ 🎉"
    form = await client.post("/", form={"body": text, "csrf_token": writer})
    assert form.status_code in (302, 303)
    data, headers = multipart({"csrf_token": writer.encode(), "body": text.encode()})
    assert (await client.post("/", data=data, headers=headers)).status_code in (302, 303)
    sent = await client.post("/", json={"body": text}, headers={**JSON, "X-CSRFToken": writer})
    assert sent.status_code == 201
    assert await Post.filter(body=text).count() == 3


async def test_a_chunked_body_over_a_mebibyte_is_413_where_the_body_is_unread(
    client: Any, writer: str
):
    body = b"csrf_token=" + writer.encode() + b"&junk=" + b"x" * (1024 * 1024)
    # no Content-Length: the size shows only once the body is read
    response = await client.post("/follow/other", data=body, headers=FORM)
    assert response.status_code == 413
    other = await User.get(username="other")
    assert not await Follow.filter(followed_id=other.id).exclude(follower_id=other.id).exists()


async def test_a_basic_name_longer_than_an_address_is_401(client: Any):
    name = "y" * 1000 + "@example.com"
    credentials = base64.b64encode(f"{name}:password".encode()).decode()
    response = await client.get("/", headers={"Authorization": f"Basic {credentials}", **JSON})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/user/" + "a" * 300,
        "/user/a%00b",
        "/post/99999999999999999999",
        "/comment/99999999999999999999",
    ],
    ids=["long username", "NUL", "post id past int64", "comment id past int64"],
)
@pytest.mark.parametrize("headers", [{}, {"Accept": "application/json"}], ids=["page", "json"])
async def test_a_value_no_row_can_hold_is_404(client: Any, path: str, headers: dict[str, str]):
    response = await client.get(path, headers=headers)
    assert response.status_code == 404
