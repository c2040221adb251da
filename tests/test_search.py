"""Search (SPEC §11): every operator, ranking, CJK, accents, people by prefix, keyset
pages in three forms, a fixed number of queries, hostile queries (200 or 400, never
500), hostile posts (never live in a snippet), and the index following every write path
(forms, JSON, /api/v1, edits, deletes, `fake`, reindex)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from flasky import pagination, search
from flasky.fake import fake_data
from flasky.models import Post, User, utcnow
from tests.conftest import make_user, query_count
from tests.helpers import HTMX, JSON, POST_KEYS, USER_KEYS, api_headers, basic, login, text
from tests.posts.conftest import token

RESULT_IDS = re.compile(r'<li id="result-(\d+)"')


async def ids_for(client: Any, q: str) -> list[int]:
    """The ids of the posts `q` finds, best first (first page, JSON)."""
    response = await client.get(f"/search?q={quote(q)}", headers=JSON)
    assert response.status_code == 200, (q, await text(response))
    return [p["id"] for p in (await response.get_json())["posts"]]


async def all_results(client: Any, q: str) -> list[dict[str, Any]]:
    """Every post JSON `q` finds, following `next`."""
    data = await (await client.get(f"/search?q={quote(q)}", headers=JSON)).get_json()
    found = data["posts"]
    while data["next"]:
        data = await (await client.get(data["next"], headers=JSON)).get_json()
        found += data["posts"]
    return found


async def post(author: User, body: str, minutes_ago: int = 0) -> int:
    """A post published through the model's path, `minutes_ago` old."""
    created = await Post.publish(author, body)
    if minutes_ago:
        created.timestamp = utcnow() - timedelta(minutes=minutes_ago)
        await created.save(update_fields=["timestamp"])
    return created.id


@pytest.fixture
async def people() -> dict[str, User]:
    return {
        "john": await make_user("john@example.com", name="John Smith"),
        "susan": await make_user("susan@example.com", name="Susan Lovelace"),
        "ada": await make_user("ada@example.com", username="Ada_L", name="Ada Byron"),
    }


# -- the query language -----------------------------------------------------------------------


async def test_words_are_anded_and_phrases_keep_their_order(client, people):
    john = people["john"]
    both = await post(john, "The quick brown fox jumps")
    one = await post(john, "A quick reply")
    reversed_ = await post(john, "brown and then quick")
    assert set(await ids_for(client, "quick")) == {both, one, reversed_}
    assert set(await ids_for(client, "quick brown")) == {both, reversed_}
    assert await ids_for(client, '"quick brown"') == [both]
    assert await ids_for(client, '"brown quick"') == []
    assert await ids_for(client, "QUICK Fox") == [both]  # any case


async def test_minus_leaves_out_words_phrases_and_filters(client, people):
    john, susan = people["john"], people["susan"]
    a = await post(john, "python and flask")
    b = await post(john, "python and quart")
    c = await post(susan, "python with #async")
    assert set(await ids_for(client, "python -flask")) == {b, c}
    assert set(await ids_for(client, 'python -"and quart"')) == {a, c}
    assert set(await ids_for(client, "python -from:susan")) == {a, b}
    assert set(await ids_for(client, "python -#async")) == {a, b}
    assert await ids_for(client, "-python") == []  # leaving out alone finds nothing


async def test_from_tag_and_mention_filters(client, people):
    john, susan, ada = people["john"], people["susan"], people["ada"]
    tagged = await post(john, "Learning #Python today")
    mention = await post(susan, "Thanks @Ada_L for the talk")
    other = await post(susan, "Learning rust today")
    assert await ids_for(client, "#python") == [tagged]
    assert await ids_for(client, "#PYTHON") == [tagged]
    assert await ids_for(client, "@ada_l") == [mention]
    assert set(await ids_for(client, "from:susan")) == {mention, other}
    assert await ids_for(client, "from:SUSAN learning") == [other]
    assert await ids_for(client, "learning from:john") == [tagged]
    assert await ids_for(client, "from:nobody") == []
    assert await ids_for(client, "#nothing") == []
    assert ada.id in {u for (u,) in await search_mentions(mention)}


