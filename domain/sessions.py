"""The lifecycle of one verification session (DESIGN §5.2).

Webhooks arrive at least once and in any order, so the rules are built to be
order-tolerant: progress never moves a session backwards, and only a different
outcome changes a decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROGRESS = {
    "session.created": "created",
    "session.started": "started",
    "session.requires-review": "pending_review",
}
OUTCOMES = {
    "session.approved": "approved",
    "session.declined": "declined",
    "session.expired": "expired",
    "session.resubmission-required": "resubmission_required",
}
ERASURES = {"session.redacted": "redacted", "session.retention-expired": "retention_expired"}
RANK = {"created": 0, "started": 1, "pending_review": 2}


def is_session_event(event_type: str) -> bool:
    """Every `session.*` type, known or not, belongs to its session (a session appears with it)."""
    return event_type.startswith("session.")


@dataclass
class Session:
    """What the ledger knows of one session: its status and how its decision came about."""

    session_id: str
    status: str = "created"
    decision_changed: bool = False
    reason: str | None = None
    identity_id: str | None = None
    is_sandbox: bool | None = None
    erased: str | None = None
    decisions: list[str] = field(default_factory=list)

    @property
    def is_decided(self) -> bool:
        return self.status in OUTCOMES.values()

    def apply(self, event_type: str, payload: dict[str, Any]) -> None:
        """Fold one `session.*` delivery into the session's state."""
        if event_type in PROGRESS:
            self._progress(PROGRESS[event_type])
        elif event_type in OUTCOMES:
            self._decide(OUTCOMES[event_type], payload)
        elif event_type in ERASURES:
            self.erased = ERASURES[event_type]
        identity_id = payload.get("identity_id")
        if isinstance(identity_id, str) and identity_id:
            self.identity_id = identity_id
        if isinstance(payload.get("is_sandbox"), bool):
            self.is_sandbox = payload["is_sandbox"]

    def _progress(self, status: str) -> None:
        if not self.is_decided and RANK[status] > RANK[self.status]:
            self.status = status

    def _decide(self, outcome: str, payload: dict[str, Any]) -> None:
        if outcome == self.status:
            return  # the same decision delivered again is not a change
        if self.is_decided:
            self.decision_changed = True
        self.status = outcome
        self.decisions.append(outcome)
        reason = payload.get("rejection_reason", payload.get("reason"))
        self.reason = reason if isinstance(reason, str) else None
