"""How personal data is kept (DESIGN §7): sealed under its scope's key, or already erased."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.entries import StreamKey
from domain.sealing import sealing_of, sealings_in_order

EXTRACTED = {"result": {"extracted_data": {"first_name": "Jane"}}}


def approval(session_id: str | None = "s1", **fields: Any) -> dict[str, Any]:
    return {"event": "session.approved", "session_id": session_id, **EXTRACTED, **fields}


def test_a_delivery_without_personal_data_is_stored_as_sent() -> None:
    assert sealing_of(StreamKey("applicant", "u1"), {"event": "session.created"}, ["s1"]) is None


def test_an_applicants_data_is_erased_with_its_own_session_only() -> None:
    sealing = sealing_of(StreamKey("applicant", "u1"), approval("s1"), ["s1", "s3"])
    assert sealing is not None and sealing.scope == "session:s1"
    assert sealing.is_erased({"session:s1"})
    assert not sealing.is_erased({"session:s3"})  # another session of the same subject


def test_a_documents_data_is_erased_with_any_session_that_named_it() -> None:
    extracted = {"event": "document.extracted", "document_id": "d1", **EXTRACTED}
    sealing = sealing_of(StreamKey("document", "d1"), extracted, ["s1", "s2"])
    assert sealing is not None and sealing.scope == "document:d1"
    assert sealing.is_erased({"session:s2"})
    assert sealing.is_erased({"document:d1"})
    assert not sealing.is_erased({"session:s9"})


def test_data_with_no_session_is_kept_under_its_streams_key() -> None:
    stream = StreamKey("applicant", "identity:i1")
    sealing = sealing_of(stream, approval(None), [])
    assert sealing is not None and sealing.scope == f"stream:{stream.id.hex}"
    assert sealing.erased_with == {sealing.scope}


@dataclass(frozen=True)
class Arrival:
    stream: StreamKey
    event_type: str
    payload: dict[str, Any]


def test_in_a_batch_an_erasure_erases_the_personal_data_after_it_not_before() -> None:
    applicant, document = StreamKey("applicant", "u1"), StreamKey("document", "d1")
    batch = [
        Arrival(applicant, "session.approved", approval("s1")),
        Arrival(document, "document.uploaded", {"document_id": "d1", "session_id": "s1"}),
        Arrival(applicant, "session.redacted", {"session_id": "s1"}),
        Arrival(applicant, "session.approved", approval("s1")),
        Arrival(document, "document.extracted", {"document_id": "d1", **EXTRACTED}),
        Arrival(applicant, "session.approved", approval("s2")),
    ]
    decided = sealings_in_order(batch, {})
    erased = [d.sealing.is_erased(d.erased_earlier) for d in decided if d.sealing]
    assert erased == [False, True, True, False]  # the document was named by the session before
