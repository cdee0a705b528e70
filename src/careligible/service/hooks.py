"""The CDS Hooks 2.0 routes: discovery, the ``patient-view`` hook, and feedback on its cards."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from ..errors import Problem
from .cards import cards_for
from .feedback import FeedbackError, parse_feedback
from .jobs import explanation_link, screened
from .pool import Job
from .prefetch import (
    PREFETCH,
    Assembled,
    PrefetchError,
    PrefetchUnavailable,
    allowed_server,
    assemble,
    fetch_missing,
    missing_keys,
)
from .runtime import HOOK, SERVICE_ID, Service, authorised, log, service_of

router = APIRouter(tags=["CDS Hooks"])


class FhirAuthorization(BaseModel):
    """The token the EHR lends the service to read its FHIR server."""

    model_config = ConfigDict(extra="allow")
    access_token: str
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None


class HookContext(BaseModel):
    model_config = ConfigDict(extra="allow")
    userId: str
    patientId: str
    encounterId: str | None = None


class HookRequest(BaseModel):
    """A CDS Hooks call (``patient-view``)."""

    model_config = ConfigDict(extra="allow")
    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, Any] | None = None


@router.get("/cds-services")
async def discovery() -> dict[str, Any]:
    """CDS Hooks discovery: the service, its hook and what to prefetch. Needs no token."""
    return {
        "services": [
            {
                "hook": HOOK,
                "id": SERVICE_ID,
                "title": "CAR-T trials for autoimmune disease (careligible)",
                "description": (
                    "Screens the patient against the eligibility criteria of CAR-T cell therapy "
                    "trials in autoimmune disease; cards name every trial not ruled out, what is "
                    "missing and what to ask next. Decision support only."
                ),
                "prefetch": dict(PREFETCH),
                "usageRequirements": (
                    "Send a signed JWT (Authorization: Bearer) on every call; the patient's "
                    "conditions, observations and medications are needed."
                ),
            }
        ]
    }


@router.post(
    "/cds-services/{service_id}",
    dependencies=[Depends(authorised)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "A CDS Hooks 2.0 call."}
                }
            },
        }
    },
)
async def call_hook(service_id: str, request: Request) -> dict[str, Any]:
    """Screen the patient of a ``patient-view`` call and answer with cards."""
    service = service_of(request)
    call = await _hook_request(request)
    _check_call(service_id, call)
    started = time.perf_counter()
    patient_id = call.context.patientId
    pseudonym = service.pseudonym(patient_id)
    assembled = await _bundle_of(service, call)
    job = Job(
        assembled.bundle,
        f"cds-hooks {HOOK}",
        bundle=True,
        pseudonym=pseudonym,
        patient_id=patient_id,
    )
    outcome = await screened(service, job)
    if not outcome.screened:
        raise _bad_request([assembled.locate(p) for p in outcome.problems])
    link = explanation_link(service, outcome.result)
    cards, issued = cards_for(outcome.result, service.catalog, link, assembled.notes)
    service.issued.keep_cards(issued)
    log.info(
        "%s %s: %d card(s), %d trial(s) open, %.0f ms",
        HOOK,
        pseudonym,
        len(cards),
        sum(len(c.trials) for c in issued if c.verdict != "ineligible"),
        (time.perf_counter() - started) * 1000,
    )
    return {"cards": cards}


async def _hook_request(request: Request) -> HookRequest:
    """The call, read strictly (:func:`~careligible.service.api.whole_body`): a hook context or
    prefetch naming a key twice is a 400, never its last value."""
    from .api import whole_body

    data = await whole_body(request)
    try:
        return HookRequest.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(
            400,
            detail=[
                {"field": ".".join(str(p) for p in error["loc"]) or "body", "message": error["msg"]}
                for error in exc.errors()
            ],
        ) from None


def _check_call(service_id: str, call: HookRequest) -> None:
    if service_id != SERVICE_ID:
        raise HTTPException(404, detail=f"no CDS service '{service_id[:80]}' here")
    if call.hook != HOOK:
        raise HTTPException(400, detail=f"this service answers '{HOOK}', not '{call.hook[:40]}'")


async def _bundle_of(service: Service, call: HookRequest) -> Assembled:
    """The prefetch completed from the FHIR server where needed, as one Bundle to import."""
    parts: dict[str, Any] = dict(call.prefetch or {})
    notes: tuple[str, ...] = ()
    missing = missing_keys(call.prefetch)
    if missing:
        if not call.fhirServer:
            raise HTTPException(
                412, detail=f"prefetch lacks {', '.join(missing)} and no fhirServer was given"
            )
        if not allowed_server(call.fhirServer, service.settings.fhir_servers):
            raise HTTPException(
                412,
                detail="fhirServer is not a server this service is configured to read "
                "(serve --fhir-server); prefetch is needed",
            )
        token = call.fhirAuthorization.access_token if call.fhirAuthorization else None
        assert service.http is not None
        try:
            fetched, notes = await fetch_missing(
                service.http, missing, call.fhirServer, call.context.patientId, token
            )
        except PrefetchUnavailable as exc:
            raise HTTPException(412, detail=str(exc)) from None
        parts.update(fetched)
    try:
        assembled = assemble(parts, notes)
    except PrefetchError as exc:
        raise _bad_request(exc.problems) from None
    patient = parts["patient"]
    if patient.get("id") not in (None, call.context.patientId):
        raise _bad_request(
            [Problem("is not the patient named by context.patientId", "prefetch.patient.id")]
        )
    return assembled


def _bad_request(problems: list[Problem]) -> HTTPException:
    return HTTPException(
        400, detail=[{"field": p.field, "message": p.message} for p in problems] or "bad request"
    )


@router.post("/cds-services/{service_id}/feedback", dependencies=[Depends(authorised)])
async def feedback(service_id: str, request: Request) -> dict[str, Any]:
    """CDS Hooks feedback: each card's outcome, kept in the hash-chained feedback log."""
    service = service_of(request)
    if service_id != SERVICE_ID:
        raise HTTPException(404, detail=f"no CDS service '{service_id[:80]}' here")
    from .api import whole_body

    try:
        reports = parse_feedback(await whole_body(request))
    except FeedbackError as exc:
        raise _bad_request(exc.problems) from None
    log_file = service.feedback
    if log_file is not None:
        for report in reports:
            card = service.issued.cards.get(report.card)
            await run_in_threadpool(log_file.append, SERVICE_ID, report, card)
    return {}
