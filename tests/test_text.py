"""`text.render_markdown`: allow-lists, links, linkify, XSS payloads, the plain-prose
shortcut (same answer as the full path), thread safety."""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from flasky.text import (
    COMMENT_TAGS,
    POST_TAGS,
    _cleaner,
    _markdown,
    render_many,
    render_markdown,
    render_plain,
)


def render_markdown_full(body: str, kind: str = "post") -> str:
    """The full Markdown + bleach path, without the plain-prose shortcut: the answer the
    shortcut must give."""
    return _cleaner(kind).clean(_markdown().convert(body))


TAG_RE = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")

RICH = """# Title

## Sub

### Third

Some *em*, **strong**, `code` and an <abbr title="HyperText">HTML</abbr> word.

> a quote

- one
- two

Between the lists.

1. first
2. second

Then code:

    indented code

[link](https://example.com/a)
"""


def tags(html: str) -> set[str]:
    return {t.lower() for t in TAG_RE.findall(html)}


def test_post_keeps_its_allow_list():
    html = render_markdown(RICH, "post")
    assert {"h1", "h2", "h3", "p", "em", "strong", "code", "abbr", "blockquote"} <= tags(html)
    assert {"ul", "ol", "li", "pre", "a"} <= tags(html)
    assert tags(html) <= POST_TAGS


def test_comment_allow_list_is_inline_only():
    html = render_markdown(RICH, "comment")
    assert tags(html) <= COMMENT_TAGS
    assert {"em", "strong", "code", "a", "abbr"} <= tags(html)
    for block in ("h1", "p", "blockquote", "ul", "li", "pre"):
        assert block not in tags(html)
    assert "Title" in html and "a quote" in html  # text of stripped tags stays


@pytest.mark.parametrize(
    "markup",
    [
        "<h4>x</h4>",
        "<table><tr><td>x</td></tr></table>",
        "<span>x</span>",
        "<div>x</div>",
        "<img src='https://example.com/x.png'>",
        "![alt](https://example.com/x.png)",
        "<hr>",
        "<u>x</u>",
    ],
)
def test_other_tags_are_stripped(markup: str):
    html = render_markdown(markup, "post")
    assert tags(html) <= POST_TAGS
    assert "&lt;" not in html  # stripped, not shown escaped


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        '<a href=" javascript:alert(1)">x</a>',
        "<a href='data:text/html;base64,PHNjcmlwdD4='>x</a>",
        "![x](javascript:alert(1))",
        "<svg onload=alert(1)>",
        "<iframe src='https://evil.example'></iframe>",
        '"><script>alert(document.cookie)</script>',
        "<p style='background:url(javascript:alert(1))'>x</p>",
        "<a href='https://example.com' onclick='alert(1)'>x</a>",
        "<object data='x.swf'></object><embed src='x'>",
        "<form action='https://evil.example'><input name=a></form>",
        "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
        "<<script>script>alert(1)<</script>/script>",
        "`<script>alert(1)</script>`",
    ],
)
@pytest.mark.parametrize("kind", ["post", "comment"])
def test_xss_payloads_are_neutralised(body: str, kind: str):
    html = render_markdown(body, kind).lower()
    assert "<script" not in html
    assert "javascript:" not in html
    assert "data:text" not in html
    for needle in ("onerror", "onload", "onclick", "style=", "<img", "<svg", "<iframe"):
        assert needle not in html
    for needle in ("<object", "<embed", "<form", "<input", "<math"):
        assert needle not in html
    allowed = POST_TAGS if kind == "post" else COMMENT_TAGS
    assert tags(render_markdown(body, kind)) <= allowed


@pytest.mark.parametrize("kind", ["post", "comment"])
@pytest.mark.parametrize(
    ("body", "href"),
    [
        ("[a](http://example.com/x)", "http://example.com/x"),
        ("[a](https://example.com/y)", "https://example.com/y"),
    ],
)
def test_web_links_are_kept_with_nofollow(kind: str, body: str, href: str):
    html = render_markdown(body, kind)
    assert f'<a href="{href}" rel="nofollow">' in html


@pytest.mark.parametrize("kind", ["post", "comment"])
def test_mailto_links_are_kept(kind: str):
    # nofollow means nothing to a mail address; bleach leaves it off mailto links
    html = render_markdown("[a](mailto:susan@example.com)", kind)
    assert '<a href="mailto:susan@example.com">a</a>' in html


@pytest.mark.parametrize(
    "body", ["[a](ftp://example.com/f)", "[a](file:///etc/passwd)", "[a](vbscript:msgbox)"]
)
def test_other_link_schemes_lose_their_href(body: str):
    html = render_markdown(body, "post")
    assert "href" not in html
    assert ">a<" in html


