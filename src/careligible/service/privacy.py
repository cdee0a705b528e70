"""Keyed pseudonyms: the record's patient id never reaches a log, a result or an audit record.

The EHR's patient id is an identifier in its own right, so the service replaces it, before
anything is screened, with an HMAC-SHA256 under a secret that only the site holds. The same
patient gets the same pseudonym for as long as the secret is kept (so audit records of one
patient can be found together), and the id cannot be recovered, nor guessed by hashing
candidate ids, without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from ..errors import CareligibleError

#: Hex digits of the HMAC kept: 128 bits, far beyond any collision a site could meet.
PSEUDONYM_HEX = 32

#: Fewest bytes a site secret may have: shorter keys weaken the HMAC.
MIN_SECRET_BYTES = 16


class Pseudonymizer:
    """Turns an EHR patient id into ``p-<hex>``, stable under one site secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise CareligibleError(
                f"the site secret must hold at least {MIN_SECRET_BYTES} bytes; it holds "
                f"{len(secret)}"
            )
        self._secret = secret

    def __call__(self, patient_id: str) -> str:
        digest = hmac.new(self._secret, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"p-{digest[:PSEUDONYM_HEX]}"


def read_secret(path: Path) -> bytes:
    """The site secret from a file (surrounding white space ignored)."""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise CareligibleError(f"{path}: cannot read the site secret: {exc.strerror}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise CareligibleError(
            f"{path}: the site secret must hold at least {MIN_SECRET_BYTES} bytes"
        )
    return secret


def throwaway_secret() -> bytes:
    """A secret for one run only: pseudonyms then change at every restart."""
    return secrets.token_bytes(32)
