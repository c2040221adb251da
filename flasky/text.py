"""Markdown to safe HTML: the one function every path that sets a body calls.

`render_markdown(body, kind)` is the rendering itself (markdown + bleach + linkify).
Requests call `await render(body, kind)`: plain prose is answered at once; anything
else runs in a small pool of worker processes with a time budget (`BUDGET`, 1 s), so
pathological Markdown can neither block the event loop nor keep a core busy: a worker
over budget is killed and replaced, and the request gets `TooComplex` (400). Bodies
nested deeper than `MAX_NESTING` are refused before any parsing, and a render that
fails (a RecursionError, say) leaves no converter behind in a half-used state.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import unicodedata
import urllib.parse
from collections import deque
from collections.abc import Iterable
from typing import Any

import bleach
import markdown as md
from bleach import html5lib_shim
from bleach.linkifier import DEFAULT_CALLBACKS
from markdown.blockprocessors import HashHeaderProcessor
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from flasky.exceptions import TooComplex

POST_TAGS = frozenset(
    {"a", "abbr", "acronym", "b", "blockquote", "code", "em", "i", "li", "ol", "pre"}
    | {"strong", "ul", "h1", "h2", "h3", "p"}
)
COMMENT_TAGS = frozenset({"a", "abbr", "acronym", "b", "code", "em", "i", "strong"})
ATTRIBUTES = {"a": ["href", "title", "rel"], "abbr": ["title"], "acronym": ["title"]}
PROTOCOLS = frozenset({"http", "https", "mailto"})

POST_MAX = 10_000
COMMENT_MAX = 2_000

# Lists and quotes nested deeper than this are refused (Python-Markdown recurses per level).
MAX_NESTING = 20
# Seconds a render may take in a worker before it is killed.
BUDGET = 1.0
# Worker processes per server process.
POOL_SIZE = 2


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
                ),
                _TagsAndMentions if kind == "post" else _Mentions,
            ],
        )
    return cleaners[kind]


# -- tags and mentions ------------------------------------------------------------------------
# `#word` (letters of any script, digits, `_`; at least one letter; up to 64) and
# `@username` in the text of a body become links when it renders: a tag to its page, a
# mention to the profile it names. Rendering cannot know which users exist, so every
# `@name` shaped like a username becomes a candidate link; `resolve_mentions` (with the
# database) keeps those of existing users and turns the others back into plain text.
# bleach strips every `class` a writer puts on a link, so `class="tag"` and
# `class="mention"` mark exactly the links made here: the post's tags and mentions are
# read back from its HTML (`tags_in`, `mentions_in`), never parsed from the body twice.


def _marks() -> str:
    """A character class body of every combining mark (Mn, Mc, Me): a tag's letters may
    carry them (Devanagari vowel signs, Arabic harakat, a decomposed accent), and `\\w`
    alone does not match them."""
    ranges: list[tuple[int, int]] = []
    # the marks all lie in these planes, but for the variation selectors of plane 14
    for code in itertools.chain(range(0x300, 0x20000), range(0xE0100, 0xE01F0)):
        if unicodedata.category(chr(code)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges)


_TAG_CHARS = r"[\w" + _marks() + "]"
MAX_TAGS = 30  # distinct tags linked in one post
MAX_MENTIONS = 20  # distinct names linked in one body
TAG_RE = re.compile(rf"(?<![\w&#/])#({_TAG_CHARS}{{1,64}})(?!{_TAG_CHARS}|#)")
MENTION_RE = re.compile(r"(?<![\w@./])@([A-Za-z][A-Za-z0-9_.]{0,63})")
_TAG_LINK = re.compile(r'<a href="/tag/([^"]*)" class="tag">')
_MENTION_LINK = re.compile(r'<a href="/user/([^"]*)" class="mention">@([^<]*)</a>')


def normal_tag(tag: str) -> str:
    """A tag as stored and linked: NFKC, case folded, NFKC again (`#Café` and `#CAFÉ`
    are one; normalising a normal tag changes nothing)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", tag).casefold())


_TAG_WORD = re.compile(f"{_TAG_CHARS}{{1,64}}")


def _tag_shaped(word: str) -> bool:
    return _TAG_WORD.fullmatch(word) is not None and any(c.isalpha() for c in word)