async def search_mentions(post_id: int) -> list[tuple[int]]:
    from flasky.models import PostMention

    return await PostMention.filter(post_id=post_id).values_list("user_id")


async def test_ranking_counts_the_words_and_newer_wins_ties(client, people):
    john = people["john"]
    once = await post(john, "htmx is neat, said the other one", minutes_ago=1)
    thrice = await post(john, "htmx htmx htmx is neat", minutes_ago=30)
    assert await ids_for(client, "htmx") == [thrice, once]
    old = await post(john, "identical words here", minutes_ago=50)
    new = await post(john, "identical words here", minutes_ago=5)
    assert await ids_for(client, "identical") == [new, old]


async def test_cjk_text_is_found_by_its_words(client, people):
    john = people["john"]
    weather = await post(john, "今天天气很好")
    japanese = await post(john, "東京タワーに行きました")
    korean = await post(john, "오늘 날씨가 좋아요")
    assert await ids_for(client, "天气") == [weather]
    assert await ids_for(client, "天气很好") == [weather]
    assert await ids_for(client, "很坏") == []
    assert await ids_for(client, "タワー") == [japanese]
    assert await ids_for(client, "날씨가") == [korean]
    # one character finds the runs holding it (猫 "cat", 人 "person" are words)
    cat = await post(john, "黒猫がいる。我爱你。人")
    assert await ids_for(client, "猫") == [cat]
    assert await ids_for(client, "爱") == [cat]
    assert await ids_for(client, "人") == [cat]
    assert await ids_for(client, "天") == [weather]
    assert await ids_for(client, "天 好") == [weather]
    assert await ids_for(client, '"天好"') == []  # a phrase is still its pairs, side by side
    assert await ids_for(client, "-猫 天气") == [weather]
    assert await ids_for(client, "猫 -爱") == []
    # a post of 10,000 different characters: 9,999 pairs and 10,000 singles, past the
    # 16,383 positions PostgreSQL keeps — its last character is still found
    long = await post(john, "".join(chr(0x4E00 + n) for n in range(10_000)))
    assert await ids_for(client, chr(0x4E00 + 9_999)) == [long]
    assert await ids_for(client, chr(0x4E00 + 9_998) + chr(0x4E00 + 9_999)) == [long]
    body = (await (await client.get("/search?q=" + quote("天气"), headers=JSON)).get_json())[
        "posts"
    ][0]
    assert "<mark>天气</mark>" in body["snippet"]


async def test_accents_and_case_do_not_matter(client, people):
    cafe = await post(people["john"], "Un café à Paris, ÉTÉ")
    assert await ids_for(client, "cafe") == [cafe]
    assert await ids_for(client, "CAFÉ ete") == [cafe]


async def test_people_by_username_or_name_prefix(client, people):
    response = await client.get("/search?q=sus", headers=JSON)
    data = await response.get_json()
    assert [u["username"] for u in data["users"]] == ["susan"]
    assert set(data["users"][0]) == USER_KEYS
    for q, expected in (("love", ["susan"]), ("ada", ["Ada_L"]), ("byr", ["Ada_L"])):
        found = await (await client.get(f"/search?q={q}", headers=JSON)).get_json()
        assert [u["username"] for u in found["users"]] == expected, q
    found = await (await client.get("/search?q=%25", headers=JSON)).get_json()
    assert found["users"] == []  # LIKE wildcards are letters here


# -- three forms, pages, queries ---------------------------------------------------------------


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"FLASKY_POSTS_PER_PAGE": 3}


