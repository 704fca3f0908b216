"""A reference model of the ledger's domain rules, written from DESIGN §5.1-5.4 alone.

It is a test oracle: it must not share code (or mistakes) with the product, so it
imports only the standard library. Where the document leaves a detail open, the
model does not guess: the field is either left out of the expectation or allowed
several values (`OneOf`, `Between`), so that only what the document specifies is
compared.

Subjects are external_refs (escaped as `external_ref:<ref>` when one reads like a
generated key) and anonymous applicants, `session:<id>` and `identity:<id>`: the
streams that named them and no subject has taken yet (§5.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

Payload = Mapping[str, object]
Stream = tuple[str, str]  # (aggregate type, key)

# §2 / §5.1: which aggregate each family of event types belongs to, and its id field.
FAMILY_ID: Final = {
    "session": "session_id",
    "identity": "identity_id",
    "check": "check_id",
    "case": "case_id",
    "document": "document_id",
}
# §4, unknown event types: the first present of these names the aggregate.
FALLBACK_ORDER: Final = (
    "external_ref",
    "session_id",
    "check_id",
    "case_id",
    "document_id",
    "identity_id",
)
UNROUTED: Final[Stream] = ("unrouted", "")  # the document names the type, not the key

# §5.2: the session lifecycle.
SESSION_STATUS: Final = {
    "session.created": "created",
    "session.started": "started",
    "session.requires-review": "pending_review",
    "session.approved": "approved",
    "session.declined": "declined",
    "session.expired": "expired",
    "session.resubmission-required": "resubmission_required",
}
OUTCOMES: Final = frozenset({"approved", "declined", "expired", "resubmission_required"})
RANK: Final = {"created": 0, "started": 1, "pending_review": 2}  # every outcome ranks 3
SESSION_ERASURES: Final = frozenset({"session.redacted", "session.retention-expired"})
SESSION_EVENTS: Final = frozenset(SESSION_STATUS) | SESSION_ERASURES

# §5.3 and §5.4: the event types the document gives a meaning to.
SCREENINGS: Final = frozenset({"check.completed", "check.matched"})
MONITORING: Final = frozenset({"check.monitoring.new_hits", "check.monitoring.clear"})
CASE_STATUS: Final = {
    "case.created": "created",
    "case.claimed": "claimed",
    "case.escalated": "escalated",
    "case.approved": "approved",
    "case.rejected": "rejected",
}
CASE_DECISIONS: Final = frozenset({"approved", "rejected"})
DOCUMENT_EVENTS: Final = frozenset(
    {
        "document.uploaded",
        "document.classified",
        "document.extracted",
        "document.verified",
        "document.compared",
        "document.redacted",
    }
)
KNOWN_EVENTS: Final = (
    SESSION_EVENTS
    | SCREENINGS
    | MONITORING
    | frozenset(CASE_STATUS)
    | DOCUMENT_EVENTS
    | frozenset({"identity.created", "identity.updated"})
)


def text(payload: Payload, name: str) -> str | None:
    """A field that is present: a non-empty string (null or absent is not present)."""
    value = payload.get(name)
    return value if isinstance(value, str) and value else None


def number(payload: Payload, name: str) -> int | None:
    value = payload.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


GENERATED_PREFIXES: Final = ("session:", "identity:", "external_ref:")


def subject_named(ref: str) -> str:
    """§5.1: a real reference never names the subject of a generated key."""
    return f"external_ref:{ref}" if ref.startswith(GENERATED_PREFIXES) else ref


def _applicant(payload: Payload, anonymous_by: str) -> Stream:
    """§5.1: the applicant of `external_ref`, else `session:<id>` / `identity:<id>`."""
    ref = text(payload, "external_ref")
    if ref is not None:
        return ("applicant", subject_named(ref))
    prefix = anonymous_by.removesuffix("_id")
    return ("applicant", f"{prefix}:{text(payload, anonymous_by)}")


def _by_field(payload: Payload, name: str) -> Stream:
    if name == "external_ref":
        return _applicant(payload, "session_id")
    if name in ("session_id", "identity_id"):
        return ("applicant", f"{name.removesuffix('_id')}:{text(payload, name)}")
    return (name.removesuffix("_id"), str(text(payload, name)))


def route(payload: Payload) -> Stream:
    """§5.1 for known types; §4's row on unknown types otherwise."""
    event = str(payload.get("event"))
    family = event.split(".")[0]
    family_id = FAMILY_ID.get(family)
    if family_id is not None and text(payload, family_id) is not None:
        if family in ("session", "identity"):
            return _applicant(payload, family_id)
        return (family, str(text(payload, family_id)))
    for name in FALLBACK_ORDER:
        if text(payload, name) is not None:
            return _by_field(payload, name)
    return UNROUTED


