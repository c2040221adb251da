"""Full-text search (SPEC §11): the index, the query language, ranking and snippets.

One query function over two engines: SQLite's FTS5 (`post_search`, a virtual table whose
rowid is the post id) and PostgreSQL's `tsvector` + GIN (`post_search`, a table keyed by
post id). Neither engine tokenizes: both index the words this module makes of a post's
text (`words`), so a post is found the same way on both — case folded, accents taken
off, and runs of Chinese, Japanese or Korean characters cut into overlapping bigrams
("今天天气很好" is indexed as 今天 天天 天气 气很 很好, so "天气" finds it).

A query is parsed here (`parse`) into words, phrases and filters; what reaches the
engine is built from the words this module made (letters and digits only) and quoted —
never the user's text — and it is passed as a bound parameter.

The index follows every write of a body in the write's own transaction (`index`,
called by the models' publish and edit paths and by `load` and `fake`); deleting a post
deletes its row (a foreign key on PostgreSQL, a trigger on SQLite). `reindex` rebuilds
it from the posts (`flasky search reindex`).
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tortoise import BaseDBAsyncClient, Tortoise

from flasky import db, feed, pagination
from flasky.pagination import BadCursor
from flasky.text import MENTION_RE, mentions_in, tag_named, tags_in

MAX_QUERY = 500
# Words and filters a query may hold; the rest is ignored (each costs the engine).
MAX_TERMS = 16
MAX_FILTERS = 8
SNIPPET = 200  # characters of text around the first match
MAX_WORD = 100  # characters of a word that count (4 bytes each at most: 400 < 2,047)

_WORD = re.compile(r"[^\W_]+")
_CJK = re.compile(
    "([\u1100-\u11ff\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]+)"
)
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_MARKUP = re.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>""")
# Tags that end a block of text: where they stood, words must stay apart.
_BLOCK = re.compile(r"</?(?:p|li|ul|ol|h[1-6]|blockquote|pre|br)\b[^>]*>")
_SPACE = re.compile(r"\s+")


class QueryTooLong(ValueError):
    """A query over MAX_QUERY characters (400)."""


# -- words --------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Case folded, accents off ("Café" → "cafe")."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _segments(run: str) -> Iterable[tuple[bool, str]]:
    """A run of letters and digits as (is CJK, text) pieces."""
    if run.isascii():
        yield False, run
        return
    for n, piece in enumerate(_CJK.split(run)):
        if piece:
            yield n % 2 == 1, piece


def _bigrams(piece: str) -> list[str]:
    return [piece] if len(piece) == 1 else [piece[i : i + 2] for i in range(len(piece) - 1)]


def words(text: str, *, indexed: bool = False) -> list[str]:
    """The words of `text`, in order: letters and digits, folded; CJK as bigrams; a word
    longer than MAX_WORD characters is cut there (a URL's hash, a base64 blob: PostgreSQL
    takes no lexeme over 2,047 bytes). `indexed`: the words a post is indexed by — each
    character of a longer CJK run on its own too, once, after all the rest (a
    one-character query, 猫 or 人, finds it; the pairs stay side by side for phrases)."""
    out: list[str] = []
    singles: list[str] = []
    for run in _WORD.findall(fold(text)):
        for cjk, piece in _segments(run):
            if cjk:
                out.extend(_bigrams(piece))
                if indexed and len(piece) > 1:
                    singles.extend(piece)
            else:
                out.append(piece[:MAX_WORD])
    return out + list(dict.fromkeys(singles))  # once each: PostgreSQL keeps 16,383 positions


def plain_text(body_html: str) -> str:
    """The text of sanitised HTML: block tags become spaces, inline ones nothing ("a
    <em>b</em>." stays "a b."); a tag ends at the first `>` outside its quoted
    attribute values (bleach always quotes them)."""
    spaced = _BLOCK.sub(" ", body_html)  # no attributes on these: sanitised HTML
    return _SPACE.sub(" ", html.unescape(_MARKUP.sub("", spaced))).strip()


