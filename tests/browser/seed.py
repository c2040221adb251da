"""Seed the browser tests' database through the model layer, then print the ids the tests
need as one JSON line.

Run in its own process (`python -m tests.browser.seed`) against $DATABASE_URL after
`flasky deploy`, before the server starts: SQLite is for one process at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from typing import Any

from flasky import create_app, db, security
from flasky.models import Comment, Follow, Post, Role, User, utcnow
from tests.helpers import set_body

PASSWORD = "browser-pass-123"

# username -> (email, name, location, about_me, role)
USERS: dict[str, tuple[str, str, str, str, str]] = {
    "moderator": (
        "moderator@example.com",
        "Morgan Reyes",
        "Lisbon",
        "Keeps the comment threads kind and on topic.",
        "Moderator",
    ),
    "alice": (
        "alice@example.com",
        "Alice Liddell",
        "Oxford",
        "Writes about rabbits, clocks and tea parties.\nMostly in the afternoon.",
        "User",
    ),
    "bob": ("bob@example.com", "Bob Marley", "Kingston", "Sings, sometimes posts.", "User"),
    "carol": ("carol@example.com", "Carol Danvers", "", "", "User"),
    "reader": ("reader@example.com", "Riley Reader", "Berlin", "Mostly reads.", "User"),
    "writer": ("writer@example.com", "", "", "", "User"),
    "admin": ("admin@example.com", "Ada Admin", "", "Runs the place.", "Administrator"),
    "mallory": (
        "mallory@example.com",
        '<img src=x onerror="alert(1)">',
        "<script>alert('location')</script>",
        '"><svg onload=alert(1)> about me <b>not bold</b>',
        "User",
    ),
}

# follower -> followed (besides the self-follows)
FOLLOWS = [
    ("reader", "alice"),
    ("reader", "bob"),
    ("alice", "bob"),
    ("alice", "carol"),
    ("bob", "alice"),
    ("bob", "carol"),
    ("carol", "alice"),
    ("moderator", "alice"),
    ("mallory", "alice"),
]

BODIES = [
    "Tea at four, as always. The **March Hare** insists it is always six o'clock.",
    "A list of things to do today:\n\n- feed the cat\n- read *Through the Looking-Glass*\n"
    "- answer letters",
    "Found a neat trick: `git log --oneline --graph` shows the whole history at once.",
    "> Begin at the beginning, and go on till you come to the end: then stop.\n\n"
    "Good advice for writing posts too.",
    "Here is a longer thought. Keyset pagination keeps page one thousand as cheap as page "
    "one, because the database seeks straight to the cursor instead of counting and "
    "skipping every row before it. Nothing is repeated or skipped when new posts arrive "
    "while someone scrolls.",
    "Steps to make bread:\n\n1. flour\n2. water\n3. salt\n4. patience",
    "Reading https://example.com/articles/about-htmx today, a good introduction.",
    "```\ndef hello():\n    return 'world'\n```\n\nSmall functions are easier to test.",
    "Short one.",
    "## A heading in a post\n\nAnd a paragraph under it, with a [link](https://example.org).",
]

XSS_BODY = """# XSS gallery

<script>alert('script tag')</script>
<img src=x onerror="alert('img onerror')">
<svg onload="alert('svg onload')"></svg>
<iframe src="javascript:alert('iframe')"></iframe>
<a href="javascript:alert('js link')">a javascript: link</a>
[markdown js link](javascript:alert('md link'))
<details open ontoggle="alert('ontoggle')">details</details>
<math><mtext><table><mglyph><style><img src=x onerror="alert('mxss')">
</style></mglyph></table></mtext></math>
<style>body { display: none }</style>
<body onload="alert('body')">
"><script>alert('break out')</script>
{{ 7 * 7 }} {% raw %}
"""

POST_COUNT = 60
OK, OFF = False, True  # a comment's `disabled`


async def seed() -> dict[str, Any]:
    """Users with known passwords, follows, 60+ posts over two days, comments."""
    roles = {r.name: r for r in await Role.all()}
    users: dict[str, User] = {}
    for username, (email, name, location, about, role) in USERS.items():
        user = await User.register(
            email=email,
            username=username,
            password=PASSWORD,
            name=name or None,
            location=location or None,
            about_me=about or None,
        )
        user.confirmed = True
        user.role = roles[role]
        await user.save(update_fields=["confirmed", "role_id"])
        users[username] = user
    await Follow.bulk_create(
        [Follow(follower=users[a], followed=users[b]) for a, b in FOLLOWS], ignore_conflicts=True
    )
    # the admin's notifications (SPEC §10): one line, a hostile name in it
    for fan in ("mallory", "alice"):
        await users[fan].follow(users["admin"])

    now = utcnow()
    authors = ["alice", "bob", "carol", "moderator"]
    posts = []
    for i in range(POST_COUNT):
        when = now - timedelta(minutes=47 * (i + 1))
        post = Post(author=users[authors[i % len(authors)]], timestamp=when)
        set_body(post, f"{BODIES[i % len(BODIES)]}\n\nPost number {i + 1}.")
        posts.append(post)
    xss = Post(author=users["mallory"], timestamp=now - timedelta(minutes=47 * 3 + 5))
    set_body(xss, XSS_BODY)
    posts.append(xss)
    await Post.bulk_create(posts)
    by_number = {
        int(p.body.rsplit("Post number ", 1)[1].rstrip(".")): p
        for p in await Post.filter(body__contains="Post number ")
    }
    xss_post = await Post.get(author_id=users["mallory"].id)

    first, second, third = by_number[1], by_number[2], by_number[3]
    comments = [
        (first, "bob", "Same here — *always* tea time.", OK, 40),
        (first, "carol", "Which tea? I am partial to **Earl Grey**.", OK, 35),
        (first, "reader", "This comment was rude and got switched off.", OFF, 30),
        (first, "moderator", "Please keep it friendly, everyone.", OK, 25),
        (first, "mallory", "<script>alert('comment')</script><img src=x onerror=alert(2)>", OK, 20),
        (second, "bob", "Disable me from the moderation queue.", OK, 15),
        (third, "carol", "Disable me from the post page.", OK, 10),
        (
            xss_post,
            "mallory",
            "[click](javascript:alert('c')) <b onmouseover=alert(3)>b</b>",
            OK,
            5,
        ),
    ]
    rows = []
    for post, author, body, disabled, minutes in comments:
        comment = Comment(
            post=post,
            author=users[author],
            disabled=disabled,
            timestamp=now - timedelta(minutes=minutes),
        )
        set_body(comment, body)
        rows.append(comment)
    await Comment.bulk_create(rows)
    ids = {c.body: c.id for c in await Comment.all()}
    return {
        "first_post": first.id,
        "second_post": second.id,
        "third_post": third.id,
        "xss_post": xss_post.id,
        "queue_comment": ids["Disable me from the moderation queue."],
        "post_page_comment": ids["Disable me from the post page."],
        "user_ids": {name: u.id for name, u in users.items()},
    }


async def main() -> None:
    """Connect to $DATABASE_URL, seed, print the ids, disconnect."""
    app = create_app("development")
    # Cheap argon2 parameters for the test accounts: seeding and logins stay fast, and the
    # hashes are still verified by the server's ordinary code path.
    security.configure_hasher(fast=True)
    async with app.app_context():
        await db.connect(os.environ["DATABASE_URL"])
        try:
            print(json.dumps(await seed()))
        finally:
            await db.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
