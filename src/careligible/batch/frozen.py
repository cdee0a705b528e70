"""The catalog as bytes for another process, checked against its SHA-256 before use.

Every process that screens for a batch (a local worker, a Dask worker, a Spark executor) gets the
catalog of the process that started the batch, never the rules directory: one run screens with one
ruleset, even if the files change meanwhile, and a process that replaces a lost one screens with
the same. The bytes travel with their digest, and a process refuses bytes that do not match it.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass

from ..catalog import Catalog
from ..errors import CareligibleError


class CatalogRefused(CareligibleError):
    """The catalog bytes a process was given do not match the digest sent with them."""


@dataclass(frozen=True)
class FrozenCatalog:
    """A catalog's bytes, its SHA-256 and its ruleset version (which names the rule files)."""

    data: bytes
    digest: str
    version: str


def freeze(catalog: Catalog) -> FrozenCatalog:
    """The catalog as bytes another process can load with :func:`thaw`."""
    data = pickle.dumps(catalog, protocol=pickle.HIGHEST_PROTOCOL)
    return FrozenCatalog(data, hashlib.sha256(data).hexdigest(), catalog.version)


def thaw(data: bytes, digest: str) -> Catalog:
    """The catalog held by ``data``; raises :class:`CatalogRefused` unless its SHA-256 is
    ``digest``. The check comes first: bytes that were cut short or altered are never unpickled."""
    if hashlib.sha256(data).hexdigest() != digest:
        raise CatalogRefused("the catalog sent to this worker does not match its hash")
    catalog = pickle.loads(data)
    if not isinstance(catalog, Catalog):
        raise CatalogRefused("the bytes sent to this worker do not hold a catalog")
    return catalog
