"""Real Chromium (Debian's) driven by Playwright, against a real `hearth serve`
(testkit/browser.py); the fixtures that share them within a run.

Browser tests run in their own pytest process (`pytest -m browser`): sync
Playwright and pytest-asyncio must not share an event loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from testkit.browser import (
    CHROMIUM_ARGS,
    HEARTH,
    PASSWORD,
    ROOT,
    SERVED_GAPS,
    SHOTS,
    Server,
    colour_of,
    dominant,
    gap_summary,
    launch,
    new_page,
    shot,
    solid_y4m,
    wait_js,
)
from testkit.figures import figure

# The browser tests import these from here as well as from testkit.browser.
__all__ = [
    "CHROMIUM_ARGS",
    "HEARTH",
    "PASSWORD",
    "ROOT",
    "SHOTS",
    "Server",
    "colour_of",
    "dominant",
    "launch",
    "new_page",
    "shot",
    "solid_y4m",
    "wait_js",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/web/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the browser suite, in its output: the media reconciler's gaps over every
    server it ran (docs/benchmarks.md quotes the line)."""
    if not SERVED_GAPS:
        return
    g = gap_summary(SERVED_GAPS)
    line = (f"media reconciler over the browser suite: {g['servers']:.0f} servers, "
            f"{g['opened']:.0f} gaps opened, {g['repairs']:.0f} repairs, {g['closed']:.0f} "
            f"closed, longest {g['longest_s']:.1f} s")
    terminalreporter.write_sep("-", "media reconciler")
    terminalreporter.write_line(line)
    figure(line)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("web"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[object]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: object) -> Iterator[Browser]:
    b = launch(playwright_instance)
    yield b
    b.close()


@pytest.fixture(autouse=True)
def _close_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every page a test opened in the shared browser is closed after it: a page left
    open keeps its fake camera, microphone and peer connections running, and a dozen of
    them starve the server the next test talks to."""
    yield
    if "browser" in request.fixturenames:
        shared: Browser = request.getfixturevalue("browser")
        for context in list(shared.contexts):
            context.close()
