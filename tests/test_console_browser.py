"""The console in a real browser (headless Chromium), against a real `ledger serve`.

What an auditor does: sign in with the keyboard, search, open a subject, pick a past
point, compare two points, filter, page, open a payload, and sign out; what the browser
must hold to: masked personal data, the cookie's flags, the Content-Security-Policy, no
console error, and a page that fits a phone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser import chromium, console_errors, document_headers
from tests.helpers import TOKENS, seed_examples, session_event
from tests.servers import LedgerServer

ROLE_TOKENS = {role: token for token, role in TOKENS.items()}
CHECKS_OF_CAROL = 60  # more than a timeline page shows


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerServer]:
    """A server with Verifa's examples (user_456) and a long history (carol)."""
    folder = tmp_path_factory.mktemp("console")
    ledger = LedgerServer(f"sqlite:///{folder / 'ledger.db'}", folder).start()
    try:
        for payload in seed_examples():
            assert ledger.deliver(payload).status_code == 200
        first = next(p for p in seed_examples() if p["event"] == "session.approved")
        dave = {**first, "external_ref": "dave", "session_id": "s-dave",
                "identity_id": "id-dave", "idempotency_key": "dave-1"}  # fmt: skip
        assert ledger.deliver(dave).status_code == 200
        assert ledger.deliver(session_event(session_id="s-carol", ref="carol",
                                            key="carol-0")).status_code == 200  # fmt: skip
        for n in range(CHECKS_OF_CAROL):
            check = {"event": "check.completed", "idempotency_key": f"carol-{n + 1}",
                     "check_id": f"chk-carol-{n}", "external_ref": "carol", "is_sandbox": False,
                     "check_type": "sanction", "status": "clear", "has_match": False}  # fmt: skip
            assert ledger.deliver(check).status_code == 200
        ledger.wait_for_projections()
        yield ledger
    finally:
        ledger.stop()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as opened:
        yield opened


