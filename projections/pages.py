"""A list as of a past point, one page at a time, with work bounded by the page (DESIGN §6).

A current list is a query on a read model. The same list as of a past point is
folded from the ledger, key by key; folding every key the ledger has ever seen
on each request would make a request's cost grow with the ledger. So a page
examines at most `limit` keys, in code-point order after the cursor's key, and
answers the rows among them that the list holds as of the point, with the key
to go on from. The keys come from the serving build of the model the list is
made of (every key that has had a row, tombstones included), and from the
entries it has not applied yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.ledger import Ledger
from domain.entries import AsOf
from projections.models import AttentionModel
from projections.read_model import Batch, ReadModel, Row, Selection
from projections.store import ReadModelStore

MAX_UNAPPLIED = 100_000  # entries past a build's position a page may read for keys


class NotBuiltYet(Exception):
    """The model has no build to list keys from, or one too far behind the point."""


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_key: str | None  # the last key examined, when more may follow


def _source(selection: Selection) -> tuple[ReadModel, str]:
    """The model whose keys the selection's rows are made of, and how a key becomes a row's."""
    model = selection.model
    if isinstance(model, AttentionModel):
        part = selection.status or ""
        return model.parts[part][0], f"{part}:"
    return model, ""


def page_as_of(
    store: ReadModelStore,
    ledger: Ledger,
    selection: Selection,
    as_of: AsOf,
    after: str,
    limit: int,
) -> Page:
    """The selection's rows as of `as_of` among the next `limit` keys after `after`. (The
    store and the ledger are read one after the other: never two connections at once.)"""
    source, prefix = _source(selection)
    build = store.serving(source.name)
    if build is None:
        raise NotBuiltYet(f"the {source.name} read model has no build yet")
    keys = store.keys_after(build, after, limit)
    exhausted = len(keys) < limit
    position = store.position(build)
    if as_of.position - position > MAX_UNAPPLIED:
        raise NotBuiltYet(f"the {source.name} read model is {as_of.position - position}"
                          " entries behind this point; try again shortly")  # fmt: skip
    rows = []
    with ledger.reading() as history:
        if as_of.position > position:  # keys first seen in entries the build has not applied
            entries = [e for e in history.feed.summaries(position, as_of.position - position)
                       if e.position <= as_of.position]  # fmt: skip
            if entries:
                links = history.feed.link_changes(position, entries[-1].position)
                keys = sorted({*keys, *(k for k in source.touched_keys(Batch(entries, links))
                                        if k > after)})  # fmt: skip
        examined = keys[:limit]
        for key in examined:
            model = selection.model
            if isinstance(model, AttentionModel):
                row = model.compose(history, prefix + key, as_of, {})
            else:
                row = model.compute(history, key, as_of)
            if row is not None and selection.matches(row):
                rows.append(row)
    more = not exhausted or len(keys) > limit
    return Page(rows, examined[-1] if more and examined else None)
