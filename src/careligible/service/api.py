"""The plain JSON API: screen and explain one case, list the trials, report health.

``POST /screen`` takes a case in the contract's JSON (``docs/case-format.md``) and answers the very
record ``careligible screen --format json`` writes for it; a case that does not validate gets
that record too (with its ``error``), under status 422.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..audit import tool_version
from ..explain import case_explanation, render
from ..listing import trial_rows
from ..results import CaseResult
from ..writers import JsonWriter
from .jobs import screened
from .pool import Job
from .runtime import authorised, service_of

router = APIRouter()

_CASE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "A case as in docs/case-format.md (or a FHIR R4 Bundle).",
                }
            }
        },
    }
}


async def json_body(request: Request) -> Any:
    """The request body as JSON, or 400 naming the line and column where it breaks.

    Decoded as case files are (:func:`~careligible.readers.decode_json`), so a key written
    twice is refused with the field named, never resolved silently to its last value."""
    from ..readers import decode_json

    raw = await request.body()
    try:
        return decode_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise HTTPException(400, detail="the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise HTTPException(
            400, detail=f"the body is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise HTTPException(400, detail="the body is nested too deeply") from None


async def whole_body(request: Request) -> Any:
    """The body as JSON for a route that takes it whole (a hook call, feedback): a key written
    twice anywhere, or a lone surrogate, is refused with 400 naming the field, where a JSON
    library would keep the last value and drop the other without a word."""
    from ..readers import RawRecord
    from ..readers.validate import unreadable

    data = await json_body(request)
    problem = unreadable(RawRecord("request body", 1, data))
    if problem is not None:
        raise HTTPException(400, detail=[{"field": problem.field, "message": problem.message}])
    return data


@router.post(
    "/screen",
    tags=["API"],
    dependencies=[Depends(authorised)],
    openapi_extra=_CASE_BODY,
    responses={200: {"model": CaseResult}, 422: {"model": CaseResult}},
)
async def screen(request: Request) -> Response:
    """Screen one case against every trial: the record ``screen --format json`` writes."""
    outcome = await screened(service_of(request), Job(await json_body(request), "request"))
    return Response(
        JsonWriter.encode(outcome.result) + "\n",
        status_code=200 if outcome.screened else 422,
        media_type="application/json",
    )


@router.post("/explain", tags=["API"], dependencies=[Depends(authorised)], openapi_extra=_CASE_BODY)
async def explain(
    request: Request,
    trial: list[str] = Query(default=[]),  # noqa: B008 - FastAPI's way to declare a list
    format: Literal["json", "text", "markdown"] = "json",
) -> Response:
    """Why the case got each verdict: every criterion, the facts read, its rule and source."""
    service = service_of(request)
    unknown = [t for t in trial if service.catalog.trial(t) is None]
    if unknown:
        raise HTTPException(400, detail=f"not in the rules: {', '.join(unknown)}")
    outcome = await screened(service, Job(await json_body(request), "request"))
    if not outcome.screened:
        return JSONResponse({"error": outcome.result.error}, status_code=422)
    return _rendered(case_explanation(outcome.result, service.catalog, trial), format)


@router.get("/explanations/{token}", tags=["API"])
async def explanation(
    token: str,
    request: Request,
    format: Literal["json", "text", "markdown"] = "text",
) -> Response:
    """The full explanation behind a card's link; the link expires, and is its own credential."""
    service = service_of(request)
    found = service.issued.explanations.get(token)
    if found is None:
        raise HTTPException(404, detail="no such explanation (links expire)")
    return _rendered(case_explanation(found, service.catalog), format)


def _rendered(explanation: dict[str, Any], fmt: str) -> Response:
    if fmt == "json":
        return JSONResponse(explanation)
    text = render([explanation], "markdown" if fmt == "markdown" else "text")
    media = "text/markdown; charset=utf-8" if fmt == "markdown" else "text/plain; charset=utf-8"
    return PlainTextResponse(text + "\n", media_type=media)


@router.get("/trials", tags=["API"])
async def trials(request: Request) -> list[dict[str, Any]]:
    """Every trial in the catalog: Table 1 columns, phase and recruitment status."""
    return trial_rows(service_of(request).catalog)


@router.get("/healthz", tags=["API"])
async def healthz(request: Request) -> dict[str, Any]:
    """Liveness and what is running: versions, workers, how calls are authorised."""
    service = service_of(request)
    return {
        "status": "ok",
        "tool_version": tool_version(),
        "ruleset_version": service.catalog.version,
        "trials": len(service.catalog.trials),
        "workers": service.settings.workers,
        "auth": service.auth_mode,
    }
