"""The least a PostgreSQL role needs to run perfdata inside the LPA service's database.

`perfdata db grants --role NAME` prints these statements for a DBA to run after
`perfdata db upgrade`. With them, perfdata's own connection reads the two
source tables and nothing else of the service's — a write to the live tables
fails on privileges, even in the embedded architecture where one connection
reads the source and writes the perfdata schema in one statement — and owns
the perfdata schema, as the first load's bulk path (rebuilding an empty
table's indexes) needs.
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
        f"ALTER SCHEMA {SCHEMA} OWNER TO {role}",
        # Every table and view perfdata's migrations made, whoever ran them.
        "DO $$ DECLARE r record; BEGIN "
        "FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{SCHEMA}' AND c.relkind IN ('r', 'v', 'S') LOOP "
        "EXECUTE 'ALTER ' || CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END "
        f"|| ' {SCHEMA}.' || quote_ident(r.relname) || ' OWNER TO {role}'; "
        "END LOOP; END $$",
    ]
