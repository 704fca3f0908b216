"""How a delivery's personal data is kept (DESIGN §7): sealed under a data key, or erased.

Erasure is permanent. A delivery's personal data belongs to one scope (its
document's, else its session's, else its stream's: `protection_scope`), and is
erased with that scope or its own session; a document's, also with every
session that named the document, since a session's erasure covers its documents.
Personal data that arrives after such an erasure, for a document first seen later
too, is stored already erased, never sealed under a new key. Another session of
the same applicant is not erased with it. These are decisions on facts the
ledger reads (the sessions named, the scopes erased); no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

from domain.entries import StreamKey, text_field
from domain.personal_data import has_personal_data, protection_scope


@dataclass(frozen=True)
class Sealing:
    """Where one delivery's personal data is sealed, and which erasures erase it."""

    scope: str  # the data key it is sealed under
    erased_with: frozenset[str]  # the scopes whose erasure erases it, its own included

    def is_erased(self, erased_scopes: Set[str]) -> bool:
        return not self.erased_with.isdisjoint(erased_scopes)


def sealing_of(
    stream: StreamKey, payload: Mapping[str, Any], sessions_named: Iterable[str]
) -> Sealing | None:
    """How a delivery to `stream` is sealed, given the sessions its stream has named so far;
    None when it carries no personal data (it is stored exactly as sent)."""
    if not has_personal_data(payload):
        return None
    scope = protection_scope(stream, payload)
    named = list(sessions_named) if stream.type == "document" else []
    sessions = {f"session:{s}" for s in [*named, text_field(payload, "session_id")] if s}
    return Sealing(scope, frozenset({scope, *sessions}))
