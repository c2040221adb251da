"""Fixtures of the resilience suite: a private PostgreSQL cluster for the whole run
(stopped and deleted at the end, whatever happens), a fresh migrated database per test,
and hypercorn servers that are always stopped.

The tests using these fixtures are marked `resilience` and left out of `make test`
(they take minutes; `test_input_checks.py` is the fast exception that stays in):
`.venv/bin/python -m pytest -m resilience tests/resilience` runs them (see README,
"Resilience"); `.ci/run` runs them last.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.resilience.harness import FIGURES, PrivatePostgres, Server, flasky, server_env


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures the resilience tests measured, at the end of the run."""
    if FIGURES:
        terminalreporter.section("resilience figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    """Our own PostgreSQL: stopping it disturbs no one else's tests."""
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
async def database(postgres: PrivatePostgres, request: pytest.FixtureRequest) -> str:
    """A new database on the private cluster, brought to head by `flasky deploy`."""
    name = "flasky_" + re.sub(r"\W+", "_", request.node.name)[:48].lower()
    url = await postgres.create_database(name)
    flasky(["deploy"], server_env(url))
    return url


class Servers:
    """Starts hypercorn servers and stops every one of them at the end of the test."""

    def __init__(self) -> None:
        self.started: list[Server] = []

    async def start(self, env: dict[str, str], **kwargs: Any) -> Server:
        server = Server(env, **kwargs)
        self.started.append(server)
        return await server.start()


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    """`await servers.start(env)`; all stopped (SIGTERM, then SIGKILL) afterwards."""
    pool = Servers()
    try:
        yield pool
    finally:
        keep = os.environ.get("RESILIENCE_LOGS")  # a folder to keep the servers' logs in
        for server in pool.started:
            await server.stop()
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(server.log_path, Path(keep) / server.log_path.name)
            server.close()
