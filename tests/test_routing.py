"""Routing deliveries to streams and learning subject links (DESIGN §5.1)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import pytest

from domain.entries import StreamKey
from domain.routing import learn_links, route


class MemoryLinkBook:
    """The domain's LinkBook kept in dictionaries: first writes win."""

    def __init__(self) -> None:
        self.streams: dict[UUID, str] = {}
        self.sessions: dict[str, str] = {}
        self.mentions: dict[str, list[UUID]] = {}
        self.identities: set[tuple[str, str]] = set()

    def subject_of_stream(self, stream: UUID) -> str | None:
        return self.streams.get(stream)

    def subject_of_session(self, session_id: str) -> str | None:
        return self.sessions.get(session_id)

    def streams_mentioning(self, session_id: str) -> Iterable[UUID]:
        return list(self.mentions.get(session_id, []))

    def link_stream(self, stream: UUID, subject: str) -> None:
        self.streams.setdefault(stream, subject)

    def tie_session(self, session_id: str, subject: str) -> None:
        self.sessions.setdefault(session_id, subject)

    def note_mention(self, stream: UUID, session_id: str) -> None:
        if stream not in self.mentions.setdefault(session_id, []):
            self.mentions[session_id].append(stream)

    def note_identity(self, identity_id: str, subject: str) -> None:
        self.identities.add((identity_id, subject))


def deliver(book: MemoryLinkBook, payload: dict[str, object]) -> StreamKey:
    stream = route(payload)
    learn_links(book, stream, payload)
    return stream


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"event": "session.approved", "session_id": "s1", "external_ref": "u1"},
            StreamKey("applicant", "u1"),
        ),
        (
            {"event": "session.started", "session_id": "s1", "external_ref": None},
            StreamKey("applicant", "session:s1"),
        ),
        (
            {"event": "identity.created", "identity_id": "i1", "external_ref": None},
            StreamKey("applicant", "identity:i1"),
        ),
        (
            {"event": "check.completed", "check_id": "c1", "external_ref": "u1"},
            StreamKey("check", "c1"),
        ),
        ({"event": "case.claimed", "case_id": "k1", "session_id": "s1"}, StreamKey("case", "k1")),
        ({"event": "document.redacted", "document_id": "d1"}, StreamKey("document", "d1")),
    ],
)
def test_each_family_goes_to_its_own_aggregate(
    payload: dict[str, object], expected: StreamKey
) -> None:
    assert route(payload) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"event": "check.rescreened", "check_id": "c1", "external_ref": "u1"},
            StreamKey("check", "c1"),
        ),
        (
            {"event": "risk.scored", "session_id": "s1", "case_id": "k1"},
            StreamKey("applicant", "session:s1"),
        ),
        (
            {"event": "risk.scored", "external_ref": "u1", "check_id": "c1"},
            StreamKey("applicant", "u1"),
        ),
        (
            {"event": "risk.scored", "document_id": "d1", "identity_id": "i1"},
            StreamKey("document", "d1"),
        ),
        ({"event": "risk.scored", "identity_id": "i1"}, StreamKey("applicant", "identity:i1")),
        ({"event": "risk.scored"}, StreamKey("unrouted", "unrouted")),
    ],
)
def test_unknown_types_go_to_their_family_or_the_first_id_they_carry(
    payload: dict[str, object], expected: StreamKey
) -> None:
    assert route(payload) == expected


def test_stream_ids_are_deterministic_and_distinct_per_type() -> None:
    assert StreamKey("check", "x").id == StreamKey("check", "x").id
    assert StreamKey("check", "x").id != StreamKey("case", "x").id


def test_a_payloads_own_external_ref_links_its_stream() -> None:
    book = MemoryLinkBook()
    check = deliver(book, {"event": "check.completed", "check_id": "c1", "external_ref": "u1"})
    assert book.subject_of_stream(check.id) == "u1"


def test_a_stream_known_by_session_joins_the_subject_once_the_session_is_tied() -> None:
    book = MemoryLinkBook()
    check = deliver(book, {"event": "check.completed", "check_id": "c1", "session_id": "s1"})
    assert book.subject_of_stream(check.id) is None
    deliver(book, {"event": "session.created", "session_id": "s1", "external_ref": "u1"})
    assert book.subject_of_stream(check.id) == "u1"


def test_a_later_stream_joins_through_an_existing_tie() -> None:
    book = MemoryLinkBook()
    deliver(book, {"event": "session.created", "session_id": "s1", "external_ref": "u1"})
    document = deliver(
        book, {"event": "document.uploaded", "document_id": "d1", "session_id": "s1"}
    )
    assert book.subject_of_stream(document.id) == "u1"


def test_the_first_tie_of_a_session_counts() -> None:
    book = MemoryLinkBook()
    deliver(book, {"event": "session.created", "session_id": "s1", "external_ref": "u1"})
    deliver(
        book, {"event": "case.created", "case_id": "k1", "session_id": "s1", "external_ref": "u2"}
    )
    assert book.subject_of_session("s1") == "u1"


def test_an_own_external_ref_wins_over_the_sessions_tie() -> None:
    book = MemoryLinkBook()
    deliver(book, {"event": "session.created", "session_id": "s1", "external_ref": "u1"})
    case = deliver(
        book, {"event": "case.created", "case_id": "k1", "session_id": "s1", "external_ref": "u2"}
    )
    assert book.subject_of_stream(case.id) == "u2"


def test_sessions_without_external_ref_join_the_subject_when_tied() -> None:
    book = MemoryLinkBook()
    orphan = deliver(book, {"event": "session.started", "session_id": "s1", "external_ref": None})
    deliver(book, {"event": "session.approved", "session_id": "s1", "external_ref": "u1"})
    assert book.subject_of_stream(orphan.id) == "u1"


def test_identity_is_an_attribute_not_a_link() -> None:
    book = MemoryLinkBook()
    stream = deliver(book, {"event": "identity.created", "identity_id": "i1", "external_ref": None})
    deliver(book, {"event": "identity.updated", "identity_id": "i1", "external_ref": "u1"})
    assert book.subject_of_stream(stream.id) is None
    assert book.identities == {("i1", "u1")}