# Expectations: what the document lets a field be.


@dataclass(frozen=True)
class OneOf:
    """The document allows any of these values here (it leaves the choice open)."""

    values: frozenset[object]


@dataclass(frozen=True)
class Between:
    """A set-valued field: at least these members, at most those (order is never specified)."""

    at_least: frozenset[str]
    at_most: frozenset[str]


Expected = dict[str, object]  # path -> exact value | OneOf | Between; unspecified paths absent
MISSING: Final = "<missing>"


def mismatches(expected: Mapping[str, object], actual: Mapping[str, object]) -> list[str]:
    """Every path where `actual` is not what `expected` allows."""
    found = []
    for path, allowed in sorted(expected.items()):
        value = actual.get(path, MISSING)
        if isinstance(allowed, OneOf):
            ok = value in allowed.values
        elif isinstance(allowed, Between):
            ok = isinstance(value, frozenset) and allowed.at_least <= value <= allowed.at_most
        else:
            ok = value == allowed and type(value) is type(allowed)
        if not ok:
            found.append(f"{path}: expected {allowed!r}, got {value!r}")
    return found


def allow(values: Iterable[object]) -> object:
    """One value when the document fixes it, else every value it allows."""
    distinct = frozenset(values)
    return next(iter(distinct)) if len(distinct) == 1 else OneOf(distinct)


# The folds of §5.2-5.4, over one subject's history in position order.


@dataclass
class SessionState:
    session_id: str
    status: str = "created"  # the bottom of the rank: a session that appears was created
    decision_changed: bool = False
    erased: bool = False
    reasons: set[str | None] = field(default_factory=set)  # of the current run of one outcome

    def apply(self, event: str, payload: Payload) -> None:
        if event in SESSION_ERASURES:
            self.erased = True
        new = SESSION_STATUS.get(event)
        if new is None:
            return  # erasures and unknown session.* types leave the status alone
        if new in OUTCOMES:
            reason = text(payload, "rejection_reason") or text(payload, "reason")
            if self.status in OUTCOMES and self.status != new:
                self.decision_changed = True
                self.reasons = set()
            elif self.status not in OUTCOMES:
                self.reasons = set()
            self.status = new
            self.reasons.add(reason)
        elif self.status not in OUTCOMES and RANK[new] > RANK[self.status]:
            self.status = new

    def expected_reason(self) -> object | None:
        """The reason an outcome gave; None when the document does not fix it."""
        if self.status not in OUTCOMES or None in self.reasons:
            return None
        return allow(self.reasons)


UNKNOWN: Final = object()  # a check's count or hit state the document leaves open


