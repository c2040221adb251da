"""Two lookups: notifications by subject (what `forget` deletes with a post and its
comments) and the latest change-feed event of some kinds (an Atom feed's
Last-Modified), the same SQL on SQLite and PostgreSQL; and the search index built again,
as it now holds each character of a Chinese, Japanese or Korean run on its own too."""

from tortoise import BaseDBAsyncClient

from flasky import search

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    await search.index_all(db)  # the posts there are (their HTML as stored)
    return """
        CREATE INDEX IF NOT EXISTS "ix_events_kind_created" ON "events" ("kind", "created_at");
        CREATE INDEX IF NOT EXISTS "ix_notifications_subject" ON "notifications" ("subject");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "ix_notifications_subject";
        DROP INDEX IF EXISTS "ix_events_kind_created";"""


MODELS_STATE = (
    "eJztXW1T47YW/isa3w/ATLoDgWW3bKdzgbJdWhY6kN52WjpGsZVEF0dybZmX6d3/fnVkO3"
    "6NY4ckJF592SWSjmQ/kqXznHMk/WOMuU0c/80pH48JE8YR+sdgeEzkH/msDjKw6yYZkCBw"
    "31FlrbCQSsR9X3jYgsoG2PGJTLKJb3nUFZQzmcoCx4FEbsmClA2TpIDRvwNiCj4kYkQ8mf"
    "HnXzKZMps8ER9+/mMMKHFs9bfhcl+Y1FZPQsfEF3jswg+ZBGLkyfWI78tG/bim+N3okxk/"
    "sqlqCR9dPLsq21DS8i3Ujy8dlGn2BW01aQYHYsQ9s1kDoVBFIyDo3puqnUx3hziqdDOWPW"
    "fioyoI3dWXrTjBmCWF3WfZGJuUpuEoGRJGPCwIVC+8APofujcaKvGQCLs6KRL2cUrGJgMc"
    "OCI1XvpmkmaY5uVVz7w565mm0WCEWRI/iQWFsQpvP4RH+Ka7d/Du4P3+4cF7WUQ95iTl3Z"
    "ew6QSYUFDBc9kzvqh8LLCZdF0Cap/bz0VYe7I/ynGNy+eQlY+cRzbGsQraOCHBNvkgVwBu"
    "BXK9s997UPPY9/92IOHyP8fXp5+Or7c/H/++o3Keo5yLq8sf4+JczivhhHN5enF1osDPgm"
    "2OxNhpivhESMM+B+yZ6TAL+w8SNcguhz4jmIPejiTfxH8sqyOM7wYBswBjNHCwf//8Jlr3"
    "+tgnbwJhMf74vfEKXXX++eymd/z5l0x//XDcO4Ocbqav4tTtw51sd00qQb+d9z4h+In+uL"
    "o8U4DLZW/oqRaTcr0/YBmCpYeb8sVNbKdRi5PjpMwwsKkP/VCyipxw7hDMygdBWiw3BvpS"
    "blndPklZba+eXF1dZDr05Dz/hf36+eTsentP9aQsRAVJLzUJ3ol6UH/ZzsjMXr03YLJbzA"
    "KeoJpSKWtimpLQiEaIgpI5uC/ViBIFNYvvR+4ROmQ/k2cF87l8JswsUgJrND//6pMNXp2T"
    "VGOi8Xr4caKXZz9V+fbynUk4FZwe35we/3BmFMbtAkD9JaqmpaCmvtVySGHg9rF1/4g928"
    "yMYMjhXZ5LmZQtZo2743wKZniowIG3gGeOUD97mMK9w4xOFfMmD7V5t3HFCLJGmA0J4gMk"
    "GXb8a0CIfYSo8NG97MEOEtyllt9BsjbuIcxspHQxI9cZC6mwIee3PALj0sSiBi0OwTEjmf"
    "rUGx4aSszTGMjWaLERDz+hw6+Fin/b7e7vv+vu7h++f3vw7t3b97uTBaiYVbUSnZz/CItR"
    "RrmaTdjjns/ifzrCXjn6cflWMEc5Qz2ZDmFDMZI/97sV6Ma8cb+boxwxo+yqrBxTVLNAE3"
    "aeSLQC4FVTczXdNqQIKZG59NlozlgXyBdNEFJLQgHUanNHVlLbOzbQ3lHgNa+jL37kjqOe"
    "qqAwRjmVGuNAlVmCq+bPqOqQl0V/28ZfVepcXGpuN070NuakoiYulvh5F9W6V9269r2s0v"
    "ei7dJf7TydXrBzM0zNjywnpS17JapQbvZshqy2Qhu1baaZZVVbTSsMfLnBNdtuOtFSNLT1"
    "oLXX0H56bpOxywVh4ppITP1SW2qxUKWWTCfFTS8s38DIuh3IsdBB9+R550iZRaMqtnw0kH"
    "1BPFd2iQA7aAdxOagQFcgPLIsQm8gksJti5stxXG5yXVz1t+yWHSOPP6JHKkaIcXQnh7kI"
    "/DtEZaG4YuQL6jjICxiT9aNt7sl6CXoccZ8g1+OW1JCRTYmNxtR+xM87H26ZbJPG7ciMg9"
    "1vUcBkNSjKQDZ+RtyxpxmB/zTgLaPRJl+1wCO0Nr1KbTrVGTWRTUnoRb5EfYIxXUCzwtJM"
    "2hMZljU0d9++rWFplqWmmppVXk45TSbCJijnxFqI9uFBDbAPD6ZiDVlZqMMVo8HMkAhoC3"
    "NxXnC4hdUzFACd7idJy8w1ZtcM09cIHW2C94vidL9yrLUH5Su2zK2JB+WCDym7Ce36RglZ"
    "zOR3qniiHzsHOnXI4THy6ZAR+xvKUF/SLqkih2EyFuf3lCB4DF9SOkmQgJT1n4GDSR7Hx0"
    "jwe8KKfPDFNQIF7AGHlLn3hLi+YpQqT/LJm0/H33TfHqJtLCt0n+MwH/X6iLuE+UAaIxB2"
    "PiDCbGCI+JZFacD1lKEAkuG5ZDvzxP2k2IT86IQpf9dx0MTdYyp5JdTR/pkV6jUV/hkYYu"
    "YI+6MmCnpWajH6+evCvGTtPBWKNsdaqxfaDV1oM4xiMmE2HAQZQT0MNnwYyKKwUjaZbVMi"
    "baA6y55rlZIhNc5mNqesVPtwXop9T9ujl+x0DnztcJ7tFU0NqnXyiF5yQQc0sgmW8NtMfq"
    "eK37JUyQYeUIcytScEI0BoC1hiqp5yt2YNmal+QuUkjGLx/aD/X2KpT9rGRb/hNFoZuHbK"
    "ulQr/C/zgCHFbBJ+mGpcatv2vM2yWLheqzE8TdtJwar58xrwZ71VZaJh7B3WUDD28rp3ol"
    "9AVs6nlQz2uvimRFoI8eKVZZibC/ACHy2HNypexUI3EOQKUIEzlu7nsXhQRjBmbOmZSK1O"
    "+d1b65lVe6S0hSRnIcmqgE0GQlZSD4QNHwixRp0dApUH2cQi+hCbBofYaCuOtuJsthUnp5"
    "yVWNdPIrmPP18TZ1qUVold5hjqaxHoX1Zl8AqBm2H1mqBbz/RlJr072wD224jDSSfERnIh"
    "xsqudYSwQGO5SqnAeYi1cImHtj1iUZcSJjrRQSkRiYxOStnpIPJQtgtgKS3MDMIv2tdUHd"
    "UWtgyKdD4jV4S+Ce9Z39A1OcpgvsZwPEK0tWsNrF1aU1j4/gNtP9T2ww22H2qrjSbrKavo"
    "ak85WruPbcGLQ4nWVhPaEkmN8GyiznIe+RcS9ryDf8PArkvcSwbb7D3/E8VeG0UqT6BNzZ"
    "HrFNtyFYg+fzJK+H2U06ki9TwpM3u3BkNkjKmDHjFV+xcER32CfMWm+wRSwr/Df7mHhvSB"
    "MBS4koOXbNV4cXUN90wk+yyZ5K1S3RFk7Ip6p5mGOJl20IBw28QOXGJGO5UbHZ4aN6dq0K"
    "R7TUj3xHjUhMdkhFrIZLpv61AZWaoinLW4h1rzxRUEDQuYBpvu9c0ItQLpVe/4het1GsOe"
    "EdKwzwH7tHMZKqaUaQczLBFwww33jC7L0rFsS1+kVTU5/yItsjpuvLvWSoi262m7Xs6uly"
    "ctDUdDibgeEhs+JCwHy26yTXWSXOPpIS+8gOGwZhvv2tTXYAWZ47NPien+Xef+VZvLieeV"
    "2WIrTrrKSLVhs+yqaUHWSleXGmSl2oD7MvzTBQfP65jI1TVuJQby+Hq36eZx+MhXfIt381"
    "sX1EPOeZd2Z55rHsIGo0r0FQ9rY5/W12vr67XbDru+xkRry0f6umd9OfE6hYbMvpy4zo4Z"
    "i4/H8e218++ZOQ1raRHcmQ8f3g2im7zozrb5gQLt/3NYW1vBEni4IKB6eNgmkJbNNuNxNY"
    "V0poZdNfc0o+Fe+zxd2OWBMAJZFMui7bt/Qzo8yJ06UYgh8kR9FXQFGdG1KWGpO+QT7Fnq"
    "PNHc0bqLq/yWDagjiPcBPXpUCMLgJN67MO+NGix3aODBobzqOheZAJemfOp9vpi+NSu+81"
    "3t8ax7ylF8BXo90jvpDjPeSKp57xrw3tQ99jWRTUloRVBvRF+9ah1PVi9UrGML5oaBW1ex"
    "Tn2ms+PY9d7+Je/tX7bSBDrmFIUpUj9nKEtS3a2tKMmysSpjYc+jBDSZfz1yz75DlKmj+c"
    "FY10GMe2PsUF/qH6CjQPjjmzAN2rvb+VCiKC2u8lu2eAVJ1lytH4kQ7Ya6EaBvRqJaLVoD"
    "tSjqi7ouzbjX22CVzgdP1wlzlKUqgqcLgY5a6dQq0hqs5zNVpNdZz6+5QrWwmKv0ypXcky"
    "WW73LXK9EqVyL1f4OlKC6v77PJrUMlx8ZGD1xAt/J0vpTU0g7oK6A8+Yo39nw+l3hjmlxw"
    "Vnfdz0rpLQ6lC38dDxmQ1xc6M1pG75fqyeiNPC6EQ84eCCsNoMsWqFzWRVTUJA+xj7Pe1Q"
    "nqoGbJbZVceB9CXBdcwzfA1JG5DtxQ2JF5sKO8o65qH1KoHqqC30CjyU75TQuLbQJuEJTq"
    "qQ93zI8Q9tGWkjzClmrn6Dbo7nYPtzpoCyo6krSaiCPB43TY6L6lqjpScXZH3ym3C7W/35"
    "pn03sUoZpEv8xm87mugiBXHeW3PsqUvig9Uqb2d3draFOy1FR1SuXp+DIdX6biy9YkWl1p"
    "KCWLbay5TF9jJ+rRyqLVSxYT4+LqN6lM3xpxVMCtsWOkV5jgSXnPQx86JJoOf9Te9LVZX9"
    "ShPE1WmIlA6+j6Us42iYd9E4jTMq1DefFGERf7PnjbGl+nXBBc4cEPy1qWV3CQjGxxQL0x"
    "aXpJREZO3xTRwBK1UovqV7BTMbMTl087d3I6vmkZjfFsjHGfBxBOWcR4+uaptEwbMF711q"
    "kxGfeJZ/o08pc2Ybd5WU1wN5DgFo4b8AkpmeWqR0JGUA+DDR8G+EHSQK+xnpwTa6NxsVvH"
    "ttidblrs5pc8CGxoFjCUktABQ7MDhrwotuSFAUNxiMqGgVs3YCg1qDIBQ9dyLrk+P+3pvY"
    "ov8semv/gBd5Rp84UofVTVtBuk6MRLDVI5SD6ZFnXSBKML8EPfhFW1Fan0FQgLvH3wa4AL"
    "rnhbLGqtu7MxHwC+gJ3VbYUn2ipLbJOWcEy9UX+pkVvHxKPWyCjxIkc5nSo/Mk7K6BjsVY"
    "2TZbt1H6Qe2tConRJpIcNfiicMPqoGCEfFW4juXq3grL2K4Ky9YnCWbFGUXr/y083V5VQX"
    "oyi/fMWmlkD/Qw7d5DW4DFwAo9p5kPcTdLKGRajg5LWP7/zyfyH4vYw="
)