async def test_three_forms_and_keyset_pages(client, people):
    john = people["john"]
    made = [await post(john, f"page word number {i}", minutes_ago=i) for i in range(8)]
    response = await client.get("/search?q=word", headers=JSON)
    data = await response.get_json()
    assert set(data) == {"users", "posts", "next", "count"}
    assert data["count"] == 8 and len(data["posts"]) == 3
    assert set(data["posts"][0]) == POST_KEYS | {"snippet"}
    seen = [p["id"] for p in data["posts"]]
    while data["next"]:
        assert data["next"].startswith("http://localhost/search?")
        data = await (await client.get(data["next"], headers=JSON)).get_json()
        assert data["users"] == []
        seen += [p["id"] for p in data["posts"]]
    assert seen == made  # newest first among equals, none twice, none lost

    page = await text(await client.get("/search?q=word"))
    assert "<html" in page and 'id="search-results"' in page and "8 matches" in page
    assert RESULT_IDS.findall(page) == [str(i) for i in made[:3]]
    more = re.search(r'class="sentinel" hx-get="([^"]+)"', page)
    assert more is not None
    fragment = await text(await client.get(more.group(1).replace("&amp;", "&"), headers=HTMX))
    assert "<html" not in fragment and RESULT_IDS.findall(fragment) == [str(i) for i in made[3:6]]

    suggest = await text(await client.get("/search?q=word&suggest=1", headers=HTMX))
    assert "<html" not in suggest and suggest.count('class="suggest-item"') == 5  # five at most
    assert "All results for" in suggest and "<mark>word</mark>" in suggest


async def test_the_number_of_queries_does_not_grow_with_the_results(client, people):
    john = people["john"]
    await post(john, "counted once")
    few = query_count(await client.get("/search?q=counted", headers=JSON))
    for i in range(10):
        await post(people["susan" if i % 2 else "ada"], f"counted {i} times")
    many = query_count(await client.get("/search?q=counted", headers=JSON))
    assert few == many <= 6
    assert query_count(await client.get("/search?q=counted")) <= 7


async def test_empty_and_junk_queries_find_nothing_quietly(client, people):
    await post(people["john"], "something")
    for q in ("", "   ", '"', "-", "from:", "#", "@", '""', "- - -", "#123"):
        response = await client.get(f"/search?q={quote(q)}", headers=JSON)
        assert response.status_code == 200, q
        assert (await response.get_json()) == {"users": [], "posts": [], "next": None, "count": 0}
    page = await text(await client.get("/search"))
    assert 'name="q"' in page and "Search" in page


HOSTILE = [
    '"unbalanced',
    'unbalanced"',
    'a "b',
    "NEAR(a b)",
    "a NEAR b",
    "words:x",
    "col:x",
    "^start",
    "a*",
    "*",
    "a OR b",
    "a AND NOT b",
    "(((",
    ")",
    "'; DROP TABLE posts; --",
    "\x00nul\x00",
    "\\",
    "!@#$%^&*()",
    "'a' & 'b' | !c <-> d",
    "a:*",
    "🙂🙃 emoji",
    "--",
    "from:-x",
    "#" + "x" * 80,
    "@" + "y" * 80,
    "x" * 500,
    "天" * 400,
]


@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_queries_answer_200(client, people, q):
    await post(people["john"], "a b c start words x posts")
    for headers in (JSON, HTMX, {}):
        response = await client.get(f"/search?q={quote(q)}", headers=headers)
        assert response.status_code == 200, (q, headers)
    response = await client.get(f"/search?q={quote(q)}&suggest=1", headers=HTMX)
    assert response.status_code == 200


async def test_over_500_characters_is_a_400_with_a_message(client, people):
    for q in ("x" * 501, "a " * 500, "天" * 1000):
        response = await client.get(f"/search?q={quote(q)}", headers=JSON)
        assert response.status_code == 400
        assert "500" in (await response.get_json())["message"]
    response = await client.get("/search?q=" + "x" * 1000)
    assert response.status_code == 400


