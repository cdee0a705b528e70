"""The catalog of the main process, as the bytes a worker process rebuilds it from.

A worker that loaded the rules directory itself could screen with other rules than the main
process (a file edited between two starts, a replacement worker started later): the verdicts of
one run or one service would then rest on two rulesets. Every worker, of ``screen`` and of the
service alike, is therefore given the main process's catalog pickled, with the SHA-256 of those
bytes, and refuses them if they do not match.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass

from ..catalog import Catalog


@dataclass(frozen=True)
class FrozenCatalog:
    """A catalog as bytes, and the SHA-256 they were sent with."""

    data: bytes
    digest: str

    @classmethod
    def of(cls, catalog: Catalog) -> FrozenCatalog:
        data = pickle.dumps(catalog, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(data, hashlib.sha256(data).hexdigest())

    def thaw(self) -> Catalog:
        """The catalog again; a RuntimeError when the bytes do not match their hash."""
        if hashlib.sha256(self.data).hexdigest() != self.digest:
            raise RuntimeError("the catalog sent to this worker does not match its hash")
        catalog = pickle.loads(self.data)
        assert isinstance(catalog, Catalog)
        return catalog
