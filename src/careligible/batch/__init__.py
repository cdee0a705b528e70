"""Batch screening: every input record in, one result record out, in input order.

The package owns the whole loop of ``careligible screen``; the command line calls
:func:`run_batch` and maps what it raises to an exit status. Its modules, in the order a case
passes through them:

* :mod:`.cases` reads and parses the records, flags duplicate ids, and screens one record into
  exactly one result, turning any fault into that record's error;
* :mod:`.stream` screens the stream in this process or over workers, in input order, with the
  catalog of this process;
* :mod:`.pool` runs the worker processes and replaces any that dies, redoing its chunks;
* :mod:`.memory` keeps the main process's heap flat over a long batch;
* :mod:`.run` writes each record and its audit entry, and names any output failure.
"""

from __future__ import annotations

from .cases import SeenIds, parsed_cases, screen_parsed
from .pool import WorkersLost
from .run import Batch, OutputFailed, run_batch
from .stream import Screened, default_jobs, screen_stream

__all__ = [
    "Batch",
    "OutputFailed",
    "Screened",
    "SeenIds",
    "WorkersLost",
    "default_jobs",
    "parsed_cases",
    "run_batch",
    "screen_parsed",
    "screen_stream",
]
