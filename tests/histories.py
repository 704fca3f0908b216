"""Hypothesis strategies for delivery histories: several subjects, every event type,
sessions and checks that arrive before anything ties them to a subject, retries
and unknown event types. Every payload is valid, so every delivery is recorded.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from domain.payloads import EVENT_MODELS

SUBJECT_OF_SESSION = {"s1": "u1", "s2": "u1", "s3": "u2", "s4": "u3"}
CHECKS, CASES, DOCUMENTS, IDENTITIES = ["c1", "c2", "c3"], ["k1", "k2"], ["d1", "d2"], ["i1", "i2"]
Payload = dict[str, Any]


@st.composite
def payloads(draw: st.DrawFn) -> Payload:
    """One valid delivery of any documented type, or an unknown one."""
    event = draw(
        st.sampled_from([*EVENT_MODELS, "session.flagged", "check.rescreened", "risk.scored"])
    )
    session_id = draw(st.sampled_from(sorted(SUBJECT_OF_SESSION)))
    # Most deliveries name their subject; some only carry the session id.
    ref = draw(st.sampled_from([SUBJECT_OF_SESSION[session_id], None]))
    family = event.split(".")[0]
    base: Payload = {
        "event": event,
        "is_sandbox": False,
        "external_ref": ref,
        "session_id": session_id,
    }
    if family == "session":
        return base | _session_fields(event, draw)
    if family == "check":
        return base | {"check_id": draw(st.sampled_from(CHECKS))} | _check_fields(event, draw)
    if family == "case":
        return base | _case_fields(event, draw)
    if family == "identity":
        return {
            "event": event,
            "is_sandbox": False,
            "external_ref": ref,
            "identity_id": draw(st.sampled_from(IDENTITIES)),
        }
    if family == "document":
        return _document_fields(event, draw) | {"session_id": session_id}
    return {"event": event, "session_id": session_id}


def _session_fields(event: str, draw: st.DrawFn) -> Payload:
    if event == "session.approved":
        return {"status": "approved", "identity_id": draw(st.sampled_from(IDENTITIES))}
    if event == "session.declined":
        return {"status": "rejected", "rejection_reason": "altered"}
    if event == "session.resubmission-required":
        return {"reason": "blurry"}
    return {}


def _check_fields(event: str, draw: st.DrawFn) -> Payload:
    hits = draw(st.integers(0, 3))
    if event in ("check.completed", "check.matched"):
        return {
            "check_type": "sanction",
            "status": "hit" if hits else "clear",
            "has_match": bool(hits),
            "hit_count": hits,
        }
    if event.startswith("check.monitoring."):
        run: Payload = {
            "monitor_run_id": "m",
            "trigger": "scheduled",
            "hit_sources": ["aml_screening"],
            "providers_used": ["aml_screening"],
            "hit_types": draw(st.sampled_from([["sanction"], ["pep"], []])),
        }
        if draw(st.booleans()):
            run["total_hit_count"] = hits
        if event == "check.monitoring.new_hits":
            run |= {"new_hit_count": draw(st.integers(0, 2)), "max_new_score": 0.9}
        return run
    return {}


def _case_fields(event: str, draw: st.DrawFn) -> Payload:
    fields: Payload = {"case_id": draw(st.sampled_from(CASES)), "status": event.split(".")[1]}
    if event in ("case.approved", "case.rejected"):
        fields["decision"] = event.split(".")[1]
    return fields


def _document_fields(event: str, draw: st.DrawFn) -> Payload:
    fields: Payload = {"event": event, "document_id": draw(st.sampled_from(DOCUMENTS))}
    extra: dict[str, Payload] = {
        "document.uploaded": {"document_type": "passport"},
        "document.classified": {"classification": "passport", "confidence": 0.9},
        "document.extracted": {
            "extraction_id": "x",
            "extraction_type": "ocr",
            "status": "completed",
        },
        "document.verified": {"checks_run": 2, "checks_passed": 1, "checks_failed": 1},
        "document.compared": {
            "reference_document_id": "d0",
            "is_match": True,
            "overall_score": 0.5,
        },
    }
    return fields | extra.get(event, {})


@st.composite
def deliveries(draw: st.DrawFn, max_size: int = 25) -> list[Payload]:
    """A history as Verifa might deliver it: each event with its own key, some retried."""
    events = draw(st.lists(payloads(), min_size=1, max_size=max_size))
    for number, payload in enumerate(events):
        payload["idempotency_key"] = f"idk_{number}"
    retries = draw(st.lists(st.sampled_from(events), max_size=5))
    order = draw(st.permutations(range(len(events) + len(retries))))
    everything = events + [dict(p) for p in retries]
    return [everything[i] for i in order]
