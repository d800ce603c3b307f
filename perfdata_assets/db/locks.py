"""One writer at a time per table that runs replace by window (delete, then insert).

Two runs replacing overlapping months of one table at once would each delete
what the other has not committed yet, and the second would then fail on the
first one's rows (a unique-key conflict). In production the concurrency pools
keep them apart; anywhere else (`perfdata backfill` on a local instance, two
machines) this lock makes the second wait for the first, within the
connection's lock timeout. On SQLite, writers already take turns on the
database file.

The daily merges into the history tables (db/transfer.py, channel counts,
uptime days) take the same lock per table before writing: two runs merging
overlapping days then never hold row locks the other waits for, so a
DeadlockDetected between perfdata's own runs cannot happen; the one that waits
past the lock timeout fails with LockNotAvailable, its transaction rolled back
whole, and re-running it completes.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa


def lock_table_for_replace(conn: sa.Connection, table: str) -> None:
    """Wait, until the transaction ends, for any other transaction replacing rows of ``table``."""
    if conn.dialect.name != "postgresql":
        return
    # A transaction-level advisory lock: released by the commit or rollback, never leaked.
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key(table)})


def _key(table: str) -> int:
    # Stable across processes and versions (Python's hash() is not); perfdata's own key space.
    return (0x70657266 << 32) | zlib.crc32(table.encode())