async def test_a_bad_cursor_is_a_400(client, people):
    huge = pagination.encode_cursor(utcnow(), 2**70)
    ancient = pagination.encode_cursor(utcnow().replace(year=1), 1)
    for cursor in (
        "nope",
        "1.5~",
        "nan~abc",
        "inf~" + "x" * 10,
        "1~!!!!",
        "1e308~" + huge,
        "1~" + ancient,
    ):
        response = await client.get(f"/search?q=a&cursor={quote(cursor)}", headers=JSON)
        assert response.status_code == 400, cursor


async def test_hostile_posts_never_reach_a_snippet_unescaped(client, people):
    payloads = [
        "find <script>alert(1)</script> me",
        "find <img src=x onerror=alert(2)> me",
        "find &lt;b&gt;escaped&lt;/b&gt; me",
        'find <a href="javascript:alert(3)">x</a> me',
        "find <div hx-get=/logout hx-trigger=load>x</div> me",
    ]
    for body in payloads:
        await post(people["john"], body)
    found = await all_results(client, "find")
    assert len(found) == len(payloads)
    snippets = " ".join(p["snippet"] for p in found)
    for headers, suffix in ((None, ""), ({}, ""), (HTMX, "&suggest=1")):
        if headers is None:
            body = snippets + " ".join(p["body_html"] for p in found)
        else:
            body = await text(await client.get(f"/search?q=find{suffix}", headers=headers))
        for bad in ("<script>", "<img src=x", "<b>", "javascript:alert", "<div hx-get"):
            assert bad not in body, (bad, headers)
    assert "&lt;b&gt;escaped&lt;/b&gt;" in snippets and "<mark>find</mark>" in snippets
    page = await text(await client.get("/search?q=find"))
    assert page.count('class="body snippet" hx-disable') == 3  # a page of them


async def test_writes_between_pages_skip_nothing(client, people):
    """bm25 (SQLite) weighs a word by how rare it is among all posts, so any write moves
    every score: the next page goes on from where the last post shown stands now."""
    john, susan = people["john"], people["susan"]
    for i in range(9):
        await post(john, "needle " * (1 + i % 3) + "hay " * (i % 4), minutes_ago=i)
    for i in range(20):
        await post(susan, "other words " * (1 + i % 3))
    data = await (await client.get("/search?q=needle", headers=JSON)).get_json()
    seen = [p["id"] for p in data["posts"]]
    for i in range(10):  # unrelated posts: every needle's score changes
        await post(susan, f"more words {i} " * (1 + i % 3))
    while data["next"]:
        data = await (await client.get(data["next"], headers=JSON)).get_json()
        seen += [p["id"] for p in data["posts"]]
    assert len(seen) == len(set(seen)) == 9


async def test_long_words_are_cut_not_refused(client, people):
    blob = "A1b2" * 600  # a hash or base64 blob: PostgreSQL refuses lexemes over 2 KB
    response = await client.post(
        "/api/v1/posts/",
        json={"body": f"see https://example.com/{blob} and " + "x" * 3000},
        headers=api_headers(people["john"].email),
    )
    assert response.status_code == 201
    assert len(await ids_for(client, "x" * 500)) == 1  # a long word is its first 100 letters
    assert len(await ids_for(client, blob[:400])) == 1
    for q in ("\ufdf2" * 500, "ﷺ" * 100 + " " + "ﷺ" * 399):  # each is 4 letters, unfolded
        assert (await client.get(f"/search?q={quote(q)}", headers=JSON)).status_code == 200
    assert await search.reindex() == 1


# -- the index follows every write ---------------------------------------------------------------


