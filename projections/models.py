"""The ledger's read models: subject status, sessions, checks, cases and documents.

The review queue (sessions pending review, open cases) and the alerts
(monitoring hits, restricted subjects) are queries over these tables.
"""

from __future__ import annotations

from ledger import reads
from ledger.history import AsOf, History
from projections.read_model import Batch, ReadModel, Row


class SubjectStatusModel(ReadModel):
    """Verification and AML status per subject; flagged when the subject is restricted."""

    name = "subject_status"
    version = 1
    kind = "subject"

    def touched_keys(self, batch: Batch) -> set[str]:
        """Subjects with new entries, new links, or a newly shared identity."""
        keys = {entry.subject for entry in batch.entries if entry.subject}
        keys.update(subject for _, subject in batch.links.stream_subjects)
        keys.update(batch.links.identity_subjects)
        return keys

    def compute(self, history: History, key: str, as_of: AsOf) -> Row | None:
        doc = reads.subject_status(history, key, as_of)
        if doc is None:
            return None
        return Row(key, key, doc["verification"]["status"], doc["aml"]["restricted"], doc)


class _StreamModel(ReadModel):
    """Entities that are streams of their own: checks, cases, documents."""

    def touched_keys(self, batch: Batch) -> set[str]:
        keys = {e.stream.key for e in batch.entries if e.stream.type == self.kind}
        keys.update(
            stream.key for stream, _ in batch.links.stream_subjects if stream.type == self.kind
        )
        return keys

    def compute(self, history: History, key: str, as_of: AsOf) -> Row | None:
        doc = reads.ENTITY_READS[self.kind](history, key, as_of)
        if doc is None:
            return None
        return Row(key, doc["subject"], self.status_of(doc), self.flag(doc), doc)

    def status_of(self, doc: dict[str, object]) -> str | None:
        status = doc.get("status")
        return status if isinstance(status, str) else None

    def flag(self, doc: dict[str, object]) -> bool:
        return False


class CheckModel(_StreamModel):
    """AML checks; flagged while hits that monitoring found are still open."""

    name = "checks"
    version = 1
    kind = "check"

    def flag(self, doc: dict[str, object]) -> bool:
        return bool(doc["open_monitoring_hits"])


class CaseModel(_StreamModel):
    """Review cases; status `open` or `closed` for the queue."""

    name = "cases"
    version = 1
    kind = "case"

    def status_of(self, doc: dict[str, object]) -> str | None:
        return "open" if doc["is_open"] else "closed"


class DocumentModel(_StreamModel):
    name = "documents"
    version = 1
    kind = "document"


class SessionModel(ReadModel):
    """Sessions across the applicant streams they appear in."""

    name = "sessions"
    version = 1
    kind = "session"

    def touched_keys(self, batch: Batch) -> set[str]:
        keys = {
            e.session_id for e in batch.entries if e.session_id and e.stream.type == "applicant"
        }
        keys.update(session_id for session_id, _ in batch.links.session_subjects)
        return keys

    def compute(self, history: History, key: str, as_of: AsOf) -> Row | None:
        doc = reads.session_state(history, key, as_of)
        if doc is None:
            return None
        return Row(key, doc["subject"], doc["status"], False, doc)


SUBJECT_STATUS = SubjectStatusModel()
SESSIONS = SessionModel()
CHECKS = CheckModel()
CASES = CaseModel()
DOCUMENTS = DocumentModel()
READ_MODELS: list[ReadModel] = [SUBJECT_STATUS, SESSIONS, CHECKS, CASES, DOCUMENTS]
