"""Hypothesis strategies for delivery histories, as Verifa might deliver them.

They reach where the link rules are hardest: a session delivered under two
external_refs, checks whose own external_ref differs from their session's tie,
checks and documents that name no session, deliveries that name only a session
(tied later or never), personal data and erasures, unknown event types of known
and unknown families with and without ids, retries and any delivery order.
Every payload is valid, so every delivery is recorded (none is quarantined).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from domain.payloads import EVENT_MODELS

Payload = dict[str, Any]

# One reference reads like the generated key of a session: they must stay two subjects.
REFS = ["u1", "u2", "session:s3"]
HOME_OF_SESSION = {"s1": "u1", "s2": "u1", "s3": "u2", "s4": "session:s3"}
CHECKS, CASES, DOCUMENTS, IDENTITIES = ["c1", "c2"], ["k1", "k2"], ["d1", "d2"], ["i1", "i2"]
UNKNOWN_EVENTS = [
    "session.flagged",
    "identity.merged",
    "check.rescreened",
    "case.note_added",
    "document.archived",
    "risk.scored",
    "watchlist.updated",
]
# The types the domain rules turn on are drawn more often, so that they meet in one history
# (a sanction hit and a later case approval, two outcomes of one session, an erasure).
EVENTS = [
    *EVENT_MODELS,
    *UNKNOWN_EVENTS,
    *["check.monitoring.new_hits", "case.approved", "check.completed"] * 2,
    *["session.approved", "session.declined", "session.redacted", "document.redacted"],
]
OUTCOME_EVENTS = [
    "session.approved",
    "session.declined",
    "session.expired",
    "session.resubmission-required",
]
ID_FIELDS = ["external_ref", "session_id", "check_id", "case_id", "document_id", "identity_id"]
ABSENT = object()  # a field left out of the payload, as opposed to null


def _put(payload: Payload, name: str, value: object) -> Payload:
    if value is not ABSENT:
        payload[name] = value
    return payload


@st.composite
def external_refs(draw: st.DrawFn, session_id: str | None) -> str | None:
    """Mostly the session's own subject; sometimes none, sometimes another (a conflict)."""
    home = HOME_OF_SESSION.get(session_id or "", "u1")
    return draw(st.sampled_from([home, home, home, None, *REFS]))


@st.composite
def payloads(draw: st.DrawFn, event: str | None = None, session_id: str | None = None) -> Payload:
    """One valid delivery of any documented type (or the one given), or of an unknown one."""
    event = event or draw(st.sampled_from(EVENTS))
    if event not in EVENT_MODELS:
        return draw(_unknown(event))
    family = event.split(".")[0]
    session_id = session_id or draw(st.sampled_from(sorted(HOME_OF_SESSION)))
    if family == "session":
        return {
            "event": event,
            "session_id": session_id,
            "external_ref": draw(external_refs(session_id)),
            "is_sandbox": False,
        } | draw(_session_fields(event))
    if family == "identity":
        return {
            "event": event,
            "identity_id": draw(st.sampled_from(IDENTITIES)),
            "external_ref": draw(st.sampled_from([*REFS, None])),
            "is_sandbox": False,
        }
    if family == "case":  # a case always names its session (it is required)
        return {
            "event": event,
            "case_id": draw(st.sampled_from(CASES)),
            "session_id": session_id,
            "external_ref": draw(external_refs(session_id)),
            "status": event.split(".")[1],
            "is_sandbox": False,
        } | (
            {"decision": event.split(".")[1]} if event in ("case.approved", "case.rejected") else {}
        )
    # Checks and documents may name no session, or a null one, and their own external_ref.
    named = draw(st.sampled_from([session_id, session_id, None, ABSENT]))
    ref = draw(st.one_of(external_refs(named if isinstance(named, str) else None), st.just(ABSENT)))
    if family == "check":
        payload = {"event": event, "check_id": draw(st.sampled_from(CHECKS)), "is_sandbox": False}
        payload |= draw(_check_fields(event))
    else:
        payload = {"event": event, "document_id": draw(st.sampled_from(DOCUMENTS))}
        payload |= draw(_document_fields(event))
    return _put(_put(payload, "session_id", named), "external_ref", ref)


@st.composite
def _unknown(draw: st.DrawFn, event: str) -> Payload:
    """Any subset of the ids that route and link a delivery, nulls included."""
    payload: Payload = {"event": event, "note": "undocumented"}
    for name in ID_FIELDS:
        if draw(st.integers(0, 3)) == 0:  # each id present one time in four
            payload[name] = draw(_id_value(name))
        elif name == "external_ref" and draw(st.booleans()):
            payload[name] = None
    return payload


def _id_value(name: str) -> st.SearchStrategy[str]:
    values = {
        "external_ref": REFS,
        "session_id": sorted(HOME_OF_SESSION),
        "check_id": CHECKS,
        "case_id": CASES,
        "document_id": DOCUMENTS,
        "identity_id": IDENTITIES,
    }
    return st.sampled_from(values[name])