async def test_every_write_path_keeps_the_index(client, auth, people):
    john = people["john"]
    # a form, signed in
    await login(client, john)
    csrf = await token(client)
    await client.post("/", form={"body": "alpha from a form", "csrf_token": csrf})
    # JSON with a session
    await client.post("/", json={"body": "alpha from json"}, headers={**JSON, "X-CSRFToken": csrf})
    # /api/v1 with Basic
    response = await client.post(
        "/api/v1/posts/", json={"body": "alpha from the api"}, headers=api_headers(john.email)
    )
    assert response.status_code == 201
    assert len(await ids_for(client, "alpha")) == 3
    ids = await ids_for(client, "alpha api")
    assert len(ids) == 1
    # edits: form, JSON PUT, /api/v1 PUT
    form_post = (await ids_for(client, "alpha form"))[0]
    await client.post(f"/edit/{form_post}", form={"body": "beta now", "csrf_token": csrf})
    assert await ids_for(client, "alpha form") == [] and await ids_for(client, "beta") == [
        form_post
    ]
    json_post = (await ids_for(client, "alpha json"))[0]
    await client.put(
        f"/post/{json_post}", json={"body": "gamma now"}, headers={**JSON, "X-CSRFToken": csrf}
    )
    assert await ids_for(client, "gamma") == [json_post]
    response = await client.put(
        f"/api/v1/posts/{ids[0]}", json={"body": "delta now"}, headers=api_headers(john.email)
    )
    assert response.status_code == 200
    assert await ids_for(client, "delta") == ids and await ids_for(client, "alpha") == []
    # deletes
    await client.post(f"/delete/{form_post}", form={"csrf_token": csrf})
    await client.delete(f"/post/{json_post}", headers={**JSON, **basic(john.email)})
    assert await ids_for(client, "beta") == [] and await ids_for(client, "gamma") == []
    assert await ids_for(client, "now") == ids


async def test_deleting_the_author_takes_the_posts_out_of_the_index(client, people):
    await post(people["susan"], "vanishing words")
    await User.filter(id=people["susan"].id).delete()
    data = await (await client.get("/search?q=vanishing", headers=JSON)).get_json()
    assert data["posts"] == [] and data["count"] == 0


async def test_fake_and_reindex_build_the_index(client, people):
    await fake_data(users=3, posts=30, comments=0, seed=7)
    word = (await Post.all().order_by("id").first()).body.split()[0].strip(".,").lower()
    found = await (await client.get(f"/search?q={quote(word)}", headers=JSON)).get_json()
    assert found["count"] >= 1
    assert await search.reindex() == await Post.all().count()
    again = await (await client.get(f"/search?q={quote(word)}", headers=JSON)).get_json()
    assert again["count"] == found["count"]


# -- the parser and the snippet, directly ----------------------------------------------------------


def test_the_parser_never_passes_syntax_through():
    query = search.parse('NEAR(a "b c" -d) col:x ^y z* #Tag @Bob from:Eve -from:mallory')
    # a chunk is one phrase: "NEAR(a" must match the words "near a" side by side
    assert query.phrases == [["near", "a"], ["b", "c"], ["col", "x"], ["y"], ["z"]]
    assert query.excluded == [["d"]]
    assert query.tags == [("tag", True)] and query.mentions == [("bob", True)]
    assert query.authors == [("eve", True), ("mallory", False)]
    for phrase in query.phrases:
        for word in phrase:
            assert re.fullmatch(r"\w+", word) and "_" not in word


def test_snippets_find_the_match_in_long_unspaced_text_and_skip_attributes():
    snippet = search.snippet("<p>" + "今天" * 300 + "天气很好</p>", search.parse("天气"))
    assert "<mark>天气</mark>" in snippet and snippet.startswith("…")
    html = '<p><abbr title="a &gt; b c">zz</abbr> <a href="x" title=\'<y>\'>w</a> python</p>'
    assert search.snippet(html, search.parse("python")) == "zz w <mark>python</mark>"


def test_plain_text_keeps_inline_markup_tight_and_blocks_apart():
    html = '<p>with <a href="/user/b" class="mention">@b</a>.</p><ul><li>one</li><li>two</li></ul>'
    assert search.plain_text(html) == "with @b. one two"


def test_snippets_escape_everything_but_their_marks():
    query = search.parse("needle")
    html = "<p>" + "hay " * 80 + "needle &lt;script&gt; " + "hay " * 80 + "</p>"
    snippet = search.snippet(html, query)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>needle</mark> &lt;script&gt;" in snippet
    assert len(snippet) < 300
