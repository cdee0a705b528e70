"""The ASGI application: CDS Hooks and JSON API routes over one screening pool.

Every error answer is ``{"error": ...}`` (a message, or a list of ``{field, message}``) and never
echoes the request back: request bodies hold patient data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..audit import tool_version
from ..catalog import Catalog
from ..errors import dotted
from .api import router as api_router
from .hooks import router as hooks_router
from .limits import BodyLimit
from .runtime import Service, ServiceSettings


def create_app(settings: ServiceSettings, catalog: Catalog) -> FastAPI:
    """The application; its worker pool starts (and compiles the rules) with the server."""
    service = Service(settings, catalog)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="careligible",
        summary="CAR-T trial screening for autoimmune disease: CDS Hooks service and JSON API.",
        version=tool_version(),
        lifespan=lifespan,
        docs_url=None,  # the interactive pages load scripts from a CDN; the document stays
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(BodyLimit, limit=settings.max_body)
    if settings.cors_origins:  # browser-based EHRs and sandboxes call from their own origin
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.include_router(hooks_router)
    app.include_router(api_router)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    """A request the CDS Hooks model refuses: each field and why, without its value."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": dotted(tuple(p for p in err["loc"] if p != "body")), "message": err["msg"]}
        for err in exc.errors()
    ]
    return JSONResponse({"error": problems}, status_code=400)