@st.composite
def _session_fields(draw: st.DrawFn, event: str) -> Payload:
    fields: Payload = {}
    if event in ("session.approved", "session.declined"):
        fields["status"] = "approved" if event == "session.approved" else "rejected"
        _put(fields, "identity_id", draw(st.sampled_from([*IDENTITIES, None, ABSENT])))
        if draw(st.booleans()):  # personal data, as on the sandbox and manual review paths
            extracted = {"first_name": "Jane", "last_name": draw(st.sampled_from(["Doe", "Roe"]))}
            fields["result"] = {"face_match_passed": True, "extracted_data": extracted}
    if event == "session.declined":
        _put(fields, "rejection_reason", draw(st.sampled_from(["altered", "expired id", ABSENT])))
    if event == "session.resubmission-required":
        fields["reason"] = draw(st.sampled_from(["blurry", "glare"]))
    return fields


@st.composite
def _check_fields(draw: st.DrawFn, event: str) -> Payload:
    hits = draw(st.integers(0, 3))
    if event in ("check.completed", "check.matched"):
        check_type = draw(st.sampled_from(["sanction", "pep", "adverse_media"]))
        fields: Payload = {
            "check_type": check_type,
            "status": "hit" if hits else "clear",
            "has_match": bool(hits),
        }
        if event == "check.completed" or draw(st.booleans()):  # optional on some paths
            _put(fields, "hit_count", draw(st.sampled_from([hits, hits, ABSENT])))
        if check_type == "pep" and hits and draw(st.booleans()):
            fields |= {"pep_risk_tier": "high", "pep_classes": ["head-of-state"]}
        return fields
    fields = {
        "monitor_run_id": "m",
        "trigger": "scheduled",
        "hit_sources": ["aml_screening"],
        "providers_used": ["aml_screening"],
    }
    _put(fields, "hit_types", draw(st.sampled_from([["sanction"], ["pep"], ["pep", "sanction"],
                                                     [], ABSENT])))  # fmt: skip
    if draw(st.booleans()):
        fields["total_hit_count"] = hits
    if event == "check.monitoring.new_hits":
        fields |= {"new_hit_count": draw(st.integers(0, 2)), "max_new_score": 0.9}
    return fields


@st.composite
def _document_fields(draw: st.DrawFn, event: str) -> Payload:
    if event == "document.uploaded":
        fields: Payload = {"document_type": "passport"}
        _put(fields, "classification", draw(st.sampled_from(["identity_document", ABSENT])))
        _put(fields, "identity_id", draw(st.sampled_from([*IDENTITIES, ABSENT])))
        return fields
    if event == "document.classified":
        return {"classification": draw(st.sampled_from(["passport", "id_card"])), "confidence": 0.9}
    if event == "document.extracted":
        fields = {"extraction_id": draw(st.sampled_from(["x1", "x2"])), "extraction_type": "ocr",
                  "status": "completed"}  # fmt: skip
        if draw(st.booleans()):  # personal data the extraction read off the document
            fields["result"] = {"extracted_data": {"document_number": "AB1234567"}}
        return fields
    if event == "document.verified":
        run = draw(st.integers(1, 4))
        passed = draw(st.integers(0, run))
        return {"checks_run": run, "checks_passed": passed, "checks_failed": run - passed}
    if event == "document.compared":
        return {"reference_document_id": draw(st.sampled_from(DOCUMENTS)),
                "is_match": draw(st.booleans()), "overall_score": 0.5}  # fmt: skip
    return {}  # document.redacted


@st.composite
def storylines(draw: st.DrawFn) -> list[Payload]:
    """A few deliveries about one session that the rules relate to each other."""
    session_id = draw(st.sampled_from(sorted(HOME_OF_SESSION)))
    home = HOME_OF_SESSION[session_id]
    kind = draw(st.sampled_from(["sanction hit and approval", "two outcomes", "tied later"]))
    if kind == "sanction hit and approval":
        run = draw(payloads("check.monitoring.new_hits", session_id))
        run |= {"hit_types": ["sanction"], "new_hit_count": draw(st.integers(1, 2))}
        approval = draw(payloads("case.approved", session_id)) | {"external_ref": home}
        return [run, approval]
    if kind == "two outcomes":
        first, second = (draw(st.sampled_from(OUTCOME_EVENTS)) for _ in range(2))
        return [draw(payloads(e, session_id)) | {"external_ref": home} for e in (first, second)]
    # Deliveries that name only the session, and the tie (any order puts it first at times).
    events = draw(st.lists(st.sampled_from(["check.completed", "document.uploaded",
                                            "session.started", "case.created"]),
                           min_size=1, max_size=3))  # fmt: skip
    untied = [draw(payloads(e, session_id)) | {"session_id": session_id, "external_ref": None}
              for e in events]  # fmt: skip
    return [*untied, {"event": "session.created", "session_id": session_id,
                      "external_ref": home, "is_sandbox": False}]  # fmt: skip


@st.composite
def histories(
    draw: st.DrawFn, min_size: int = 6, max_size: int = 18, max_retries: int = 4
) -> list[Payload]:
    """Deliveries as Verifa might make them: each event once under its own key, some retried
    (same key, same body), all in any order."""
    events = draw(st.lists(payloads(), min_size=min_size, max_size=max_size))
    for story in draw(st.lists(storylines(), max_size=2)):
        events += story
    for number, payload in enumerate(events):
        payload["idempotency_key"] = f"idk_{number}"
    retries = [dict(p) for p in draw(st.lists(st.sampled_from(events), max_size=max_retries))]
    everything = events + retries
    order = draw(st.permutations(range(len(everything))))
    return [everything[i] for i in order]
