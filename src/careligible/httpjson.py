"""Reading a JSON object from an HTTP answer, the one way the registry client and the FHIR
prefetch both need: an answer other than 200, a body that is not JSON, or JSON that is not an
object, is a reason to refuse the answer, and each caller words that reason for its own reader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


def json_answer(
    response: httpx.Response, resource: str, refuse: Callable[[str], Exception]
) -> dict[str, Any]:
    """The body of a 200 answer as a JSON object, else raise ``refuse(why)``: ``why`` says what
    the server did ("answered HTTP 503", "did not answer JSON", "did not answer ``resource``"),
    and the caller names the server and the error its reader gets."""
    if response.status_code != 200:
        raise refuse(f"answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise refuse("did not answer JSON") from None
    if not isinstance(data, dict):
        raise refuse(f"did not answer {resource}")
    return data