# -- the query language -------------------------------------------------------------------


@dataclass
class Query:
    """A parsed query: phrases (a word is a phrase of one) that must all match, phrases
    that must not, and filters (`#tag`, `@user`, `from:user`, each negatable)."""

    phrases: list[list[str]] = field(default_factory=list)
    excluded: list[list[str]] = field(default_factory=list)
    tags: list[tuple[str, bool]] = field(default_factory=list)  # (tag, wanted)
    mentions: list[tuple[str, bool]] = field(default_factory=list)
    authors: list[tuple[str, bool]] = field(default_factory=list)
    people: str = ""  # the plain words, for the people list
    marks: set[str] = field(default_factory=set)  # folded words to highlight
    cjk_marks: set[str] = field(default_factory=set)  # folded CJK strings to highlight

    @property
    def finds_posts(self) -> bool:
        """Anything that selects posts (exclusions alone select nothing)."""
        return bool(self.phrases or any(w for _, w in self.tags + self.mentions + self.authors))

    def _filters(self) -> int:
        return len(self.tags) + len(self.mentions) + len(self.authors)


_CHUNK = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))')


def parse(text: str) -> Query:
    """The query of SPEC §11 from what a user typed: words ANDed; `"a phrase"`; `-word`
    or `-"phrase"` excluded; `#tag`, `@username`, `from:username` filters (`-` negates
    them too). Anything else — lone operators, stray quotes, FTS syntax — is words or
    nothing. QueryTooLong past MAX_QUERY characters."""
    if len(text) > MAX_QUERY:
        raise QueryTooLong(f"A search is at most {MAX_QUERY} characters.")
    query = Query()
    people: list[str] = []
    for found in _CHUNK.finditer(_CONTROL.sub(" ", text)):
        negated, phrase, chunk = found.group(1) == "-", found.group(2), found.group(3)
        if phrase is not None:
            _add_words(query, phrase, negated)
        elif chunk and not _add_filter(query, chunk, negated):
            _add_words(query, chunk, negated)
            if not negated:
                people.append(chunk)
    query.people = " ".join(people)[:64]
    return query


def _add_filter(query: Query, chunk: str, negated: bool) -> bool:
    """Take `chunk` as a filter if it is one (True; a malformed one is dropped too)."""
    lowered = chunk.lower()
    if lowered.startswith("from:") or (chunk.startswith("@") and len(chunk) > 1):
        # a name's trailing dots stay ("ada." is a username); `_named` falls back
        target = query.authors if lowered.startswith("from:") else query.mentions
        value = chunk[5 if target is query.authors else 1 :].rstrip(",;:!?")
        valid = MENTION_RE.fullmatch("@" + value) is not None
        value = value.lower()
    elif chunk.startswith("#") and len(chunk) > 1:
        target, tag = query.tags, tag_named(chunk[1:].rstrip(".,;:!?"))
        valid, value = tag is not None, tag or ""
    else:
        return False
    if valid and query._filters() < MAX_FILTERS:
        target.append((value, not negated))
    return True


def _add_words(query: Query, text: str, negated: bool) -> None:
    """The words of `text` as one phrase ("foo-bar" and CJK runs must stay together)."""
    if len(query.phrases) + len(query.excluded) >= MAX_TERMS:
        return
    found = words(text)
    if not found:
        return
    (query.excluded if negated else query.phrases).append(found)
    if not negated:
        for run in _WORD.findall(fold(text)):
            for cjk, piece in _segments(run):
                (query.cjk_marks if cjk else query.marks).add(piece)


# -- the engines --------------------------------------------------------------------------


def _fts5(phrases: Sequence[Sequence[str]], joiner: str) -> str:
    """An FTS5 MATCH expression of quoted phrases (their words are letters and digits)."""
    return f" {joiner} ".join('"' + " ".join(p) + '"' for p in phrases)


