"""A real browser for the console's tests: Debian's headless Chromium, driven by selenium.

No browser build is downloaded: the tests use `chromium` and `chromium-driver` from the
system's packages (`.ci/run` installs them when missing). Under CI=true a missing browser
fails the tests; on a laptop without one they skip, saying what to install.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = ("chromium", "chromium-browser")
DRIVER = "chromedriver"


def _found(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


class NoBrowser(RuntimeError):
    """The system has no Chromium or no driver for it."""


def launch_chromium(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    """A headless Chromium that records its console and its network answers."""
    binary, driver = _found(CHROMIUM), _found((DRIVER,))
    if binary is None or driver is None:
        raise NoBrowser(
            "no chromium and chromium-driver (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--disable-extensions"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    browser.set_page_load_timeout(30)
    return browser


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    """`launch_chromium` for a test: it fails under CI=true without a browser, else skips."""
    try:
        browser = launch_chromium(width, height)
    except NoBrowser as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    try:
        yield browser
    finally:
        browser.quit()


def console_errors(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """What the browser's console reported as errors since the last call."""
    logged: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry for entry in logged if entry["level"] == "SEVERE"]


def document_headers(browser: webdriver.Chrome) -> list[dict[str, str]]:
    """The headers of every page (document) the browser loaded since the last call."""
    answers = []
    logged: list[dict[str, Any]] = browser.get_log("performance")  # type: ignore[no-untyped-call]
    for entry in logged:
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived":
            params = message["params"]
            if params["type"] == "Document":
                answers.append({k.lower(): v for k, v in params["response"]["headers"].items()})
    return answers
