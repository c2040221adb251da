"""`flasky dataset DIR`: a deterministic social-blogging data set as CSV files.

The files `flasky load` reads and the benchmarks serve (UTF-8, a header row, RFC 4180
quoting; timestamps ISO 8601 UTC without offset, spread over one year from START):

  users.csv     id,email,username,name,location,about_me,role,confirmed,member_since,last_seen
  follows.csv   follower_id,followed_id,timestamp   (every user also follows itself)
  posts.csv     id,author_id,timestamp,body         (Markdown)
  comments.csv  id,post_id,author_id,timestamp,disabled,body

User 1 is an Administrator, users 2-5 are Moderators, the rest Users; every password is
PASSWORD. The same seed gives the same bytes, and the same bytes as the team's shared
benchmark generator for the same arguments, so peer applications can be measured on
exactly the same rows.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

PASSWORD = "cat"
START = datetime(2025, 11, 1)
YEAR_SECONDS = 365 * 24 * 3600
# fmt: off
WORDS = (
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed",
    "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna",
    "aliqua", "enim", "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco",
    "laboris", "nisi", "aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute",
    "irure", "in", "reprehenderit", "voluptate", "velit", "esse", "cillum", "eu", "fugiat",
    "nulla", "pariatur", "excepteur", "sint", "occaecat", "cupidatat", "non", "proident",
    "sunt", "culpa", "qui", "officia", "deserunt", "mollit", "anim", "id", "est", "laborum",
    "flask", "quart", "htmx", "async", "python",
)
CITIES = (
    "Lisbon", "Osaka", "Lagos", "Quito", "Tallinn", "Perth", "Denver", "Pune", "Hanoi",
    "Oslo", "Cusco", "Accra", "Leeds", "Busan", "Tbilisi", "Recife",
)
FIRST = (
    "Ada", "Linus", "Grace", "Guido", "Barbara", "Ken", "Margaret", "Dennis", "Radia", "Tim",
    "Frances", "Edsger", "Hedy", "Alan", "Joan", "Donald",
)
LAST = (
    "Lovelace", "Torvalds", "Hopper", "Rossum", "Liskov", "Thompson", "Hamilton", "Ritchie",
    "Perlman", "Berners", "Allen", "Dijkstra", "Lamarr", "Turing", "Clarke", "Knuth",
)
# fmt: on


@dataclass(frozen=True)
class Size:
    """How big a data set is (the defaults are the benchmark's)."""

    users: int = 1000
    posts: int = 50_000
    comments: int = 100_000
    follows: int = 50  # people each user follows besides themselves
    seed: int = 85


def write_dataset(directory: Path, size: Size = Size()) -> None:
    """Write users.csv, follows.csv, posts.csv and comments.csv into `directory`."""
    rng = random.Random(size.seed)
    directory.mkdir(parents=True, exist_ok=True)
    header = "id email username name location about_me role confirmed member_since last_seen"
    with _table(directory, "users.csv", header) as rows:
        for i in range(1, size.users + 1):
            role = "Administrator" if i == 1 else "Moderator" if i <= 5 else "User"
            since = _when(rng)
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            rows.writerow(
                [i, f"user{i}@example.com", f"user{i}", name, rng.choice(CITIES)]
                + [_sentence(rng), role, 1, since, since]
            )
    with _table(directory, "follows.csv", "follower_id followed_id timestamp") as rows:
        everyone = range(1, size.users + 1)
        for i in everyone:
            picked = rng.sample(everyone, min(size.follows + 1, size.users))
            others = [u for u in picked if u != i][: size.follows]
            for followed in (i, *others):
                rows.writerow([i, followed, _when(rng)])
    with _table(directory, "posts.csv", "id author_id timestamp body") as rows:
        for i in range(1, size.posts + 1):
            rows.writerow([i, rng.randint(1, size.users), _when(rng), _markdown(rng)])
    header = "id post_id author_id timestamp disabled body"
    with _table(directory, "comments.csv", header) as rows:
        for i in range(1, size.comments + 1):
            post, author = rng.randint(1, size.posts), rng.randint(1, size.users)
            when, disabled = _when(rng), int(rng.random() < 0.05)
            rows.writerow([i, post, author, when, disabled, _sentence(rng)])


@contextmanager
def _table(directory: Path, name: str, header: str) -> Iterator[Any]:
    """A CSV writer on `directory/name` that has written the header row."""
    with open(directory / name, "w", newline="", encoding="utf-8") as file:
        rows = csv.writer(file)
        rows.writerow(header.split())
        yield rows


def _when(rng: random.Random) -> str:
    return (START + timedelta(seconds=rng.randrange(YEAR_SECONDS))).isoformat(timespec="seconds")


def _sentence(rng: random.Random, shortest: int = 4, longest: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(shortest, longest))]
    return " ".join(words).capitalize() + "."


def _markdown(rng: random.Random) -> str:
    """A short Markdown post: a paragraph, sometimes emphasis, a list or a link."""
    parts = [_sentence(rng) + " " + _sentence(rng)]
    roll = rng.random()
    if roll < 0.3:
        parts.append(f"Some *{rng.choice(WORDS)}* and **{rng.choice(WORDS)}** here.")
    elif roll < 0.5:
        parts.append("\n".join(f"- {_sentence(rng, 2, 5)}" for _ in range(3)))
    elif roll < 0.6:
        parts.append(f"See [the notes](https://example.com/{rng.choice(WORDS)}) or `code()`.")
    return "\n\n".join(parts)