def tag_named(word: str) -> str | None:
    """The tag `#word` names (normalised), or None when `word` is not one: letters of
    any script (with their marks), digits and `_`, up to 64, at least one letter (`#1`
    is not a tag) — before and after normalising (`#a¼` would become "a1⁄4": not one)."""
    if not _tag_shaped(word):
        return None
    tag = normal_tag(word)
    return tag if _tag_shaped(tag) else None


def _link(href: str, css: str, text: str) -> list[dict[str, Any]]:
    return [
        {"type": "StartTag", "name": "a", "data": {(None, "href"): href, (None, "class"): css}},
        {"type": "Characters", "data": text},
        {"type": "EndTag", "name": "a", "data": {}},
    ]


class _Mentions(html5lib_shim.Filter):
    """Links `@name` (and, in posts, `#tag`) in text outside links and code: the first
    MAX_MENTIONS names and MAX_TAGS tags of a body (one post cannot notify a thousand
    people or fill a thousand tag lists); later ones stay text."""

    tags = False
    SKIP = frozenset({"a", "code", "pre"})

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        self.seen: dict[str, set[str]] = {"mention": set(), "tag": set()}

    def _room(self, css: str, key: str) -> bool:
        """Whether `key` may be linked: seen already, or under its kind's limit."""
        seen = self.seen[css]
        if key in seen:
            return True
        if len(seen) >= (MAX_MENTIONS if css == "mention" else MAX_TAGS):
            return False
        seen.add(key)
        return True

    def __iter__(self) -> Any:
        skipping: list[str] = []
        text: list[str] = []
        for token in super().__iter__():
            kind = token["type"]
            if kind == "Characters" and not skipping:
                text.append(token["data"])
                continue
            if text:
                yield from self._linked("".join(text))
                text = []
            if kind == "StartTag" and token["name"] in self.SKIP:
                skipping.append(token["name"])
            elif kind == "EndTag" and skipping and token["name"] == skipping[-1]:
                skipping.pop()
            yield token
        if text:
            yield from self._linked("".join(text))

    def _linked(self, text: str) -> Any:
        found = [(m.start(), m.end(), "mention", m.group(1)) for m in MENTION_RE.finditer(text)]
        if self.tags:
            found += [(m.start(), m.end(), "tag", m.group(1)) for m in TAG_RE.finditer(text)]
        pos = 0
        for start, end, css, word in sorted(found):
            if start < pos:
                continue
            if css == "mention":
                # "thanks @ada." may end the sentence or the name "ada.": both are asked
                # for when the mention is settled (`keep_mentions`, `mention_names`)
                if not self._room(css, word.lower()):
                    continue
                href = f"/user/{word}"
            else:
                tag = tag_named(word)
                if tag is None or not self._room(css, tag):
                    continue
                href = f"/tag/{urllib.parse.quote(tag)}"
            if start > pos:
                yield {"type": "Characters", "data": text[pos:start]}
            yield from _link(href, css, text[start:end])
            pos = end
        if pos < len(text):
            yield {"type": "Characters", "data": text[pos:]}


class _TagsAndMentions(_Mentions):
    tags = True


def tags_in(html: str) -> list[str]:
    """The tags a rendered body links, each once, in order."""
    if 'class="tag"' not in html:
        return []
    return list(dict.fromkeys(urllib.parse.unquote(t) for t in _TAG_LINK.findall(html)))


def mentions_in(html: str) -> list[str]:
    """The usernames a rendered body links as mentions, each once (as written)."""
    if 'class="mention"' not in html:
        return []
    return list(dict.fromkeys(name for name, _ in _MENTION_LINK.findall(html)))


def mention_names(names: Iterable[str]) -> set[str]:
    """The usernames to look up for the mentions `names`: each, and, for one that ends in
    dots ("ada." may end a sentence), the name without them."""
    return {n for name in names for n in (name, name.rstrip(".")) if n}


def keep_mentions(html: str, usernames: dict[str, str]) -> str:
    """`html` with the mention links of names in `usernames` (lower case → the name as
    registered) pointing at that profile, and every other mention back to plain text;
    `@ada.` is the user "ada." if there is one, else "ada" and a full stop."""
    if 'class="mention"' not in html:
        return html

    def settle(found: re.Match[str]) -> str:
        written, shown, tail = found.group(1), found.group(2), ""
        name = usernames.get(written.lower())
        if name is None and written.endswith("."):
            name = usernames.get(written.rstrip(".").lower())
            stem = shown.rstrip(".")
            shown, tail = stem, shown[len(stem) :]
        if name is None:
            return "@" + shown + tail
        return f'<a href="/user/{name}" class="mention">@{shown}</a>{tail}'

    return _MENTION_LINK.sub(settle, html)