@dataclass
class CheckState:
    check_id: str
    known: bool = False  # a documented check.* event was recorded
    check_type: str | None = None
    reported: str | None = None  # the status the latest completed/matched reported
    implied: set[object] = field(default_factory=set)  # the status the latest count implies
    total: int | object | None = None  # None: never reported; UNKNOWN: left open
    has_hits: bool | object = False
    pep_risk_tier: set[object] = field(default_factory=lambda: {None})
    pep_classes: set[object] = field(default_factory=lambda: {None})

    def apply(self, event: str, payload: Payload) -> None:
        if event in SCREENINGS:
            self.known = True
            self.check_type = text(payload, "check_type") or self.check_type
            status = self.reported = text(payload, "status")
            self.implied = {status}
            hits = number(payload, "hit_count")
            self.total = hits if hits is not None else UNKNOWN
            self.has_hits = hits > 0 if hits is not None else status == "hit"
            tier, classes = payload.get("pep_risk_tier"), payload.get("pep_classes")
            # "Kept on the check": the latest given; whether an absent one clears it is open.
            self.pep_risk_tier = {tier} if tier is not None else self.pep_risk_tier | {None}
            self.pep_classes = (
                {_hashable(classes)} if classes is not None else self.pep_classes | {None}
            )
        elif event in MONITORING:
            self.known = True
            total = number(payload, "total_hit_count")
            # Whether a run's "clears it" also sets the check's clear/hit status is open: the
            # latest status is either the last one reported or the one the latest count implies.
            if total is not None:
                self.total, self.has_hits = total, total > 0
                self.implied = {"hit" if total > 0 else "clear"}
            elif (number(payload, "new_hit_count") or 0) > 0 and self.has_hits is not True:
                # New hits without a total on a check without hits: left open. (With hits, its
                # unchanged positive total or hit status still says it has them.)
                self.has_hits = UNKNOWN
                self.implied.add("hit")

    def expectation(self, prefix: str) -> Expected:
        expected: Expected = {f"{prefix}.check_type": self.check_type}
        expected[f"{prefix}.status"] = allow({self.reported, *self.implied})
        if self.has_hits is not UNKNOWN:
            expected[f"{prefix}.has_hits"] = self.has_hits
        if self.total is not UNKNOWN and self.total is not None:
            expected[f"{prefix}.total_hit_count"] = self.total
        expected[f"{prefix}.pep_risk_tier"] = allow(self.pep_risk_tier)
        expected[f"{prefix}.pep_classes"] = allow(self.pep_classes)
        return expected


@dataclass
class CaseState:
    case_id: str
    known: bool = False
    status: str | None = None
    decision: str | None = None
    decision_changed: bool = False

    def apply(self, event: str, payload: Payload) -> None:
        new = CASE_STATUS.get(event)
        if new is None:
            return
        self.known = True
        if new in CASE_DECISIONS:
            decision = text(payload, "decision") or new
            if self.decision is not None and decision != self.decision:
                self.decision_changed = True
            self.status, self.decision = new, decision
        elif self.status not in CASE_DECISIONS:  # a decided case stays decided
            self.status = new


@dataclass
class DocumentState:
    document_id: str
    known: bool = False
    document_type: str | None = None
    classification: set[object] = field(default_factory=lambda: {None})
    extractions: set[str] = field(default_factory=set)
    verification: tuple[object, object, object] = (None, None, None)
    comparison: tuple[object, object, object] = (None, None, None)
    redacted: bool = False

    def apply(self, event: str, payload: Payload) -> None:
        if event not in DOCUMENT_EVENTS:
            return
        self.known = True
        if event == "document.uploaded":
            self.document_type = text(payload, "document_type")
            if (classification := text(payload, "classification")) is not None:
                # Whether an upload's classification beats an earlier `classified` is open.
                self.classification = (self.classification - {None}) | {classification}
        elif event == "document.classified":
            self.classification = {text(payload, "classification")}
        elif event == "document.extracted":
            self.extractions.add(str(text(payload, "extraction_id")))
        elif event == "document.verified":
            get = payload.get
            self.verification = (get("checks_run"), get("checks_passed"), get("checks_failed"))
        elif event == "document.compared":
            get = payload.get
            self.comparison = (get("reference_document_id"), get("is_match"), get("overall_score"))
        elif event == "document.redacted":
            self.redacted = True

    def expectation(self, prefix: str) -> Expected:
        names = ("checks_run", "checks_passed", "checks_failed")
        expected: Expected = {
            f"{prefix}.{n}": v for n, v in zip(names, self.verification, strict=True)
        }
        names = ("reference_document_id", "is_match", "overall_score")
        expected |= {f"{prefix}.{n}": v for n, v in zip(names, self.comparison, strict=True)}
        return expected | {
            f"{prefix}.document_type": self.document_type,
            f"{prefix}.classification": allow(self.classification),
            f"{prefix}.extraction_ids": frozenset(self.extractions),
            f"{prefix}.redacted": self.redacted,
        }


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


