"""Hardening: server-side sessions, one table for every throttle (replacing
login_failures), and usernames unique regardless of case.

Written for both dialects we ship for (aerich emits one dialect per file). The unique
index on LOWER(username) fails if two existing accounts differ only in case: rename
one of them first.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

SQLITE = """
CREATE TABLE "throttle_events" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(300) NOT NULL,
    "timestamp" TIMESTAMP NOT NULL
) /* One counted event of a throttle (a failed login, a mail, a registration, a write). */;
CREATE INDEX "ix_throttle_events_key_ts" ON "throttle_events" ("key", "timestamp");
CREATE TABLE "sessions" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created" TIMESTAMP NOT NULL,
    "last_used" TIMESTAMP NOT NULL,
    "address" VARCHAR(64),
    "user_agent" VARCHAR(255),
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
) /* A signed-in browser: its cookie names this row by a random token. */;
CREATE INDEX "ix_sessions_user_used" ON "sessions" ("user_id", "last_used");
DROP TABLE IF EXISTS "login_failures";
CREATE UNIQUE INDEX "ux_users_username_lower" ON "users" ((LOWER("username")));
"""

POSTGRES = """
CREATE TABLE "throttle_events" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(300) NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "ix_throttle_events_key_ts" ON "throttle_events" ("key", "timestamp");
COMMENT ON TABLE "throttle_events" IS 'One counted event of a throttle (a failed login, a mail, a registration, a write).';
CREATE TABLE "sessions" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created" TIMESTAMPTZ NOT NULL,
    "last_used" TIMESTAMPTZ NOT NULL,
    "address" VARCHAR(64),
    "user_agent" VARCHAR(255),
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX "ix_sessions_user_used" ON "sessions" ("user_id", "last_used");
COMMENT ON TABLE "sessions" IS 'A signed-in browser: its cookie names this row by a random token.';
DROP TABLE IF EXISTS "login_failures";
CREATE UNIQUE INDEX "ux_users_username_lower" ON "users" ((LOWER("username")));
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    return POSTGRES if db.capabilities.dialect == "postgres" else SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
DROP INDEX IF EXISTS "ux_users_username_lower";
DROP TABLE IF EXISTS "sessions";
DROP TABLE IF EXISTS "throttle_events";
CREATE TABLE IF NOT EXISTS "login_failures" (
    "id" INTEGER PRIMARY KEY,
    "key" VARCHAR(300) NOT NULL,
    "timestamp" TIMESTAMP NOT NULL
);
"""


MODELS_STATE = (
    "eJztXVtv2zYU/iuEXtIAbtF4aTZkxQAnTdesaTwk7jZsGQRaom0uEqlJVC7o8t9HUldKsi"
    "w5tmurfGkskoekvnPEc+Eh+8VwqY2c4NUpdV1EmHEMvhgEuoj/KFb1gAE9L6sQBQyOHdnW"
    "ihrJQjgOmA8t0dkEOgHiRTYKLB97DFPCS0noOKKQWrwhJtOsKCT43xCZjE4RmyGfV/z1Ny"
    "/GxEYPKBCPX4wJRo4tfxseDZiJbTkT7KKAQdcTD7xIkKEHz0dBwAcNkp6Sd8MPZjJlU/YS"
    "TZ09erLakNT8LeTDUw8owz5jrDbDwJDNqG+2GyAiqhlEEHq3phxHYXeEoyw3E9pzwt7Lho"
    "JdYz6KE7oka+w98sFI2hpHUjJFBPmQIdE980PBf8HeWFQSkYhYnTWJeJyjsdEEhg7LycvY"
    "zMoM07wcjszrs5FpGi0kzOL4cSywkFXx9lMxhZf9g8PvD3/47ujwB95ETjMt+f4pGjoDJi"
    "KU8FyOjCdZDxk0M9ZloI6p/ViGdcT5UY1r0r6ALJ9yEdkExzpok4IM2+yD3AC4NciNzv4Y"
    "iZ7dIPjXEQWXvw2uTj8Mrl58GvyxL2se45qL4eXPSXPK15Vowbk8vRieSPBVsM0Zc522iK"
    "dEGvYlYFeWQxX2dxw1UV0NvUJYgN6OKV8lP9bFCOPtJCSWwBhMHBjcPr6K9V7ILELvfzK+"
    "ApfOP51djwafflVY9W4wOhM1fYVNSemLo32VU2kn4Pfz0QcgHsGfw8sziTXXeFNfjpi1G/"
    "0pNJDQOtTkL25COw9YUpwUKRJg40CwoEKBnFDqIEiq+Z8nK7B/zOnWxfG0ZLNcPRkOLxSG"
    "npwXP67Pn07Orl4cSE7yRpihvJbJ8M4sg+YaW6FZrLh3YJ1bje7OUM1Zkw0xzVFoRGNEhX"
    "05ua00hjLbVMX3PfURnpKP6FHCfM7nBImFKmCNl+bPAdphxZyVGqmx68P71CRXP1X+9vyd"
    "UbQUnA6uTwfvzoyS3K4A1F/jbjoKau5brYZUCO4YWrf30LdNRYJFDe3TQknatlzl9t1iCS"
    "RwKsERbyHmHKP+njqO1Kolvzuu6dW53RPZZg1e919x19F3Fv/mjmidN560Wtojj9/GTDtq"
    "4y0n813V6H796NqN3qQbrV2Mb93FKCwuDb+vApU20irM3sLC2Q5Z7VAYjc1fRaNqA7jGVi"
    "sI12ITODVQNLTNoLW30BS+oFNMriMDzagwiJX6WrM4SKy8JnaxMQABlxBkv8QEjH1uAiL/"
    "GGAWAIvSW4yAmEYA2AwHgNeC8SOAwIfEpi5g9BaRV0aBQ8/v8YbckNEMydpbhDzRGEV1ew"
    "G4/jB42X9zBF5A3qH3COgkqhavD6iHSAAIBTEI+z8CRGw+MQBvSFwG+MCS7aJYzIuPI9+i"
    "5f5bGKTfKLdrmMmfm1jaCXtMSS+JtKG9JYa2EDFzBoNZGdzTGfTnWNkK1Wo2Ub4uzC58MB"
    "1EpmzGH48OazBNNlCODgvWcbK10pdVqs1l+UhC0dKbyZFpX8bYWV8mWytb8l8h1BKwuxLA"
    "mwr92GaNzZEstcDGy+e22KvrXmGlacHtTFIRGp8PskrVPZz7b940AJq3mou0rKuAupU1lq"
    "PQgYPFgYMw0EGDxZ5tTqi2yasdhmxMH4wKfzau6dV5sjRrs9iPJQC5EDvgHmLp2TEKxoj7"
    "gYT1+A9REv2O/qU+mOI7REDoAVrlxD67u5beJJdfFsrXJ9z/MyFjyPXE3wYuZYSTaYeo+Y"
    "6RjezQQ+Ytkhl3sW3dbjjZg3Zet8R59ZGFPdxS5StEncj/K6r8JrYVb1Wj8kvWVRCO/0FW"
    "K5xzJJ1EeQ2GFRPLYNsMYoWoE0hvOp9VJAO3hl0h0rAvAXum/hsvKSnF5gA3vCiavq4oh7"
    "qsHBw1WFUOipGMbFERVYXU0ciqqsB5fuZojmRz7trrrTZCSqFcYTeWIG0UzY0pdTjP2Nlw"
    "XtFfaSkIFeRaGnZXGiwHcg7ZZkgYrjiKtGBRKBKvQBK2LCTZJV6L2McSX3yOTPN3m/krd9"
    "yQ71cdW5jvDKhUXdhG2LQzoMbmmjoEKlUXcF/HNllpp+HrBMbleZOKsHhyDmV+UFx85Bu+"
    "aaD9cQI5ySXP+/eWOb8QDRh3os8ubE1UWl8BoK8A6Drs+nzOt24o6yPpq9Il+gD1og9mFQ"
    "eo59u8uUBO7lIrFfCTmPL9xyvkQBYfSKjGOnd/VkfgflqnW3BFJRYlt0CW9+rcAp+3WL9b"
    "oI3nTRrP8m8J1vkRgKS9PoNQ6fqrIZZowuXFrfbOnoxqbVf2lFBOv+KdvbHHQ76Ls0NpDV"
    "eJApXefK20j5qocpEc+kw93jGbaa1KfDTzKWMOOrubc6mo2qBWrbO4qYnuGt8wagwJAhYN"
    "CWcTkHTikCQESV/i6OQEYofXOuJUaY/XiVxX8ddHUyy6F12J53uff9X75fzY1Q8hTn1yGz"
    "4AQWjNAAzAnqQ8hpYc5/gm7L/uH+31wJ7o6Jh7b4gdM5qUixTcPdnVsYwFHr8VUg+w/dPe"
    "Mum4cRQ989AXhyALrBKBeB2J3B5jquVuynO2UbZtFVSNqe9ev25gTfFWc80pWadjYDoGti"
    "WbadI4qdCzidEyX72mltHGNtMq9IhxMfyd29E3cjbiFW6MfSOvXMIHeVlAdGWAKDTTq1S0"
    "atkC1SJPCrVRLilB5zz1tRy4SMS+DcR5ms6hvPp4iAeD4J7yhbjt7Rclwg1mo69LLW/gdA"
    "sfcYJ9t/Wt0Qqdvja6RRBqo8HUbyCRSkkUpFYaP2qKb55GY7wYYzimITOrZHh+bkeepgsY"
    "bzqzw0XuGPlmgOP95DaObZFW+7bGTvm2pUToAKGKBa7BnUUJoZaA3ZUAeMedP7+1dVwg62"
    "I0sd8kmNifH0vsFxWdyGRol0qVo9CJVIsTqfw4meSZaVRJTsqOgds0jSonVEoS1RVfS67O"
    "T0c6i+pZG7BVl3A/E6Xs/4zoLkjx4XsNUjVI+buPl8eoeNdyF5FKjxEtD1PH/s+cteaEDJ"
    "CPrZlRsUkV1/Tqtqlg1kZnd+6SFdar2TW64wqvZcwsR9JBV2ItgXbxUbVAOG7eQXQPGqV9"
    "HNSkfRyU0z74iKzyyrlfroeXc3cwWPWFcza2GPgPOHiX1UoVuAKM+thkMQzZUyMYooOTr3"
    "14+el/u4AsQg=="
)
