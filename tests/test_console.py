"""The auditor console over HTTP (DESIGN §6.1): sign-in, roles, masking, points, safety.

These drive the server-rendered pages as a browser would, form by form; the pages'
behaviour in a real browser is for the browser tests (issue 16, still to come).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import pytest

from api.console.sessions import SESSION_COOKIE, SESSION_SECONDS
from tests.helpers import TOKENS, LedgerClient, seed_examples
from tests.test_http_reads import check, deliver, session
from tests.test_subject_changes import story

ROLE_TOKENS = {role: token for token, role in TOKENS.items()}


def form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "a form without its CSRF token"
    return found.group(1)


def sign_in(client: LedgerClient, role: str = "auditor", next: str = "/console") -> Any:
    csrf = form_token(client.get("/console/login").text)
    return client.post("/console/login", data={"token": ROLE_TOKENS[role], "csrf": csrf,
                                               "next": next}, follow_redirects=False)  # fmt: skip


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def seeded(client: LedgerClient) -> None:
    for payload in seed_examples():
        client.deliver(payload)


def test_a_page_asked_for_signed_out_leads_to_sign_in_and_back(client: LedgerClient) -> None:
    seeded(client)
    asked = client.get("/console/subjects/user_456?as_of=3", follow_redirects=False)
    assert asked.status_code == 303
    assert (
        asked.headers["location"]
        == "/console/login?next=%2Fconsole%2Fsubjects%2Fuser_456%3Fas_of%3D3"
    )
    signed = sign_in(client, next="/console/subjects/user_456?as_of=3")
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/subjects/user_456?as_of=3"
    assert "As of position 3" in text_of(client.get(signed.headers["location"]).text)


def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_console(
    client: LedgerClient,
) -> None:
    cookie = sign_in(client).headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert f"Max-Age={SESSION_SECONDS}" in cookie
    assert ROLE_TOKENS["auditor"] not in cookie


def test_an_unknown_token_or_a_form_without_its_csrf_token_signs_no_one_in(
    client: LedgerClient,
) -> None:
    csrf = form_token(client.get("/console/login").text)
    wrong = client.post("/console/login", data={"token": "guess", "csrf": csrf})
    assert wrong.status_code == 401 and "not known" in wrong.text
    forged = client.post("/console/login", data={"token": ROLE_TOKENS["admin"], "csrf": "x" * 43})
    assert forged.status_code == 401 and "expired" in forged.text
    assert SESSION_COOKIE not in client.cookies


def test_sign_in_never_sends_the_browser_off_the_console(client: LedgerClient) -> None:
    for away in ["//evil.example/console", "https://evil.example", "/webhooks/verifa"]:
        assert sign_in(client, next=away).headers["location"] == "/console"


def test_every_page_sends_the_content_security_policy_and_no_inline_script(
    client: LedgerClient,
) -> None:
    seeded(client)
    sign_in(client)
    for path in ["/console/login", "/console", "/console/subjects/user_456",
                 "/console/checks/check_abc123", "/console/subjects/nobody",
                 "/console/static/console.css", "/console/evidence/user_456"]:  # fmt: skip
        answer = client.get(path)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in answer.text and " on" + "click=" not in answer.text, path
        assert "style=" not in answer.text, path


def test_search_opens_a_subject_or_an_entity_by_its_id(client: LedgerClient) -> None:
    seeded(client)
    home = client.get("/console") if sign_in(client) else None
    assert home is not None
    csrf = form_token(home.text)
    for name, page in [("user_456", "/console/subjects/user_456"),
                       ("session_abc123", "/console/sessions/session_abc123"),
                       ("check_abc123", "/console/checks/check_abc123"),
                       ("case_abc123", "/console/cases/case_abc123"),
                       ("doc_abc123", "/console/documents/doc_abc123")]:  # fmt: skip
        found = client.post("/console/search", data={"q": name, "csrf": csrf},
                            follow_redirects=False)  # fmt: skip
        assert found.headers["location"] == page, name
        assert client.get(page).status_code == 200, page
    missing = client.post("/console/search", data={"q": "nobody", "csrf": csrf})
    assert missing.status_code == 404 and "Nothing is named" in text_of(missing.text)


def test_an_auditor_never_sees_personal_data_not_even_in_the_page_source(
    client: LedgerClient,
) -> None:
    client.deliver(next(p for p in seed_examples() if p["event"] == "session.approved"))
    sign_in(client)
    page = client.get("/console/subjects/user_456").text
    assert "Jane" not in page and "[masked]" in page


def test_an_officer_sees_personal_data_and_the_read_is_in_the_access_log(
    client: LedgerClient,
) -> None:
    client.deliver(next(p for p in seed_examples() if p["event"] == "session.approved"))
    sign_in(client, "officer")
    assert "Jane" in client.get("/console/subjects/user_456").text
    log = client.read("/access-log", role="admin").json()["accesses"]
    assert any(a["subject"] == "user_456" and a["what"].startswith("console timeline")
               for a in log)  # fmt: skip


def test_a_subject_as_of_a_past_point_and_compared_with_an_earlier_one(
    client: LedgerClient,
) -> None:
    created, checked, approved = story(client)
    sign_in(client)
    then = text_of(client.get(f"/console/subjects/alice?as_of={created}").text)
    assert f"As of position {created}" in then and "Verification created" in then
    compared = client.get(f"/console/subjects/alice?as_of={approved}&compare={created}").text
    shown = text_of(compared)
    assert f"Changes from position {created} to {approved}" in shown
    assert "verification.status" in shown and "&#34;approved&#34;" in compared
    rows = re.findall(r'title="The subject as of this event">(\d+)<', compared)
    assert rows == [str(checked), str(approved)]  # the events between the two points


def test_the_point_form_posts_to_the_pages_own_shareable_address(client: LedgerClient) -> None:
    deliver(client, session("session.created", "a1"))
    sign_in(client)
    csrf = form_token(client.get("/console/subjects/alice").text)
    chosen = client.post("/console/subjects/alice", follow_redirects=False,
                         data={"csrf": csrf, "as_of": "1", "event": "session.created"})  # fmt: skip
    assert chosen.headers["location"] == "/console/subjects/alice?as_of=1&event=session.created"


def test_filters_and_pages_keep_their_place(client: LedgerClient) -> None:
    for n in range(60):
        deliver(client, check("check.completed", f"k{n}", cid=f"c{n}", external_ref="alice",
                              check_type="sanction", status="clear", has_match=False))  # fmt: skip
    deliver(client, session("session.created", "s1"))
    sign_in(client)
    first = client.get("/console/subjects/alice").text
    assert len(re.findall(r'title="The subject as of this event"', first)) == 50
    next_url = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_url is not None
    deliver(client, session("session.approved", "s2"))  # later: not on the pinned pages
    rest = client.get(next_url.group(1).replace("&amp;", "&")).text
    assert re.findall(r'title="The subject as of this event">(\d+)<', rest) == [
        str(p) for p in range(51, 62)
    ]
    only = client.get("/console/subjects/alice?event=session.created").text
    assert re.findall(r'title="The subject as of this event">(\d+)<', only) == ["61"]


def test_a_bad_point_an_unknown_subject_and_an_unknown_page_are_pages_not_tracebacks(
    client: LedgerClient,
) -> None:
    seeded(client)
    sign_in(client)
    for path, status, words in [
        ("/console/subjects/user_456?as_of=yesterday", 422, "neither a position"),
        ("/console/subjects/nobody", 404, "No subject"),
        ("/console/subjects/user_456?after=-1", 422, "after"),
        ("/console/nothing/here", 404, "Not Found"),
    ]:
        answer = client.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"].startswith("text/html")
        assert words in text_of(answer.text) and "Traceback" not in answer.text, path
    for path in ["/console/subjects/a%00b", "/console/checks/a%00b?as_of=1"]:
        answer = client.get(path)  # no store holds a NUL: unknown, or refused (PostgreSQL)
        assert answer.status_code in (404, 422), path
        assert answer.headers["content-type"].startswith("text/html"), path


def test_an_expired_session_or_one_whose_token_was_removed_signs_in_again(
    client: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client)
    assert client.get("/console", follow_redirects=False).status_code == 200
    later = time.time() + SESSION_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get("/console", follow_redirects=False).status_code == 303
    monkeypatch.undo()
    sign_in(client, "officer")
    client.services.credentials.api_tokens.pop(ROLE_TOKENS["officer"])
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_and_needs_its_csrf_token(client: LedgerClient) -> None:
    sign_in(client)
    csrf = form_token(client.get("/console").text)
    refused = client.post("/console/logout", data={"csrf": "nope"}, follow_redirects=False)
    assert refused.headers["location"] == "/console" and SESSION_COOKIE in client.cookies
    copied = client.cookies[SESSION_COOKIE]
    out = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.headers["location"] == "/console/login"
    assert client.get("/console", follow_redirects=False).status_code == 303
    client.cookies.set(SESSION_COOKIE, copied, path="/console")  # a copy kept from before
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_the_review_queue_and_alerts_list_what_needs_attention(client: LedgerClient) -> None:
    seeded(client)
    client.caught_up()
    sign_in(client)
    queue = text_of(client.get("/console/review-queue").text)
    assert "Review queue" in queue and "As of position" in queue
    alerts = client.get("/console/alerts").text
    assert 'href="/console/subjects/user_456?as_of=' in alerts  # restricted, with an AML hit
    assert "check_abc123" in alerts
    assert client.get("/console/alerts?as_of=1").status_code == 200
    assert client.get("/console/alerts?cursor=nonsense").status_code == 422


def test_the_transparency_page_shows_the_signed_checkpoint_and_the_key(
    client: LedgerClient,
) -> None:
    seeded(client)
    sign_in(client)
    shown = client.get("/console/transparency").text
    head = client.read("/readyz").json()["head"]["position"]
    assert f'<strong id="tree-size">{head}</strong>' in shown
    assert client.read("/ledger/verifier-key").text.strip() in shown
    assert "Verify the whole ledger now" not in shown  # an admin's: it reads everything


def test_an_admin_verifies_the_whole_ledger_from_the_console(client: LedgerClient) -> None:
    seeded(client)
    sign_in(client, "admin")
    csrf = form_token(client.get("/console/transparency").text)
    verified = text_of(client.post("/console/transparency/verify", data={"csrf": csrf}).text)
    assert "Intact:" in verified and "entries checked" in verified


def test_a_subjects_evidence_downloads_as_the_api_serves_it(client: LedgerClient) -> None:
    seeded(client)
    sign_in(client)
    page = client.get("/console/subjects/user_456?as_of=5").text
    assert 'href="/console/evidence/user_456?as_of=5" download' in page
    bundle = client.get("/console/evidence/user_456?as_of=5")
    named = 'attachment; filename="evidence-user_456-5.json"'
    assert bundle.headers["content-disposition"] == named
    assert bundle.headers["cache-control"] == "no-store"
    api = client.read("/subjects/user_456/evidence", as_of="5").json()
    assert bundle.json()["entries"] == api["entries"] and bundle.json()["status"] == api["status"]


def test_read_models_and_quarantine_are_for_admins(client: LedgerClient) -> None:
    seeded(client)
    client.deliver({"event": "session.approved", "idempotency_key": "broken"})  # quarantined
    client.caught_up()
    for role in ("auditor", "officer"):
        sign_in(client, role)
        for path in ("/console/projections", "/console/quarantine"):
            answer = client.get(path)
            assert answer.status_code == 403 and "needs the admin role" in answer.text
        assert 'href="/console/quarantine"' not in client.get("/console").text
    sign_in(client, "admin")
    models = text_of(client.get("/console/projections").text)
    assert "subject_status" in models and "live" in models
    held = text_of(client.get("/console/quarantine").text)
    assert "broken" in held and "session_id" in held


def test_home_says_what_to_do_when_empty_and_offers_the_latest_subjects(
    client: LedgerClient,
) -> None:
    sign_in(client)
    assert "The ledger is empty" in text_of(client.get("/console").text)
    seeded(client)
    home = client.get("/console").text
    assert 'href="/console/subjects/user_456"' in home and "The ledger is empty" not in home


def test_behind_https_the_session_cookie_is_secure_too(services: Any) -> None:
    from api.app import create_app

    with LedgerClient(create_app(services), base_url="https://ledger.example") as secure:
        cookie = sign_in(secure).headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_every_signed_in_form_refuses_a_missing_or_forged_csrf_token(
    client: LedgerClient,
) -> None:
    seeded(client)
    sign_in(client, "admin")
    for path, data in [("/console/search", {"q": "user_456"}),
                       ("/console/subjects/user_456", {"as_of": "1"}),
                       ("/console/transparency/verify", {})]:  # fmt: skip
        for csrf in ["forged", "é" * 10]:
            answer = client.post(path, data={**data, "csrf": csrf}, follow_redirects=False)
            assert answer.status_code == 303, (path, csrf)
            assert "as_of=1" not in answer.headers["location"]
            assert answer.headers["location"] in ("/console", "/console/subjects/user_456",
                                                  "/console/transparency")  # fmt: skip


def test_a_cookie_or_a_token_of_any_characters_is_refused_not_a_fault(
    client: LedgerClient,
) -> None:
    cookie = f"{SESSION_COOKIE}=a.é".encode()  # as a browser may send it: raw bytes
    answer = client.get("/console", headers={"cookie": cookie}, follow_redirects=False)
    assert answer.status_code == 303
    client.get("/console/login")
    refused = client.post("/console/login", data={"token": "é", "csrf": "é"})
    assert refused.status_code == 401


def test_sign_in_comes_back_only_to_a_console_page(client: LedgerClient) -> None:
    for away in ["/console/../webhooks/verifa", "/console/%2e%2e/metrics", "/console\\\\evil",
                 "/consolex", "/console/..//evil.example"]:  # fmt: skip
        assert sign_in(client, next=away).headers["location"] == "/console", away
    assert sign_in(client, next="/console/alerts?as_of=2").headers["location"] == (
        "/console/alerts?as_of=2"
    )


def test_names_with_slashes_quotes_and_markup_are_read_and_linked_as_they_are(
    client: LedgerClient,
) -> None:
    odd = 'team/a"b<i>?#%'
    deliver(client, session("session.created", "o1", ref=odd, sid="s/../x"))
    sign_in(client)
    page = client.get(f"/console/subjects/{quote(odd, safe='')}")
    assert page.status_code == 200
    assert "<i>" not in page.text and "team/a&#34;b&lt;i&gt;?#%" in page.text
    assert 'href="/console/sessions/s%2F..%2Fx?as_of=1"' in page.text
    assert client.get("/console/sessions/s%2F..%2Fx").status_code == 200


def test_time_filters_bound_the_events_shown_not_the_subjects_streams(
    client: LedgerClient,
) -> None:
    first, second, third = story(client)
    sign_in(client)
    shown = client.get(f"/console/subjects/alice?since={first}&until={second}").text
    assert re.findall(r'title="The subject as of this event">(\d+)<', shown) == [str(second)]
    assert f"As of position {third}" in text_of(shown)  # the status is still the head's


def test_a_long_payload_is_shown_on_a_page_of_its_own(client: LedgerClient) -> None:
    position = deliver(client, session("session.created", "l1", notes="n" * 6000))
    sign_in(client)
    timeline = client.get("/console/subjects/alice").text
    link = f"/console/events/{position}?subject=alice"
    assert f'href="{link}"' in timeline and "n" * 6000 not in timeline
    assert "n" * 6000 in client.get(link).text
    assert client.get(f"/console/events/{position}?subject=bob").status_code == 404


def test_an_evidence_file_is_named_in_ascii_whatever_the_reference(
    client: LedgerClient,
) -> None:
    deliver(client, session("session.created", "e1", ref="Łukasz-日本"))
    sign_in(client)
    bundle = client.get(f"/console/evidence/{quote('Łukasz-日本', safe='')}?as_of=1")
    assert bundle.status_code == 200
    assert (
        bundle.headers["content-disposition"] == 'attachment; filename="evidence-_ukasz-__-1.json"'
    )


def test_a_list_is_read_as_of_the_point_its_form_names(client: LedgerClient) -> None:
    seeded(client)
    client.caught_up()
    sign_in(client)
    csrf = form_token(client.get("/console/alerts").text)
    chosen = client.post("/console/alerts", data={"csrf": csrf, "as_of": "2"},
                         follow_redirects=False)  # fmt: skip
    assert chosen.headers["location"] == "/console/alerts?as_of=2"
    assert "As of position 2" in text_of(client.get(chosen.headers["location"]).text)
    forged = client.post("/console/alerts", data={"csrf": "x", "as_of": "2"},
                         follow_redirects=False)  # fmt: skip
    assert forged.headers["location"] == "/console/alerts"
