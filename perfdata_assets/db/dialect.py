"""The few SQL fragments that differ between PostgreSQL and SQLite.

Everything else perfdata runs is the same text on both (``ON CONFLICT``,
``->>``, ``IS DISTINCT FROM``, CTEs), so each query is written once, in the
module of the asset that owns it, and only these fragments are swapped in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from perfdata_assets.db.types import sqlite_utc_text


@dataclass(frozen=True)
class Dialect:
    name: str

    def london_date(self, ts: str) -> str:
        """The calendar day, in UK local time, of a UTC instant."""
        if self.name == "postgresql":
            return f"(({ts}) AT TIME ZONE 'Europe/London')::date"
        return f"london_date({ts})"

    def json_type(self, document: str) -> str:
        """The JSON type of a whole document: 'object', 'array', 'string', 'number', 'boolean' or 'null'."""
        if self.name == "postgresql":
            return f"jsonb_typeof({document})"
        # SQLite's json_type says integer/real/true/false/text; malformed text is no object either.
        return f"(CASE WHEN NOT json_valid({document}) THEN 'malformed' ELSE {self._sqlite_type_name(f'json_type({document})')} END)"

    def json_member_type(self, document: str, key: str) -> str:
        """The JSON type of an object's member, named as ``json_type`` names them; NULL when absent.

        On SQLite, only where the document is an object (json_type fails on malformed text).
        """
        if self.name == "postgresql":
            return f"jsonb_typeof({document} -> '{key}')"
        return self._sqlite_type_name(f"json_type({document}, '$.\"{key}\"')")

    @staticmethod
    def _sqlite_type_name(expr: str) -> str:
        return (f"(CASE {expr} WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
                f"WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' ELSE {expr} END)")

    def json_text(self, document: str, key: str) -> str:
        """A JSON object's member when it is a string; NULL for anything else.

        Never the text of a member that is an object, array, number or boolean: a
        ``{"email": …}`` where a page path belongs must not be copied.
        """
        is_string = f"{self.json_member_type(document, key)} = 'string'"
        if self.name == "postgresql":
            # -> yields NULL on an array or a scalar, so one test covers the document too.
            return f"(CASE WHEN {is_string} THEN {document} ->> '{key}' END)"
        return (f"(CASE WHEN {self.json_type(document)} = 'object' THEN "
                f"CASE WHEN {is_string} THEN {document} ->> '{key}' END END)")

    def evaluate_here(self) -> str:
        """Ends a subquery whose columns must be computed once per row, before a join multiplies the rows.

        PostgreSQL would otherwise pull the subquery up and compute them per joined row;
        ``OFFSET 0`` is its documented way to keep a subquery apart. SQLite needs nothing.
        """
        return "OFFSET 0" if self.name == "postgresql" else ""

    def path_only(self, url: str) -> str:
        """A page address without its query string or fragment, where personal data can hide."""
        find = "strpos" if self.name == "postgresql" else "instr"
        cut = f"substr({url}, 1, {find}({url} || '?', '?') - 1)"
        return f"substr({cut}, 1, {find}({cut} || '#', '#') - 1)"

    def instant(self, value: dt.datetime) -> object:
        """A bound value comparable with the stored timestamps."""
        if value.tzinfo is None:
            raise ValueError("instants must be time-zone aware")
        return value if self.name == "postgresql" else sqlite_utc_text(value)


def html_unescape(expr: str) -> str:
    """Undo the service's htmlspecialchars(ENT_QUOTES) on insert; ``&amp;`` last so it is not decoded twice."""
    out = expr
    for entity, char in (
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", '"'),
        ("&#039;", "''"),
        ("&#39;", "''"),
        ("&#x27;", "''"),
        ("&amp;", "&"),
    ):
        out = f"replace({out}, '{entity}', '{char}')"
    return out


def percent(numerator: str, denominator: str) -> str:
    """100 × n / d rounded to 2 places, half away from zero; NULL when d is 0.

    Integer arithmetic makes the rounding exact on both databases (SQLite has
    no numeric type): for n, d >= 0, round(100 n / d, 2) × 100 equals
    floor((20000 n + d) / 2d).
    """
    n, d = f"CAST(({numerator}) AS BIGINT)", f"CAST(({denominator}) AS BIGINT)"
    return f"(CASE WHEN {d} = 0 THEN NULL ELSE CAST((20000 * {n} + {d}) / (2 * {d}) AS NUMERIC) / 100.0 END)"
