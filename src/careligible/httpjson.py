"""Reading a JSON object from an HTTP answer, the one way the registry client and the FHIR
prefetch both need: a body that is not JSON, or JSON that is not an object, is a reason to
refuse the answer, and each caller words that reason for its own reader."""

from __future__ import annotations

from typing import Any

import httpx


class NotAnObject(ValueError):
    """The answer's body is not what was expected; ``expected`` names it for the message
    ("JSON" when the body does not parse, else the resource the caller asked for)."""

    def __init__(self, expected: str) -> None:
        super().__init__(f"not {expected}")
        self.expected = expected


def json_object(response: httpx.Response, resource: str) -> dict[str, Any]:
    """The body of ``response`` as a JSON object, or :class:`NotAnObject` expecting "JSON"
    (the body does not parse) or ``resource`` (it parses to something other than an object)."""
    try:
        data = response.json()
    except ValueError:
        raise NotAnObject("JSON") from None
    if not isinstance(data, dict):
        raise NotAnObject(resource)
    return data