class _ImagesAsLinks(Treeprocessor):
    """`![cat](url)` becomes a link to the image, "Image: cat": we show no images (no
    third-party requests from a reader's browser), but the reader can still open it.
    bleach then checks the link like any other (`javascript:` and friends go)."""

    def run(self, root: Any) -> None:
        in_links = {id(img) for link in root.iter("a") for img in link.iter("img")}
        for img in root.iter("img"):
            src, alt, title = img.get("src", ""), img.get("alt", ""), img.get("title")
            img.attrib.clear()
            img.text = f"Image: {alt}" if alt.strip() else "Image"
            if id(img) in in_links:  # already inside a link: its text only (bleach drops the span)
                img.tag = "span"
                continue
            img.tag = "a"
            img.set("href", src)
            if title:
                img.set("title", title)


class _SpacedHeaders(HashHeaderProcessor):
    """A heading is `#`s then a space (as in CommonMark): `#python` at the start of a
    line is a tag, not a heading."""

    RE = re.compile(
        r"(?:^|\n)(?P<level>#{1,6})(?=[ \t]|\n|$)"
        r"(?P<header>(?:\\.|[^\\#]|#+(?=[^#\n]))*?)#*(?:\n|$)"
    )


class _ImagesAsLinksExtension(Extension):
    def extendMarkdown(self, converter: md.Markdown) -> None:  # noqa: N802 (Markdown's name)
        converter.treeprocessors.register(_ImagesAsLinks(converter), "images_as_links", 5)
        converter.parser.blockprocessors.register(
            _SpacedHeaders(converter.parser), "hashheader", 70
        )


def _markdown() -> md.Markdown:
    converter = _local.__dict__.get("markdown")
    if converter is None:
        converter = _local.markdown = md.Markdown(
            output_format="html", extensions=["fenced_code", _ImagesAsLinksExtension()]
        )
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


# Block markers that open a nested list or quote: "> ", "- ", "* ", "+ ", "1. ", "1) ".
_MARKER = re.compile(r"[ \t]*(?:>|[*+-](?=[ \t])|\d{1,9}[.)](?=[ \t]|$))")


