"""The limits on what a delivery may say, so that no authentic delivery can poison the ledger.

Verifa's identifiers are short tokens, its counts are counts of screening hits
and document checks, its scores are fractions or percentages. A value far
outside that is not a real delivery: recorded, it would break whatever indexes,
sums or encodes it later (a 3,000-character reference is too large for an index
row; two 4,300-digit counts sum to a number JSON cannot encode). Such a delivery
is quarantined with the field and the limit it broke (DESIGN §4), never stored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

MAX_IDENTIFIER_LENGTH = 256  # ids, references, keys: well under any database's index limit
MAX_LABEL_LENGTH = 256  # statuses, types, tiers: words a read model stores and filters on
MAX_TEXT_LENGTH = 4096  # free text such as a rejection reason
MAX_LIST_LENGTH = 1024  # hit sources, providers, PEP classes
MAX_COUNT = 1_000_000_000  # hits or checks: their sums over a lifetime stay well inside 64 bits
MAX_SCORE = 1_000_000.0  # scores and confidences, whatever scale a provider uses

Identifier = Annotated[str, StringConstraints(max_length=MAX_IDENTIFIER_LENGTH)]
Label = Annotated[str, StringConstraints(max_length=MAX_LABEL_LENGTH)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)]
Labels = Annotated[list[Label], Field(max_length=MAX_LIST_LENGTH)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Score = Annotated[float, Field(ge=-MAX_SCORE, le=MAX_SCORE, allow_inf_nan=False)]

# Fields every delivery is routed and linked by (DESIGN §5.1), whatever its event type.
ROUTING_FIELDS = ("external_ref", "session_id", "identity_id", "check_id", "case_id", "document_id")
