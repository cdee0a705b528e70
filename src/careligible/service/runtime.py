"""The service's settings and the parts every route shares, built once per process."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from ..catalog import Catalog
from .auth import AuthError, TokenVerifier, TrustedIssuer
from .feedback import FeedbackLog
from .issued import Issued
from .pool import ScreeningPool
from .privacy import Pseudonymizer

log = logging.getLogger("careligible.service")

#: The CDS Hooks service this server offers, and the hook it answers.
SERVICE_ID = "careligible-car-t-trials"
HOOK = "patient-view"


@dataclass(frozen=True)
class ServiceSettings:
    """Everything ``careligible serve`` was told; defaults are those of the command."""

    site_secret: bytes
    public_url: str = "http://127.0.0.1:8080"
    audit_log: Path | None = None
    feedback_log: Path | None = None
    workers: int = 2
    issuers: tuple[TrustedIssuer, ...] = ()
    audiences: tuple[str, ...] = ()
    no_auth: bool = False
    max_body: int = 5 * 1024 * 1024
    timeout: float = 20.0
    fetch_timeout: float = 10.0
    link_ttl: float = 3600.0
    cors_origins: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")


class Service:
    """The shared parts: catalog (for listing and cards), pool, token checks, logs, memory."""

    def __init__(self, settings: ServiceSettings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.pool = ScreeningPool(catalog, settings.workers, settings.audit_log)
        self.verifier = TokenVerifier(settings.issuers, settings.audiences)
        self.pseudonym = Pseudonymizer(settings.site_secret)
        self.issued = Issued(ttl=settings.link_ttl)
        self.feedback = FeedbackLog(settings.feedback_log) if settings.feedback_log else None
        self.http: httpx.AsyncClient | None = None

    @property
    def auth_mode(self) -> str:
        if self.settings.no_auth:
            return "off (--no-auth: development only)"
        if not self.verifier.configured:
            return "refusing every call (no trusted issuer configured)"
        return "JWT bearer (CDS Hooks)"

    async def start(self) -> None:
        # httpx logs every URL it reads at INFO, and FHIR search URLs carry the patient's id.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("uvicorn.access").addFilter(_hide_link_tokens)
        self.pool.start()
        await self.pool.warm_up()
        self.http = httpx.AsyncClient(timeout=self.settings.fetch_timeout, follow_redirects=False)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        self.pool.close()


_LINK = re.compile(r"/explanations/[^/?\s\"]+")


def _hide_link_tokens(record: logging.LogRecord) -> bool:
    """An explanation link is its own credential: the access log shows it without its token."""
    if isinstance(record.args, tuple):
        record.args = tuple(
            _LINK.sub("/explanations/<token>", arg) if isinstance(arg, str) else arg
            for arg in record.args
        )
    return True


def service_of(request: Request) -> Service:
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


async def authorised(request: Request) -> None:
    """Route dependency: a valid CDS Hooks bearer token, unless the service runs ``--no-auth``."""
    service = service_of(request)
    if service.settings.no_auth:
        return
    audience = service.settings.base_url + request.url.path
    try:
        await run_in_threadpool(
            service.verifier.verify, request.headers.get("authorization"), audience
        )
    except AuthError as exc:
        log.warning("refused %s %s: %s", request.method, request.url.path, exc)
        raise HTTPException(
            401, detail=str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None
