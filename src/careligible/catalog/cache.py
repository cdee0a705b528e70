"""Loaded catalogs kept on disk by content hash, so a start-up skips parsing the YAML.

Loading a rules directory parses and checks every YAML file (about 0.3 s for the shipped
catalog, 3 s with 288 trials); unpickling the loaded catalog takes a few milliseconds. Each
catalog loaded is therefore kept in the user's cache directory, under a key made of:

* the ruleset version (the content hash of every rule file and registry snapshot), so a changed
  rule is never read from a stale entry;
* the rules directory as given and as resolved, since the catalog names its files;
* the size and modification time of every module of this package, and the Python version, so
  an entry written by other code is never unpickled into this one.

An entry is the SHA-256 of its payload followed by the payload: a file cut short or altered
fails the check, is removed and the catalog is loaded from the YAML again. Entries are written
to a temporary file and renamed into place, never inside the rules directory, and at most
:data:`KEEP` entries are kept. The cache is the user's own: its directory is created readable
by its owner only. ``CARELIGIBLE_CACHE_DIR`` names another directory, or ``off`` for none.

:func:`derived` keeps other work done on a catalog the same way (the engine's laid-out rulesets),
under the hash of a text naming everything that work reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar, cast

from .schema import Catalog

#: The environment variable naming the cache directory, or ``off``.
CACHE_ENV = "CARELIGIBLE_CACHE_DIR"

#: Entries kept; the oldest beyond this are removed when a new one is written.
KEEP = 32

_DIGEST = hashlib.sha256().digest_size

T = TypeVar("T")


def cache_dir() -> Path | None:
    """Where catalogs are kept: ``$CARELIGIBLE_CACHE_DIR``, else the user's cache directory."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "careligible"


@cache
def _code_stamp() -> str:
    """What identifies this package's code (see :func:`code_stamp`)."""
    return code_stamp(str(Path(__file__).resolve().parents[1]))


def code_stamp(package: str) -> str:
    """The Python version and every module under ``package``: its path, size and modification
    time. An entry is only ever read by the code that wrote it.

    Every start computes it, so the tree is walked with ``os.scandir`` and the entries sorted as
    text: ``Path`` objects and their comparisons cost more than the stat calls themselves."""
    digest = hashlib.sha256(sys.version.encode())
    for name, info in sorted(_modules(package, "")):
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _modules(folder: str, prefix: str) -> list[tuple[str, os.stat_result]]:
    """Every ``*.py`` file under ``folder``: its path relative to the package, and its stat."""
    found: list[tuple[str, os.stat_result]] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                found += _modules(entry.path, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".py"):
                found.append((prefix + entry.name, entry.stat()))
    return found


def _entry(directory: Path, version: str) -> Path | None:
    """The cache file of ``directory`` at ``version``; None when there is no usable cache."""
    where = cache_dir()
    if where is None:
        return None
    try:
        resolved = directory.resolve()
        if where.resolve().is_relative_to(resolved):
            return None  # never inside the rules directory
    except (OSError, RuntimeError):
        return None
    key = hashlib.sha256(
        "\0".join([version, str(directory), str(resolved), _code_stamp()]).encode()
    ).hexdigest()
    return where / f"catalog-{key[:32]}.pickle"


def cached_catalog(directory: Path, version: str) -> Catalog | None:
    """The catalog kept for ``directory`` at ``version``, or None (an unusable entry is removed)."""
    entry = _entry(directory, version)
    if entry is None:
        return None
    catalog = _read(entry)
    if isinstance(catalog, Catalog) and catalog.version == version:
        return catalog
    with contextlib.suppress(OSError):
        entry.unlink()
    return None


def keep_catalog(directory: Path, catalog: Catalog) -> None:
    """Keep ``catalog`` for the next start; any failure only means there is no entry."""
    entry = _entry(directory, catalog.version)
    if entry is not None:
        _write(entry, catalog)


def derived(kind: str, content: str, compute: Callable[[], T]) -> T:
    """What ``compute`` makes of a catalog, kept under the hash of ``content`` (text that names
    everything the result depends on) and of this package's code; computed again when there is
    no usable entry. For work every start would repeat, such as laying out the rulesets."""
    where = cache_dir()
    if where is None:
        return compute()
    key = hashlib.sha256("\0".join([kind, content, _code_stamp()]).encode()).hexdigest()
    entry = where / f"{kind}-{key[:32]}.pickle"
    found = _read(entry)
    if found is not None:
        return cast(T, found)
    made = compute()
    _write(entry, made)
    return made


def _read(entry: Path) -> object | None:
    """An entry's object when its digest holds and it unpickles; None otherwise."""
    try:
        data = entry.read_bytes()
    except OSError:
        return None
    digest, payload = data[:_DIGEST], data[_DIGEST:]
    if hashlib.sha256(payload).digest() != digest:
        return None
    try:
        value: object = pickle.loads(payload)
    except Exception:
        return None
    return value


def _write(entry: Path, value: object) -> None:
    """Write an entry through a temporary file renamed into place; a failure writes nothing."""
    written: str | None = None
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=entry.parent, prefix=".", delete=False) as out:
            written = out.name
            out.write(hashlib.sha256(payload).digest() + payload)
        os.replace(written, entry)
    except Exception:
        if written is not None:
            with contextlib.suppress(OSError):
                os.unlink(written)
        return
    _prune(entry.parent)


def _prune(where: Path) -> None:
    """Remove all but the :data:`KEEP` most recently written entries."""
    with contextlib.suppress(OSError):
        entries = sorted(where.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
