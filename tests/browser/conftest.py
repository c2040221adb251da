"""Browser fixtures: the real app under hypercorn on a seeded SQLite file, Debian's
Chromium driven by Playwright's sync API, pages that record console errors, page errors
and dialogs, and a screenshot folder.

Everything here is package-scoped on purpose: Playwright's sync API keeps its own event
loop marked as running in the main thread while it is started, which would break the
asyncio tests of the other packages, so it is stopped as soon as this package is done.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from tests.browser.seed import PASSWORD, USERS
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FLASKY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
# axe-core, vendored from the npm package (tests/browser/vendor/, version in the name):
# Playwright injects it into every page, where CSP does not reach, and `check()` runs it
# on every page a test opened.
AXE = (Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js").read_text()
AXE_RUN = """async () => {
  // let toasts and transitions finish (a toast fading in is not low contrast)
  const finite = document.getAnimations().filter(
    (a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity);
  await Promise.all(finite.map((a) => a.finished.catch(() => null)));
  await new Promise((resolve) => setTimeout(resolve, 350));
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ` +
      v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
}"""
# (path, scheme, user) already audited in this run: each page is checked once per form.
AUDITED: set[tuple[str, str, str | None]] = set()
STARTUP_TIMEOUT = 30.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test (`-m "not browser"` leaves them out)."""
    for item in items:
        if Path(str(item.path)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


# -- the server ----------------------------------------------------------------------------


@dataclass
class LiveServer:
    """The app served by hypercorn, and the ids the seed script reported."""

    url: str
    ids: dict[str, Any]
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _run(cmd: list[str], env: dict[str, str]) -> str:
    """Run a set-up command; fail the fixture with its output when it fails."""
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    return done.stdout


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"hypercorn exited early:\n{log.read_text()}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    pytest.fail(f"hypercorn did not answer within {STARTUP_TIMEOUT}s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="package")
def live_server() -> Iterator[LiveServer]:
    """`flasky deploy`, the seed, then hypercorn with one worker on a free port.

    Always a temporary SQLite file, even when TEST_DATABASE_URL names PostgreSQL: the
    other tests empty the tables of that database between tests.
    """
    workdir = Path(tempfile.mkdtemp(prefix="flasky-browser-"))
    bindir = Path(sys.executable).parent
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "FLASKY_BASE_URL": url,
        "FLASKY_CONFIG": "development",
        "DATABASE_URL": f"sqlite://{workdir / 'browser.sqlite'}",
        "SECRET_KEY": "browser-tests-secret-key",
        "FLASKY_PAGE_CACHE_SECONDS": "0",
        "FLASKY_MAIL_SENDER_TASK": "0",
        "FLASKY_DOTENV": str(workdir / "no.env"),
        # every anonymous page here comes from 127.0.0.1, each with its live stream
        "FLASKY_STREAMS_PER_CLIENT": "64",
    }
    env.pop("MAIL_SERVER", None)
    _run([str(bindir / "flasky"), "deploy"], env)
    ids = json.loads(_run([sys.executable, "-m", "tests.browser.seed"], env).splitlines()[-1])
    log = workdir / "hypercorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hypercorn", "flasky.asgi:app", "--workers", "1",
             "--bind", url.removeprefix("http://"), "--error-logfile", "-"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_up(url, process, log)
        yield LiveServer(url=url, ids=ids, log=log)
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


# -- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium", pytrace=False)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Watch:
    """What went wrong in one page: console errors, uncaught errors, dialogs."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    # A form sent back with its errors answers 422 by design (README, "Security" and
    # "Posts and comments"); Chromium logs every 4xx document as a console error.
    expected: list[re.Pattern[str]] = field(
        default_factory=lambda: [re.compile(r"the server responded with a status of 422")]
    )

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def expect_console_error(self, pattern: str) -> None:
        """Allow console errors matching `pattern` (say why where this is called)."""
        self.expected.append(re.compile(pattern))

    def problems(self) -> list[str]:
        unexpected = [e for e in self.console_errors if not any(p.search(e) for p in self.expected)]
        return (
            [f"console error: {e}" for e in unexpected]
            + [f"page error: {e}" for e in self.page_errors]
            + [f"dialog: {d}" for d in self.dialogs]
        )


class Browsing:
    """Opens pages as anyone, in a colour scheme, with or without JavaScript; every page
    is watched, and `check()` fails on anything it saw."""

    def __init__(self, browser: Browser, server: LiveServer, sessions: dict[str, Any]) -> None:
        self.browser, self.server, self.sessions = browser, server, sessions
        self.contexts: list[BrowserContext] = []
        self.watches: dict[Page, Watch] = {}
        # every document a page showed, to audit with axe: (page, url, scheme, user, js)
        self.visited: list[tuple[Page, str, str, str | None, bool]] = []
        self.axe_problems: list[str] = []
        self.forms: dict[Page, tuple[str, str | None]] = {}  # page → (scheme, user)

    def page(self, user: str | None = None, *, scheme: str = "light", js: bool = True) -> Page:
        """A new page in a fresh context, logged in as `user` (through the login form)."""
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport=VIEWPORT,
            color_scheme=scheme,  # type: ignore[arg-type]
            java_script_enabled=js,
            storage_state=self.session(user) if user else None,
            timezone_id="Europe/Berlin",
            locale="en-GB",
        )
        context.set_default_timeout(10_000)
        context.add_init_script(script=AXE)
        self.contexts.append(context)
        page = context.new_page()
        self.forms[page] = (scheme, user)
        page.on(
            "load",
            lambda p: self.visited.append((p, p.url, scheme, user, js)),
        )
        watch = Watch()
        page.on("console", watch.on_console)
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        page.on("dialog", watch.on_dialog)
        self.watches[page] = watch
        return page

    def watch(self, page: Page) -> Watch:
        return self.watches[page]

    def session(self, user: str) -> Any:
        """Cookies of `user`, logged in once through the real form."""
        if user not in self.sessions:
            context = self.browser.new_context(base_url=self.server.url)
            page = context.new_page()
            log_in(page, user)
            self.sessions[user] = context.storage_state()
            context.close()
        return self.sessions[user]

    def check(self) -> None:
        """Fail if any page logged a console error, threw, or opened a dialog, or if axe
        finds a serious or critical violation on any page a test opened."""
        problems = [f"{page.url}: {p}" for page, w in self.watches.items() for p in w.problems()]
        problems += self.axe_problems + self.accessibility()
        assert not problems, "\n".join(problems)

    def accessibility_now(self, page: Page) -> None:
        """axe on `page` as it is now (once per path, scheme and user); `check()` fails
        on what it found."""
        scheme, user = self.forms[page]
        self.axe_problems += self._audit(page, page.url, scheme, user)

    def accessibility(self) -> list[str]:
        """axe on every document the pages showed, once per (path, scheme, user): the
        page as it is now where it still shows it, else the URL opened again (a GET)."""
        problems: list[str] = []
        for page, url, scheme, user, js in self.visited:
            live = js and not page.is_closed() and page.url == url
            problems += self._audit(page if live else None, url, scheme, user)
        return problems

    def _audit(self, page: Page | None, url: str, scheme: str, user: str | None) -> list[str]:
        """axe's serious and critical findings on `url` (shown by `page`, or opened again)."""
        # a cursor page is its list again: the path and the other parameters name a page
        path = re.sub(r"[?&]cursor=[^&]*", "", url.removeprefix(self.server.url).split("#")[0])
        path = path or "/"
        key = (path, scheme, user)
        if key in AUDITED or not url.startswith(self.server.url):
            return []
        AUDITED.add(key)
        if page is None:
            page = self._audit_page(user, scheme)
            page.goto(url)
        found = page.evaluate(AXE_RUN)
        return [f"axe {scheme} {user or 'anonymous'} {path}: {v}" for v in found]

    def _audit_page(self, user: str | None, scheme: str) -> Page:
        """A page (not watched for console errors) to open a URL again for axe."""
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport=VIEWPORT,
            color_scheme=scheme,  # type: ignore[arg-type]
            storage_state=self.session(user) if user else None,
        )
        context.add_init_script(script=AXE)
        self.contexts.append(context)
        return context.new_page()

    def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(PlaywrightError):
                context.close()


def log_in(page: Page, user: str) -> None:
    """Log in through the login form and wait for the home page."""
    page.goto("/auth/login")
    page.get_by_label("Email").fill(USERS[user][0])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


@pytest.fixture(scope="package")
def sessions() -> dict[str, Any]:
    """Storage states of logged-in users, shared by the package's tests."""
    return {}


@pytest.fixture
def browsing(
    browser: Browser, live_server: LiveServer, sessions: dict[str, Any]
) -> Iterator[Browsing]:
    """Pages for one test; after it, none may have logged an error or opened a dialog."""
    b = Browsing(browser, live_server, sessions)
    try:
        yield b
        b.check()
    finally:
        b.close()


# -- screenshots ---------------------------------------------------------------------------

_saved: list[Path] = []


@pytest.fixture(scope="package")
def screenshot_dir() -> Path:
    """$FLASKY_SCREENSHOTS, or screenshots/ at the repo root (ignored by git)."""
    folder = Path(os.environ.get("FLASKY_SCREENSHOTS") or ROOT / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def screenshot(screenshot_dir: Path) -> Callable[[Page, str], Path]:
    def save(page: Page, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        _saved.append(path)
        return path

    return save


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots went."""
    if _saved:
        folder = _saved[0].parent
        terminalreporter.write_line(f"browser screenshots ({len(_saved)}): {folder}")
