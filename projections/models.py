"""The ledger's read models: subject status, sessions, checks, cases and documents,
and what needs attention: the review queue and the alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from application.reading import reconstruct
from application.reading.history import History
from application.reading.views import session_view, subject_view
from application.storage.entry_feed import EntrySummary
from domain.entries import AsOf, LedgerEntry, StreamKey
from domain.routing import is_anonymous
from domain.sessions import Session
from domain.subject import SubjectStatus
from projections.read_model import NOT_CARRIED, Batch, NotCarried, ReadModel, Row


class SubjectStatusModel(ReadModel):
    """Verification and AML status per subject; flagged when the subject is restricted."""

    name = "subject_status"
    version = 1
    kind = "subject"

    def touched_keys(self, batch: Batch) -> set[str]:
        """Subjects with new entries, new links, or a newly shared identity, and anonymous
        subjects whose streams a link took."""
        keys = {entry.subject for entry in batch.entries if entry.subject}
        keys.update(key for entry in batch.entries for key in entry.anonymous)
        keys.update(subject for _, subject in batch.links.stream_subjects)
        keys.update(batch.links.identity_subjects)
        keys.update(batch.links.left_anonymous)
        return keys

    def fold(self, history: History, key: str, as_of: AsOf) -> SubjectStatus | None:
        return reconstruct.subject_fold(history, key, as_of)

    def entry_keys(self, entry: EntrySummary) -> tuple[str, ...]:
        return (entry.subject,) if entry.subject else entry.anonymous

    def carry(
        self, key: str, before: SubjectStatus | None,
        entries: list[LedgerEntry], batch: Batch,
    ) -> SubjectStatus | NotCarried | None:  # fmt: skip
        """A subject's history grows by its streams' new entries, unless a stream with
        entries before the batch joined it (they come first), or it is anonymous (its streams
        join and leave it with their past) and the batch is not the ledger's first."""
        if key in batch.rejoined or (is_anonymous(key) and batch.after > 0):
            return NOT_CARRIED
        if before is None and not entries:
            return None  # no stream of its yet
        status = before or SubjectStatus(key)
        if key in batch.identities_shared:  # else its identities' subjects are as before
            status.shared_identity_with = list(batch.shared_identities[key])
        for entry in entries:
            status.apply(entry)
        return status

    def row(self, key: str, fold: SubjectStatus | None) -> Row | None:
        if fold is None:
            return None
        doc = subject_view(fold)
        return Row(key, key, doc["verification"]["status"], doc["aml"]["restricted"], doc)


@dataclass
class Linked:
    """A fold with the subject its row names (sessions, checks, cases, documents)."""

    state: Any  # None before the first entry that makes one
    subject: str | None


class _StreamModel(ReadModel):
    """Entities that are streams of their own: checks, cases, documents."""

    def touched_keys(self, batch: Batch) -> set[str]:
        keys = {e.stream.key for e in batch.entries if e.stream.type == self.kind}
        keys.update(
            stream.key for stream, _ in batch.links.stream_subjects if stream.type == self.kind
        )
        return keys

    def fold(self, history: History, key: str, as_of: AsOf) -> Linked:
        stream = StreamKey(self.kind, key)  # type: ignore[arg-type]
        return Linked(reconstruct.entity_fold(history, self.kind, key, as_of),
                      history.links.stream_subject(stream, as_of))  # fmt: skip

    def entry_keys(self, entry: EntrySummary) -> tuple[str, ...]:
        return (entry.stream.key,) if entry.stream.type == self.kind else ()

    def carry(self, key: str, before: Linked | None,
              entries: list[LedgerEntry], batch: Batch) -> Linked:  # fmt: skip
        """The stream's state after its new entries, with its subject if the batch linked it."""
        folded = before or Linked(None, None)
        fold = reconstruct.ENTITIES[self.kind].fold
        state = folded.state
        for entry in entries:
            state = fold(key, state, entry.event_type, entry.payload)
        subject = batch.linked_streams.get(StreamKey(self.kind, key), folded.subject)  # type: ignore[arg-type]
        return Linked(state, subject)

    def row(self, key: str, fold: Linked | None) -> Row | None:
        if fold is None or fold.state is None:
            return None
        doc = reconstruct.ENTITIES[self.kind].view(fold.state, fold.subject)
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

    def fold(self, history: History, key: str, as_of: AsOf) -> Linked:
        return Linked(reconstruct.session_fold(history, key, as_of),
                      history.links.session_subject(key, as_of))  # fmt: skip

    def entry_keys(self, entry: EntrySummary) -> tuple[str, ...]:
        return (entry.session_id,) if entry.session_id and entry.stream.type == "applicant" else ()

    def carry(self, key: str, before: Linked | None,
              entries: list[LedgerEntry], batch: Batch) -> Linked:  # fmt: skip
        """The session after its new `session.*` entries, with its subject if the batch tied
        it (a session is tied once)."""
        folded = before or Linked(None, None)
        session = folded.state
        for entry in entries:
            session = session or Session(key)
            session.apply(entry.event_type, entry.payload)
        subject = batch.tied_sessions.get(key, folded.subject)
        return Linked(session, subject)

    def row(self, key: str, fold: Linked | None) -> Row | None:
        if fold is None or fold.state is None:
            return None
        doc = session_view(fold.state, fold.subject)
        return Row(key, doc["subject"], doc["status"], False, doc)


