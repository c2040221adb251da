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
    "eJztXVtv2zYU/iuEXtIAbtB4aTZ4RQEnTddsaTwk3gVbBoGWaJuLRGoSlQu6/PeR1JWSLE"
    "tO7NoaXxqL5CGp7xzxXHjIfjFcaiMnODilrosIMwbgi0Ggi/iPYlUPGNDzsgpRwODEkW2t"
    "qJEshJOA+dASnU2hEyBeZKPA8rHHMCW8lISOIwqpxRtiMsuKQoL/CZHJ6AyxOfJ5xZ9/8W"
    "JMbPSAAvH4xZhi5Njyt+HRgJnYljPBLgoYdD3xwIsEGXrwfBQEfNAg6Sl5N/xgJlM2ZS/R"
    "1NmjJ6sNSc3fQj489YAy7DPGajMMDNmc+ma7ASKimkEEoXdrynEUdkc4ynIzoT0n7KNsKN"
    "g14aM4oUuyxt4jH4ykrXEkJTNEkA8ZEt0zPxT8F+yNRSURiYjVWZOIxzkaG01h6LCcvEzM"
    "rMwwzcvR2Lw+G5um0ULCLI4fxwILWRVvPxNTeN0/PPr26Ltvjo++403kNNOSb5+ioTNgIk"
    "IJz+XYeJL1kEEzY10G6oTaj2VYx5wf1bgm7QvI8ikXkU1wrIM2KciwzT7IDYBbg9z47Pex"
    "6NkNgn8cUXD56/Dq9NPw6tXn4e/7suYxrrkYXf6QNKd8XYkWnMvTi9GJBF8F25wz12mLeE"
    "qkYV8BdmU5VGH/wFET1dXQK4QF6O2Y8iD5sS5GGO+mIbEExmDqwOD28SDWexMYoIOQWYTe"
    "vze+AqvOP59dj4eff1b49WE4PhM1fYVXSemr432VXWkn4Lfz8ScgHsEfo8szCThXezNfjp"
    "i1G/8h1JBQPdTkL25CO49aUpwUKWJg40DwoUKLnFDqIEiqhSBPVpCBCadbF9vTks1y9WQ0"
    "ulAYenJe/MJ++XxydvXqUHKSN8IM5VVNhndmHjRX2wrNcu29A4vdyyjwDNWcSdkQ0xyFRj"
    "RGVBiZ09tKiygzUFV8P1If4Rn5CT1KmM/5nCCxUAWs8fr8S4B2WDtnpUZq8frwPrXL1U+V"
    "vz1/ZxQtBafD69PhhzOjJLcvAOrPcTcdBTX3rVZDKgR3Aq3be+jbpiLBoob2aaEkbVuucv"
    "tusQQSOJPgiLcQc45R/0gdR2rVkvMd1/TqfO+pbLMG1/vPuOvoO4t/c2+0ziVPWq3slsdv"
    "Y6YdtXGZk/m+1Oh+/ejal96kL639DO1nDEBxhWn4kRWotKVWYfsWVs92yGqvwmhsAytqVV"
    "vBNQZbQbiW28GplaKhbQatvYX28AWdYXIdWWlGhVWs1NfaxkFi6jUxjo0hCLiEIPs1JmDi"
    "czsQ+QOAWQAsSm8xAmIaAWBzHABeCyaPAAIfEpu6gNFbRA6MAoee3+MNuSHjOZK1twh5oj"
    "GK6vYCcP1p+Lr/9hi8grxD7xHQaVQtXh9QD5EAEApiEPa/B4jYfGIA3pC4DPCBJdtFsZgX"
    "H0e+RcuduDBIv1Fu3DCTPzcxtxP2mJJeEmlre0usbSFi5hwG8zK4p3PoLzC1FaqX2U75uj"
    "C78MF0EJmxOX88PqrBNNlKOT4qWMfJJktfVqk2l+UjCUVLlyZHph2aHXdosgWzpRAohFoM"
    "dlwMeFOhKdustjmSlZbaeCHdFst13WutNDK4xUkqIuWLQVapuodz/+3bBkDzVguRlnUVUL"
    "eyy3IUOoSwPIQQBjp8sNzHzQnVNvm3o5BN6INR4dnGNb06n5ZmbZZ7tAQgF2IH3EMsfTxG"
    "wQRxj5CwHv8hSqLf0b/UBzN8hwgIPUCr3Nlnd9fSr+Tyy0L5+oR7giZkDLme+NvAuYxwMu"
    "0QNd9AspEdesi8RTILL7ay2w0ne9Bu7Ja4sT6ysIdbqnyFqBM5gUWV38S24q1qVH7JugrC"
    "yd/IaoVzjqSTKK/BsGJiGWybVawQdQLpTee4igTh1rArRBr2FWDP1H/jJSWl2BzghhfF1d"
    "cV5VCXlcPjBqvKYTGSkS0qoqqQSRpZVRU4L04kzZFszl17s9VGSCmoK+zGEqSN4roxpY7p"
    "7XhMr+i0tJSGCnItEjsuEpYDOZtsMyQMVxxUWrI8FIlfQBy2LDjZJV6LKMgKn32OTPN3m/"
    "krN+CQ71edZ1jsFqhUXdhQ2LRboEbpmroGKlUXcF/Hhllpz+HrhMjlQZSKAHlyQGVxeFx8"
    "5Bu+h6D9OQM5yRVvA+itcrAhGjDuRB9q2Jr4tL4gQF8Q0HXY9cEdbS0P9IF1fbx6izJDGh"
    "yvXmz45qI5uXuvVMBPYsqPP10hB7L4pEI11rkrtjoC99M6fYMrKrEo+QayvFfnG/i8xfp9"
    "A21Bb9KCln9LsC4OAyTt9eGESv9fjbNEEy4vbrU3+mRUa7vQp4Ry+hXv7H0+HvJdnJ1Wa7"
    "hKFKj0XmylfdRElYtc0Wfq8Y7ZTGtV4uO5Txlz0NndgntH1Qa1ap3FTU101/gSUmNEELBo"
    "SDibgKQTpychSPoSZyqnEDu81hHHTXu8TqS+ir8+mmHRvehKPN/7/KveL6fLvvwQ4jgot+"
    "EDEITWHMAA7EnKAbTkOIObsP+mf7zXA3uiowH33hAbMJqUi4zcPdnVQAYEB++E1ANsv99b"
    "JTs3DqVnbvryOGSBVSIar8OR22NMtdxSec5eyratgqox9c2bNw2sKd5qoTkl63QgTAfCZC"
    "BsS7bVpIVSoWwTy2Wxjk3No41tq1UoE+Ni9Bs3pm/kbMQr3Bj7Rl7DhA/yKoHoQgFRaKYX"
    "rWj9sgX6RZ4eaqNhUoLOuetrOYSRiH0biPM0nUP55YMiHgyCe8oX4rZ3Y5QIN5ihvi61vI"
    "ETL3zEKfbd1hdLK3T6ZukWkaiNRlT/BylVSsogtdIgUlN88zQa4+UYwwkNmVklw4uzPPI0"
    "XcB40zkeLnInyDcDHG8qt/Fui7Tawd1BB7eUFx0gVLHKNbjRKCHUYrDjYgDvuBvot7aTC2"
    "RdDC72m8QW+4tDi/2iyhOJDe0yq3IUOq9qeV6VH+eWPDOrKklR2TFwm2ZV5YRKyam64mvJ"
    "1fnpWCdVPWs/tuqy7meilP0HE90FKT6ar0GqBil/R/LqGBXvZO4iUunRotVh6th/sLPWFJ"
    "Eh8rE1Nyq2q+KaXt2GFcza6GTPXbLCejX7R3dc4bWMnuVIOuhKrCXkLj6qFgjHzTuI7mGj"
    "LJDDmiyQw3IWCB+RVV5I9+P16HLhXgarvo7OxhYD/wIH77JaqQJXgFEfpSwGJHtqBEN0cP"
    "K1DzQ//Qf7Rz4c"
)
