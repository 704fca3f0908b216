"""Reading a delivery skips the slow storability checks only for bodies that cannot fail them."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from application.recording.delivery import (
    NotRecordable,
    _may_be_unstorable,
    _storable_problem,
    read_delivery,
)

# Text with the characters that make payloads unstorable: NUL, lone surrogates.
awkward_text = st.text(max_size=8) | st.sampled_from(
    ["\x00", "\ud800", "\udfff", "a\ud83d", "\ud83d\ude00", "plain"]
)
finite = st.floats(allow_nan=False, allow_infinity=False)  # the literals are refused in parsing
numbers = st.integers() | finite | st.sampled_from([1e308, 9e307])
json_values = st.recursive(
    st.none() | st.booleans() | numbers | awkward_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(awkward_text, inner, max_size=3),
    max_leaves=12,
)


def unstorable(payload: Any) -> bool:
    """The full checks, as read_delivery made them on every body before the shortcut."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        return True
    return _storable_problem(payload) is not None


@given(json_values, st.booleans())
def test_a_body_whose_payload_fails_the_checks_is_always_examined(value: Any, ascii: bool) -> None:
    text = json.dumps({"event": "x", "v": value}, ensure_ascii=ascii)
    try:  # a body is bytes: raw surrogates cannot be sent, only escaped ones
        text = text.encode("utf-8").decode("utf-8")
    except UnicodeError:
        assume(False)
    if unstorable(json.loads(text)):
        assert _may_be_unstorable(text)


@given(st.integers(min_value=60, max_value=80))
def test_deep_nesting_and_huge_numbers_are_still_quarantined(depth: int) -> None:
    deep = '{"event": "x", "v": ' + "[" * depth + "]" * depth + "}"
    if depth > 64:
        try:
            read_delivery(deep.encode(), "w1")
        except NotRecordable as problem:
            assert problem.reason in ("not storable as sent", "not JSON")
        else:
            raise AssertionError("a payload nested too deep was accepted")
    huge = '{"event": "x", "v": 1' + "0" * 400 + ".5}"
    try:
        read_delivery(huge.encode(), "w1")
    except NotRecordable as problem:
        assert problem.errors == [{"msg": "a number too large to represent"}]
    else:
        raise AssertionError("a number that overflows to infinity was accepted")
