"""Verifa webhook payloads as documented in Verifa's webhook tutorial.

Every event type has a model. Fields the tutorial marks as always present are
required; fields it calls optional, "included on most paths" or "may be absent"
have defaults. Types are checked strictly (a string is not a boolean), values
are bounded (`domain.bounds`), and fields the tutorial does not mention are
kept, never dropped: a ledger must not lose what the provider said.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from domain.bounds import (
    MAX_IDENTIFIER_LENGTH,
    ROUTING_FIELDS,
    Count,
    Identifier,
    Label,
    Labels,
    Score,
    Text,
)

__all__ = [
    "EVENT_MODELS",
    "ValidationError",
    "VerifaPayload",
    "validate_payload",
]


class VerifaPayload(BaseModel):
    """Fields common to every delivery."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    event: Label
    idempotency_key: Identifier | None = None

    @model_validator(mode="after")
    def _routing_fields_bounded(self) -> VerifaPayload:
        """A routing field this event type does not declare (any field of an unknown type)
        still routes and links the delivery: it is held to the identifiers' bound too."""
        for name in ROUTING_FIELDS:
            value = (self.model_extra or {}).get(name)
            if isinstance(value, str) and len(value) > MAX_IDENTIFIER_LENGTH:
                raise PydanticCustomError(
                    "identifier_too_long",
                    "{field} has {length} characters; an identifier has at most {limit}",
                    {"field": name, "length": len(value), "limit": MAX_IDENTIFIER_LENGTH},
                )
        return self


# Session events: the verification lifecycle of one session.


class SessionEvent(VerifaPayload):
    session_id: Identifier
    external_ref: Identifier | None
    is_sandbox: bool


class VerificationResult(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    face_match_passed: bool | None = None
    age_check_passed: bool | None = None
    extracted_data: dict[str, Any] | None = None


class SessionApproved(SessionEvent):
    status: Literal["approved"]
    identity_id: Identifier | None = None
    result: VerificationResult | None = None


class SessionDeclined(SessionEvent):
    status: Literal["rejected"]
    rejection_reason: Text | None = None
    identity_id: Identifier | None = None
    result: VerificationResult | None = None


class SessionResubmissionRequired(SessionEvent):
    reason: Text


# Check events: AML, PEP, sanctions and risk screening.


class CheckEvent(VerifaPayload):
    check_id: Identifier
    is_sandbox: bool
    session_id: Identifier | None = None
    external_ref: Identifier | None = None


class CheckMatched(CheckEvent):
    """A screening check found matches (its example payload has no `has_match`)."""

    check_type: Label
    status: Literal["hit", "clear"]
    has_match: bool | None = None
    hit_count: Count | None = None
    batch_id: Identifier | None = None
    max_score: Score | None = None
    pep_risk_tier: Label | None = None
    pep_recommended_action: Label | None = None
    pep_classes: Labels | None = None


class CheckCompleted(CheckMatched):
    has_match: bool


class MonitoringRun(CheckEvent):
    monitor_run_id: Identifier
    trigger: Label
    total_hit_count: Count | None = None
    hit_sources: Labels
    hit_types: Labels | None = None
    providers_used: Labels


class MonitoringNewHits(MonitoringRun):
    new_hit_count: Count
    max_new_score: Score


# Identity events: verified identity records.


class IdentityEvent(VerifaPayload):
    identity_id: Identifier
    external_ref: Identifier | None
    is_sandbox: bool


# Case events: manual review.


class CaseEvent(VerifaPayload):
    case_id: Identifier
    session_id: Identifier
    external_ref: Identifier | None
    status: Label
    is_sandbox: bool
    decision: Label | None = None


class CaseDecision(CaseEvent):
    decision: Label


# Document events: standalone document processing.


class DocumentEvent(VerifaPayload):
    document_id: Identifier
    session_id: Identifier | None = None
    identity_id: Identifier | None = None
    external_ref: Identifier | None = None


class DocumentUploaded(DocumentEvent):
    document_type: Label
    classification: Label | None = None


class DocumentClassified(DocumentEvent):
    classification: Label
    confidence: Score


class DocumentExtracted(DocumentEvent):
    extraction_id: Identifier
    extraction_type: Label
    status: Label


class DocumentVerified(DocumentEvent):
    checks_run: Count
    checks_passed: Count
    checks_failed: Count


class DocumentCompared(DocumentEvent):
    reference_document_id: Identifier
    is_match: bool
    overall_score: Score


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