def url(server: LedgerServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def submit(browser: webdriver.Chrome, field: WebElement, *keys: str) -> None:
    """Type into a field and press Enter, then wait for the page the form leads to."""
    _mark_page(browser)
    field.send_keys(*keys, Keys.ENTER)
    _wait_for_next_page(browser)


def click(browser: webdriver.Chrome, element: WebElement) -> None:
    _mark_page(browser)
    element.click()
    _wait_for_next_page(browser)


def _mark_page(browser: webdriver.Chrome) -> None:
    browser.execute_script("document.documentElement.dataset.left = 'no'")


def _wait_for_next_page(browser: webdriver.Chrome) -> None:
    """Until another page than the marked one (redirects followed) has loaded. Asked by a
    script, not by an element of the old page: while a page is replaced, Chromium answers
    questions about its elements with errors other than "stale"."""

    def loaded(b: webdriver.Chrome) -> bool:
        try:
            return bool(b.execute_script("return document.readyState === 'complete'"
                                         " && !document.documentElement.dataset.left"))  # fmt: skip
        except WebDriverException:
            return False  # between two pages

    WebDriverWait(browser, 20).until(loaded)


def sign_in(browser: webdriver.Chrome, server: LedgerServer, role: str) -> None:
    """With the keyboard alone: the token field has the focus, Enter sends the form."""
    browser.get(url(server, "/console"))
    assert "/console/login" in browser.current_url
    focused = browser.switch_to.active_element
    assert focused.get_attribute("id") == "token"
    submit(browser, focused, ROLE_TOKENS[role])
    assert browser.current_url == url(server, "/console")


def open_subject(browser: webdriver.Chrome, name: str) -> None:
    submit(browser, browser.find_element(By.ID, "q"), name)


def timeline_positions(browser: webdriver.Chrome) -> list[int]:
    cells = browser.find_elements(By.CSS_SELECTOR, "table.timeline tbody tr td:first-child a")
    return [int(cell.text) for cell in cells]


@pytest.mark.parametrize("role", ["auditor", "officer", "admin"])
def test_each_role_signs_in_with_the_keyboard_and_signs_out(
    browser: webdriver.Chrome, server: LedgerServer, role: str
) -> None:
    sign_in(browser, server, role)
    assert browser.find_element(By.CSS_SELECTOR, ".role").text == role
    admin_links = browser.find_elements(By.LINK_TEXT, "Read models")
    assert bool(admin_links) == (role == "admin")
    click(browser, browser.find_element(By.CSS_SELECTOR, ".signout button"))
    assert "/console/login" in browser.current_url
    browser.get(url(server, "/console/subjects/user_456"))
    assert "/console/login" in browser.current_url  # the session is over
    assert console_errors(browser) == []


def test_an_auditor_searches_picks_a_past_point_compares_and_filters(
    browser: webdriver.Chrome, server: LedgerServer
) -> None:
    sign_in(browser, server, "auditor")
    open_subject(browser, "user_456")
    assert browser.current_url == url(server, "/console/subjects/user_456")
    head = timeline_positions(browser)[-1]
    point = browser.find_element(By.ID, "as_of")
    point.clear()
    submit(browser, point, "3")
    assert browser.current_url.endswith("/console/subjects/user_456?as_of=3")
    assert "As of position 3" in browser.find_element(By.CSS_SELECTOR, ".as-of").text
    assert max(timeline_positions(browser)) <= 3
    point = browser.find_element(By.ID, "as_of")
    point.clear()
    point.send_keys(str(head))
    submit(browser, browser.find_element(By.ID, "compare"), "1")
    assert f"as_of={head}&compare=1" in browser.current_url
    changes = browser.find_element(By.CSS_SELECTOR, "table.changes").text
    assert "verification.status" in changes
    assert min(timeline_positions(browser)) > 1  # the events between the two points
    shared = browser.current_url
    browser.get(shared)  # a link someone was sent opens the same view
    assert browser.find_element(By.CSS_SELECTOR, "table.changes").text == changes
    browser.get(url(server, "/console/subjects/user_456"))
    submit(browser, browser.find_element(By.ID, "event"), "session.declined")
    events = browser.find_elements(By.CSS_SELECTOR, "table.timeline tbody tr td:nth-child(3)")
    assert [e.text for e in events] == ["session.declined"]
    assert console_errors(browser) == []


def test_pages_follow_event_order_and_keep_their_place(
    browser: webdriver.Chrome, server: LedgerServer
) -> None:
    sign_in(browser, server, "auditor")
    open_subject(browser, "carol")
    first = timeline_positions(browser)
    assert len(first) == 50 and first == sorted(first)
    server.deliver(session_event("session.approved", session_id="s-carol", ref="carol",
                                 key="carol-late"))  # fmt: skip
    click(browser, browser.find_element(By.LINK_TEXT, "Next page"))
    rest = timeline_positions(browser)
    assert len(rest) == CHECKS_OF_CAROL + 1 - 50  # the page is pinned: the later one is not in
    assert rest[0] > first[-1] and rest == sorted(rest)
    assert console_errors(browser) == []


def test_an_auditor_never_sees_personal_data_an_officer_does(
    browser: webdriver.Chrome, server: LedgerServer
) -> None:
    sign_in(browser, server, "auditor")
    browser.get(url(server, "/console/subjects/dave"))
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    payload = browser.find_element(By.CSS_SELECTOR, "details pre")
    assert payload.is_displayed() and "[masked]" in payload.text
    assert "Jane" not in browser.page_source
    click(browser, browser.find_element(By.CSS_SELECTOR, ".signout button"))
    sign_in(browser, server, "officer")
    browser.get(url(server, "/console/subjects/dave"))
    assert "Jane" in browser.page_source
    assert console_errors(browser) == []


def test_the_session_cookie_is_out_of_reach_of_scripts_and_other_sites(
    browser: webdriver.Chrome, server: LedgerServer
) -> None:
    sign_in(browser, server, "auditor")
    cookie = browser.get_cookie("ledger_console")
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console" and cookie["secure"] is False  # plain HTTP here
    assert "ledger_console" not in browser.execute_script("return document.cookie")


def test_every_page_has_the_content_security_policy_and_runs_no_inline_script(
    browser: webdriver.Chrome, server: LedgerServer
) -> None:
    sign_in(browser, server, "admin")
    paths = ["/console", "/console/subjects/user_456", "/console/checks/check_abc123",
             "/console/review-queue", "/console/alerts", "/console/transparency",
             "/console/projections", "/console/quarantine"]  # fmt: skip
    document_headers(browser)  # forget the sign-in's
    for path in paths:
        browser.get(url(server, path))
    answers = document_headers(browser)
    assert len(answers) == len(paths)
    for path, headers in zip(paths, answers, strict=True):
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy, path
    inline = "return document.querySelectorAll('script:not([src])').length"
    assert browser.execute_script(inline) == 0
    assert console_errors(browser) == []


def test_a_page_fits_a_phone_and_an_unknown_subject_is_a_page_not_a_traceback(
    server: LedgerServer,
) -> None:
    with chromium(width=390, height=844) as phone:
        sign_in(phone, server, "auditor")
        phone.get(url(server, "/console/subjects/user_456"))
        fits = "return document.documentElement.scrollWidth <= window.innerWidth"
        assert phone.execute_script(fits)
        phone.get(url(server, "/console/subjects/nobody"))
        assert phone.find_element(By.TAG_NAME, "h1").text == "Not found"
        assert "Traceback" not in phone.page_source
        assert [e for e in console_errors(phone) if "404" not in e["message"]] == []


def test_the_skip_link_is_the_first_stop_of_the_keyboard(
    browser: webdriver.Chrome, server: LedgerServer
) -> None:
    sign_in(browser, server, "auditor")
    browser.get(url(server, "/console/subjects/user_456"))
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
