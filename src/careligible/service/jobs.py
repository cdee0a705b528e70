"""Running a screening job from a route: worker failures become HTTP answers, results links."""

from __future__ import annotations

from fastapi import HTTPException

from ..results import CaseResult
from .pool import Job, Outcome, PoolUnavailable, ScreeningTimeout
from .runtime import Service


async def screened(service: Service, job: Job) -> Outcome:
    """The worker's outcome; 503 when it took too long or its worker died."""
    try:
        return await service.pool.screen(job, service.settings.timeout)
    except (ScreeningTimeout, PoolUnavailable) as exc:
        raise HTTPException(503, detail=str(exc), headers={"Retry-After": "5"}) from None


def explanation_link(service: Service, result: CaseResult) -> str:
    """Keep ``result`` and return the address that explains it (worked out only if opened)."""
    token = service.issued.keep_explanation(result)
    return f"{service.settings.base_url}/explanations/{token}"
