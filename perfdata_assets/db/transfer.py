"""Moving a window of source rows into a perfdata table without holding it in memory.

In the embedded architecture (one database) the extraction query is inlined
into the ``INSERT ... SELECT``: one statement, no rows through Python. When
perfdata writes to another database, rows stream through in fixed-size
batches into a temporary staging table and the same merge runs from there,
so memory stays flat whatever the window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from perfdata_assets.db.dialect import Dialect
from perfdata_assets.db.engines import Databases

BATCH_ROWS = 10_000


@dataclass(frozen=True)
class Extraction:
    """A query over the LPA tables, rendered for whichever database runs it."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type) of the rows it yields
    render: Callable[[Dialect], str]


def merge_window(
    conn: sa.Connection,
    dbs: Databases,
    extraction: Extraction,
    merge_sql: str,
    params: dict,
) -> int:
    """Run ``merge_sql`` with ``{source}`` bound to the extracted rows; returns rows written.

    ``conn`` is the perfdata connection, already in the run's transaction.
    """
    target = Dialect(dbs.dialect)
    if dbs.same_database:
        source = f"({extraction.render(target)}) AS src"
        return conn.execute(sa.text(merge_sql.format(source=source)), _bind(target, params)).rowcount

    staging = ("pg_temp." if target.name == "postgresql" else "temp.") + f"staging_{extraction.name}"
    column_ddl = ", ".join(f"{name} {sql_type}" for name, sql_type in extraction.columns)
    suffix = " ON COMMIT DROP" if target.name == "postgresql" else ""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {staging}")
    conn.exec_driver_sql(f"CREATE TABLE {staging} ({column_ddl}){suffix}")
    names = [name for name, _ in extraction.columns]
    insert = sa.text(
        f"INSERT INTO {staging} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
    )
    source_dialect = Dialect(dbs.lpa.dialect.name)
    with dbs.lpa.connect() as source_conn:
        result = source_conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
            sa.text(extraction.render(source_dialect)), _bind(source_dialect, params)
        )
        convert = {name: _converter(sql_type, target) for name, sql_type in extraction.columns}
        for batch in result.mappings().partitions(BATCH_ROWS):
            conn.execute(insert, [{k: convert[k](v) for k, v in row.items()} for row in batch])
    return conn.execute(sa.text(merge_sql.format(source=f"{staging} AS src")), _bind(target, params)).rowcount


def _bind(dialect: Dialect, params: dict) -> dict:
    return {k: dialect.instant(v) if isinstance(v, dt.datetime) else v for k, v in params.items()}


def _converter(sql_type: str, target: Dialect) -> Callable[[object], object]:
    """How a staged column's value crosses from one database to the other.

    SQLite hands back its timestamps and dates as text (UTC for instants);
    PostgreSQL wants real values, SQLite wants the text form perfdata uses.
    """
    kind = sql_type.split()[0].upper()
    if kind == "TIMESTAMP":

        def instant(value: object) -> object:
            if value is None:
                return None
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            return target.instant(value)

        return instant
    if kind == "DATE":

        def day(value: object) -> object:
            if isinstance(value, str):
                value = dt.date.fromisoformat(value)
            return value.isoformat() if (value is not None and target.name == "sqlite") else value

        return day
    return lambda value: value