Known = Mapping[tuple[ReadModel, str], Row | None]  # rows already computed, by (model, key)


class AttentionModel(ReadModel):
    """Rows of other read models that need someone's attention, under one name and version.

    Each part is another model and the test of its rows; a row's `status` names
    its part and `flagged` says whether it needs attention now.
    """

    kind = "attention"
    parts: dict[str, tuple[ReadModel, Callable[[Row], bool]]]

    def touched_keys(self, batch: Batch) -> set[str]:
        return {f"{part}:{key}" for part, (model, _) in self.parts.items()
                for key in model.touched_keys(batch)}  # fmt: skip

    def compute(self, history: History, key: str, as_of: AsOf) -> Row | None:
        return self.compose(history, key, as_of, {})

    def compose(self, history: History, key: str, as_of: AsOf, known: Known) -> Row | None:
        """The row for `key`, from its part's row: one of `known` (computed for the same
        batch by the part's own model), else computed now."""
        part, _, inner = key.partition(":")
        model, needs_attention = self.parts[part]
        if (model, inner) in known:
            row = known[(model, inner)]
        else:
            row = model.compute(history, inner, as_of)
        return Row(key, row.subject, part, needs_attention(row), row.doc) if row else None

    def rows_as_of(self, history: History, as_of: AsOf) -> list[Row]:
        return [row for part, (model, _) in self.parts.items()
                for key in sorted(history.feed.keys_seen(model.kind, as_of))
                if (row := self.compute(history, f"{part}:{key}", as_of))]  # fmt: skip


class ReviewQueueModel(AttentionModel):
    """Sessions pending manual review and cases not yet decided."""

    name = "review_queue"
    version = 1

    def __init__(self, sessions: ReadModel, cases: ReadModel) -> None:
        self.parts = {
            "session": (sessions, lambda row: row.status == "pending_review"),
            "case": (cases, lambda row: row.status == "open"),
        }


class AlertsModel(AttentionModel):
    """Checks whose monitoring hits are still open, and restricted subjects."""

    name = "alerts"
    version = 1

    def __init__(self, checks: ReadModel, subjects: ReadModel) -> None:
        self.parts = {
            "check": (checks, lambda row: row.flagged),
            "subject": (subjects, lambda row: row.flagged),
        }


SUBJECT_STATUS = SubjectStatusModel()
SESSIONS = SessionModel()
CHECKS = CheckModel()
CASES = CaseModel()
DOCUMENTS = DocumentModel()
REVIEW_QUEUE = ReviewQueueModel(SESSIONS, CASES)
ALERTS = AlertsModel(CHECKS, SUBJECT_STATUS)
READ_MODELS: list[ReadModel] = [
    SUBJECT_STATUS, SESSIONS, CHECKS, CASES, DOCUMENTS, REVIEW_QUEUE, ALERTS,
]  # fmt: skip
