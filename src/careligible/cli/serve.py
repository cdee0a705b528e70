"""``careligible serve``: the CDS Hooks service and JSON API, on uvicorn.

The rules are loaded (and refused with every problem, as by every command) before the server
starts; the worker processes then compile them once each. Needs the ``serve`` extra.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..errors import CareligibleError
from .common import fail, load_rules
from .options import (
    audit_log_option,
    file_option,
    integer_option,
    repeatable_option,
    rules_option,
    timeout_option,
)

_NO_AUTH_BANNER = (
    "*" * 78
    + "\n*  WARNING: --no-auth: hook and API calls are NOT authenticated. Anyone who can reach"
    + "\n*  this port can send patient data and read verdicts. Development use only."
    + "\n"
    + "*" * 78
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@rules_option
@audit_log_option()
@file_option(
    "--feedback-log",
    help="Append CDS Hooks card feedback (accepted/overridden) to FILE, hash-chained.",
)
@integer_option(
    "--workers",
    minimum=1,
    default=2,
    help="Screening processes, each with its own compiled catalog.",
)
@repeatable_option(
    "--trust-issuer",
    "issuers",
    metavar="ISSUER=JWKS_URL",
    help="Accept tokens signed by ISSUER with a key from JWKS_URL (repeatable).",
)
@repeatable_option(
    "--audience",
    "audiences",
    metavar="URL",
    help="Also accept tokens for this audience (default: the endpoint's public URL).",
)
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    help="The address the EHR calls (token audience, explanation links). Default: http://HOST:PORT.",
)
@click.option(
    "--site-secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Secret (16+ bytes) keying the patient pseudonyms; default: a new one each start.",
)
@repeatable_option(
    "--fhir-server",
    "fhir_servers",
    metavar="URL",
    help="A FHIR base the service may read missing prefetch from (repeatable); "
    "a hook naming any other fhirServer is answered 412.",
)
@click.option("--no-auth", is_flag=True, help="DEVELOPMENT ONLY: accept calls without a token.")
@integer_option(
    "--max-body",
    minimum=1024,
    default=5 * 1024 * 1024,
    metavar="BYTES",
    help="Largest request body accepted.",
)
@timeout_option(
    minimum=0.001,
    default=20.0,
    help="Longest a screening may take before the call is answered 503.",
)
@repeatable_option(
    "--cors-origin",
    "cors_origins",
    metavar="ORIGIN",
    help="Let a browser-based EHR or sandbox at ORIGIN call the service (repeatable).",
)
def serve(
    host: str,
    port: int,
    rules_dir: Path | None,
    audit_log: Path | None,
    feedback_log: Path | None,
    workers: int,
    issuers: tuple[str, ...],
    audiences: tuple[str, ...],
    public_url: str | None,
    site_secret_file: Path | None,
    fhir_servers: tuple[str, ...],
    no_auth: bool,
    max_body: int,
    timeout: float,
    cors_origins: tuple[str, ...],
) -> None:
    """Serve the CDS Hooks service (patient-view) and the JSON API over HTTP."""
    try:
        import uvicorn

        from ..service.app import create_app
        from ..service.auth import TrustedIssuer
        from ..service.privacy import read_secret, throwaway_secret
        from ..service.runtime import ServiceSettings
    except ImportError as exc:
        fail(f"serve needs the 'serve' extra ({exc.name} missing)")
    catalog = load_rules(rules_dir, consequence="; the service was not started")
    try:
        trusted = tuple(TrustedIssuer.parse(text) for text in issuers)
        secret = read_secret(site_secret_file) if site_secret_file else throwaway_secret()
    except CareligibleError as exc:
        fail(exc)
    settings = ServiceSettings(
        site_secret=secret,
        public_url=public_url or f"http://{host}:{port}",
        audit_log=audit_log,
        feedback_log=feedback_log,
        workers=workers,
        issuers=trusted,
        audiences=audiences,
        no_auth=no_auth,
        max_body=max_body,
        timeout=timeout,
        cors_origins=cors_origins,
        fhir_servers=fhir_servers,
    )
    _announce(settings, site_secret_file is None)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings, catalog),
        host=host,
        port=port,
        limit_concurrency=workers * 16,  # beyond this, calls are answered 503 at once
        timeout_keep_alive=5,
        server_header=False,
        log_level="info",
    )


def _announce(settings: object, throwaway: bool) -> None:
    from ..service.runtime import ServiceSettings

    assert isinstance(settings, ServiceSettings)
    if settings.no_auth:
        click.echo(_NO_AUTH_BANNER, err=True)
    elif not settings.issuers:
        click.echo(
            "careligible: no --trust-issuer given: every hook and API call will be refused",
            err=True,
        )
    if throwaway:
        click.echo(
            "careligible: no --site-secret-file: patient pseudonyms change at every restart",
            err=True,
        )
    if settings.feedback_log is None:
        click.echo(
            "careligible: no --feedback-log: card feedback is accepted, not stored", err=True
        )
    click.echo(
        f"careligible: serving {settings.base_url}/cds-services with {settings.workers} "
        "screening worker(s)",
        err=True,
    )
