"""Browser end-to-end fixtures: a live server on a free port and headless Debian Chromium.

The live server is a separate app instance (``public_port`` set to its port, so links and
redirects the app builds point back at it) served by werkzeug in a daemon thread. Chromium
resolves ``localhost`` and ``<slug>.localhost`` to loopback by itself, so the platform and
every clinic are reachable on their real host names.

Chromium is Debian's (``apt-get install -y chromium``); its path is ``SIMILIA_CHROMIUM``
(default ``/usr/bin/chromium``). When it is missing the browser tests skip with a message,
or fail when ``SIMILIA_REQUIRE_BROWSER=1`` (CI). Never run ``playwright install``.

Screenshots go to ``tests/artifacts/<name>.png`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import make_config, random_ip

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
#: Playwright's default is 30 s; a page of this app that takes longer is a failure anyway.
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config, items):
    """Mark every test under ``tests/browser`` with ``browser``."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


# -- the server ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveServer:
    """A running app: ``url()`` is the platform, ``url("slug")`` a clinic's site."""

    port: int
    base_domain: str
    app: object

    def host(self, slug: str | None = None) -> str:
        """Host name (without port) of the platform or of a clinic."""
        return f"{slug}.{self.base_domain}" if slug else self.base_domain

    def url(self, slug: str | None = None, path: str = "/") -> str:
        """``http://localhost:PORT/path`` or ``http://<slug>.localhost:PORT/path``."""
        return f"http://{self.host(slug)}:{self.port}{path}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(service_env) -> Iterator[LiveServer]:
    """The app served on 127.0.0.1:<free port> in a daemon thread for the whole session."""
    from werkzeug.serving import make_server

    from saas.app import create_app

    port = _free_port()
    app = create_app(make_config(public_port=port, proxy_hops=1))  # behaves as behind one proxy
    cfg = app.config["SIMILIA"]
    assert cfg.base_domain == "localhost", "browser tests rely on Chromium's *.localhost"
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(port=port, base_domain=cfg.base_domain, app=app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["similia.engine"].dispose()
        app.extensions["similia.redis"].close()


# -- the browser -----------------------------------------------------------------------------
def chromium_path() -> str:
    """Path of the Chromium binary (``SIMILIA_CHROMIUM``, default Debian's)."""
    return os.environ.get("SIMILIA_CHROMIUM") or DEFAULT_CHROMIUM


@pytest.fixture(scope="session", autouse=True)
def _chromium() -> str:
    """Skip (or, with ``SIMILIA_REQUIRE_BROWSER=1``, fail) before any server starts."""
    path = chromium_path()
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    if os.environ.get("SIMILIA_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"Chromium is missing at {path} and SIMILIA_REQUIRE_BROWSER=1: "
            "install it with `apt-get install -y chromium`",
            pytrace=False,
        )
    pytest.skip(
        "Chromium is missing: install it with `apt-get install -y chromium` "
        "to run the browser tests"
    )


@pytest.fixture(scope="session")
def browser(_chromium):
    """Headless Debian Chromium driven by Playwright (offline; never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _console(msg, pg, problems: list[str]) -> None:
    """Console errors (CSP violations, refused stylesheets...) are problems.

    "Failed to load resource" lines are left to :func:`_subresource`: pages answered 401/422
    on purpose (a wrong password, a form with errors) log one too.
    """
    if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
        problems.append(f"console error: {msg.text.strip()} ({pg.url})")


def _needed(request) -> bool:
    """A stylesheet, script or image the page asked for (``/favicon.ico`` is Chromium's)."""
    return request.resource_type != "document" and urlsplit(request.url).path != "/favicon.ico"


def _subresource(resp, problems: list[str]) -> None:
    """A subresource answered with an error status is a problem."""
    if resp.status >= 400 and _needed(resp.request):
        problems.append(f"{resp.request.resource_type} {resp.url} answered {resp.status}")


class _Navigations:
    """Counts the main frame's navigations, and which one each request was made under.

    A subresource still loading when the test moves the page on (a click, a form sent, a
    redirect back to the same address) is aborted by Chromium: not a fault of the page.
    """

    #: how soon after an abort the navigation that caused it may be reported (Chromium can
    #: report the abort first); a navigation later than this does not excuse an abort
    RACE = 0.25

    def __init__(self, pg):
        self.pg, self.count, self.made_under = pg, 0, {}
        self.started: list[float] = []  # when each main-frame navigation was seen
        #: aborts seen before any navigation explained them (see :meth:`settle`)
        self.aborted: list[tuple[float, str]] = []

    def on_request(self, request) -> None:
        if request.is_navigation_request() and request.frame == self.pg.main_frame:
            self.count += 1
            self.started.append(time.monotonic())
        else:
            self.made_under[id(request)] = self.count

    def moved_on(self, request) -> bool:
        """True when the page navigated since ``request`` was made."""
        return self.made_under.get(id(request), self.count) != self.count

    def settle(self, problems: list[str]) -> None:
        """At the test's end: an abort no navigation followed at once is a fault of the page.

        Chromium may report the abort of a subresource a moment before the request of the
        navigation that aborted it (a test moving on at once), so the verdict waits for the
        test's end; only a navigation within :data:`RACE` seconds excuses it.
        """
        for at, problem in self.aborted:
            if not any(0 <= started - at <= self.RACE for started in self.started):
                problems.append(problem)
        self.aborted.clear()


def _failed(request, problems: list[str], navigations: _Navigations | None = None) -> None:
    """A subresource that never loaded is a problem.

    With ``X-Content-Type-Options: nosniff`` Chromium aborts a stylesheet served as
    ``text/html`` (an error page) before any ``response`` event, so this is where it shows;
    an abort because the page navigated on meanwhile is not counted.
    """
    if not _needed(request):
        return
    if (
        request.failure == "net::ERR_ABORTED"
        and navigations is not None
        and navigations.moved_on(request)
    ):
        return
    if request.resource_type == "other" and request.failure == "net::ERR_ABORTED":
        return  # Chromium's own icon fetch, dropped when the page navigates on (not a fault)
    if (
        request.resource_type == "fetch"
        and request.failure == "net::ERR_ABORTED"
        and request.url.split("?")[0].endswith("/console/calendar/changes")
    ):
        return  # an open calendar's poll in flight when the test closes its page
    problem = f"{request.resource_type} {request.url} failed: {request.failure}"
    if request.failure == "net::ERR_ABORTED" and navigations is not None:
        navigations.aborted.append((time.monotonic(), problem))  # decided at the test's end
        return
    problems.append(problem)


@pytest.fixture
def new_page(browser) -> Iterator[Callable]:
    """Factory: a page in a fresh context (own cookies, own client address).

    The live server trusts one proxy hop (``proxy_hops=1``), so each context sends its own
    ``X-Forwarded-For``: per-address rate limits (signup: 3/minute, 10/hour) and lockout
    counters then do not collide between tests or between runs, as with ``new_client``.
    Console errors and uncaught page errors (including CSP violations) fail the test.
    """
    contexts, problems = [], []

    def make(viewport: dict | None = None, **kwargs):
        context = browser.new_context(
            viewport=viewport or DESKTOP,
            extra_http_headers={"X-Forwarded-For": random_ip()},
            **kwargs,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        pg = context.new_page()
        pg.on("pageerror", lambda exc: problems.append(f"page error: {exc} ({pg.url})"))
        pg.on("console", lambda msg: _console(msg, pg, problems))
        pg.on("response", lambda resp: _subresource(resp, problems))
        navigations = _Navigations(pg)
        pages.append(navigations)
        pg.on("request", navigations.on_request)
        pg.on(
            "requestfailed",
            lambda req: None if closing else _failed(req, problems, navigations),
        )
        return pg

    closing, pages = False, []
    yield make
    for navigations in pages:
        navigations.settle(problems)
    # a subresource still loading when the test ends is aborted by closing its page: not
    # a fault of the page (everything reported before this point still counts)
    closing = True
    for context in contexts:
        context.close()
    if problems:
        pytest.fail("The browser reported problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(new_page):
    """A desktop-size (1280x900) page in a new context."""
    return new_page()


@pytest.fixture(scope="session")
def screenshot() -> Callable:
    """``screenshot(page, name)`` saves ``tests/artifacts/<name>.png`` (full page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(pg, name: str, *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    return shot
