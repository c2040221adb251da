"""The change feed (SPEC §8): one `events` row per write, in the write's transaction."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

SQLITE = """
CREATE TABLE "events" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "topics" TEXT NOT NULL,
    "actor_id" INT,
    "created_at" TIMESTAMP NOT NULL
) /* One change of the change feed: its kind, topics, actor and time. */;
CREATE INDEX "ix_events_created" ON "events" ("created_at");
"""

POSTGRES = """
CREATE TABLE "events" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(32) NOT NULL,
    "topics" TEXT NOT NULL,
    "actor_id" INT,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX "ix_events_created" ON "events" ("created_at");
COMMENT ON TABLE "events" IS 'One change of the change feed: its kind, topics, actor and time.';
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    return POSTGRES if db.capabilities.dialect == "postgres" else SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
DROP TABLE IF EXISTS "events";
"""


MODELS_STATE = (
    "eJztXW1v27YW/iuEvqQB3CJx3jrfYYCdpmu2NB4S727YMgi0RNu6kUlVpPKCLv/9ktQrZV"
    "mWHNu1VX5pLZKHpB5SPOc8PGS+GlNiI5e+OyfTKcLM6ICvBoZTxH/ks1rAgJ6XZogEBoeu"
    "LGuFhWQiHFLmQ0tUNoIuRTzJRtTyHY85BPNUHLiuSCQWL+jgcZoUYOdLgExGxohNkM8z/v"
    "6HJzvYRk+IisevxshBri1/Gx6hzHRs2RNniiiDU0888CQhhp48H1HKG6VxTfG7OU9m3GVT"
    "1hJ2nT17MtuQ0vwt5MNLCyjNvqKtOs3AgE2Ib9ZrIBQqaUQIevembEcZ7hBHmW7GspeYfZ"
    "QFxXANeStuMMVpYe+ZN4aT0k44S8YIIx8yJKpnfiDGXwxvNFXiKREOdVokHOOMjI1GMHBZ"
    "Zr4MzTTNMM3r/sC8vRiYplFjhlkcP46FI+aqePux6MLb9uHx2fH7o9Pj97yI7GaScvYSNp"
    "0CEwpKeK4HxovMhwya6dCloA6J/TwL64CPRzGucfkcsrzLeWRjHMugjRNSbNMPcgPgliA3"
    "uPhzIGqeUvrFFQnX/+3enH/q3rz53P1zX+Y8RzlX/euf4+KEryvhgnN9ftXvSfBVsM0Jm7"
    "p1EU+ENOxLwK4shyrsHzhqIrsYekUwB70dSb6Lf6xrIIwfRwG2BMZg5EJ6//wu0ntDSNG7"
    "gFmYPP5kfIOhuvx8cTvofv5NGa8P3cGFyGkrYxWnvjndV4crqQT8cTn4BMQj+Kt/fSEB52"
    "pv7MsW03KDv4QaEqqHmPzFTWhnUYuT4yRlGtgOFeNQoEV6hLgI4uJJkBXLzYEhl1vXsCcp"
    "mx3VXr9/pQxo7zL/hf3+uXdx8+ZQjiQv5DCUVTUp3ql5UF1tKzKLtfcOLHarUeApqhmTsi"
    "KmGQmNaISoMDJH94UWUWqgqvh+JD5yxvhX9CxhvuR9gthCBbBG6/PvFO2wdk5TjcTi9eFj"
    "Ypernyp/e/7OKFwKzru3590PF8bMvF0BqL9F1TQU1My3WgypmLhDaN0/Qt82lRksckib5F"
    "KSsrNZ0/Y0nwIxHEtwxFuIPkeoXzzM8b3DjFaZ540eKvvdRh8jYE0gHiNARoB72PHTCCG7"
    "AxxGwT0fwRZgxHMs2gK8NuIDiG0gbTEjNxgrqbCmz2/5SMxLE7IKbnEIjhnJrMor7jnj78"
    "Ux/qHdPjo6ax8cnb4/OT47O3l/kKiD2awyvdC7/FmoBsXUWew+i8kzi//5BPrF6MflG+HH"
    "8fXiyXQRHrMJfzxql6Abe3FH7ZwDEPt3bZmV89vkN1nHV04lGgHwph1lufjVNNgzIktZl9"
    "GasS2Qr9pcz2iDGVDLyQdVUrMPO8g+zHgZ38Z6+0hcV/ZqxnyLckrtt5Ess4aNk7+jqkMv"
    "KfptG/+UGVdxqaU3VaK3MZOK6mx4xP1dVet+eet6J2STOyGaJf5u1+msws6tMBU/spyU5t"
    "kKTKHc6lkPWc0JG5UZTEWtag6zhG7LTa7FLGZipWhoq0FrbyGbeUXGDr4NrTSjwCpW8ktt"
    "YxqbelWMY6MLKJ8hyH7rYDD0uR2I/JCCtAi5dxAQ3aCATRwKeC4YPgMIfIhtMgWM3CM8S2"
    "++usY7fIcHEyRz7xHyqORIZd4eBbefum/bJ6fgDeQVes8xhSpfHxAPYQowAREI+/8BCNu8"
    "YwDe4SgN8IblsItk0S/ezjKcakCTb5QbN8zkz1XM7Xh4TCkvhbS1vSXWtphi5gTSSR36VJ"
    "VaDcf3bWFWKNTT4woU6unxXApVZBXST0tyT9qhaYBDky6YNSeBIqinwY5PA15UaMo6q21G"
    "ZKmldtuo/TWvtdLI4BYnLqD654OsSjUP5/bJSQWgeam5SMu8Aqhr2WUZCU0hLKYQAqrpg8"
    "U+bmZSbZN/2w/YkDwZBZ5tlNMq82lJWmaxR4sBmkLHBY/QkT4eI2CIuEeIWYv/ECnh7/Bf"
    "4oOx84AwCDxAitzZV1dX06/k85cF8vUx9wRNyBiaeqxa6E6Ik2kHqPoGko3swEPmPZJnKG"
    "pFCsXNyRq0G7slbqyPLMdzaqp8RagRgSp5lV/FtuKlSlT+jHVFg+H/kFUL54xII1Feg2HF"
    "xDJY90yYItQIpDcdeCWOd9WGXRHSsC8Be6r+Ky8picTmADe8kFdfF8uhLiuHpxVWlcM8k5"
    "EuKiIrF1UYWlUFOM+PKsyIbM5dO9hqI0THFGpOL8fp5Z2WmrOhQFxPiR2fEpYL+TDZZoCZ"
    "U3DMfMHykBdewXTYMnKySWMtWJAlPvuMmB7fbR5fuQGHfL/oNOp8t0CVasKGwqbdApWlq+"
    "oaqFJNwH0dG2ZbciRCHiMuIMjj48Xz6XHxkW/4Fqn65wxkJ5e8y6m1zMGGsMGoEn2oYWv4"
    "aX29k77eqemw64M72lru6OuG9OU4WxQZUuFynPmGb4bNydxaqgLeiyQ//nqDXMiikwrFWG"
    "cuSG0I3C/r9A1uiMRixjeQ6a0y38DnJdbvG2gLepMWtPx/Btb5NEBcXh9OKPT/VZ4l7PDs"
    "4lZ6H2MqtbbrGGdQTr7inb2N0UP+1ElPq1VcJXJSei+20D6qospFrOgr9XjDbKa1KvHBxC"
    "eMuWjuzXVqgVK1zqKiZu2r7EiA+TABKSdOT0IQ1yXOVI6g4/JcVxw3bfE8Efoq/vfR2BHV"
    "i6rE86PPv+r9OZfbrbQJcRyU2/AU0MCaAEjBnpTsQEu207kL2gft070W2BMVdbj3hliHkT"
    "hdROTuyao6khDs/ChmPXDsn/aWic6NqPTUTV/MQ+aGSrDxmo7cHmOq5pbKa/ZStm0VzF2W"
    "d3BQwZripeZflyfyNBGmiTBJhG3Jtpq0UAqUbWy5zNexiXm0sW21AmViXPX/4Mb0neyNeI"
    "U7Y9/IapjgSV4lEF4oIBLN5KIVrV+2QL/I00N1NEwi0Dh3fS2HMOJpXwfirEzjUF49KeJB"
    "Sh8JX4jr3o0xI7jBCPV1qeUNnHjhLY4cf1p0PUIpDaXI6b8LUoOJ2iij+h2EVCkhg8RKSK"
    "Sq+GZlNMaLMYZDEjCzaA7Pj/LIyjQB403HeEzRdIh8kzrRpnId7zYvqx3cHXRwZ+KiKUIF"
    "q1yFG41iQT0NdnwawAfuBvq17eScWBPJxZX/JQ4R2FAvsiojoeOqFsdV+VFsySujquIQlR"
    "0Dt2pUVWZSKTFVN3wtubk8H+igqlftxxZd1v1KlNI/MNFckKKj+RqkYpCydyQvj1H+TuYm"
    "IpUcLVoepob9ecS1hoh0ke9YE6NguyrKaZVtWMG0jA723CUrrFWyf/TAFV5N9iwj0kBXYi"
    "2Uu/ioaiAcFW8guoeVokAOS6JADmejQHiLrPBCul9u+9dz9zJY8XV0tmMx8C9wnV1WK0Xg"
    "CjDKWco8IdlSGQxRQe9bH2h++T+27lXT"
)