def _tsquery(phrases: Sequence[Sequence[str]], joiner: str) -> str:
    """A tsquery of quoted lexemes (letters and digits), phrases joined by `<->`."""
    return f" {joiner} ".join("(" + " <-> ".join(f"'{w}'" for w in p) + ")" for p in phrases)


def _words(query: Query, sql: db.Sql, scored: bool) -> str | None:
    """The posts whose words match (rows of `id`, and `score` when `scored`), exclusions
    applied inside the engine's own query; None when the query has no words to match."""
    if not query.phrases:
        return None
    if sql.postgres:
        text = _tsquery(query.phrases, "&")
        if query.excluded:
            text = f"({text}) & !({_tsquery(query.excluded, '|')})"
        q = sql(text)
        score = f', ts_rank("document", {q}::tsquery) AS "score"' if scored else ""
        return (
            f'SELECT "post_id" AS "id"{score} FROM "post_search" WHERE "document" @@ {q}::tsquery'
        )
    text = _fts5(query.phrases, "AND")
    if query.excluded:
        text = f"({text}) NOT ({_fts5(query.excluded, 'OR')})"
    score = ', -bm25("post_search") AS "score"' if scored else ""
    return f'SELECT rowid AS "id"{score} FROM "post_search" WHERE "post_search" MATCH {sql(text)}'


def _filters(query: Query, sql: db.Sql, post: str, author: str | None) -> list[str]:
    """Conditions on the post id column `post` (and its author column `author`, when the
    rows have one) for the query's filters, and its exclusions when it has no words."""
    where: list[str] = []
    if query.excluded and not query.phrases:
        if sql.postgres:
            q = sql(_tsquery(query.excluded, "|"))
            excluded = f'SELECT "post_id" FROM "post_search" WHERE "document" @@ {q}::tsquery'
        else:
            q = sql(_fts5(query.excluded, "OR"))
            excluded = f'SELECT rowid FROM "post_search" WHERE "post_search" MATCH {q}'
        where.append(f"{post} NOT IN ({excluded})")
    for name, wanted in query.authors:
        users = _named(name, sql)
        if author is None:
            where.append(
                f"{post} {'' if wanted else 'NOT '}IN "
                f'(SELECT "id" FROM "posts" WHERE "author_id" IN ({users}))'
            )
        else:
            where.append(f"{author} {'' if wanted else 'NOT '}IN ({users})")
    for tag, wanted in query.tags:
        where.append(
            f"{post} {'' if wanted else 'NOT '}IN "
            f'(SELECT "post_id" FROM "post_tags" WHERE "tag" = {sql(tag)})'
        )
    for name, wanted in query.mentions:
        where.append(
            f'{post} {"" if wanted else "NOT "}IN (SELECT "post_id" FROM "post_mentions" '
            f'WHERE "user_id" IN ({_named(name, sql)}))'
        )
    return where


def _named(name: str, sql: db.Sql) -> str:
    """The id of the user called `name` (lower case), on the LOWER(username) index; for a
    name ending in dots, the user of that name if there is one, else the name without
    them ("from:ada." at the end of a thought means ada, unless "ada." exists)."""
    stem = name.rstrip(".")
    if stem == name:
        return f'SELECT "id" FROM "users" WHERE LOWER("username") = {sql(name)}'
    full = sql(name)  # the placeholders in the order the text has them (SQLite's `?`)
    short = sql(stem)
    again = sql(name)
    return (
        f'SELECT "id" FROM "users" WHERE LOWER("username") = {full} UNION ALL '
        f'SELECT "id" FROM "users" WHERE LOWER("username") = {short} AND NOT EXISTS '
        f'(SELECT 1 FROM "users" WHERE LOWER("username") = {again})'
    )


