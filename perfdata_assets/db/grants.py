"""The least a PostgreSQL role needs to run perfdata inside the LPA service's database.

`perfdata db grants --role NAME` prints these statements for a DBA to run. With
them, perfdata's own connection can read the two source tables and nothing
else of the service's: a write to the live tables fails on privileges, even in
the embedded architecture where one connection reads the source and writes
the perfdata schema in the same statement.
"""

from __future__ import annotations

import re

from perfdata_assets.db.engines import SCHEMA

SOURCE_TABLES = ("applications", "feedback")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def runtime_grants(role: str, source_schema: str = "public") -> list[str]:
    for name, value in (("role", role), ("source schema", source_schema)):
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError(f"{name} {value!r} is not a plain lower-case PostgreSQL identifier")
    tables = ", ".join(f"{source_schema}.{t}" for t in SOURCE_TABLES)
    return [
        f"GRANT USAGE ON SCHEMA {source_schema} TO {role}",
        f"GRANT SELECT ON {tables} TO {role}",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    ]
