"""What a new build of a read model would change, row by row, before reads switch to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from projections.read_model import Build, ReadModel, Selection
from projections.store import ReadModelStore


@dataclass(frozen=True)
class RowChange:
    key: str
    change: str  # added, removed or changed
    fields: list[str]  # top-level fields whose values differ


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def diff_builds(store: ReadModelStore, model: ReadModel, old: Build, new: Build) -> list[RowChange]:
    """Rows that differ between two builds of one read model, by key."""
    _, [old_docs, new_docs] = store.select((old, Selection(model)), (new, Selection(model)))
    key_field = {"subject": "subject", "session": "session_id", "check": "check_id",
                 "case": "case_id", "document": "document_id"}[model.kind]  # fmt: skip
    before = {doc[key_field]: doc for doc in old_docs}
    after = {doc[key_field]: doc for doc in new_docs}
    return changes_between(before, after)


def changes_between(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[RowChange]:
    """Keys added, removed, or whose documents differ (and in which top-level fields)."""
    changes = []
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            changes.append(RowChange(key, "removed", []))
        elif key not in before:
            changes.append(RowChange(key, "added", []))
        elif before[key] != after[key]:
            changes.append(RowChange(key, "changed", _changed_fields(before[key], after[key])))
    return changes
