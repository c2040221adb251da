"""Search (SPEC §11): the words index of posts (SQLite FTS5 / PostgreSQL tsvector + GIN),
built here for the posts that exist, and the tags and mentions posts carry."""

from tortoise import BaseDBAsyncClient

from flasky import search

RUN_IN_TRANSACTION = True

SQLITE = """
CREATE TABLE "post_mentions" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "post_id" INT NOT NULL REFERENCES "posts" ("id") ON DELETE CASCADE,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_post_mentio_post_id_ad78d7" UNIQUE ("post_id", "user_id")
) /* A user a post mentions (`@username` of an existing user): the `@user` search */;
CREATE INDEX "ix_post_mentions_user" ON "post_mentions" ("user_id", "post_id");
CREATE TABLE "post_tags" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "tag" VARCHAR(256) NOT NULL,
    "post_id" INT NOT NULL REFERENCES "posts" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_post_tags_post_id_5dfd46" UNIQUE ("post_id", "tag")
) /* A tag a post carries (`#word` in its body, normalised by `text.normal_tag`); */;
CREATE INDEX "ix_post_tags_tag" ON "post_tags" ("tag", "post_id");
CREATE VIRTUAL TABLE "post_search"
    USING fts5("words", tokenize = 'unicode61 remove_diacritics 0');
"""

# A deleted post leaves the index (PostgreSQL: the foreign key's cascade).
SQLITE_AFTER = """
CREATE TRIGGER "post_search_delete" AFTER DELETE ON "posts" BEGIN
    DELETE FROM "post_search" WHERE rowid = old."id";
END;
"""

POSTGRES = """
CREATE TABLE "post_mentions" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "post_id" INT NOT NULL REFERENCES "posts" ("id") ON DELETE CASCADE,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_post_mentio_post_id_ad78d7" UNIQUE ("post_id", "user_id")
);
CREATE INDEX "ix_post_mentions_user" ON "post_mentions" ("user_id", "post_id");
COMMENT ON TABLE "post_mentions" IS 'A user a post mentions (`@username` of an existing user): the `@user` search';
CREATE TABLE "post_tags" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "tag" VARCHAR(256) NOT NULL,
    "post_id" INT NOT NULL REFERENCES "posts" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_post_tags_post_id_5dfd46" UNIQUE ("post_id", "tag")
);
CREATE INDEX "ix_post_tags_tag" ON "post_tags" ("tag", "post_id");
COMMENT ON TABLE "post_tags" IS 'A tag a post carries (`#word` in its body, normalised by `text.normal_tag`);';
CREATE TABLE "post_search" (
    "post_id" INT NOT NULL PRIMARY KEY REFERENCES "posts" ("id") ON DELETE CASCADE,
    "document" TSVECTOR NOT NULL
);
"""

# After the existing posts are in: one pass builds the GIN index faster than row by row.
POSTGRES_AFTER = """
CREATE INDEX IF NOT EXISTS "ix_post_search_document" ON "post_search" USING GIN ("document");
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    postgres = db.capabilities.dialect == "postgres"
    await db.execute_script(POSTGRES if postgres else SQLITE)
    await search.index_all(db)  # the posts there are (their HTML as stored)
    return POSTGRES_AFTER if postgres else SQLITE_AFTER


async def downgrade(db: BaseDBAsyncClient) -> str:
    trigger = "" if db.capabilities.dialect == "postgres" else 'DROP TRIGGER IF EXISTS "post_search_delete";'
    return trigger + """
