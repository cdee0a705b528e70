"""CDS Hooks bearer tokens: who may call a hook, checked with PyJWT.

An EHR signs a short-lived JWT for every call (CDS Hooks 2.0, "Trusting CDS Clients"): ``iss`` names
the EHR, ``aud`` the endpoint called, ``exp`` a few minutes ahead, ``jti`` a unique id; the
signature is checked against the issuer's public keys (JWKS). A site lists the issuers it trusts,
each with the JWKS address it has agreed with that EHR; the ``jku`` header of a token is never
followed, so a token cannot name its own keys. With no issuer listed, every call is refused.
A token is good for one call: its ``jti`` is remembered until it expires, and a replay refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from ..errors import CareligibleError

#: Signature algorithms accepted: public-key ones only (CDS Hooks names ES384 and RS384).
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")

#: Claims every token must carry.
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")

#: Clock difference tolerated between the EHR and this service, in seconds.
LEEWAY_SECONDS = 30


class AuthError(Exception):
    """A call without a valid token; the message says why, and never repeats the token."""


@dataclass(frozen=True)
class TrustedIssuer:
    """An EHR this site accepts calls from, and where its public keys are published."""

    issuer: str
    jwks_url: str

    @classmethod
    def parse(cls, text: str) -> TrustedIssuer:
        """``ISSUER=JWKS_URL``, as given to ``--trust-issuer``."""
        issuer, sep, jwks_url = text.partition("=")
        if not sep or not issuer or not jwks_url.startswith(("https://", "http://")):
            raise CareligibleError(
                f"--trust-issuer {text!r}: expected ISSUER=JWKS_URL (an http(s) address)"
            )
        return cls(issuer, jwks_url)


class TokenVerifier:
    """Checks a bearer token: trusted issuer, signature by its JWKS, audience, expiry."""

    def __init__(self, issuers: Sequence[TrustedIssuer], audiences: Sequence[str]) -> None:
        self.audiences = list(audiences)
        self._seen: dict[tuple[str, str], float] = {}  # (issuer, jti) -> expiry
        self._lock = threading.Lock()
        self._clients = {
            issuer.issuer: jwt.PyJWKClient(issuer.jwks_url, cache_keys=True, lifespan=300)
            for issuer in issuers
        }

    @property
    def configured(self) -> bool:
        return bool(self._clients)

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The token's claims, or :class:`AuthError`. Blocking: it may fetch the issuer's keys."""
        if not self._clients:
            raise AuthError("no trusted issuer is configured: every hook call is refused")
        token = _bearer(authorization)
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError:
            raise AuthError("the bearer token is not a JWT") from None
        client = self._clients.get(issuer) if isinstance(issuer, str) else None
        if client is None:
            raise AuthError("the token's issuer is not trusted here")
        try:
            key = client.get_signing_key_from_jwt(token).key
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise AuthError(f"no key of the issuer verifies the token ({_reason(exc)})") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=[audience, *self.audiences],
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the token was refused: {_reason(exc)}") from None
        self._first_use(str(issuer), str(claims["jti"]), float(claims["exp"]))
        return claims

    def _first_use(self, issuer: str, jti: str, expires: float) -> None:
        """Refuse a token seen before; forget tokens once they have expired anyway."""
        now = time.time()
        with self._lock:
            if len(self._seen) > 1024:
                self._seen = {k: v for k, v in self._seen.items() if v + LEEWAY_SECONDS > now}
            if (issuer, jti) in self._seen:
                raise AuthError("the token was refused: it was used before (jti replayed)")
            self._seen[(issuer, jti)] = expires


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("a bearer token is required (Authorization: Bearer <JWT>)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <JWT>'")
    return token.strip()


_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "it has expired"),
    (jwt.ImmatureSignatureError, "it is not valid yet"),
    (jwt.InvalidAudienceError, "it was issued for another audience"),
    (jwt.InvalidIssuerError, "its issuer does not match"),
    (jwt.MissingRequiredClaimError, "a required claim is missing"),
    (jwt.InvalidSignatureError, "the signature does not match"),
    (jwt.InvalidAlgorithmError, "its algorithm is not accepted"),
    (jwt.PyJWKClientConnectionError, "the issuer's keys could not be fetched"),
    (jwt.PyJWKClientError, "no matching key"),
)


def _reason(exc: Exception) -> str:
    """A fixed wording per failure: library messages may quote claims back."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "it could not be verified"
