"""A manual review case: it follows its latest event until decided (DESIGN §5.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STAGES = {"case.created": "created", "case.claimed": "claimed", "case.escalated": "escalated"}
DECISIONS = {"case.approved": "approved", "case.rejected": "rejected"}


@dataclass
class ReviewCase:
    """Where a review case stands; a decided case is closed and stays decided."""

    case_id: str
    status: str = "created"
    decision: str | None = None
    decision_changed: bool = False
    session_id: str | None = None
    is_sandbox: bool | None = None

    @classmethod
    def fold(
        cls, case_id: str, state: ReviewCase | None, event_type: str, payload: dict[str, Any]
    ) -> ReviewCase | None:
        """The case after one more delivery; other `case.*` types do not open a case."""
        if event_type not in STAGES and event_type not in DECISIONS:
            return state
        state = state or cls(case_id)
        state.apply(event_type, payload)
        return state

    @property
    def is_open(self) -> bool:
        return self.status not in DECISIONS.values()

    def apply(self, event_type: str, payload: dict[str, Any]) -> None:
        """Fold one `case.*` delivery into the case's state."""
        if event_type in DECISIONS:
            outcome = DECISIONS[event_type]
            if not self.is_open and outcome != self.status:
                self.decision_changed = True
            self.status = outcome
            decision = payload.get("decision")
            self.decision = decision if isinstance(decision, str) else outcome
        elif event_type in STAGES and self.is_open:
            self.status = STAGES[event_type]
        if isinstance(payload.get("session_id"), str):
            self.session_id = payload["session_id"]
        if isinstance(payload.get("is_sandbox"), bool):
            self.is_sandbox = payload["is_sandbox"]
