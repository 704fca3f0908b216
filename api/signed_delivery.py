"""`POST /webhooks/verifa` as OpenAPI documents it: the signature headers, the body, the refusals.

The route reads none of them through FastAPI: the signature is verified over the body's
bytes as sent, and a delivery whose headers are missing or wrong in any way is answered 401
(never 422), so nothing here validates a request; it only tells clients what to send.
"""

from __future__ import annotations

from typing import Any

from api.errors import Message, Responses
from application.webhook_authentication.signature import (
    HEADER_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_TIMESTAMP_CHARS,
    MAX_WEBHOOK_ID_CHARS,
)


def _header(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": True, "description": description,
            "schema": {"type": "string", **schema}}  # fmt: skip


SIGNED_REQUEST = {
    "parameters": [
        _header(HEADER_ID, "The delivery's id, signed with the body",
                {"minLength": 1, "maxLength": MAX_WEBHOOK_ID_CHARS, "pattern": "^[ -~]+$"}),
        _header(HEADER_TIMESTAMP, "When it was signed, in Unix seconds (5 minutes at most"
                " from the ledger clock, by default)",
                {"pattern": f"^[0-9]{{1,{MAX_TIMESTAMP_CHARS}}}$"}),
        _header(HEADER_SIGNATURE, "Space-separated `v1,<base64 HMAC-SHA256>` of"
                " `{webhook-id}.{webhook-timestamp}.{body}`, under any of the webhook secrets",
                {"minLength": 1}),
    ],
    "requestBody": {
        "required": True,
        "description": "A Verifa webhook payload, as Verifa signed it: recorded, or held in"
                       " quarantine if it cannot be read",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}  # fmt: skip

REFUSALS: Responses = {
    401: {"model": Message, "description": "Signature headers missing or malformed, no valid"
          " signature, or a timestamp outside the tolerance: nothing stored"},
    413: {"model": Message, "description": "A body over the limit: nothing stored"},
}  # fmt: skip
