"""The ledger index of each appended entry, written in the append's own unit of work.

Once a batch's events are inserted (under the lock that orders positions), each
entry, in position order, gets its index row (the ledger clock, its idempotency
key, its stream and version, its place in the hash chain and its leaf in the
Merkle tree of the transparency log), the links it reveals
(learned by the rules of the live `subject_links` build), and, when it asks for
an erasure, the destruction of the data keys it names. Each of these depends on
every entry before it, which is why they are written here, under the lock, and
not planned ahead; if any fails, the unit of work stores nothing of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Recording

from application.integrity.chain import GENESIS, entry_digest
from application.privacy.erasure import erasure_scopes
from application.privacy.keyring import erase_keys
from application.recording.plan import PlannedAppend
from application.storage.clock import utc_now_iso
from application.storage.link_book import StoredLinkBook
from application.storage.schema import ENTRY_TYPES
from application.storage.unit_of_work import UnitOfWork
from application.transparency.leaves import leaf_bytes
from application.transparency.log import TransparencyLog
from application.transparency.merkle import leaf_hash
from domain.entries import text_field
from domain.personal_data import erasure_requested
from domain.routing import LinkRules, learn_links
from domain.sessions import is_session_event


class LedgerIndex:
    def __init__(self, log: TransparencyLog, link_rules: LinkRules = learn_links) -> None:
        self.log = log  # each entry is the next leaf of its Merkle tree
        self.link_rules = link_rules  # the rules of the code's `subject_links` version

    def write(
        self,
        uow: UnitOfWork,
        recordings: Sequence[Recording[Any]],
        appends: Sequence[PlannedAppend],
    ) -> None:
        """Index the events just inserted in the unit of work, in position order."""
        if len(appends) != len(recordings):
            raise ValueError("every ledger event is saved with its index entry")
        if not appends:
            return
        last = uow.rows("SELECT position, recorded_at, digest, leaf_index FROM ledger_entries"
                        " ORDER BY position DESC LIMIT 1")  # fmt: skip
        # The ledger clock: UTC now, never earlier than the last entry, so it grows with position.
        recorded_at = max(utc_now_iso(), last[0]["recorded_at"]) if last else utc_now_iso()
        previous = (last[0]["position"], last[0]["digest"]) if last else (0, GENESIS)
        tree_size = self.log.size_after(last[0] if last else None)
        leaves: list[bytes] = []
        book = StoredLinkBook(uow)
        book.prefetch((a.stream.id for a in appends),
                      filter(None, (text_field(a.delivery.payload, "session_id")
                                    for a in appends)))  # fmt: skip
        entries: list[tuple[Any, ...]] = []

        def write_entries() -> None:
            uow.insert_rows("ledger_entries", ENTRY_TYPES, entries)
            entries.clear()
            book.write()

        with uow.sql.pipeline(uow.cursor):  # writes go out without waiting for each answer
            for recording, append in zip(recordings, appends, strict=True):
                stored, delivery = recording.notification, append.delivery
                row = (
                    stored.id,
                    recorded_at,
                    delivery.idempotency_key,
                    delivery.event_type,
                    int(is_session_event(delivery.event_type)),
                    append.stream.type,
                    append.stream.key,
                    append.stream.id.hex,
                    stored.originator_version,
                    text_field(delivery.payload, "session_id"),
                    delivery.webhook_id,
                )
                stored_event = (stored.originator_id, stored.originator_version, stored.topic,
                                stored.state)  # fmt: skip
                digest = entry_digest(previous[1], previous[0], row, *stored_event)
                leaves.append(leaf_hash(leaf_bytes(row, *stored_event)))
                entries.append((*row, previous[0], digest, tree_size + len(leaves) - 1))
                previous = (stored.id, digest)
                self.link_rules(book.at(stored.id), append.stream, delivery.payload)
                erasure = erasure_requested(delivery.event_type, delivery.payload)
                if erasure:  # its scopes are found in what is written up to it
                    write_entries()
                    erase_keys(uow, erasure_scopes(uow, erasure), stored.id)
            write_entries()
            self.log.append(uow, tree_size, leaves)