# The ledger as the model sees it: entries, links, and the status of each subject.


@dataclass(frozen=True)
class Entry:
    position: int
    stream: Stream
    payload: Payload

    @property
    def event(self) -> str:
        return str(self.payload.get("event"))


class ReferenceLedger:
    """Entries recorded in position order; every read is as of the last one recorded."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.subject_of: dict[Stream, str] = {}  # first link of a stream wins
        self.tie: dict[str, str] = {}  # session -> external_ref; first tie wins
        self.mentions: dict[str, list[Stream]] = {}  # streams that named a session
        self.first_session_event: dict[str, int] = {}  # ledger-wide appearance of a session
        # §7: where each session's and each document's personal data was first erased, and
        # where each stream first named each session.
        self.session_erasures: dict[str, int] = {}
        self.document_erasures: dict[str, int] = {}
        self.named_at: dict[tuple[str, Stream], int] = {}

    def record(self, position: int, payload: Payload) -> Entry:
        """Learn the entry's links as §5.1 says, at its own position."""
        assert not self.entries or position > self.entries[-1].position
        entry = Entry(position, route(payload), payload)
        self.entries.append(entry)
        ref, session = text(payload, "external_ref"), text(payload, "session_id")
        ref = None if ref is None else subject_named(ref)
        if ref is not None:  # its own external_ref, even if its session is tied elsewhere
            self.subject_of.setdefault(entry.stream, ref)
        if session is not None:
            mentioned = self.mentions.setdefault(session, [])
            if entry.stream not in mentioned:
                mentioned.append(entry.stream)
            self.named_at.setdefault((session, entry.stream), position)
            if ref is not None:
                self.tie.setdefault(session, ref)
            if session in self.tie:  # every stream that named it, earlier events included
                for stream in mentioned:
                    self.subject_of.setdefault(stream, self.tie[session])
            if entry.event.startswith("session."):
                self.first_session_event.setdefault(session, position)
            if entry.event in SESSION_ERASURES:
                self.session_erasures.setdefault(session, position)
        if entry.event == "document.redacted" and entry.stream[0] == "document":
            self.document_erasures.setdefault(entry.stream[1], position)
        return entry

    def subjects(self) -> set[str]:
        return set(self.subject_of.values())

    def personal_data_erased(self, position: int, payload: Payload) -> bool | None:
        """§7, as of the last entry recorded: whether the personal data of the delivery at
        `position` is erased (True), still readable (False), or either (None: where the
        document leaves it open).

        Its own session's erasure erases it, before or after it arrived. A document's is
        erased by the document's erasure, and by the erasure of a session that named the
        document: certainly when the session named it before its erasure (the erasure
        covers the session's documents), or when both came before the delivery (it arrives
        for an erased session's document); when the session named it only after its
        erasure, earlier personal data of the document may or may not be kept readable.
        """
        session = text(payload, "session_id")
        if session is not None and session in self.session_erasures:
            return True
        kind, key = route(payload)
        if kind != "document":
            return False
        if key in self.document_erasures:
            return True
        open_question = False
        for (named, stream), named_at in self.named_at.items():
            erased_at = self.session_erasures.get(named)
            if stream != (kind, key) or erased_at is None:
                continue
            if named_at < erased_at or (named_at < position and erased_at < position):
                return True
            open_question = True
        return None if open_question else False

    def history(self, subject: str) -> list[Entry]:
        """The subject's history as of now: every entry of every stream linked to it; for an
        anonymous applicant, of every stream that named it and is linked to no subject."""
        if subject.startswith(("session:", "identity:")):
            named = set(self.mentions.get(subject.removeprefix("session:"), []))
            if subject.startswith("identity:"):
                named = set()
            named.add(("applicant", subject))
            return [e for e in self.entries
                    if e.stream in named and e.stream not in self.subject_of]  # fmt: skip
        return [e for e in self.entries if self.subject_of.get(e.stream) == subject]

    def timeline(self, subject: str) -> list[int] | None:
        positions = [e.position for e in self.history(subject)]
        return positions or None

    def status(self, subject: str) -> Expected | None:
        """What the document says the subject's status is, as far as it says it."""
        history = self.history(subject)
        if not history:
            return None
        expected: Expected = {"subject": subject}
        expected |= self._verification(subject, history)
        expected |= self._screening(history)
        expected |= self._cases(history)
        expected |= self._documents(history)
        return expected

    # §5.2

    def _verification(self, subject: str, history: list[Entry]) -> Expected:
        sessions: dict[str, SessionState] = {}
        appeared: dict[str, int] = {}
        for entry in history:
            session = text(entry.payload, "session_id")
            if entry.event.startswith("session.") and session is not None:
                appeared.setdefault(session, entry.position)
                sessions.setdefault(session, SessionState(session)).apply(
                    entry.event, entry.payload
                )
        expected: Expected = {"sessions": Between(frozenset(sessions), frozenset(sessions))}
        for state in sessions.values():
            prefix = f"sessions[{state.session_id}]"
            expected[f"{prefix}.status"] = state.status
            expected[f"{prefix}.decision_changed"] = state.decision_changed
            expected[f"{prefix}.erased"] = state.erased
        if not sessions:
            expected |= {
                "verification.status": "none",
                "verification.session_id": None,
                "verification.decision_changed": False,
                "verification.reason": None,
            }
        else:
            # "First appeared in the ledger" may mean the ledger as a whole or this
            # subject's history; they differ only when a session is delivered under
            # two subjects, and the document does not say which one it means.
            candidates = {
                max(sessions, key=lambda s: appeared[s]),
                max(sessions, key=lambda s: self.first_session_event[s]),
            }
            current = [sessions[s] for s in candidates]
            expected |= {
                "verification.session_id": allow(candidates),
                "verification.status": allow(s.status for s in current),
                "verification.decision_changed": allow(s.decision_changed for s in current),
            }
            reasons = [s.expected_reason() for s in current]
            if len(current) == 1 and reasons[0] is not None:
                expected["verification.reason"] = reasons[0]
        expected |= self._identity(subject, history)
        return expected

    def _identity(self, subject: str, history: list[Entry]) -> Expected:
        """identity_id is an attribute; shared identities list the other external_refs."""
        mine = {text(e.payload, "identity_id") for e in history} - {None}
        named = any(
            e.event in KNOWN_EVENTS
            and e.event.split(".")[0] in ("session", "identity")
            and text(e.payload, "identity_id") is not None
            for e in history
        )
        # Which of several identities is "the" identity_id is not specified.
        identity = OneOf(frozenset(mine) | (frozenset() if named else frozenset({None})))
        # Surely shared: the identity came under both external_refs in their own applicant
        # streams. Possibly shared: any payload naming both, or any linked history naming it.
        sure: set[tuple[str, str]] = set()
        maybe: set[tuple[str, str]] = set()
        for entry in self.entries:
            ident, ref = text(entry.payload, "identity_id"), text(entry.payload, "external_ref")
            if ident is None:
                continue
            ref = None if ref is None else subject_named(ref)
            if ref is not None:
                maybe.add((ident, ref))
                if entry.stream == ("applicant", ref):
                    sure.add((ident, ref))
            if (owner := self.subject_of.get(entry.stream)) is not None:
                maybe.add((ident, owner))

        def others(pairs: set[tuple[str, str]]) -> frozenset[str]:
            own = {i for i, r in pairs if r == subject}
            return frozenset(r for i, r in pairs if i in own and r != subject)

        return {
            "verification.identity_id": identity,
            "verification.shared_identity_with": Between(others(sure), others(maybe)),
        }

    # §5.3

    def _screening(self, history: list[Entry]) -> Expected:
        checks: dict[str, CheckState] = {}
        restricted: set[bool] = {False}
        for entry in history:
            kind, key = entry.stream
            if kind == "check":
                checks.setdefault(key, CheckState(key)).apply(entry.event, entry.payload)
            if entry.event == "check.monitoring.new_hits" and kind == "check":
                hit_types = entry.payload.get("hit_types")
                if isinstance(hit_types, list) and "sanction" in hit_types:
                    new = number(entry.payload, "new_hit_count") or 0
                    # A run of zero new hits may or may not "report new hits".
                    restricted = {True} if new > 0 else restricted | {True}
            if entry.event == "case.approved" and kind == "case":
                restricted = {False}
        known = [c for c in checks.values() if c.known]
        expected: Expected = {
            "aml.checks": Between(frozenset(c.check_id for c in known), frozenset(checks)),
            "aml.restricted": allow(restricted),
        }
        for check in known:
            expected |= check.expectation(f"aml.checks[{check.check_id}]")
        hits = {c.has_hits for c in known}
        if True in hits:
            expected["aml.status"] = "hit"
        elif UNKNOWN in hits:
            expected["aml.status"] = OneOf(frozenset({"hit", "clear"}))
        elif known:
            expected["aml.status"] = "clear"
        elif checks:  # only undocumented check.* events: whether that is "a check" is open
            expected["aml.status"] = OneOf(frozenset({"unscreened", "clear"}))
        else:
            expected["aml.status"] = "unscreened"
        open_checks = [c for c in known if c.has_hits is not False]
        if all(c.has_hits is True and isinstance(c.total, int) for c in open_checks):
            expected["aml.open_hit_count"] = sum(c.total for c in open_checks)  # type: ignore[misc]
        return expected

    # §5.4

    def _cases(self, history: list[Entry]) -> Expected:
        cases: dict[str, CaseState] = {}
        for entry in history:
            kind, key = entry.stream
            if kind == "case":
                cases.setdefault(key, CaseState(key)).apply(entry.event, entry.payload)
        known = [c for c in cases.values() if c.known]
        expected: Expected = {
            "cases": Between(frozenset(c.case_id for c in known), frozenset(cases))
        }
        for case in known:
            prefix = f"cases[{case.case_id}]"
            expected[f"{prefix}.status"] = case.status
            expected[f"{prefix}.decision"] = case.decision
            expected[f"{prefix}.decision_changed"] = case.decision_changed
        return expected

    def _documents(self, history: list[Entry]) -> Expected:
        documents: dict[str, DocumentState] = {}
        for entry in history:
            kind, key = entry.stream
            if kind == "document":
                documents.setdefault(key, DocumentState(key)).apply(entry.event, entry.payload)
        known = [d for d in documents.values() if d.known]
        expected: Expected = {
            "documents": Between(frozenset(d.document_id for d in known), frozenset(documents))
        }
        for document in known:
            expected |= document.expectation(f"documents[{document.document_id}]")
        return expected


def status_paths(served: Mapping[str, object]) -> dict[str, object]:
    """A status document as the API serves it (DESIGN §6), as the model's paths: lists become
    sets (their order is not specified), each row's fields a path of its own."""
    status: Mapping[str, Any] = served
    verification = status["verification"]
    flat: dict[str, object] = {"subject": status["subject"]}
    flat |= {f"verification.{k}": v for k, v in verification.items()}
    flat["verification.shared_identity_with"] = frozenset(verification["shared_identity_with"])
    flat |= {f"aml.{k}": status["aml"][k] for k in ("status", "restricted", "open_hit_count")}
    for path, key, rows in (
        ("aml.checks", "check_id", status["aml"]["checks"]),
        ("cases", "case_id", status["cases"]),
        ("sessions", "session_id", status["sessions"]),
        ("documents", "document_id", status["documents"]),
    ):
        flat[path] = frozenset(row[key] for row in rows)
        for row in rows:
            fields = dict(row)
            if path == "sessions":
                fields["erased"] = row["erased"] is not None
            if path == "documents":
                fields["extraction_ids"] = frozenset(x["extraction_id"] for x in row["extractions"])
            flat |= {f"{path}[{row[key]}].{k}": _hashable(v) for k, v in fields.items()}
    return flat
