"""An in-memory `LinkBook`: the simplest model of link learning, used as a test oracle."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID


class MemoryLinkBook:
    """The domain's LinkBook kept in dictionaries: first writes win."""

    def __init__(self) -> None:
        self.streams: dict[UUID, str] = {}
        self.sessions: dict[str, str] = {}
        self.mentions: dict[str, list[UUID]] = {}
        self.identities: set[tuple[str, str]] = set()

    def subject_of_stream(self, stream: UUID) -> str | None:
        return self.streams.get(stream)

    def subject_of_session(self, session_id: str) -> str | None:
        return self.sessions.get(session_id)

    def streams_mentioning(self, session_id: str) -> Iterable[UUID]:
        return list(self.mentions.get(session_id, []))

    def link_stream(self, stream: UUID, subject: str) -> None:
        self.streams.setdefault(stream, subject)

    def tie_session(self, session_id: str, subject: str) -> None:
        self.sessions.setdefault(session_id, subject)

    def note_mention(self, stream: UUID, session_id: str) -> None:
        if stream not in self.mentions.setdefault(session_id, []):
            self.mentions[session_id].append(stream)

    def note_identity(self, identity_id: str, subject: str) -> None:
        self.identities.add((identity_id, subject))
