"""Markdown to safe HTML: the one function every path that sets a body calls."""

from __future__ import annotations

import functools
import re
import threading

import bleach
import markdown as md
from bleach.linkifier import DEFAULT_CALLBACKS

POST_TAGS = frozenset(
    {"a", "abbr", "acronym", "b", "blockquote", "code", "em", "i", "li", "ol", "pre"}
    | {"strong", "ul", "h1", "h2", "h3", "p"}
)
COMMENT_TAGS = frozenset({"a", "abbr", "acronym", "b", "code", "em", "i", "strong"})
ATTRIBUTES = {"a": ["href", "title", "rel"], "abbr": ["title"], "acronym": ["title"]}
PROTOCOLS = frozenset({"http", "https", "mailto"})

POST_MAX = 10_000
COMMENT_MAX = 2_000


# Markdown and bleach objects are not thread-safe, and building them costs more than a
# small render: each thread keeps its own.
_local = threading.local()


def _cleaner(kind: str) -> bleach.Cleaner:
    cleaners = _local.__dict__.setdefault("cleaners", {})
    if kind not in cleaners:
        cleaners[kind] = bleach.Cleaner(
            tags=POST_TAGS if kind == "post" else COMMENT_TAGS,
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
    return cleaners[kind]


def _markdown() -> md.Markdown:
    converter = _local.__dict__.get("markdown")
    if converter is None:
        converter = _local.markdown = md.Markdown(output_format="html", extensions=["fenced_code"])
    return converter.reset()


# Plain prose: words of ASCII letters joined by single spaces, with , . ? ! only at a
# word's end, paragraphs split by one blank line. Markdown changes nothing in it but the
# <p> wrapping, and linkify finds nothing (no dot is followed by a letter), so the result
# is known without parsing. Bulk loads are mostly such text; tests hold the two paths equal.
_PLAIN_PARAGRAPH = re.compile(r"[A-Za-z]+[,.?!]?(?: [A-Za-z]+[,.?!]?)*")


def render_plain(body: str, kind: str = "post") -> str | None:
    """`render_markdown(body, kind)` when `body` is plain prose, else None (cheap to ask)."""
    paragraphs = body.split("\n\n")
    if not all(_PLAIN_PARAGRAPH.fullmatch(p) for p in paragraphs):
        return None
    if kind == "post":
        return "\n".join(f"<p>{p}</p>" for p in paragraphs)
    # comments do not allow <p>: bleach strips the tags, leaving a blank line between
    return "\n\n".join(paragraphs)


# Blocks a post's Markdown may start with that bleach keeps as they are: after leading
# plain paragraphs, the rest renders on its own to the same HTML.
_KEPT_BLOCKS = ("<p>", "<ul>", "<ol>", "<blockquote>", "<pre>", "<h1>", "<h2>", "<h3>")


def render_markdown(body: str, kind: str = "post") -> str:
    """Markdown → HTML, sanitised with the allow-list of `kind` ('post' or 'comment')."""
    if kind not in ("post", "comment"):
        raise ValueError(f"unknown body kind {kind!r}")
    plain = render_plain(body, kind)
    if plain is not None:
        return plain
    if kind == "post":
        # Leading plain paragraphs are known HTML; only the rest needs parsing (a post
        # often opens with prose). Nothing before them can change how they render.
        paragraphs = body.split("\n\n")
        head = 0
        while _PLAIN_PARAGRAPH.fullmatch(paragraphs[head]):
            head += 1  # stops before the end: the whole body is not plain
        rest = "\n\n".join(paragraphs[head:])
        if head and rest.strip():
            html = _markdown().convert(rest)
            if html.startswith(_KEPT_BLOCKS):
                known = "".join(f"<p>{p}</p>\n" for p in paragraphs[:head])
                return known + _cleaner(kind).clean(html)
    return _cleaner(kind).clean(_markdown().convert(body))


def render_many(bodies: list[str], kind: str = "post") -> list[str]:
    """`render_markdown` of each body (a picklable unit of work for worker processes)."""
    return [render_markdown(body, kind) for body in bodies]


def render_markdown_full(body: str, kind: str = "post") -> str:
    """The full Markdown + bleach path, without the plain-prose shortcut (for tests)."""
    return _cleaner(kind).clean(_markdown().convert(body))
