"""What the ledger knows about one subject: the fold of its history in position order.

A subject's history is its own applicant stream plus every stream linked to it
(DESIGN §5.1). Folding that history, entry by entry, with the same rules the
aggregates use, gives the subject's status as of the last entry folded. The
live projections and the as-of reads both call this fold, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.cases import ReviewCase
from domain.documents import DocumentRecord
from domain.entries import LedgerEntry
from domain.screening import Screening
from domain.sessions import Session, is_session_event


@dataclass
class SubjectStatus:
    """The verification, AML and review picture of one subject."""

    subject: str
    sessions: dict[str, Session] = field(default_factory=dict)
    checks: dict[str, Screening] = field(default_factory=dict)
    cases: dict[str, ReviewCase] = field(default_factory=dict)
    documents: dict[str, DocumentRecord] = field(default_factory=dict)
    current_session_id: str | None = None
    identity_id: str | None = None
    restricted: bool = False
    shared_identity_with: list[str] = field(default_factory=list)

    @property
    def current_session(self) -> Session | None:
        """The session that first appeared latest; a later update of an older one does not count."""
        return self.sessions.get(self.current_session_id or "")

    @property
    def verification_status(self) -> str:
        session = self.current_session
        return session.status if session else "none"

    @property
    def aml_status(self) -> str:
        if not self.checks:
            return "unscreened"
        return "hit" if any(check.has_hits for check in self.checks.values()) else "clear"

    @property
    def open_hit_count(self) -> int:
        return sum(check.open_hits for check in self.checks.values())

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one entry of the subject's history (entries must come in position order)."""
        key, event_type, payload = entry.stream.key, entry.event_type, entry.payload
        if entry.stream.type == "applicant":
            self._applicant_event(entry)
        elif entry.stream.type == "check":
            check = Screening.fold(key, self.checks.get(key), event_type, payload)
            if check:
                self.checks[key] = check
                if event_type == "check.monitoring.new_hits" and check.sanction_hit:
                    self.restricted = True
        elif entry.stream.type == "case":
            case = ReviewCase.fold(key, self.cases.get(key), event_type, payload)
            if case:
                self.cases[key] = case
                if event_type == "case.approved":
                    self.restricted = False
        elif entry.stream.type == "document":
            document = DocumentRecord.fold(key, self.documents.get(key), event_type, payload)
            if document:
                self.documents[key] = document

    def _applicant_event(self, entry: LedgerEntry) -> None:
        session_id = entry.text("session_id")
        if is_session_event(entry.event_type) and session_id:
            if session_id not in self.sessions:
                self.sessions[session_id] = Session(session_id)
                self.current_session_id = session_id
            self.sessions[session_id].apply(entry.event_type, entry.payload)
        self.identity_id = entry.text("identity_id") or self.identity_id


def fold_subject(
    subject: str, history: Iterable[LedgerEntry], shared_identity_with: Iterable[str] = ()
) -> SubjectStatus:
    """The subject's status after its history (position order)."""
    status = SubjectStatus(subject, shared_identity_with=sorted(shared_identity_with))
    for entry in history:
        status.apply(entry)
    return status


def fold_session(session_id: str, history: Iterable[LedgerEntry]) -> Session:
    """A session's state after its `session.*` entries (position order)."""
    session = Session(session_id)
    for entry in history:
        session.apply(entry.event_type, entry.payload)
    return session