def nesting(body: str) -> int:
    """How deeply lists and quotes nest in `body`: per line, the markers it opens one
    after the other ("1. 1. 1. x" is three) plus its indentation in steps of four."""
    deepest = 0
    for line in body.splitlines():
        count, pos = 0, 0
        while (found := _MARKER.match(line, pos)) is not None and found.end() > pos:
            count, pos = count + 1, found.end()
        if count:
            indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))
            deepest = max(deepest, count + indent // 4)
    return deepest


def render_markdown(body: str, kind: str = "post") -> str:
    """Markdown → HTML, sanitised with the allow-list of `kind` ('post' or 'comment').
    TooComplex when the body nests deeper than MAX_NESTING or its parse recurses too
    deeply; the converter of this thread is then thrown away, not reused."""
    plain = _checked(body, kind)
    if plain is not None:
        return plain
    try:
        return _render_rich(body, kind)
    except RecursionError:
        _forget_converters()
        raise TooComplex() from None
    except Exception:
        _forget_converters()
        raise


def _checked(body: str, kind: str) -> str | None:
    """The HTML of plain prose (known without parsing), else None once the body has
    passed the nesting limit (TooComplex otherwise)."""
    if kind not in ("post", "comment"):
        raise ValueError(f"unknown body kind {kind!r}")
    plain = render_plain(body, kind)
    if plain is None and nesting(body) > MAX_NESTING:
        raise TooComplex()
    return plain


def _forget_converters() -> None:
    """A failed render may leave Markdown's or bleach's state half-way: start afresh."""
    _local.__dict__.pop("markdown", None)
    _local.__dict__.pop("cleaners", None)


def _render_rich(body: str, kind: str) -> str:
    """The Markdown + bleach path, with leading plain paragraphs of a post known."""
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


async def render(body: str, kind: str = "post") -> str:
    """`render_markdown` for a request: plain prose at once, anything else in a worker
    process within BUDGET seconds (TooComplex past it, or past the nesting limit)."""
    plain = _checked(body, kind)
    if plain is not None:
        return plain
    return await _pool.render(body, kind)


def render_many(bodies: list[str], kind: str = "post") -> list[str]:
    """`render_markdown` of each body (a picklable unit of work for worker processes)."""
    return [render_markdown(body, kind) for body in bodies]


# -- the worker pool ------------------------------------------------------------------------
# Each worker is `python -m flasky.text`: a fresh interpreter (nothing inherited from a
# server process with threads and an event loop) reading one JSON line per body on stdin
# and answering one JSON line on stdout.


def _serve() -> None:
    """A worker process: render each line of stdin until it closes."""
    out = sys.stdout.buffer
    out.write(b'"ready"\n')
    out.flush()
    for line in sys.stdin.buffer:
        try:
            body, kind = json.loads(line)
            answer = ["ok", render_markdown(body, kind)]
        except TooComplex:
            answer = ["too complex", ""]
        except Exception as exc:  # reported to the request, which answers 500
            answer = ["error", f"{type(exc).__name__}: {exc}"]
        out.write(json.dumps(answer).encode() + b"\n")
        out.flush()


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Worker:
    """One rendering process and the pipes to it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flasky.text"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:  # PIPE always gives both
            raise OSError("the Markdown worker has no pipes")
        self.stdin, self.stdout = stdin, stdout
        self.fd = stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buffer = b""

    async def _line(self, timeout: float | None) -> Any:
        """The next JSON line from the worker, waiting at most `timeout` seconds."""
        loop = asyncio.get_running_loop()
        while b"\n" not in self.buffer:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self.fd, _set_done, ready)
            try:
                await asyncio.wait_for(ready, timeout)
            finally:
                loop.remove_reader(self.fd)
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError("the Markdown worker ended")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    async def started(self) -> _Worker:
        """Wait until the worker has imported what it needs (not part of any budget)."""
        if await self._line(30.0) != "ready":
            raise EOFError("the Markdown worker did not start")
        return self

    async def render(self, body: str, kind: str, budget: float) -> tuple[str, str]:
        """Send one body and wait for its HTML, at most `budget` seconds."""
        self.stdin.write(json.dumps([body, kind]).encode() + b"\n")
        self.stdin.flush()
        status, html = await self._line(budget)
        return status, html

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.wait(1)
        for pipe in (self.stdin, self.stdout):
            with contextlib.suppress(Exception):
                pipe.close()


class RenderPool:
    """Up to POOL_SIZE workers per process, started when first needed; a worker that
    overruns the budget or dies is killed and replaced. Shared by every event loop of
    the process (tests run many)."""

    def __init__(self) -> None:
        self.workers: set[_Worker] = set()  # started, busy or idle
        self.idle: list[_Worker] = []
        self.waiters: deque[asyncio.Future[None]] = deque()

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        self.workers.discard(worker)

    async def acquire(self) -> _Worker:
        while True:
            while self.idle:
                worker = self.idle.pop()
                if worker.alive():
                    return worker
                self._retire(worker)
            if len(self.workers) < POOL_SIZE:
                worker = _Worker()
                self.workers.add(worker)
                try:
                    return await worker.started()
                except BaseException:
                    self._retire(worker)
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)

    def release(self, worker: _Worker, healthy: bool = True) -> None:
        if healthy and worker.alive():
            self.idle.append(worker)
        else:
            self._retire(worker)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
                break

    async def render(self, body: str, kind: str) -> str:
        worker = await self.acquire()
        healthy = False
        try:
            status, html = await worker.render(body, kind, BUDGET)
            healthy = True
        except (TimeoutError, OSError, EOFError, ValueError):
            raise TooComplex() from None  # over budget (or crashed on this body)
        finally:
            # a worker interrupted mid-render (budget, cancellation) would answer late
            self.release(worker, healthy)
        if status == "too complex":
            raise TooComplex()
        if status != "ok":
            raise RuntimeError(f"Markdown rendering failed: {html}")
        return html

    def close(self) -> None:
        """Stop every worker (at exit)."""
        for worker in list(self.workers):
            self._retire(worker)
        self.idle.clear()


_pool = RenderPool()
atexit.register(_pool.close)

if __name__ == "__main__":
    _serve()
