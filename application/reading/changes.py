"""What changed in a subject's status between two points, field by field (DESIGN §6).

An auditor comparing two points wants the fields that differ, not two documents to
read side by side. A change names its field by a path: object keys joined by dots
(`verification.status`), and an item of a list of checks, cases, sessions or documents
by its id in brackets, as a JSON string (`aml.checks["chk_1"].status`). A new item is one
change whose `from` is null. Applying the changes to the status at the first point gives
the status at the second (`apply_changes`, held to it by a property test).

A list whose items moved (a stream linked later brings entries from before) or lost an
item is one change of the whole list: its items cannot be told apart by appending.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from application.reading.views import Doc

# The field that names each item of the status document's lists of things.
ITEM_IDS = {
    "checks": "check_id",
    "cases": "case_id",
    "sessions": "session_id",
    "documents": "document_id",
}


def status_changes(before: Doc, after: Doc) -> list[dict[str, Any]]:
    """The changes that turn one status document into another, in document order."""
    changes: list[dict[str, Any]] = []
    _diff_objects(before, after, "", changes)
    return changes


def _diff_objects(before: Doc, after: Doc, path: str, changes: list[dict[str, Any]]) -> None:
    for key in [*before, *(k for k in after if k not in before)]:
        here = f"{path}.{key}" if path else key
        old: Any = before.get(key)
        new: Any = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            _diff_objects(old, new, here, changes)
        elif key in ITEM_IDS and _grows_by_appending(old, new, ITEM_IDS[key]):
            _diff_items(old, new, ITEM_IDS[key], here, changes)
        else:
            changes.append({"path": here, "from": old, "to": new})


def _grows_by_appending(old: Any, new: Any, id_field: str) -> bool:
    """Whether `new` is `old`'s items, each by its id in the same order, then new ones."""
    if not (isinstance(old, list) and isinstance(new, list)):
        return False
    ids = [_item_id(item, id_field) for item in new]
    if None in ids or len(set(ids)) != len(ids):
        return False
    return [_item_id(item, id_field) for item in old] == ids[: len(old)]


def _item_id(item: Any, id_field: str) -> str | None:
    value = item.get(id_field) if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def _diff_items(old: list[Doc], new: list[Doc], id_field: str, path: str,
                changes: list[dict[str, Any]]) -> None:  # fmt: skip
    for n, item in enumerate(new):
        here = f"{path}[{json.dumps(item[id_field])}]"
        if n >= len(old):
            changes.append({"path": here, "from": None, "to": item})
        else:
            _diff_objects(old[n], item, here, changes)


# A path's next step: `.key` (or `key` first), or `["id"]`.
_STEP = re.compile(r'\.?([a-z_]+)|\[("(?:[^"\\]|\\.)*")\]')


def _steps(path: str) -> list[tuple[str, str]]:
    """A path as ("key", name) and ("item", id) steps; ValueError if it is not one."""
    steps, at = [], 0
    while at < len(path):
        match = _STEP.match(path, at)
        if match is None or (at == 0 and path.startswith(".")):
            raise ValueError(f"not a change's path: {path!r}")
        key, item = match.groups()
        steps.append(("key", key) if key else ("item", json.loads(item)))
        at = match.end()
    if not steps:
        raise ValueError("an empty path")
    return steps


def apply_changes(status: Doc, changes: list[dict[str, Any]]) -> Doc:
    """The status document after the changes (the given one is left as it was)."""
    result = copy.deepcopy(status)
    for change in changes:
        *parents, last = _steps(change["path"])
        list_key: str | None = None
        place: Any = result
        for kind, name in parents:
            place, list_key = _step_into(place, kind, name, list_key)
        value = copy.deepcopy(change["to"])
        kind, name = last
        if kind == "key":
            place[name] = value
            continue
        assert list_key is not None, "an item's step follows its list's key"
        found = [n for n, item in enumerate(place) if item.get(ITEM_IDS[list_key]) == name]
        if found:
            place[found[0]] = value
        else:
            place.append(value)
    return result


def _step_into(place: Any, kind: str, name: str, list_key: str | None) -> tuple[Any, str | None]:
    if kind == "key":
        return place[name], name
    assert list_key is not None, "an item's step follows its list's key"
    id_field = ITEM_IDS[list_key]
    for item in place:
        if item.get(id_field) == name:
            return item, None
    raise ValueError(f"the path names an item the status does not hold: {name!r}")
