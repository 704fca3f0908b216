"""Pydantic models of the API's answers: the contract in DESIGN §4 and §6, in OpenAPI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AsOfModel(BaseModel):
    """The prefix of the ledger an answer reflects."""

    position: int
    recorded_at: str | None


class DeliveryAnswer(BaseModel):
    status: Literal["recorded", "duplicate", "quarantined"]
    position: int | None = None
    id: str | None = None


class AggregateRef(BaseModel):
    type: str
    id: str


class TimelineEvent(BaseModel):
    position: int
    recorded_at: str
    event: str
    idempotency_key: str
    aggregate: AggregateRef
    payload: dict[str, Any]


class Timeline(BaseModel):
    subject: str
    as_of: AsOfModel
    events: list[TimelineEvent]
    next_cursor: str | None


class StatusChange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    path: str  # `verification.status`, `aml.checks["chk_1"].status`
    from_: Any = Field(alias="from")  # null for an item that is new
    to: Any


class SubjectChanges(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    subject: str
    from_: AsOfModel = Field(alias="from")
    to: AsOfModel
    events: list[TimelineEvent]  # from < position <= to, a page at a time
    status_changes: list[StatusChange]  # applied to the status at `from`, the status at `to`
    next_cursor: str | None


class Verification(BaseModel):
    status: str
    session_id: str | None
    identity_id: str | None
    decision_changed: bool
    reason: str | None
    shared_identity_with: list[str]


class Aml(BaseModel):
    status: Literal["unscreened", "clear", "hit"]
    restricted: bool
    open_hit_count: int
    checks: list[dict[str, Any]]


class SubjectStatus(BaseModel):
    subject: str
    as_of: AsOfModel
    verification: Verification
    aml: Aml
    cases: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    documents: list[dict[str, Any]]


class Entity(BaseModel):
    """A session, check, case or document: at least `status` and its `subject`."""

    model_config = {"extra": "allow"}

    as_of: AsOfModel
    status: str | None
    subject: str | None


class ReviewQueue(BaseModel):
    as_of: AsOfModel
    sessions: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    next_cursor: str | None  # null once every part is done


class Alerts(BaseModel):
    as_of: AsOfModel
    monitoring_hits: list[dict[str, Any]]
    restricted_subjects: list[dict[str, Any]]
    next_cursor: str | None  # null once every part is done


class UnappliedRow(BaseModel):
    """A row the build could not apply, set aside so that the rest keeps flowing."""

    key: str
    position: int
    entries: list[int]  # the entries that touched it (the first ten)
    error: str


class ProjectionState(BaseModel):
    name: str
    version: int
    generation: int
    position: int
    lag: int
    state: str
    unapplied: int  # rows set aside (see `ledger projections retry`)
    unapplied_rows: list[UnappliedRow]  # the first twenty of them


class Projections(BaseModel):
    projections: list[ProjectionState]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    head: AsOfModel


class QuarantineEntry(BaseModel):
    id: str
    received_at: str
    webhook_id: str | None
    reason: str
    errors: list[dict[str, Any]]
    size: int
    released_position: int | None
    body_preview: str
    erased: bool  # an erasure of a scope the body names destroyed it


class QuarantineList(BaseModel):
    entries: list[QuarantineEntry]


class ChainHead(BaseModel):
    position: int
    digest: str


class TreeVerification(BaseModel):
    size: int  # leaves the entries give
    root: str  # base64
    checkpoints_checked: int


class LedgerVerification(BaseModel):
    """The hash chain and the Merkle tree recomputed from the first entry (DESIGN §7.1)."""

    ok: bool
    checked: int
    head: ChainHead
    first_bad_position: int | None
    problem: str | None
    tree: TreeVerification


class Access(BaseModel):
    id: int
    at: str
    who: str
    role: str
    subject: str
    what: str


class AccessLogPage(BaseModel):
    accesses: list[Access]


class IssuedCheckpoint(BaseModel):
    id: int
    tree_size: int
    access_log_size: int
    issued_at: str
    note: str  # the C2SP signed note


class CheckpointList(BaseModel):
    checkpoints: list[IssuedCheckpoint]


class InclusionProof(BaseModel):
    position: int
    leaf_index: int
    tree_size: int
    leaf: str  # base64 of the leaf's bytes (canonical JSON, personal data sealed)
    hashes: list[str]  # base64, leaf side first (RFC 9162 §2.1.3)


class ConsistencyProof(BaseModel):
    model_config = {"populate_by_name": True}

    from_: int = Field(alias="from")
    to: int
    hashes: list[str]  # base64 (RFC 9162 §2.1.4)


class EvidenceEntry(BaseModel):
    position: int
    leaf_index: int
    leaf: str  # base64 of the leaf's bytes
    hashes: list[str]  # its inclusion proof against the checkpoint, base64


class EvidenceBundle(BaseModel):
    """DESIGN §7.2: checked offline by `ledger evidence verify FILE --key VERIFIER_KEY`."""

    format: str
    subject: str
    as_of: AsOfModel
    checkpoint: str  # a C2SP signed note
    verifier_key: str
    entries: list[EvidenceEntry]
    status: dict[str, Any]
