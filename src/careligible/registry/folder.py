"""Where a rules directory keeps its registry snapshots.

Every start hashes the snapshot files into the ruleset version, so finding them must not load
the snapshot format and the record parser (:mod:`.snapshot`, :mod:`.record`): a catalog whose
loaded form comes from the cache never reads a snapshot.
"""

from __future__ import annotations

from pathlib import Path

#: The folder of a rules directory that holds the snapshots.
FOLDER = "registry"


def snapshot_files(directory: Path) -> list[Path]:
    """The snapshot files of a rules directory, in the order the version hash reads them."""
    folder = directory / FOLDER
    return sorted(folder.glob("NCT*.json")) if folder.is_dir() else []
