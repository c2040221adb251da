"""Initial schema: every table, unique constraint and index of flasky.models.

Written for both dialects we ship for (aerich emits one dialect per file).
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

SQLITE = """
CREATE TABLE "login_failures" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(300) NOT NULL,
    "timestamp" TIMESTAMP NOT NULL
) /* One failed login, counted against a key ('account:…' or 'address:…'). */;
CREATE INDEX "ix_login_failures_key_ts" ON "login_failures" ("key", "timestamp");
CREATE TABLE "outbox" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "recipient" VARCHAR(254) NOT NULL,
    "subject" VARCHAR(255) NOT NULL,
    "text_body" TEXT NOT NULL,
    "html_body" TEXT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "next_attempt_at" TIMESTAMP NOT NULL,
    "claimed_until" TIMESTAMP,
    "sent_at" TIMESTAMP,
    "last_error" TEXT,
    "dedupe_key" VARCHAR(64)
) /* An email waiting to be sent, being sent, sent, or given up on. */;
CREATE INDEX "ix_outbox_due" ON "outbox" ("status", "next_attempt_at");
CREATE INDEX "ix_outbox_dedupe" ON "outbox" ("dedupe_key", "created_at");
CREATE TABLE "roles" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(64) NOT NULL UNIQUE,
    "default" INT NOT NULL,
    "permissions" INT NOT NULL
);
CREATE INDEX "idx_roles_default_a67110" ON "roles" ("default");
CREATE TABLE "users" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "email" VARCHAR(254) NOT NULL UNIQUE,
    "username" VARCHAR(64) NOT NULL UNIQUE,
    "password_hash" VARCHAR(255) NOT NULL,
    "confirmed" INT NOT NULL,
    "name" VARCHAR(64),
    "location" VARCHAR(64),
    "about_me" TEXT,
    "member_since" TIMESTAMP NOT NULL,
    "last_seen" TIMESTAMP NOT NULL,
    "avatar_hash" VARCHAR(32) NOT NULL,
    "role_id" INT NOT NULL REFERENCES "roles" ("id") ON DELETE RESTRICT
);
CREATE TABLE "follows" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "timestamp" TIMESTAMP NOT NULL,
    "followed_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "follower_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_follows_followe_fa2a56" UNIQUE ("follower_id", "followed_id")
);
CREATE INDEX "ix_follows_followed_ts" ON "follows" ("followed_id", "timestamp", "id");
CREATE INDEX "ix_follows_follower_ts" ON "follows" ("follower_id", "timestamp", "id");
CREATE TABLE "posts" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "body" TEXT NOT NULL,
    "body_html" TEXT NOT NULL,
    "timestamp" TIMESTAMP NOT NULL,
    "author_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX "ix_posts_ts" ON "posts" ("timestamp", "id");
CREATE INDEX "ix_posts_author_ts" ON "posts" ("author_id", "timestamp", "id");
CREATE TABLE "comments" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "body" TEXT NOT NULL,
    "body_html" TEXT NOT NULL,
    "timestamp" TIMESTAMP NOT NULL,
    "disabled" INT NOT NULL,
    "author_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "post_id" INT NOT NULL REFERENCES "posts" ("id") ON DELETE CASCADE
);
CREATE INDEX "ix_comments_post_ts" ON "comments" ("post_id", "timestamp", "id");
CREATE INDEX "ix_comments_ts" ON "comments" ("timestamp", "id");
CREATE INDEX "ix_comments_author" ON "comments" ("author_id");
CREATE TABLE "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);
"""

POSTGRES = """
CREATE TABLE "login_failures" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(300) NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "ix_login_failures_key_ts" ON "login_failures" ("key", "timestamp");
COMMENT ON TABLE "login_failures" IS 'One failed login, counted against a key (''account:…'' or ''address:…'').';
CREATE TABLE "outbox" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "recipient" VARCHAR(254) NOT NULL,
    "subject" VARCHAR(255) NOT NULL,
    "text_body" TEXT NOT NULL,
    "html_body" TEXT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "next_attempt_at" TIMESTAMPTZ NOT NULL,
    "claimed_until" TIMESTAMPTZ,
    "sent_at" TIMESTAMPTZ,
    "last_error" TEXT,
    "dedupe_key" VARCHAR(64)
);
CREATE INDEX "ix_outbox_due" ON "outbox" ("status", "next_attempt_at");
CREATE INDEX "ix_outbox_dedupe" ON "outbox" ("dedupe_key", "created_at");
COMMENT ON TABLE "outbox" IS 'An email waiting to be sent, being sent, sent, or given up on.';
CREATE TABLE "roles" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(64) NOT NULL UNIQUE,
    "default" BOOL NOT NULL,
    "permissions" INT NOT NULL
);
CREATE INDEX "idx_roles_default_a67110" ON "roles" ("default");
CREATE TABLE "users" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "email" VARCHAR(254) NOT NULL UNIQUE,
    "username" VARCHAR(64) NOT NULL UNIQUE,
    "password_hash" VARCHAR(255) NOT NULL,
    "confirmed" BOOL NOT NULL,
    "name" VARCHAR(64),
    "location" VARCHAR(64),
    "about_me" TEXT,
    "member_since" TIMESTAMPTZ NOT NULL,
    "last_seen" TIMESTAMPTZ NOT NULL,
    "avatar_hash" VARCHAR(32) NOT NULL,
    "role_id" INT NOT NULL REFERENCES "roles" ("id") ON DELETE RESTRICT
);
CREATE TABLE "follows" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "timestamp" TIMESTAMPTZ NOT NULL,
    "followed_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "follower_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_follows_followe_fa2a56" UNIQUE ("follower_id", "followed_id")
);
CREATE INDEX "ix_follows_followed_ts" ON "follows" ("followed_id", "timestamp", "id");
CREATE INDEX "ix_follows_follower_ts" ON "follows" ("follower_id", "timestamp", "id");
CREATE TABLE "posts" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "body" TEXT NOT NULL,
    "body_html" TEXT NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL,
    "author_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX "ix_posts_ts" ON "posts" ("timestamp", "id");