def _where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _ranked(query: Query, sql: db.Sql) -> str:
    """The matching posts as rows of (id, ts, score): the words' match joined to the
    posts for their time (the tie-break), filters on the joined rows."""
    words = _words(query, sql, scored=True)
    if words is None:
        source, score = '"posts" p', "0.0"
    else:
        source, score = f'"posts" p JOIN ({words}) s ON s."id" = p."id"', 's."score"'
    where = _where(_filters(query, sql, 'p."id"', 'p."author_id"'))
    return f'SELECT p."id" AS "id", p."timestamp" AS "ts", {score} AS "score" FROM {source}{where}'


def _counted(query: Query, sql: db.Sql) -> str:
    """How many posts match, without ranking them (and without the posts table, unless
    a filter needs it)."""
    words = _words(query, sql, scored=False)
    source = f"({words}) b" if words is not None else '(SELECT "id" FROM "posts") b'
    where = _where(_filters(query, sql, 'b."id"', None))
    return f'SELECT COUNT(*) AS "n" FROM {source}{where}'


@dataclass
class Hit:
    """A post id found, with its score (higher is better)."""

    id: int
    score: float


async def find_posts(
    query: Query, after: tuple[float, datetime, int] | None, limit: int
) -> list[Hit]:
    """`limit` posts matching `query`, best first (score, then newest), after the
    cursor position `after` (score, timestamp, id)."""
    if not query.finds_posts:
        return []
    conn = Tortoise.get_connection("default")
    sql = db.Sql(conn.capabilities.dialect)
    if after is not None and query.phrases and not sql.postgres:
        after = await _anchored(conn, query, after)
    inner = _ranked(query, sql)
    keyset = ""
    if after is not None:
        score, moment, post_id = after
        s1, s2 = sql(score), sql(score)
        t1, t2 = sql(moment), sql(moment)
        keyset = (
            f' WHERE r."score" < {s1} OR (r."score" = {s2} AND (r."ts" < {t1} '
            f'OR (r."ts" = {t2} AND r."id" < {sql(post_id)})))'
        )
    text = (
        f'SELECT r."id", r."score" FROM ({inner}) r{keyset} '
        f'ORDER BY r."score" DESC, r."ts" DESC, r."id" DESC LIMIT {sql(limit)}'
    )
    _, rows = await conn.execute_query(text, sql.params)
    return [Hit(int(row["id"]), float(row["score"])) for row in map(dict, rows)]


async def _anchored(
    conn: BaseDBAsyncClient, query: Query, after: tuple[float, datetime, int]
) -> tuple[float, datetime, int]:
    """SQLite: the cursor with the last post's score of now. bm25 weighs a word by how
    rare it is among all posts, so any write moves every score a little; ranks among
    the posts barely move, so the next page goes on after that post where it is now
    (one query). A post gone from the results keeps the score it had."""
    score, moment, post_id = after
    sql = db.Sql("sqlite")
    words = _words(query, sql, scored=True)
    _, rows = await conn.execute_query(
        f'SELECT w."score" FROM ({words}) w WHERE w."id" = {sql(post_id)}', sql.params
    )
    return (float(dict(rows[0])["score"]), moment, post_id) if rows else after


async def count_posts(query: Query) -> int:
    """How many posts match `query`."""
    if not query.finds_posts:
        return 0
    conn = Tortoise.get_connection("default")
    sql = db.Sql(conn.capabilities.dialect)
    _, rows = await conn.execute_query(_counted(query, sql), sql.params)
    return int(dict(rows[0])["n"]) if rows else 0


# -- cursors ------------------------------------------------------------------------------


def encode_cursor(score: float, moment: datetime, post_id: int) -> str:
    """The opaque cursor of the position after (score, moment, post_id): the score, then
    a list's (moment, id) cursor."""
    return f"{score!r}~{pagination.encode_cursor(moment, post_id)}"


def decode_cursor(cursor: str) -> tuple[float, datetime, int]:
    """(score, moment, post id) of a cursor; BadCursor when we did not write it."""
    score_text, _, rest = cursor.partition("~")
    try:
        score = float(score_text)
    except ValueError:
        raise BadCursor("invalid cursor") from None
    if not math.isfinite(score) or not rest:
        raise BadCursor("invalid cursor")
    return (score, *pagination.decode_cursor(rest))


