"""Markdown to safe HTML: the one function every path that sets a body calls."""

from __future__ import annotations

import functools

import bleach
import markdown as md
from bleach.linkifier import DEFAULT_CALLBACKS

POST_TAGS = frozenset(
    "a abbr acronym b blockquote code em i li ol pre strong ul h1 h2 h3 p".split()
)
COMMENT_TAGS = frozenset("a abbr acronym b code em i strong".split())
ATTRIBUTES = {"a": ["href", "title", "rel"], "abbr": ["title"], "acronym": ["title"]}
PROTOCOLS = frozenset({"http", "https", "mailto"})

POST_MAX = 10_000
COMMENT_MAX = 2_000


@functools.cache
def _cleaner(kind: str) -> bleach.Cleaner:
    tags = POST_TAGS if kind == "post" else COMMENT_TAGS
    return bleach.Cleaner(
        tags=tags,
        attributes=ATTRIBUTES,
        protocols=PROTOCOLS,
        strip=True,
        filters=[
            functools.partial(
                bleach.linkifier.LinkifyFilter,
                callbacks=DEFAULT_CALLBACKS,  # adds rel="nofollow"
                skip_tags={"pre", "code"},
            )
        ],
    )


def render_markdown(body: str, kind: str = "post") -> str:
    """Markdown → HTML, sanitised with the allow-list of `kind` ('post' or 'comment')."""
    if kind not in ("post", "comment"):
        raise ValueError(f"unknown body kind {kind!r}")
    html = md.markdown(body, output_format="html")
    return _cleaner(kind).clean(html)
