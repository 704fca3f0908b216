"""Verifa webhook payloads as documented in Verifa's webhook tutorial.

Every event type has a model. Fields the tutorial marks as always present are
required; fields it calls optional, "included on most paths" or "may be absent"
have defaults. Types are checked strictly (a string is not a boolean), and
fields the tutorial does not mention are kept, never dropped: a ledger must not
lose what the provider said.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "EVENT_MODELS",
    "ValidationError",
    "VerifaPayload",
    "validate_payload",
]


class VerifaPayload(BaseModel):
    """Fields common to every delivery."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    event: str
    idempotency_key: str | None = None


# Session events: the verification lifecycle of one session.


class SessionEvent(VerifaPayload):
    session_id: str
    external_ref: str | None
    is_sandbox: bool


class VerificationResult(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    face_match_passed: bool | None = None
    age_check_passed: bool | None = None
    extracted_data: dict[str, Any] | None = None


class SessionApproved(SessionEvent):
    status: Literal["approved"]
    identity_id: str | None = None
    result: VerificationResult | None = None


class SessionDeclined(SessionEvent):
    status: Literal["rejected"]
    rejection_reason: str | None = None
    identity_id: str | None = None
    result: VerificationResult | None = None


class SessionResubmissionRequired(SessionEvent):
    reason: str


# Check events: AML, PEP, sanctions and risk screening.


class CheckEvent(VerifaPayload):
    check_id: str
    is_sandbox: bool
    session_id: str | None = None
    external_ref: str | None = None


class CheckMatched(CheckEvent):
    """A screening check found matches (its example payload has no `has_match`)."""

    check_type: str
    status: Literal["hit", "clear"]
    has_match: bool | None = None
    hit_count: int | None = None
    batch_id: str | None = None
    max_score: float | None = None
    pep_risk_tier: str | None = None
    pep_recommended_action: str | None = None
    pep_classes: list[str] | None = None


class CheckCompleted(CheckMatched):
    has_match: bool


class MonitoringRun(CheckEvent):
    monitor_run_id: str
    trigger: str
    total_hit_count: int | None = None
    hit_sources: list[str]
    hit_types: list[str] | None = None
    providers_used: list[str]


class MonitoringNewHits(MonitoringRun):
    new_hit_count: int
    max_new_score: float


# Identity events: verified identity records.


class IdentityEvent(VerifaPayload):
    identity_id: str
    external_ref: str | None
    is_sandbox: bool


# Case events: manual review.


class CaseEvent(VerifaPayload):
    case_id: str
    session_id: str
    external_ref: str | None
    status: str
    is_sandbox: bool
    decision: str | None = None


class CaseDecision(CaseEvent):
    decision: str


# Document events: standalone document processing.


class DocumentEvent(VerifaPayload):
    document_id: str
    session_id: str | None = None
    identity_id: str | None = None
    external_ref: str | None = None


class DocumentUploaded(DocumentEvent):
    document_type: str
    classification: str | None = None


class DocumentClassified(DocumentEvent):
    classification: str
    confidence: float


class DocumentExtracted(DocumentEvent):
    extraction_id: str
    extraction_type: str
    status: str


class DocumentVerified(DocumentEvent):
    checks_run: int
    checks_passed: int
    checks_failed: int


class DocumentCompared(DocumentEvent):
    reference_document_id: str
    is_match: bool
    overall_score: float


EVENT_MODELS: dict[str, type[VerifaPayload]] = {
    "session.created": SessionEvent,
    "session.started": SessionEvent,
    "session.requires-review": SessionEvent,
    "session.approved": SessionApproved,
    "session.declined": SessionDeclined,
    "session.expired": SessionEvent,
    "session.resubmission-required": SessionResubmissionRequired,
    "session.redacted": SessionEvent,
    "session.retention-expired": SessionEvent,
    "check.completed": CheckCompleted,
    "check.matched": CheckMatched,
    "check.monitoring.new_hits": MonitoringNewHits,
    "check.monitoring.clear": MonitoringRun,
    "identity.created": IdentityEvent,
    "identity.updated": IdentityEvent,
    "case.created": CaseEvent,
    "case.claimed": CaseEvent,
    "case.escalated": CaseEvent,
    "case.approved": CaseDecision,
    "case.rejected": CaseDecision,
    "document.uploaded": DocumentUploaded,
    "document.classified": DocumentClassified,
    "document.extracted": DocumentExtracted,
    "document.verified": DocumentVerified,
    "document.compared": DocumentCompared,
    "document.redacted": DocumentEvent,
}


def validate_payload(payload: dict[str, Any]) -> VerifaPayload:
    """The typed payload of a known event type, or a plain `VerifaPayload` for an unknown one.

    Raises `ValidationError` when a known type lacks a required field or has a
    mistyped one, or when `event` is not a string.
    """
    event = payload.get("event")
    model = EVENT_MODELS.get(event, VerifaPayload) if isinstance(event, str) else VerifaPayload
    return model.model_validate(payload)