CREATE INDEX "ix_posts_author_ts" ON "posts" ("author_id", "timestamp", "id");
CREATE TABLE "comments" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "body" TEXT NOT NULL,
    "body_html" TEXT NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL,
    "disabled" BOOL NOT NULL,
    "author_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "post_id" INT NOT NULL REFERENCES "posts" ("id") ON DELETE CASCADE
);
CREATE INDEX "ix_comments_post_ts" ON "comments" ("post_id", "timestamp", "id");
CREATE INDEX "ix_comments_ts" ON "comments" ("timestamp", "id");
CREATE INDEX "ix_comments_author" ON "comments" ("author_id");
CREATE TABLE "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    return POSTGRES if db.capabilities.dialect == "postgres" else SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
DROP TABLE IF EXISTS "comments";
DROP TABLE IF EXISTS "posts";
DROP TABLE IF EXISTS "follows";
DROP TABLE IF EXISTS "users";
DROP TABLE IF EXISTS "roles";
DROP TABLE IF EXISTS "outbox";
DROP TABLE IF EXISTS "login_failures";
"""


MODELS_STATE = (
    "eJztXFtv2zYU/iuCXpoCXhC7iVsUwwDbddasiV047la0Gwhaom0tulWimhhd/vtI6kpJli"
    "XHcmyVL4lMnkNK3yHPhYfkD9mwVKS7pwPLMJCJ5bfSD9mEBiIP6aqWJEPbjitoAYYzndEq"
    "PhErhDMXO1Chjc2h7iJSpCJXcTQba5ZJSk1P12mhpRBCzVzERZ6pffMQwNYC4SVySMXXf0"
    "ixZqroAbn05w95riFdZc+ybbkYaCp7E81ALoaGTX+QIsqGHmwHuS7p1A1bCr9NewDhKwPW"
    "iv/qeGWzaplxk69gPx5bEtftE/qq0g308NJyQLUOfKaCTiijfQdYP5y4fRxZOQh5r0x8yQ"
    "ipuGakF90zzJjYXpHOzIha80fJApnIgRjR5rHjUflT8QZDJRwSvqhjEl/GCR4VzaGn48R4"
    "mYG4TAZgNJ6C2+EUALnCCFMIfgQLjY5V+vUL+gq/dNrnr8/fvOqevyEk7DWjktePftcxMD"
    "4jg2c0lR9ZPcQQxKKLQZ1Z6ioL65TIIx/XkD6FLHnlNLIhjkXQhgUxtvGE3AO4BchNh5+n"
    "tGXDdb/ptGD0Z28yeN+bnNz0Pr9kNaug5no8+j0kt4he8RXOaHA97jPwebDBEht6VcQjJg"
    "H7FrBz6pCH/R1BjVbnQ88xpqBXA87T8KEuQci/zj1ToRhLcx26d6vTwO55WDGt+9/kZ5DS"
    "1c3wdtq7+ciJ6l1vOqQ1HU5MYelJ9yUvqagR6a+r6XuJ/pS+jEdDhjWxeAuH9RjTTb9QC0"
    "StjgXIhwOoJgELi8MibgSomktFkGNA+palI2jmyz/JlhL/jPDVJfGoZL9S7Y/H15xA+1fp"
    "yfXppj+cnLSZJAmRhlHSysR4x55BeYvN8Ww23Eeg53Zju2NUE95kSUwTHALRAFHqX87vcp"
    "2h2Dfl8b20HKQtzA9oxWC+Iu8ETQXlwBqo5k8uOmLDHJfKkbPrwPvIJeenKvl68s3IVwWD"
    "3u2g924oZ8btDkD9GDTTUFATczUfUjpwZ1C5u4eOCrgRTGusjpUqiWizVUbHSJdAEy4YOP"
    "Qr6DsHqF9aus6saibuDmpaRWH3nNHUEHV/DZr251nwTALRomg8pNo6Ig++BkQNVYmWw/fd"
    "Ve9Oce8ijN5nGC1CjJ89xEgpl5LzK8UlnLQctzelOKshKwIKubT7y1lU4QAX+GqpwbXZBY"
    "4cFAFtOWjVA3SFr62FZl5CTfccJOc4xFx9oVusU0ow90nLecfy2EQS5UCqxNhbkmJ5JpG/"
    "BBcETxdLULpDK+nkBVRYzdu/vc5Zp/tCshzpBbFk1LUMy16eyimp1dF+xWwZaZ33jDf7xD"
    "yQgLQgvOLD8YoDgfKoDpbQyYc1IG9EjoNoETI6kbnAS/Lz1dlZAZBhioNQpRzYMPvR8etE"
    "WkPEHBn/7Xls4djDM+shzwoGNYX2z4ppNtq9nikhgyh46R5qmEhWwpY0Q5KLTNwiD7TEf/"
    "b/EmO00L4jU/JsyTKzZu7pzVW0amSmYY99vkkMEYAYI8Om/0uYNx8noHqo/DqTilTPRiBQ"
    "poqD6MSt1h1rQVjRA7GiDlI0Wwt2OJW1pRxTAy1q5+K8hEUlVGstKqvjLarrzf5FSiWcEy"
    "yNRPmiFMoXBShfZPwWqgar7jvimBqB9L53wdAtRJVh55gE7FvAHpv/0iol4tgf4LKNTJXC"
    "the10u6W0CrttGcdKxValdpw4ntVOTiv32+SYNnf6vDZQTshMaAJvzEDaXF0yXOK8FI+qv"
    "AyOQbS8UrFgZDDLkbD8Y4GRYdEQirwTKzlbGDeoBTSzDsYCUGMdwyOxbHJmq59bDHjE2xC"
    "vocsX6IDMUCOk7fZcX0wwHNt5ZwekUzrCAb4tbmyAQHP1QTc+XCgW2Ypp7t+JafLFnIOZG"
    "Gc7VLNWRYPd6+uXxSnk3zP5xOrb0JkL7nlKcHWNrse/Q6DRkRu92BWpcXBQXFwsOmwiwz7"
    "z+4oi4Nsu7Il4tjVpgmzi2NX633exEJO4ioMHvB+wHn5YYJ0yD5jLdaJWzcaAvdjnWHBxG"
    "JYZMICVt4qCgscQlF/WCCc5306z+x/Btb1KwAh/W68uOeFtobQn19i8V84q9wKT/rHXLUd"
    "9M+gHM3ioz3nbyPH0ILQvbyWSHGJ5Guuf1TGlHvE4XmiHW+Yz1SrEWdY5RjxEMP1RjwSlD"
    "DijTHibBtxFSseMTTOjNeyG5POmaqOUpKncSjv3lmyoeveW0QtLqG7rIJzhnGPW9XqWrfa"
    "w9ZX0uNcc4zKF1FxfOImqgoe6l4jrZ8gy8rtIrCUyLksi2+SR2C8GWM4szwM8sbw+sRPkq"
    "cJGO877WMgY4Yc4GrBYnOVzE+aVyR/YlkdW/KH7XdyEcpRcMWDgGMUI+B4RwD8ToI/p7J3"
    "nGJrRO49daC9U+Y8e2f9cfZO2tDRNEe1PGuCQ2RZN2dZnSDT9MQca5iwOjJwy+ZYE4OKy7"
    "BOiC6ZXA2mIsX6pNXZvHu9nohSfA1lc0EKTuYJkPJBinbObg9Qwy6XrTUN0kOOpizlnERI"
    "UNMqSoXAmEbkQo7Jt2gV5EK+EzVecSUowdJAB7mW5WM6qSogHJA3EN12qfu02gX3abWz92"
    "mRHnHuLSt/3I5Ha9flcf4dK6qmYOk/SdeO2azkgUvBKF5xSy+utfi4nDbQf+7zOo//A+N4"
    "tRQ="
)
