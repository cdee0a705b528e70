"""Reading a JSON object from an HTTP answer, the one way the registry client and the FHIR
prefetch both need: a body that is not JSON, or JSON that is not an object, is a reason to
refuse the answer, and each caller words that reason for its own reader."""

from __future__ import annotations

from typing import Any

import httpx


class NotAnObject(ValueError):
    """The answer's body is not a JSON object; ``reason`` says which part failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body of ``response`` as a JSON object, or :class:`NotAnObject` ("not JSON" /
    "not an object")."""
    try:
        data = response.json()
    except ValueError:
        raise NotAnObject("not JSON") from None
    if not isinstance(data, dict):
        raise NotAnObject("not an object")
    return data
