"""Personal data in Verifa payloads (DESIGN §7): where it is, which key protects it, what erases it.

Personal data is kept apart from the rest of a delivery: sealed under a data key
of the session (or document, or stream) it belongs to, so destroying that one key
erases it while the event, its decisions and its other fields stay readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.entries import StreamKey, text_field

# Where Verifa puts personal data: data extracted from identity documents.
# A personal field a future payload adds is listed here.
PERSONAL_FIELDS = (("result", "extracted_data"),)

MASKED = "[masked]"  # what auditors see in place of personal data
SEALED = "[sealed]"  # what the stored public body holds in its place
ERASED = "[erased]"  # what anyone sees once its key is destroyed

# Deliveries that erase the personal data of their session or document.
SESSION_ERASURES = ("session.redacted", "session.retention-expired")
DOCUMENT_ERASURES = ("document.redacted",)
# The ledger's own event for an erasure someone asked for (`ledger erase`).
ERASURE_REQUESTED = "ledger.erasure-requested"


def has_personal_data(payload: Mapping[str, Any]) -> bool:
    for parent, name in PERSONAL_FIELDS:
        container = payload.get(parent)
        if isinstance(container, dict) and container.get(name) is not None:
            return True
    return False


def hide_personal_data(payload: dict[str, Any], marker: str = MASKED) -> dict[str, Any]:
    """A copy of the payload with every personal value replaced by `marker`, keys kept."""
    hidden = dict(payload)
    for parent, name in PERSONAL_FIELDS:
        container = hidden.get(parent)
        if isinstance(container, dict) and container.get(name) is not None:
            value = container[name]
            replaced = {key: marker for key in value} if isinstance(value, dict) else marker
            hidden[parent] = {**container, name: replaced}
    return hidden


def mask_personal_data(payload: dict[str, Any]) -> dict[str, Any]:
    """What auditors see: the payload with personal values masked."""
    return hide_personal_data(payload, MASKED)


def protection_scope(stream: StreamKey, payload: Mapping[str, Any]) -> str:
    """The data key a delivery's personal data is sealed under: its document's, else its
    session's, else its stream's."""
    if stream.type == "document":
        return f"document:{stream.key}"
    session_id = text_field(payload, "session_id")
    if session_id:
        return f"session:{session_id}"
    return f"stream:{stream.id.hex}"


@dataclass(frozen=True)
class ErasureRequest:
    """What a delivery asks to erase: sessions (with their documents), documents, a subject."""

    sessions: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    subject: str | None = None


def erasure_requested(event_type: str, payload: Mapping[str, Any]) -> ErasureRequest | None:
    """The erasure a delivery asks for, if it is one."""
    session_id = text_field(payload, "session_id")
    if event_type in SESSION_ERASURES and session_id:
        return ErasureRequest(sessions=(session_id,))
    document_id = text_field(payload, "document_id")
    if event_type in DOCUMENT_ERASURES and document_id:
        return ErasureRequest(documents=(document_id,))
    if event_type == ERASURE_REQUESTED:
        subject = text_field(payload, "external_ref")
        if session_id or subject:
            return ErasureRequest(sessions=(session_id,) if session_id else (), subject=subject)
    return None
