"""The ledger's history as one unit of work reads it, at any prefix (DESIGN §2 "as of").

Every read names a prefix of the ledger, an `AsOf(position, recorded_at)`, and
sees only the entries and the links recorded at or before it. The queries come
in five parts, each from a module of `storage`: where a read stands
(`positions`), whose entries are whose (`timelines`), who belongs to whom
(`links`: `link_queries`), the aggregates as they stood (`streams`:
`stream_loading`), and what is new after a position, for the projections
(`feed`: `entry_feed`). The live projections read through a `History` too, so
what they store is what an as-of read would answer.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import Mapper

from application.storage.entry_feed import EntryFeed
from application.storage.entry_rows import EntryRows
from application.storage.link_queries import LinkQueries
from application.storage.positions import Positions
from application.storage.stream_loading import StreamLoading
from application.storage.timelines import Timelines
from application.storage.unit_of_work import UnitOfWork


class History:
    def __init__(self, uow: UnitOfWork, mapper: Mapper[UUID]) -> None:
        rows = EntryRows(uow.sql, mapper)
        self.unit_of_work = uow
        self.positions = Positions(uow)
        self.timelines = Timelines(uow, rows)
        self.links = LinkQueries(uow)
        self.streams = StreamLoading(uow, mapper)
        self.feed = EntryFeed(uow, rows)