DROP TABLE IF EXISTS "post_search";
DROP TABLE IF EXISTS "post_mentions";
DROP TABLE IF EXISTS "post_tags";
"""


MODELS_STATE = (
    "eJztXW1T47YW/isa3w/ATLoDgWW3bKdzgbJdWhY6kN52WjpGsZVEF0dybZmX6d3/fnVkO3"
    "6NY4ckJF592SWSjmQ/OtZ5lfSPMeY2cfw3p3w8JkwYR+gfg+ExkX/kqzrIwK6bVECBwH1H"
    "tbXCRqoQ933hYQs6G2DHJ7LIJr7lUVdQzmQpCxwHCrklG1I2TIoCRv8OiCn4kIgR8WTFn3"
    "/JYsps8kR8+PmPMaDEsdXfhst9YVJbPQkdE1/gsQs/ZBGQkSfXI74vB/XjnuJ3o09m/Mim"
    "6iV8dPHsqmpDUcu3UD++dFBm2BeM1WQYHIgR98xmA4REFYMAoXtvqnEy0x3iqMrNmPaciY"
    "+qIUxXX47iBGOWNHaf5WBs0pqGXDIkjHhYEOheeAHMP0xvxCoxS4RTnTQJ5zhFY5MBDhyR"
    "4pe+mZQZpnl51TNvznqmaTTgMEviJ7GgwKvw9kN4hG+6ewfvDt7vHx68l03UY05K3n0Jh0"
    "6ACQkVPJc944uqxwKbydQloPa5/VyEtSfnoxzXuH0OWfnIeWRjHKugjQsSbJMPcgXgViDX"
    "O/u9Bz2Pff9vBwou/3N8ffrp+Hr78/HvO6rmOaq5uLr8MW7O5boSLjiXpxdXJwr8LNjmSI"
    "ydpohPiDTsc8CeWQ6zsP8gUYPqcugzhDno7YjyTfzHsibC+G4QMAswRgMH+/fPbyK518c+"
    "eRMIi/HH741XmKrzz2c3vePPv2Tm64fj3hnUdDNzFZduH+5kp2vSCfrtvPcJwU/0x9XlmQ"
    "Jcir2hp0ZM2vX+ADEEooeb8sVNbKdRi4vjogwb2NSHeSiRIiecOwSzciZIk+V4oC/pljXt"
    "k5LVzurJ1dVFZkJPzvNf2K+fT86ut/fUTMpGVJC0qEnwTtSD+mI7QzNbem/AYrcYAZ6gml"
    "Ipa2KaotCIRoiCkjm4L9WIEgU1i+9H7hE6ZD+TZwXzuXwmzCxSAmu0Pv/qkw2WzkmpMdF4"
    "Pfw40cuzn6p8e/nOJFwKTo9vTo9/ODMKfLsAUH+JumkpqKlvtRxSYNw+tu4fsWebGQ6GGt"
    "7luZJJ22LVuDvOl2CGhwoceAt45gj1s4cptndY0amyvMlDbbvbuGIEWSPMhgTxAZIWdvxr"
    "QIh9hKjw0b2cwQ4S3KWW30GyN+4hzGykdDEjNxkL6bChzW95BPjSxKKGWRyCY0Y0i7KKT+"
    "jwazGMv+129/ffdXf3D9+/PXj37u373Yk4KFZVyYWT8x9BNGRUndnmMzBPEf/TEfbK0Y/b"
    "t8KOk+vFk+kQNhQj+XO/W4FubMXtd3MGQGzfdVVVzm5T32QTWzmhaAXAqzaU1eLXUGFPkc"
    "ylXUZrxrpAvmh1PSUNCqBWOx+ylNr7sIHeh4KV8Tra20fuOOqpCupbVFOpvw1UmyUETv6M"
    "ug6tpOhv2/irSrmKW80dVInexpx01CTgET/vokb3qkfXkZBVRkK0l/irXafTAju3wtT8yH"
    "JU2s9WogrlVs9myGqfsFHbg5kRq9qHWeFuyzHXbC/mREvR0NaD1l5Db+a5TcYuF4SJayIx"
    "9Us9m8VGlVoynTQ3vbB9A5fndiB5oYPuyfPOkXJSRl1s+Wgg54J4rpwSAV7JDuKSqRAVyA"
    "8sixCbyCLwYmLmSz4ud4AurvtbdsuOkccf0SMVI8Q4upNsLgL/DlHZKO4Y+YI6DvICxmT/"
    "aJt7sl+CHkfcJ8j1uCU1ZGRTYqMxtR/x886HWybHpPE4suJg91sUMNkNiiqQjZ8Rd+xpLt"
    "k/DXjLiNvkqxbsCK1Nr1KbTk1GTWRTFFrIl6hPwNMFNCs8zaQ9eVpZR3P37dsanmbZaqqr"
    "WdXllNNkIWyCco6shWgfHtQA+/BgKtZQlYU6lBgNVoaEQHuYi+uCwy2snqEA6PQ4SZpmLp"
    "5dM0xfI5GzCd4vypr9yrHWEZSv2DO3JhGUCz6k7Cb06xslxmKmvlNlJ/pxcKBTxzg8Rj4d"
    "MmJ/QxnqS7NLqshh0orF+T0lCB7DlyadNJDAKOs/gw0m7Tg+RoLfE1a0B1/cI5iAPbAhZe"
    "09Ia6vLEpVJ+3Jm0/H33TfHqJtLDt0n+OkG/X6iLuE+WA0RiDsfECE2WAh4lsWlYGtpxwF"
    "UAzPJceZJwsnZU3Ij06Y8nedAE08PaaiV0QdHZ9ZoV5TEZ8BFjNH2B81UdCzVIvRz18X5i"
    "Vr56lUtDlkrRa0GypoMxbFZMFsyAQZQs0GG84GsilIyiarbYqkDabOstdapWRIjbOZzylL"
    "1T6cl+Lf0/7oJQedA18HnGdHRVNMtU4R0Usu6IBGPsES+zZT36myb1mqZYMIqEOZ2qGBES"
    "C0BVZiqp/ysGYNmqlxQhUkjHLx/aD/X2KpT9rGxbjhNLMycO2Ud6lW+l/mAUMTs0n6YWpw"
    "qW3b8w7LYmJt1q6BWat3kEwE/95hDbm/l1eJE7EPVblQU/Jp18U3RdJCiBevw8KSWYAXzM"
    "RyeKPmVcbhBoJcASqYcqXbbCwelOn9M3baTKhWp5PurfXKqgNF2nGRc1xkNbMmjJCl1Iyw"
    "4YwQK7pZFqg87SUm0Se9NDjpRTtXtHNls50rOeWsxOl9EtF9/PmaONOSp0rcJcfQX4tA/7"
    "IqP1QI3Axn1ATdeh4pM5nd2X6p30YcjgMhNpKCGCt30xHCAo2llFL57JAC4RIPbXvEoi4l"
    "THSi00QiIzI6TmSng8hDWXL+UkaYmRtfdHupPqodXxkU6Xy+pwh9E96zvtdrcsLAfIPhmE"
    "O0t2sNvF1aU1j4tgDtP9T+ww32H2qvjTbWU17R1R4+tHYf24KFQ4nWVhPaEkqN8GxDneUC"
    "5S802PNx9w0Du67hXsJss7fiTxR77RSpPKY1tUauU8rJVSD6/Mkose+jmk6VUc+TNrM3UT"
    "BExpg66BFTta1AcNQnyFfWdJ9ASfh3+C/30JA+EIYCV9rgJTsoXtxdw60MyfZHJu1Wqe4I"
    "MnZFvfNFQ5xMO2hgcNvEDlxiRhuIGx1nGg+netBG95oY3RPnURM7JkPUQkum+7aOKSNbVW"
    "SZFrc2a3txBbm8ApbBpltwM0StQHrVG3HhDprGsGeINOxzwD7tuISKJWXaeQlLBNxww62c"
    "y/J0LNvTF2lVTY6lSJOszjbeXWslRPv1tF8v59fLGy0NuaGEXLPEhrOE5WA5TbapDnhrvD"
    "zkiRfADmu2H65Ncw1ekDk++xSZnt91nl+155t4XpkvtuIAqgxVG/awrtosyHrp6poGWao2"
    "4L6M+HQhwPM6LnJ111mJgzy+A226exw+8hVfdd38MgT1kHNeON2Z5/aFcMCoE33zwtr4p/"
    "Ud1PoO6rbDrm8X0drykb4TWd/gu06pIbNv8K2zY8bi43F8xev8e2ZOw15aBHfmw4d3g+wm"
    "L7pKbX6gQPv/HPbWVrAEHi4IqB4etgmkZVubMV9NMTpTbFdte5oRu9c+5hZ2eSCMgBbFtG"
    "j77t9QDg9ypw76YYg8UV8lXUFFdJtJ2OoO+QR7ljrmM3fi7eI6v2UD6gjifUCPHhWCMDgg"
    "9y6se6OY5Q4NPDgrV92yIgvgLpNPvc8X07dmxRejqz2edQ8fiu8Jr2f0TqbDjDeSart3De"
    "ze1GXvNZFNUWhFUG9EX71qHS9WL1SsYw/mhoFbV7FOfaaz89j13v4l7+1fttIEOuYUhSlS"
    "P2coS1Ldra0oybaxKmNhz6MENJl/PXLPvkOUqRPzwVnXQYx7Y+xQX+ofoKNA+uObsAzGu9"
    "v5UKIoLa7zW7Z4BUn2XK0fiRDthroRoG9GpFotWgO1KJqLuiHNeNbb4JXOJ0/XSXOUrSqS"
    "pwuJjlrp1CrSGsjzmSrS68jza65QLQhzVV4pyT3ZYvkhdy2JVimJ1P8NRFHcXl8zk5NDJc"
    "fGRg9cQLfydL4U1dIO6CugPPmKN/Z8Ppd4Y5rcO1ZX7mep9BaHUsFfJ0IGxusLgxktM++X"
    "GsnojTwuhEPOHggrTaDLNqgU6yJqapKHOMZZ70YDdVCztG0VXXhNQdwX3I43wNSRtQ5cHN"
    "iRdbCjvKNuUB9S6B66gt9gRpOd8gsQFjsEXOwn1VMfrn4fIeyjLUV5hC01ztFt0N3tHm51"
    "0BZ0dCTNaiKOBI/LYaP7lurqSOXZHX2nwi7U/n5rnk3vUYZqkv0y25rPTRUkueosv/VRpv"
    "T95ZEytb+7W0Obkq2mqlOqTueX6fwylV+2JtnqSkMpEbax5jJdxk7Uo5Vlq5cIE+Pi6jep"
    "TN8acVbArbFjpCVM8KSi52EMHQpNhz/qaPrayBd1KE8TCTMhaJ25vpSzTWK2bwJxmqZ1KC"
    "/eKeJi34doW+NbjguEKzz4YVlieQUHycgRB9Qbk6aXRGTo9E0RDTxRK/WofgU7FTM7cfm0"
    "cyen45um0RjPxhj3eQDplEWMp2+eStO0AeNVb50ak3GfeKZPo3hpE+s2T6sN3A00cAvHDf"
    "iElKxyNe6mjwk1G2w4G+AHaQZ6jfXkHFkbnYvdOr7F7nTXYjcv8iCxoVnCUIpCJwzNThjy"
    "otySFyYMxSkqGwZu3YShFFNlEoau5VpyfX7a03sVXxSPTX/xA+4o1+YLUfqoumk3SNGJlx"
    "qkcpB8Mi3rpAlGFxCHvgm7aitS6SsQFnj74NcAF1zxtljUWndnYz4BfAE7q9sKT7RVltgm"
    "LbEx9Ub9pWZuHROPWiOjJIoc1XSq4sg4aaNzsFfFJ8sO6z5IPbShUztF0kILfymRMPioGi"
    "AcNW8hunu1krP2KpKz9orJWXJEUXr9yk83V5dTQ4yi/PIVm1oC/Q85dJNlcBm4AEZ18CAf"
    "J+hkHYvQwclrH9/55f+IPHeq"
)
