"""JSON from the outside, parsed with limits: every JSON text we read (request bodies,
cursors) goes through `loads`, so deep nesting or conflicting keys are a clear
`BadJSON` (400), never a RecursionError (500). A leaf module."""

from __future__ import annotations

import json
from typing import Any

from quart.json.provider import DefaultJSONProvider

MAX_DEPTH = 32


class BadJSON(ValueError):
    """Text that is not JSON we accept; the message says why."""


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "literal" if value is None else "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose repeated keys agree on their type (the last value wins, as usual)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result and _kind(result[key]) != _kind(value):
            raise BadJSON(f"The key {key!r} appears twice with values of different types.")
        result[key] = value
    return result


def depth(document: Any) -> int:
    """How deeply arrays and objects nest in `document` (a scalar is 0)."""
    deepest = 0
    pending = [(document, 1)] if isinstance(document, dict | list) else []
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item
        pending.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return deepest


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `text`; BadJSON when it is malformed, nested deeper than `max_depth` levels,
    or repeats a key with values of different types."""
    try:
        document = json.loads(text, object_pairs_hook=_pairs)
    except BadJSON:
        raise
    except RecursionError:
        raise BadJSON(f"The JSON is nested deeper than {max_depth} levels.") from None
    except (ValueError, TypeError) as exc:
        raise BadJSON(f"The body is not valid JSON: {exc}.") from None
    if depth(document) > max_depth:
        raise BadJSON(f"The JSON is nested deeper than {max_depth} levels.")
    return document


class SafeJSONProvider(DefaultJSONProvider):
    """Quart's JSON provider, reading with `loads` (so `request.get_json` is safe too)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
