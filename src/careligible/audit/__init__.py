"""Decision records: an append-only, hash-chained JSON Lines log of every verdict given.

Each record names the tool and ruleset versions behind a screening, a SHA-256 of the case, the
verdicts and the criteria that decided them, so that any verdict can later be traced and, when the
case itself was recorded, reproduced. Every record carries the hash of the record before it
(``prev``) and its own hash over its canonical JSON (``hash``): editing, deleting or reordering
records breaks the chain at the first record touched.

A chain alone cannot show that its *last* records were removed (or the log emptied, or the last
record edited and rehashed): what is left is still a valid chain. So the head of the log — the
hash of its last record and the record count — is an anchor kept apart from the log: ``screen
--audit-log`` prints it, and ``audit verify --expect-head`` fails unless the log still ends at
exactly that record.

A record is one line ending in ``\n``; nothing else ends a record (a U+2028 inside an id is
text). A write cut short (a full disk, a crash) leaves a torn last line: nothing is appended
after it until ``audit repair`` has cut the log back to its last whole record.

Only the case id (a pseudonym) identifies a case; its file name is never recorded, and the case
itself only on request (``include_case``).
"""

from .log import (
    AuditLog,
    Head,
    Repair,
    append_sealed,
    check_tail,
    log_head,
    open_audit_log,
    repair_log,
)
from .records import (
    FIRED,
    RECORD_FORMAT,
    AuditError,
    build_record,
    canonical_json,
    case_data,
    case_hash,
    fired_rules,
    record_hash,
    seal,
    sha256_of,
    tool_version,
)
from .verify import (
    LogLine,
    Verification,
    chain_break,
    head_mismatch,
    read_log,
    stale_status_warnings,
    verify_log,
)

__all__ = [
    "FIRED",
    "RECORD_FORMAT",
    "AuditError",
    "AuditLog",
    "Head",
    "LogLine",
    "Repair",
    "Verification",
    "append_sealed",
    "build_record",
    "canonical_json",
    "case_data",
    "case_hash",
    "chain_break",
    "check_tail",
    "fired_rules",
    "head_mismatch",
    "log_head",
    "open_audit_log",
    "read_log",
    "record_hash",
    "repair_log",
    "seal",
    "sha256_of",
    "stale_status_warnings",
    "tool_version",
    "verify_log",
]
