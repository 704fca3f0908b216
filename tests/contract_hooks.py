"""What OpenAPI cannot say about the API's parameters, told to schemathesis as hooks.

Two rules bind parameters together: `/ledger/verify` takes `since_position` and
`since_digest` both or neither, and a timeline `cursor` pins the `as_of` it was given
for. A request that breaks one is refused (422, tested in `test_http_reads.py`), so the
requests the fuzzer means to be valid keep to them. Loaded by `SCHEMATHESIS_HOOKS`.
"""

from __future__ import annotations

from typing import Any

import schemathesis

TOGETHER = ("since_position", "since_digest")


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """A valid request as the rules define it: `as_of` left out beside a cursor, and both or
    neither of `since_position` and `since_digest`."""
    query = case.query
    if case.meta is None or not case.meta.generation.mode.is_positive or not query:
        return case
    if "cursor" in query:
        query.pop("as_of", None)
    if sum(name in query for name in TOGETHER) == 1:
        for name in TOGETHER:
            query.pop(name, None)
    return case
