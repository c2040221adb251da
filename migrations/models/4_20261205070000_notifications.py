"""Notifications (SPEC §10): a user's lines, and who acted on each (once per kind,
actor and subject, ever)."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

SQLITE = """
CREATE TABLE "notifications" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "subject" VARCHAR(64) NOT NULL,
    "day" DATE NOT NULL,
    "actor_count" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "read" INT NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_notificatio_user_id_c7ccae" UNIQUE ("user_id", "kind", "subject", "day")
) /* One line of a user's notifications. */;
CREATE INDEX "ix_notifications_user_ts" ON "notifications" ("user_id", "updated_at", "id");
CREATE INDEX "ix_notifications_unread" ON "notifications" ("user_id", "read", "id");
CREATE TABLE "notification_actors" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "user_id" INT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "subject" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "actor_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "notification_id" INT NOT NULL REFERENCES "notifications" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_notificatio_user_id_2ccddb" UNIQUE ("user_id", "kind", "subject", "actor_id")
) /* Who acted on a line: at most one row per (recipient, kind, subject, actor), ever. */;
CREATE INDEX "ix_notification_actors_line" ON "notification_actors" ("notification_id", "id");
CREATE INDEX "ix_notification_actors_actor" ON "notification_actors" ("actor_id");
"""

POSTGRES = """
CREATE TABLE "notifications" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(16) NOT NULL,
    "subject" VARCHAR(64) NOT NULL,
    "day" DATE NOT NULL,
    "actor_count" INT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "read" BOOL NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_notificatio_user_id_c7ccae" UNIQUE ("user_id", "kind", "subject", "day")
);
CREATE INDEX "ix_notifications_user_ts" ON "notifications" ("user_id", "updated_at", "id");
CREATE INDEX "ix_notifications_unread" ON "notifications" ("user_id", "read", "id");
COMMENT ON TABLE "notifications" IS 'One line of a user''s notifications.';
CREATE TABLE "notification_actors" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "user_id" INT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "subject" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "actor_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "notification_id" INT NOT NULL REFERENCES "notifications" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_notificatio_user_id_2ccddb" UNIQUE ("user_id", "kind", "subject", "actor_id")
);
CREATE INDEX "ix_notification_actors_line" ON "notification_actors" ("notification_id", "id");
CREATE INDEX "ix_notification_actors_actor" ON "notification_actors" ("actor_id");
COMMENT ON TABLE "notification_actors" IS 'Who acted on a line: at most one row per (recipient, kind, subject, actor), ever.';
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    return POSTGRES if db.capabilities.dialect == "postgres" else SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
DROP TABLE IF EXISTS "notification_actors";
DROP TABLE IF EXISTS "notifications";
"""


MODELS_STATE = (
    "eJztXWtz27YS/SsYfrE9w2Rs+ZHU7XRGdpzGbWJ3bPWm07jDQiQk4ZoEWBK0rcnNf78A+H"
    "6IImVJlhh8SSwAC5AHS+zuweur5lAL2f7rc+o4iDDtFHzVCHQQ/6OYpQMNum6aIRIYHNqy"
    "rBkWkolw6DMPmqKyEbR9xJMs5JsedhmmhKeSwLZFIjV5QUzGaVJA8L8BMhgdIzZBHs/48j"
    "dPxsRCT8gXP79qI4xsS/6tudRnBrbkk2AH+Qw6rvjBk4QYenI95Pu8UT+uKX43/GTEj2zI"
    "WsJHZ1NXZmtSmr+F/PFNB7lmn9FWm2ZgwCbUM9o1EArVNCIE3XtDtpPr7hBHmW7EspeEvZ"
    "cFRXcNeSt24JC0sDvljZGkNA61ZIwI8iBDonrmBaL/RfdGqhKrRNjVaZGwjzMyFhrBwGYZ"
    "fRkaaZpmGFfXA+P2YmAYWgsNMzl+HAssdFW8/Vg8wqvewdGbo7eHJ0dveRH5mEnKm29h0y"
    "kwoaCE52qgfZP5kEEj7boU1CG1pmVYB7w/qnGNyxeQ5Y9cRDbGsQ7aOCHFNv0g1wBuDXKD"
    "iz8HombH9/+1RcLVf/o35x/6N7uf+n/uyZxplPPx+uqXuDjl40o44Fydf7w+k+DnwTYmzL"
    "HbIp4IKdgXgD03HOZhf8dRE9nV0OcEC9BbkeTr+I9VdYT20yggpsAYjGzo309fR3ZvCH30"
    "OmAmoY8/ay/QVZefLm4H/U+/5/rrXX9wIXJ6ub6KU3dP9vLdlVQCPl8OPgDxE/x1fXUhAe"
    "dmb+zJFtNyg7+EGRKmhxr8xQ1oZVGLk+OknBpY2Bf9UGFFzii1ESTVSpAVK+jAkMutqtuT"
    "lPX26tn19cdch55dFr+wPz6dXdzsHsie5IUwQ1lTk+KdugfNzXZOZr713oLBbjkGPEU141"
    "I2xDQjoRCNEBVO5ui+0iNKHdQ8vu+ph/CY/IamEuZL/kyQmKgC1mh8/sNHW2yd01Qt8Xg9"
    "+Jj45flPlb89f2cUDgXn/dvz/rsLraS3SwD196iajoKa+VarIRWKO4Tm/SP0LCOnwSKH9m"
    "ghJSlbznJ6TjEFEjiW4Ii3EM8coX7xMCP2DjP0usgbPTSOu7VrgoA5gWSMAB0BHmHHv0YI"
    "WacAMx/c8x7UAaMuNn0d8NqoByCxgPTFtEJnLKXCljG/6SGhlwZkDcLiEBwjkllWVHyGx9"
    "9LYPxDr3d4+Ka3f3jy9vjozZvjt/uJOShn1dmFs8tfhGnIuTrzw2ehPGX8zyfQq0Y/Lt+J"
    "OI6PF0+GjciYTfjPw14NunEUd9grBABxfNeTWYW4TX6TbWLlVKITAK87UJaDX0uHPSOykH"
    "cZjRmbAvmy3fWMNSiBWk8+5CUV+7CF7EMpyngZ7+09tW35VCX3Lcqp9d9GsswKJk6+RFWH"
    "UVL0t6X9XedcxaUWnlSJ3sZIKmoz4RE/77Ja9+pbVzMh65wJUSzxdztOZw12YYRp+JEVpB"
    "TPVuEKFUbPdsgqTlhrzGDmzKriMGvotoJyzWcxEy9FQdsMWmsD2cxLCzkuZYiwG8Qx9SuZ"
    "zXKhWi8ZJ8UNLyzfgvLcDbgu6OAeTfdOJUkZVbHjgxHvC+S5vEuYYCV1QLlSAcyAH5gmQh"
    "biSYLFhMTnelxNgC6v+jtyR/rAo4/gEbMJIBT8w9WcBf4/APNCccXAZ9i2gRcQwusHu9Tj"
    "9SLwOKE+Aq5HTe4hAwsjCzjYeoTTvR/vCG8Tx+3wjKP9H0BAeDUgygAWnAJqW7Mo2S+aeM"
    "tI2/irluII5U2v05vOdEZDZDMSyshXuE9Cp0to1jDNqDvrtPJEc+/4uAHTzEvNpJplXsE5"
    "TQfCNigXxDqI9slRA7BPjmZiLbLyUIcWo8XIkAoohrk8LtjUhPIZSoDOnifJyiyksxuG6U"
    "ss5GyD97NWzX7nWKsZlO+YmduQGZSPdIzJbcjraxXBYi5fr4sT/XhyQG8SHPaBj8cEWa8w"
    "AUMednEXOVy0YlJ6jxEQj+HzkI4HSCIoG05FDMbjOOoARu8RKceDz65RhIADEUPy3HuEXF"
    "9GlDKPx5O3H/qvescnYBfyCt1pvOhGvj6gLiK+CBojEPZ+BIhYIkKEdyRKE7GeJApEsngu"
    "3s4iq3Ay0QT/6JjBfzeZoIm7x5DyUkhX8zNr9Gtq5meEihkT6E/aOOh5qeX45y8L84q988"
    "xStAVsrTK0W2pocxFFMmC2VIKcoFKDLVcDXlRYyjajbUakC6HOqsda6WRwj7Md55SX6h7O"
    "K+H3FB+94knnwFcTzvNnRTNKtUkzoleU4RGOOMGK+DaXr9fFtyRTssUMqI2J3KEBgUBoR0"
    "SJmXqqpzUbyMycJ5SThNFafD8Y/heZ8pO2YHnecFZYGbhWhl1qtPwv94BhiNlm+WGmce5t"
    "W4s2S2JhFdZuQFirdpAkhv/gpIHdPyi6xKnZF1mFqab0026Kb0akgxAv34cVQ2YJXhEmVs"
    "MbFa8LDrcQ5BpQRShXuc3GpEGV3z9np00itT6f9GCjR1Y1UaSIiwJxkffM2ihCXlIpwpYr"
    "Quzo5lWg9rSXWESd9NLipBdFrihyZbvJlYJzVkF6n0Vy73+7QfasxVMVdElf1Nch0L+ti4"
    "cKgZtDRiXoNmOkjLR35/NSnydUHAeCLMANMZR00ymADDjcSsn17GIJhIs8sOshE7sYEaZH"
    "p4lEQWR0nMieDtBD1eL8lbQwd218mfaSddQTXzkU8WLcU4S+Id6zOeuVnDCwWGMw1hDFdm"
    "0A26U8haVvC1D8oeIPt5g/VKyNCtYzrOh6Dx/auI9tycahwmtrCG2FpEJ4fqBOChPlzwzY"
    "i/PuWwZ208C9Qtnmb8VPHHtFitQe05oZIzdpycl1wIb0SauI76McvS6op2mZ+ZsoCEAOxD"
    "Z4hFhuK2AUDBHwZTQ9RCIl/Dv8l3pgjB8QAYHLY/CKHRTPrq7lVoZ0+yPhcSt3dxhyXNbs"
    "fNEQJ8MKWgTcFrICFxnRBuJWx5nGzckaVNC9IUF3Qh61iWNyQh2MZHrHTUIZXqpmlWl5a7"
    "OKF9ewlpeJYbDtFtycUCeQXvdGXHEHTWvYc0IK9gVgn3VcQs2QMuu8hBUCrrnhVs5VMR2r"
    "Zvoir6rNsRRZkfXFxvsb7YQoXk/xegVerxi0tNSGCnGlEluuEqYNeTdZhjzgrfXwUBRegj"
    "ps2H64LvW1YEEW+OwzYqp/N7l/5Z5v5HlVXGzNAVQ5qS7sYV13WJBn6ZqGBnmpLuC+ivnp"
    "0gTPy1Dk8q6zCoI8vgNtNj0uPvI1X3Xd/jIE+ZALXjitL3L7QthgVIm6eWFj+Gl1B7W6g7"
    "rrsKvbRZS3fKruRFY3+G7S0pD5N/g22TFjUseJr3hdfM/MeVhLh+Be6U6ZGyqxKMUGMl2v"
    "iw08XmL1sYHyoNfpQcv/S7DOpgHi8uo8zMr4P8+zhA9cHtzqthFnpFa2k7iEcvIVb+1GYh"
    "d5Dk4PSG44ShSk1FxspX/UxJSLzVbPtOMd85lWasQHE48yZqMLcQt8lTXPF6g16ywqGl0p"
    "38jAy2PU5IkyyAJSLjxPLa5LHOM9gtjmubY44VzneWLpqy6vehpjUb2oSvx+9PhXvVd9Ut"
    "tymxAnkHMf3hd3VE0A9MGOlDyFpmzn9C7o7fdOdnSwIyo65dEbYqeMxuliRe6OrOpUEoKn"
    "PwmtB9j6eWeR1bkRlZ6G6fN5yEJXCTZe0ZGb40ypi5YiZ+pwf7+BN8VLzXSnZJ4iwhQRJo"
    "mwDZlWkx5KhbGNPZfZNjZxj9Y2rVZhTLSP15+5M30nn0a8wp22p2UtTPAkjxYNDxgViUZy"
    "G6yyLxtgX+TuoTYWJhHoXLi+kk0Ysdq3gTgr0zmUl0+KuND3HykfiNtex1ISXOMK9VWZ5T"
    "XseOEtjrDnVN3IUUtD5eTUkXYtmKi1MqrfwZKqZjdWzsa3azdWrhpjOKQBM6p0ePYqj6xM"
    "FzBe9xoPBzlD5Bk+jiaV20S3RVkV4G5hgFtaF+0jVDHKNbhEKxZUarDlagAfeBjotfaTC2"
    "JdJBd7TbjF3mxqsVc0eWJhQ7uVVRkJta5q/roqL1pb8sxVVfESlS0Dt+mqqoxS5dZU3fCx"
    "5ObyfKAWVT1rPjb7xY+oLanNZ6L0XlbTbZCirfkKpGqQstdyL45R8RrwLiJVuuBtcbg6er"
    "rdTLjEWdTLRa1zh8vnSOZ4E9viWMU75boCzyqnRfvIw+ZEq5gYjXL0uqlRmJZRy4q3yd/X"
    "a2YqH7hr1ZKnzYh0MGhdyeSO+KhaIBwV7yC6B43WGx3UrDc6KK834i2yyqMPf729vpo5a8"
    "aqDz60sMnA/4CNt9msVIErwKjnw4vUt57nykQFZy+9df7b/wEkQ8ka"
)