# -- snippets -----------------------------------------------------------------------------


def snippet(body_html: str, query: Query, length: int = SNIPPET) -> str:
    """Escaped text of the post around its first match, the matching words in `<mark>`
    (the only markup: everything else is escaped here)."""
    text = plain_text(body_html)
    spans = _marked(text, query)
    start = 0
    if spans and spans[0][0] > length // 3:
        before = spans[0][0] - length // 4
        start = text.rfind(" ", before - length // 4, before) + 1 or before  # CJK: no spaces
    end = len(text) if len(text) - start <= length else text.rfind(" ", start, start + length)
    if end <= start:
        end = min(len(text), start + length)
    out = ["…"] if start else []
    pos = start
    for a, b in spans:
        if a < pos or b > end:
            continue
        out += [html.escape(text[pos:a]), "<mark>", html.escape(text[a:b]), "</mark>"]
        pos = b
    out.append(html.escape(text[pos:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)


def _marked(text: str, query: Query) -> list[tuple[int, int]]:
    """Spans of `text` that the query's words match."""
    spans: list[tuple[int, int]] = []
    for found in _WORD.finditer(text):
        run = found.group()
        if fold(run) in query.marks:
            spans.append(found.span())
            continue
        if query.cjk_marks and not run.isascii():
            folded = fold(run)
            if len(folded) != len(run):
                continue  # decomposed characters: positions would not line up
            for piece in query.cjk_marks:
                at = folded.find(piece)
                while at >= 0:
                    spans.append((found.start() + at, found.start() + at + len(piece)))
                    at = folded.find(piece, at + len(piece))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a < merged[-1][1]:
            continue
        merged.append((a, b))
    return merged


# -- the index ----------------------------------------------------------------------------

# What a database needs for the index beyond the models' tables (the migration builds
# the same; tests build it on an empty SQLite database after the models' schema).
SCHEMA = {
    "sqlite": """
CREATE VIRTUAL TABLE IF NOT EXISTS "post_search"
    USING fts5("words", tokenize = 'unicode61 remove_diacritics 0');
CREATE TRIGGER IF NOT EXISTS "post_search_delete" AFTER DELETE ON "posts" BEGIN
    DELETE FROM "post_search" WHERE rowid = old."id";
END;
""",
    "postgres": """
CREATE TABLE IF NOT EXISTS "post_search" (
    "post_id" INT NOT NULL PRIMARY KEY REFERENCES "posts" ("id") ON DELETE CASCADE,
    "document" TSVECTOR NOT NULL
);
CREATE INDEX IF NOT EXISTS "ix_post_search_document" ON "post_search" USING GIN ("document");
""",
}


async def create_schema(conn: BaseDBAsyncClient | None = None) -> None:
    """Build the index's table (and, on SQLite, its delete trigger) if missing."""
    conn = conn or Tortoise.get_connection("default")
    await conn.execute_script(SCHEMA[conn.capabilities.dialect])


def tsvector(found: list[str]) -> str:
    """A tsvector literal of `found` with positions (PostgreSQL keeps 1..16383 and at
    most 256 positions a word); a word first met past position 16383 is kept without a
    position (found by itself, not in a phrase), so a long post loses no word."""
    positions: dict[str, list[str]] = {}
    for n, word in enumerate(found, 1):
        kept = positions.setdefault(word, [])
        if n <= 16383 and len(kept) < 256:
            kept.append(str(n))
    return " ".join(f"'{w}':{','.join(p)}" if p else f"'{w}'" for w, p in positions.items())


async def index(
    conn: BaseDBAsyncClient, posts: Sequence[tuple[int, str]], *, fresh: bool = False
) -> None:
    """Index (again) `posts`, given as (id, body_html), on `conn` (the write's own
    transaction): their words, their tags (`post_tags`) and the users they mention
    (`post_mentions`), all read from the rendered HTML. `fresh`: posts the index has
    never held (new ones, or after `index_all` emptied it): nothing to take out first."""
    if not posts:
        return
    postgres = conn.capabilities.dialect == "postgres"
    if not fresh:
        await _unindex(conn, [post_id for post_id, _ in posts])
    if postgres:
        documents = [(i, tsvector(words(plain_text(h), indexed=True))) for i, h in posts]
        sql = 'INSERT INTO "post_search" ("post_id", "document") VALUES ($1, $2::tsvector)'
    else:
        documents = [(i, " ".join(words(plain_text(h), indexed=True))) for i, h in posts]
        sql = 'INSERT INTO "post_search" (rowid, "words") VALUES (?, ?)'
    await conn.execute_many(sql, documents)
    tags = [(i, tag) for i, h in posts for tag in tags_in(h)]
    if tags:
        await db.insert_rows(conn, "post_tags", ("post_id", "tag"), tags)
    named = {(i, name.lower()) for i, h in posts for name in mentions_in(h)}
    if named:
        users = await users_named({name for _, name in named}, conn)
        rows = sorted({(i, users[name][0]) for i, name in named if name in users})
        await db.insert_rows(conn, "post_mentions", ("post_id", "user_id"), rows)


async def _unindex(conn: BaseDBAsyncClient, ids: list[int]) -> None:
    """Take the posts `ids` out of the index, tags and mentions (before indexing again)."""
    if conn.capabilities.dialect == "postgres":
        for table in ("post_search", "post_tags", "post_mentions"):
            await conn.execute_query(f'DELETE FROM "{table}" WHERE "post_id" = ANY($1)', [ids])
        return
    marks = ", ".join("?" for _ in ids)
    await conn.execute_query(f'DELETE FROM "post_search" WHERE rowid IN ({marks})', ids)
    for table in ("post_tags", "post_mentions"):
        await conn.execute_query(f'DELETE FROM "{table}" WHERE "post_id" IN ({marks})', ids)


async def users_named(
    names: Iterable[str], conn: BaseDBAsyncClient | None = None
) -> dict[str, tuple[int, str]]:
    """Lower-case username → (id, username) of the existing users among `names`, in one
    query on the LOWER(username) index."""
    wanted = sorted({n.lower() for n in names})
    if not wanted:
        return {}
    conn = conn or Tortoise.get_connection("default")
    sql = db.Sql(conn.capabilities.dialect)
    marks = ", ".join(sql(n) for n in wanted)
    _, rows = await conn.execute_query(
        f'SELECT "id", "username" FROM "users" WHERE LOWER("username") IN ({marks})', sql.params
    )
    return {str(r["username"]).lower(): (int(r["id"]), str(r["username"])) for r in map(dict, rows)}


async def index_all(conn: BaseDBAsyncClient, batch: int = 2000) -> int:
    """Index every post again on `conn` (its transaction), a batch at a time; how many."""
    await conn.execute_script(
        'DELETE FROM "post_search"; DELETE FROM "post_tags"; DELETE FROM "post_mentions";'
    )
    sql = db.Sql(conn.capabilities.dialect)
    text = (
        f'SELECT "id", "body_html" FROM "posts" WHERE "id" > {sql(0)} '
        f'ORDER BY "id" LIMIT {sql(batch)}'
    )
    done, last = 0, 0
    while True:
        _, rows = await conn.execute_query(text, [last, batch])
        found = [(int(r["id"]), str(r["body_html"])) for r in map(dict, rows)]
        if not found:
            return done
        await index(conn, found, fresh=True)
        done, last = done + len(found), found[-1][0]


async def reindex() -> int:
    """Rebuild the whole index from the posts' HTML, in one transaction (`flasky search
    reindex`) whose event tells every cache; how many posts it holds."""
    async with feed.change("search-reindex", feed.EVERYTHING) as writing:
        return await index_all(writing.connection)