def test_bare_urls_are_linkified_with_nofollow():
    html = render_markdown("visit https://example.com/page today", "comment")
    assert '<a href="https://example.com/page" rel="nofollow">' in html


def test_no_linkify_inside_code():
    html = render_markdown("`https://example.com/raw`", "post")
    assert "<a " not in html
    assert "<code>https://example.com/raw</code>" in html


def test_user_text_is_escaped():
    assert render_markdown("a < b & c > d", "comment") == "a &lt; b &amp; c &gt; d"


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        render_markdown("x", "page")


# -- the plain-prose shortcut -------------------------------------------------------------

WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "I",
    "a",
    "com",
    "org",
    "www",
    "http",
    "https",
    "mailto",
    "example",
    "io",
    "net",
]


def plain_prose(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 3)):
        words = [
            rng.choice(WORDS).capitalize() if rng.random() < 0.2 else rng.choice(WORDS)
            for _ in range(rng.randint(1, 14))
        ]
        paragraphs.append(" ".join(w + rng.choice(["", "", "", ",", ".", "?", "!"]) for w in words))
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize("kind", ["post", "comment"])
def test_plain_prose_shortcut_equals_full_rendering(kind: str):
    rng = random.Random(85)
    for _ in range(1500):
        body = plain_prose(rng)
        shortcut = render_plain(body, kind)
        assert shortcut is not None, body
        assert shortcut == render_markdown_full(body, kind), body
        assert render_markdown(body, kind) == shortcut


@pytest.mark.parametrize(
    "body",
    [
        "see example.com",
        "snake_case",
        "*em*",
        " leading space",
        "trailing space ",
        "two  spaces",
        "1. list",
        "- item",
        "# title",
        "a\nb",
        "a\n\n\nb",
        "mail me@example.com",
        "a:b",
        "x <b>y</b>",
        "tab\there",
        "café",
        "",
    ],
)
def test_anything_else_takes_the_full_path(body: str):
    assert render_plain(body, "post") is None
    assert render_markdown(body, "post") == render_markdown_full(body, "post")


# Blocks that may follow leading plain paragraphs, including those bleach strips or that
# render to nothing (where the post shortcut must step aside).
MARKDOWN_BLOCKS = [
    "Some *em* and **strong** here.",
    "- one\n- two\n- three",
    "1. first\n2. second",
    "See [the notes](https://example.com/x) or `code()`.",
    "> quoted\n> lines",
    "    indented code",
    "```\nfenced\n\nwith a blank line\n```",
    "---",
    "* * *",
    "===",
    "# Heading",
    "Title\n-----",
    "text\n===",
    "[ref]: https://example.com/r",
    "[x][ref] by reference",
    "<div>\nraw html\n</div>",
    "<div>",
    "<script>alert(1)</script>",
    "<p>raw p</p>",
    "<pre>\n\nx\n\n</pre>",
    "<!-- comment -->",
    "  - nested\n    - deeper",
    "  indented prose",
    "\t tab",
    " ",
    "",
    "www.example.com and https://x.org/y",
    "a &amp; b &lt; c",
    "![img](https://x.example/y.png)",
    "<https://auto.example>",
    "two spaces  \nline break",
    "\\*escaped\\*",
]


@pytest.mark.parametrize("kind", ["post", "comment"])
def test_posts_opening_with_prose_render_as_the_full_path(kind: str):
    rng = random.Random(2026)
    for _ in range(3000):
        parts = [plain_prose(rng) for _ in range(rng.randint(0, 3))]
        parts += [
            rng.choice(MARKDOWN_BLOCKS) if rng.random() < 0.8 else plain_prose(rng)
            for _ in range(rng.randint(1, 4))
        ]
        body = rng.choice(["\n\n", "\n\n", "\n\n\n", "\n"]).join(parts)
        assert render_markdown(body, kind) == render_markdown_full(body, kind), body


def test_rendering_from_many_threads_agrees():
    bodies = [f"{RICH}\n\nnumber {i} and https://example.com/{i}" for i in range(60)]
    expected = [render_markdown_full(b, "post") for b in bodies]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda b: render_markdown(b, "post"), bodies))
    assert results == expected
    assert render_many(bodies[:3], "post") == expected[:3]


def test_fenced_code_block_renders_as_pre() -> None:
    """Three backticks make a code block, escaped and not linkified."""
    html = render_markdown("```\nx = 1 < 2\nhttp://a.b\n```")
    assert html.startswith("<pre><code>")
    assert "&lt;" in html and "<a " not in html
