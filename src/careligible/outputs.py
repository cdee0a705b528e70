"""Where outputs may go: never over what a command reads, and never half written.

The command line and the terminal UI both write files a clinician depends on (results, reports,
saved cases). The rules of this module are theirs alike: an output is refused when it is, or
would replace, an input, the audit log or a rule file (:func:`refuse_clash`), and a file is
written beside its target and renamed over it only once complete (:func:`write_atomic`).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .catalog import default_rules_dir
from .errors import CareligibleError


@dataclass(frozen=True)
class Protected:
    """A file (or a directory of files) that a command's output must never replace."""

    path: Path
    what: str  # e.g. "an input", "the audit log", "the rule catalog"


def protected_files(
    inputs: Iterable[Path] = (),
    audit_log: Path | None = None,
    rules_dir: Path | None = None,
) -> list[Protected]:
    """What a command reads or appends to: its inputs, its audit log, the catalogs it may load
    (the shipped one always, and ``rules_dir`` when given)."""
    found = [Protected(path, "an input") for path in inputs]
    if audit_log is not None:
        found.append(Protected(audit_log, "the audit log"))
    found.append(Protected(default_rules_dir(), "the rule catalog"))
    if rules_dir is not None:
        found.append(Protected(rules_dir, "the rule catalog"))
    return found


def refuse_clash(target: Path | None, protected: Iterable[Protected], role: str) -> None:
    """Raise :class:`CareligibleError` when ``target`` is, or would replace, a protected file.

    The same file is recognised however it is reached: through a symbolic link, ``..``, or a
    hard link (the same inode on the same device). Anything inside a rules directory is refused,
    so an output can never become, or replace, a rule file.
    """
    if target is None or _is_device(target):
        return
    resolved = target.resolve()
    for item in protected:
        if item.path.is_dir():
            root = item.path.resolve()
            if resolved == root or root in resolved.parents:
                raise CareligibleError(
                    f"{role} {target} is inside {item.what} ({item.path}); nothing was written"
                )
        elif resolved == item.path.resolve() or _same_inode(resolved, item.path):
            raise CareligibleError(
                f"{role} {target} is {item.what} ({item.path}); writing it would destroy it, "
                "so nothing was written"
            )


def _is_device(path: Path) -> bool:
    """``/dev/null``, a FIFO, a terminal: written in place, never replaced (see below)."""
    try:
        return not stat.S_ISREG(path.stat().st_mode) and not path.is_dir()
    except OSError:
        return False


def _same_inode(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def file_mode(target: Path) -> int:
    """The permissions ``target`` has, or those a new file gets under the current umask."""
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that it is never seen partial: a temporary file beside it,
    renamed over it when complete. A symbolic link is followed, so the link stays. Raises
    :class:`OSError` as writing does (a full disk); the temporary file is then removed."""
    resolved = target.resolve()
    fd, temp = tempfile.mkstemp(prefix=f".{resolved.name}.", suffix=".part", dir=resolved.parent)
    try:
        os.chmod(temp, file_mode(resolved))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, resolved)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
