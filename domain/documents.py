"""A processed document: classification, extraction, verification and comparison (§5.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Processing steps in the order Verifa performs them; deliveries may arrive out of order.
STEPS = ("uploaded", "classified", "extracted", "verified", "compared")
_FIELDS = {
    "document.uploaded": ("document_type", "classification", "session_id", "identity_id"),
    "document.classified": ("classification", "confidence"),
    "document.verified": ("checks_run", "checks_passed", "checks_failed"),
    "document.compared": ("reference_document_id", "is_match", "overall_score"),
}


@dataclass
class DocumentRecord:
    """The latest facts Verifa reported about one document; `status` is the furthest step."""

    document_id: str
    document_type: str | None = None
    classification: str | None = None
    confidence: float | None = None
    session_id: str | None = None
    identity_id: str | None = None
    extractions: list[dict[str, Any]] = field(default_factory=list)
    checks_run: int | None = None
    checks_passed: int | None = None
    checks_failed: int | None = None
    reference_document_id: str | None = None
    is_match: bool | None = None
    overall_score: float | None = None
    redacted: bool = False
    status: str = "uploaded"

    @classmethod
    def fold(
        cls,
        document_id: str,
        state: DocumentRecord | None,
        event_type: str,
        payload: dict[str, Any],
    ) -> DocumentRecord | None:
        """The document after one more delivery; unknown `document.*` types change nothing."""
        if event_type.removeprefix("document.") not in (*STEPS, "redacted"):
            return state
        state = state or cls(document_id)
        state.apply(event_type, payload)
        return state

    def apply(self, event_type: str, payload: dict[str, Any]) -> None:
        """Fold one `document.*` delivery into the document's state."""
        for name in _FIELDS.get(event_type, ()):
            if payload.get(name) is not None:
                setattr(self, name, payload[name])
        if event_type == "document.extracted":
            extraction = {k: payload.get(k) for k in ("extraction_id", "extraction_type", "status")}
            self.extractions = [
                e for e in self.extractions if e["extraction_id"] != extraction["extraction_id"]
            ]
            self.extractions.append(extraction)
        elif event_type == "document.redacted":
            self.redacted = True
        step = event_type.removeprefix("document.")
        if step in STEPS and STEPS.index(step) > STEPS.index(self.status):
            self.status = step
