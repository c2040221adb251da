"""Idempotency-Key on JSON creates (SPEC §4): one row per (user, key) for a day."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

SQLITE = """
CREATE TABLE "idempotent_requests" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "user_id" INT NOT NULL,
    "key" VARCHAR(255) NOT NULL,
    "fingerprint" VARCHAR(64) NOT NULL,
    "status" INT,
    "location" TEXT,
    "body" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_idempotent__user_id_d5099f" UNIQUE ("user_id", "key")
) /* One (user, key): the request's fingerprint and, once it succeeded, its answer. */;
"""

POSTGRES = """
CREATE TABLE "idempotent_requests" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "user_id" INT NOT NULL,
    "key" VARCHAR(255) NOT NULL,
    "fingerprint" VARCHAR(64) NOT NULL,
    "status" INT,
    "location" TEXT,
    "body" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_idempotent__user_id_d5099f" UNIQUE ("user_id", "key")
);
COMMENT ON TABLE "idempotent_requests" IS 'One (user, key): the request''s fingerprint and, once it succeeded, its answer.';
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    return POSTGRES if db.capabilities.dialect == "postgres" else SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
DROP TABLE IF EXISTS "idempotent_requests";
"""


MODELS_STATE = (
    "eJztXWtT4zYX/isafwFmsjsQbtu005nAsl1alnQgvUyXjqvYSqJiS64tEzL78t9fSbbja4"
    "wdkpAYfYFE0pHkR8c6VynfNJuayPLen1PbRoRpHfBNI9BG/EO2qgU06DhxhShgcGDJtkbQ"
    "SBbCgcdcaIjOhtDyEC8ykWe42GGYEl5KfMsShdTgDTEZxUU+wf/5SGd0hNgYubzi69+8GB"
    "MTPSJPfP2mDTGyTPlZc6jHdGzKmWAbeQzajvjCiwQZenRc5Hl8UC/qKXo2/KhHU9ZlL8HU"
    "2dSR1Zqk5k8hvzy1QGrYF4xVZxjoszF19XoDBEQlgwhC516X46SWO8BRlusR7SVhn2RDsV"
    "wDPorl2yRu7Ez5YGTWGgdcMkIEuZAh0T1zfbH+YnlDVolYIljquEmwxgkaEw2hb7EEvwz0"
    "uEzT9eteX7+96Ou6VoPDDI4fxwILXhVPPxJTeNc+ODo9+nB4cvSBN5HTnJWcPgVDx8AEhB"
    "Ke6772JOshg3q8dDGoA2pO87D2+XoU4xq1zyDLp5xFNsKxDNqoIMY2fiHXAG4Jcv2LP/ui"
    "Z9vz/rNEwfXv3Zvzz92b3S/dP/dkzTSsuepd/xQ1p3xfCTac6/Or3pkEPw22Pma2VRfxGZ"
    "GCfQHYU9thGvaPHDVRXQx9ijADvRlSvo8+rGohtB+GPjEExmBoQe9++j6UewPoofc+Mwid"
    "/Ki9wlJdfrm47Xe//Jpar4/d/oWoaafWKirdPdlLL9esE/DHZf8zEF/BX73rCwk4F3sjV4"
    "4Yt+v/JcSQED1U5w+uQzOJWlQcFaXYwMSeWIcCKXJGqYUgKWaCJFmGBwacblXLPitZ76qe"
    "9XpXqQU9u8y+Yb99Obu42T2QK8kbYYaSoibGO1YPqovtFM3z0nsLNrvlCPAY1YRKWRHTBI"
    "VCNERUKJnD+0KNKFZQ0/h+oi7CI/ILmkqYL/mcIDFQAazh/vybh7ZYOsel2kzjdeFkppen"
    "X1X+9PyZUbAVnHdvz7sfL7Qc3y4B1F/DbhoKauJdLYZUMO4AGvcT6Jp6ioNFDW3TTMmsbb"
    "7KbtvZEkjgSIIjnkLMOUT94mGO7R1UtMosb/RQ2e7WegQBYwzJCAE6BNzCjr4NETI7ADMP"
    "3PMVbAFGHWx4LcB7oy6AxARSF9Myi7GUDmva/IaLBF/qkFUwiwNw9JBmWVbxGR69FcP4u3"
    "b78PC0vX948uH46PT0+MP+TBzkq8rkwtnlT0I0pFSd581nwTx5/M/H0C1GP2rfCDuO7xeP"
    "uoXIiI3518N2CbqRFXfYzhgAkX3XllUZu02+k3Vs5ZiiEQCv21CWm19NhT1BspB2Ge4Zmw"
    "L5stX1hDTIgVrufEhTKu/DFnofclbG62hvn6hlyVnl1LewplR/G8o2KwicfA27Dqyk8LOp"
    "/V2mXEWtFg6qhE+jzzqqE/CI5rus0d3y0VUkZJ2REOUlfrP7dFJgZ3aYii9Zhkr52QpUoc"
    "zuWQ9Z5RPWKnswU2JV+TBL3G0Z5nreiznTUhS01aA1N9CbeWki26EMEXaDOKZeoWcz36hU"
    "S8az5robtK/h8tz1OS+0wD2a7nWkkzLsYscDQ74WyHX4kjDhlWwBypkKYAY83zAQMhEvEl"
    "5MSDzOx8UO0OV1f0fuSBe4dAImmI0BoeAfzubM9/4BmDeKOgYew5YFXJ8Q3j/YpS7vF4HJ"
    "mHoIOC41uIYMTIxMYGNzAqd7398RPiaOxuEVR/vfAZ/wbkBYAUw4BdQy57lkv2riKUNu44"
    "+asyOUNr1ObTqxGBWRTVAoIV+gPgmezqFZ4mlGzcnTSjua28fHFTzNvNVcV7Osyyin8UZY"
    "B+UMWQPRPjmqAPbJ0VysRVUa6kBi1NgZYgLlYc7vCxY1oJxDDtD5cZIkzUI8u2GYvkYiZx"
    "28X5Q1+8axVhGUN+yZ25AIyhUdYXIb+PW1AmMxVd8qsxO9KDjQqmIcdoGHRwSZ7zABA252"
    "cRU5SFoxKL3HCIhpeNyk4waSMMoGU2GDcTuO2oDRe0Ty9uCLexQmYF/YkLz2HiHHkxalrO"
    "P25O3n7rv28QnYhbxDZxol3cjHB9RBxBNGYwjC3vcAEVNYiPCOhGXC1pOOAlEs5sXHWSQL"
    "J2FN8JeO6fx7lQBNtDy6pJdELRWfWaNeUxKfESymj6E3rqOgp6mWo5+/Lswr1s4TqWgLyF"
    "olaLdU0KYsitmGWZMJUoSKDbacDXhTISnr7LYJkiaYOqvea6WSwTXOej6nNFXzcF6Jf0/5"
    "o1ccdPY9FXB+PiqaYKpNioj2fDagj1qBZRvWtMpsWhq3ed6iJQDZEFtgArG08RgFA8QtQs"
    "Ja/IMoCT4Hf6kLRvgBEeA7gBaZsy/urqZdGfuiCbcEdcgYsh1W7bBHgJNu+qjEqMykHJrI"
    "9B2kh9GcWmdLouFkD8qM3RAz1kUGdnBNkZ8iamCQqX1cRbfirUpEfj7O5A/+RUYtnBMkjU"
    "R5BYoVE9tg3XhIiqgRSK87KiIuBKkNe4pIwb4A7PNi1yVbyrzg9QoB15zAr74qL0d6Wzk4"
    "qbCrHGQ9GfGmIqoy59ACrapOjkCSZH3m2v5GKyEqhqp8ehmfXtZoqckNBeSKJbacJQwL8m"
    "UydZltW3t7yBIvgR02zDnZpLUWXpAFXvsEmVrfTV5fGYBDrlt0f1FJNmCKqgkBhXWbBWkv"
    "XVXTIE3VBNxXETDbkBQwefFUgYM8upBqvntcvORrvne4/sl0OckFb/9tLXIUPhgw7EQdg9"
    "8Y/7S6EFhdCNx02NVVD0pb7qgLatV1qhuUGVLhOtX5im/Cm5P4nYs04Gch5adfbpA17/RX"
    "/ic1GgL30yptgxsqscjZBrK8VWYbuLzF6m0DpUGvU4OW/3OwzncDRO3V4YRC+z/tZwkmnN"
    "/cSm/wj6lWdoF/DuXZW7y19/c7yLVxfFqt4i6RoVKx2EL9qIooF7miL5TjDdOZVirE+2OX"
    "MmahuXedpxuUinUWNtVrX35OfcKXCUg6cXoSgqgvcaZyCLHFay1x3LTF60Tqa0veuzPCon"
    "vRlfg+cflbvTfnOvSlDiGOg3Id3hMXBo0B9MCOpOxAQ47TufPb++2TnRbYER11uPWGWIfR"
    "qFxk5O7IrjrSIdj5QXA9wOaPO4tk54au9NhMf94PmVkq4Y1X7sjNUabUrTfR9er7+xW0Kd"
    "5q/gXrok45wpQjTDrCNiSsJjWUAmEbaS7zZexMPVpbWK1AmGhXvT+4Mn0nZyMe4U7b05IS"
    "xn+UVwkEFwqIQn12NaeSLxsgX+TpoToSZkbQOHN9JYcwIravA3GSpnEoL98p4kDPm1C+Ed"
    "e9GyNHuMYM9VWJ5TWceOEjDrFrF12PUOqGStGpX5Ks4Ylaq0f1DaRUVbs+cD6+Tbs+cNUY"
    "wwH1mV7Ew/OzPJI0TcB43TkeNrIHyNU9HAaV61i3WVpl4G6hgZvLi/YQKtjlKtxoFBEqNt"
    "hyNoAP3Ax0a+vJGbImOheX/tuNIrGhXmZVgkLlVT2fV+WGuSUvzKqKUlS2DNyqWVUJpkrl"
    "VN3wveTm8ryvkqpeFI8t+nmnF6IU/yRhc0EKj+YrkIpBSt6RvDhG2TuZm4jU7GjR4jBF55"
    "eaAs8qg1Vd5GJjrBWEq8KaVlnACsZtVLLnNmlhrZL40QMXeDW9ZwmSBpoSK3G5i5eqBsJh"
    "8waie1ApC+SgJAvkIJ8FwkdkhRfS/Xzbu54by2DF19GZ2GDgf8DC2yxWisAVYJR7KbMOyV"
    "bagyE6OHvtA81P/wfoBeOt"
)
