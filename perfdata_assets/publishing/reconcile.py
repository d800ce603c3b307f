"""Switching over: OPG's hand-kept ``data.json`` beside perfdata's published figures (issue #24).

The day perfdata's first monthly file reaches OPG's bucket, OPG's import
appends it to the service's ``data.json`` and runs OPG's validator on the whole
file, hand-made history included. ``reconcile`` says, before that day, what
that validator and perfdata's contract would find in the history, puts every
hand figure beside perfdata's figure for the same month and data type, and
makes the corrected file:

- findings name the record index, its month and its data type. OPG's rules come
  from ``opg_validation.validate_records_by_index``, perfdata's contract from
  ``opg_validation.record_contract_problems`` (the rules a record of any month
  keeps; docs/switching-over.md says which and why), so there is one validator;
- a hand figure agrees with perfdata's when it is perfdata's value rounded
  half away from zero to the hand figure's own decimal places: "40.9" agrees
  with 40.94, not with 41.2; "89" with 88.5;
- the corrected file keeps OPG's records in their order and their keys in
  theirs; a ``count`` that is a string holding a JSON number becomes that
  number, a record that repeats an earlier one exactly is removed (OPG's
  validator rejects the pair, and the repeat says nothing the first does not),
  and nothing else changes unless ``prefer_perfdata``: then a hand figure that
  disagrees with perfdata's is replaced by perfdata's, written as perfdata's
  export writes it.

The corrected file is written as perfdata's exports are (two-space indent, one
record per block, a final newline), which is also how OPG's import rewrites the
whole file with ``jq`` on its first run; numbers keep their text ("32.0" stays
32.0) and text stays UTF-8. Reading the corrected file and correcting it again
gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from perfdata_assets.publishing.exports import opg_count
from perfdata_assets.publishing.opg_validation import (
    record_contract_problems,
    validate_records,
    validate_records_by_index,
)
from perfdata_assets.publishing.published import DATA_TYPES, PERIOD, PublishedValue

OPG_RULE = "OPG's validator"
CONTRACT_RULE = "perfdata contract"
FIGURE_RULE = "perfdata's figure"
# JSON's number grammar: a string count that is one of these is a number typed as text.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})-01T00:00:00\+00:00")
_STRING_COUNT = '"count" is a string'

Number = int | Decimal


class BadInput(ValueError):
    """The file is not a JSON list of records: there is nothing to reconcile. The message is one line."""


@dataclass(frozen=True)
class Finding:
    """One problem of one record (``index`` None for the file as a whole)."""

    index: int | None
    month: str  # "2026-01"; the _timestamp as written when it names no month; "no month" when absent
    data_type: str  # the dataType as written, or "no dataType"
    rule: str  # OPG_RULE, CONTRACT_RULE or FIGURE_RULE
    problem: str
    fix: str | None  # what the written file does about it; None when it needs a hand edit

    def line(self) -> str:
        where = f"record {self.index}, {self.month}, {self.data_type}"
        fix = f" -> {self.fix}" if self.fix else " -> by hand"
        return f"{where}: {self.problem} ({self.rule}){fix}"


@dataclass(frozen=True)
class Comparison:
    """A hand figure beside perfdata's published value for the same month and data type."""

    index: int
    month: dt.date
    data_type: str
    hand: str  # as written in data.json (a string count's text without its quotes)
    perfdata: Decimal
    agrees: bool


@dataclass(frozen=True)
class Change:
    """What the corrected file does differently from data.json, record by record."""

    index: int
    month: str
    data_type: str
    what: str


@dataclass(frozen=True)
class Reconciliation:
    records: int
    findings: list[Finding]
    comparisons: list[Comparison]
    file_months: list[dt.date]
    perfdata_months: list[dt.date]
    only_in_file: list[dt.date]
    only_in_perfdata: list[dt.date]
    no_perfdata_figure: list[tuple[int, dt.date, str]]  # hand records in a shared month perfdata has no figure for
    changes: list[Change]
    corrected: bytes  # the corrected data.json
    corrected_problems: list[str]  # OPG's rules on the corrected file ([] when OPG's validator passes it)

    @property
    def ok(self) -> bool:
        """Valid under OPG's rules and perfdata's contract, and every shared figure agrees."""
        return not self.findings


# --- reading and writing data.json --------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), "a number")


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def read_records(data: bytes) -> list[dict]:
    """data.json's records, every number exact (an int, or a Decimal keeping its text). Raises BadInput."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        records = json.loads(text, parse_float=Decimal, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise BadInput(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:
        raise BadInput(f"not JSON ({exc})") from None
    if not isinstance(records, list):
        raise BadInput(f"not a list of records: the top level is {_kind(records)}, not an array")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadInput(f"not a list of records: item {index} is {_kind(record)}, not an object")
    return records


def _json_text(value: object, level: int) -> str:
    """json.dumps(value, indent=2), except that a Decimal is written as its own text."""
    inner, outer = "  " * (level + 1), "  " * level
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_json_text(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}" if items else "{}"
    if isinstance(value, list):
        items = [f"{inner}{_json_text(v, level + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{outer}]" if items else "[]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def write_records(records: list) -> bytes:
    """The records as perfdata's exports are written: two-space indent, UTF-8, a final newline."""
    return (_json_text(records, 0) + "\n").encode("utf-8")


# --- one record ------------------------------------------------------------------------


def _number_in(text: str) -> Number | None:
    """The number a string count holds ("40.9" -> 40.9, " 41 " -> 41), or None if it holds anything else."""
    stripped = text.strip()
    if not _JSON_NUMBER.fullmatch(stripped):
        return None
    return json.loads(stripped, parse_float=Decimal)


def _month_of(record: dict) -> dt.date | None:
    match = _MONTH.fullmatch(record["_timestamp"]) if isinstance(record.get("_timestamp"), str) else None
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), 1)
    except ValueError:
        return None


def _month_label(record: dict) -> str:
    month = _month_of(record)
    if month is not None:
        return f"{month:%Y-%m}"
    return f"_timestamp {_json_text(record['_timestamp'], 0)}" if "_timestamp" in record else "no month"


def _type_label(record: dict) -> str:
    data_type = record.get("dataType")
    if isinstance(data_type, str):
        return data_type
    return f"dataType {_json_text(data_type, 0)}" if "dataType" in record else "no dataType"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool) and Decimal(value).is_finite()


def agrees(hand: Number, published: Decimal) -> bool:
    """Whether a hand figure is perfdata's value, exactly or to the hand figure's own decimal places.

    perfdata's value rounded half away from zero (as kpis.md rounds) to as many
    places as the hand figure shows: 40.9 agrees with 40.94 and 40.85, not 41.2.
    """
    hand = Decimal(hand)
    places = max(0, -hand.as_tuple().exponent)
    return published.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) == hand


def _rule_of(problem: str, rule: str) -> tuple[str, str]:
    """(rule, problem) with the rule named once: opg_validation marks perfdata's own rules in the message,
    among them the ``_timestamp`` form that ``validate_records`` checks alongside OPG's."""
    marked = f" ({CONTRACT_RULE})"
    return (CONTRACT_RULE, problem.removesuffix(marked)) if problem.endswith(marked) else (rule, problem)


# --- the whole file ----------------------------------------------------------------------


def reconcile(data: bytes, published: Sequence[PublishedValue], prefer_perfdata: bool = False) -> Reconciliation:
    """Every finding in data.json, its figures beside perfdata's, and the corrected file. Raises BadInput."""
    records = read_records(data)
    figures = {(v.period_start, v.data_type): v.value for v in published if v.value is not None}
    perfdata_months = sorted({month for month, _ in figures})
    labels = [(_month_label(r), _type_label(r)) for r in records]
    changes: list[Change] = []

    # A string count that holds a number becomes that number; the record keeps its key order.
    normalised = [dict(r) for r in records]
    made_numbers: dict[int, Number] = {}
    for index, record in enumerate(normalised):
        if isinstance(record.get("count"), str) and (number := _number_in(record["count"])) is not None:
            record["count"] = number
            made_numbers[index] = number
            changes.append(Change(index, *labels[index], f'"count" {json.dumps(records[index]["count"])} '
                                                          f"made the number {_json_text(number, 0)}"))

    comparisons: list[Comparison] = []
    no_figure: list[tuple[int, dt.date, str]] = []
    for index, record in enumerate(normalised):
        month, data_type, count = _month_of(record), record.get("dataType"), record.get("count")
        if month is None or data_type not in DATA_TYPES or record.get("period") != PERIOD or not _is_number(count):
            continue
        value = figures.get((month, data_type))
        if value is None:
            if month in perfdata_months:
                no_figure.append((index, month, data_type))
            continue
        hand = records[index]["count"]
        comparisons.append(Comparison(index, month, data_type, hand if isinstance(hand, str) else _json_text(hand, 0),
                                      value, agrees(count, value)))

    corrected = [dict(r) for r in normalised]
    replaced: dict[int, Comparison] = {}
    if prefer_perfdata:
        for c in comparisons:
            if not c.agrees:
                corrected[c.index]["count"] = opg_count(c.data_type, c.perfdata)
                replaced[c.index] = c
                changes.append(Change(c.index, *labels[c.index],
                                      f'"count" {c.hand} replaced by perfdata\'s {c.perfdata}'))

    # A record that repeats an earlier one exactly (once string counts are numbers) is removed.
    removed: dict[int, int] = {}
    first_seen: dict[tuple[str, str], int] = {}
    for index, record in enumerate(corrected):
        timestamp, data_type = record.get("_timestamp"), record.get("dataType")
        if not (isinstance(timestamp, str) and isinstance(data_type, str)):
            continue
        first = first_seen.setdefault((timestamp, data_type), index)
        # Compared as written: 1 and true, or 88 and 88.0, are not the same record.
        if first != index and _json_text(record, 0) == _json_text(corrected[first], 0):
            removed[index] = first
            changes.append(Change(index, *labels[index], f"removed: the same record as record {first}"))
    kept = [record for index, record in enumerate(corrected) if index not in removed]
    corrected_bytes = write_records(kept)
    # Checked as read back from the bytes, as OPG's validator will read them.
    corrected_problems = validate_records(read_records(corrected_bytes), "corrected file")

    findings: list[Finding] = []
    for index, problem in validate_records_by_index(records):
        fix = None
        if problem.startswith(_STRING_COUNT) and index in made_numbers:
            fix = f"made the number {_json_text(made_numbers[index], 0)}"
        elif problem.startswith("same ") and index in removed:
            fix = f"removed (the same record as record {removed[index]})"
        findings.append(Finding(index, *labels[index], *_rule_of(problem, OPG_RULE), fix))
    for index, record in enumerate(normalised):
        for problem in record_contract_problems(record):
            fix = "replaced by perfdata's figure" if problem.startswith('"count"') and index in replaced else None
            findings.append(Finding(index, *labels[index], *_rule_of(problem, CONTRACT_RULE), fix))
    for c in comparisons:
        if not c.agrees:
            fix = "replaced by perfdata's figure" if c.index in replaced else "--prefer-perfdata writes perfdata's"
            findings.append(Finding(c.index, f"{c.month:%Y-%m}", c.data_type, FIGURE_RULE,
                                    f'"count" {c.hand} disagrees with perfdata\'s {c.perfdata}', fix))
    findings.sort(key=lambda f: (f.index if f.index is not None else -1))

    file_months = sorted({m for r in records if (m := _month_of(r)) is not None})
    return Reconciliation(
        records=len(records),
        findings=findings,
        comparisons=comparisons,
        file_months=file_months,
        perfdata_months=perfdata_months,
        only_in_file=[m for m in file_months if m not in perfdata_months],
        only_in_perfdata=[m for m in perfdata_months if m not in file_months],
        no_perfdata_figure=no_figure,
        changes=sorted(changes, key=lambda c: c.index),
        corrected=corrected_bytes,
        corrected_problems=corrected_problems,
    )


# --- the report ---------------------------------------------------------------------------


def _months(months: list[dt.date]) -> str:
    if not months:
        return "none"
    if len(months) > 3:
        return f"{months[0]:%Y-%m} to {months[-1]:%Y-%m} ({len(months)} months)"
    return ", ".join(f"{m:%Y-%m}" for m in months)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render(result: Reconciliation, name: str, written: str | None = None) -> str:
    """The report, in Markdown a person can paste into the pull request that fixes data.json."""
    lines = [
        f"## Reconciling {name} with perfdata's publication",
        "",
        f"- {name}: {_plural(result.records, 'record')}, months {_months(result.file_months)}",
        f"- perfdata's publication (perfdata.published_kpis): months {_months(result.perfdata_months)}",
        f"- months only in {name}: {_months(result.only_in_file)}",
        f"- months only in perfdata's publication: {_months(result.only_in_perfdata)}",
        "",
        f"### Findings: {len(result.findings)}",
        "",
    ]
    lines += [f"- {f.line()}" for f in result.findings] or ["none"]
    agreeing = sum(c.agrees for c in result.comparisons)
    lines += [
        "",
        f"### Hand figures beside perfdata's: {len(result.comparisons)} "
        f"({agreeing} {'agrees' if agreeing == 1 else 'agree'}, {len(result.comparisons) - agreeing} "
        f"{'disagrees' if len(result.comparisons) - agreeing == 1 else 'disagree'})",
        "",
    ]
    if result.comparisons:
        lines += ["| record | month | data type | data.json | perfdata | |", "|---:|---|---|---:|---:|---|"]
        lines += [
            f"| {c.index} | {c.month:%Y-%m} | {c.data_type} | {c.hand} | {c.perfdata} | "
            f"{'agrees' if c.agrees else '**disagrees**'} |"
            for c in result.comparisons
        ]
    else:
        lines.append("none: no month and data type is in both")
    if result.no_perfdata_figure:
        lines += ["", "Hand figures in those months that perfdata does not publish: " + ", ".join(
            f"record {i} ({m:%Y-%m}, {t})" for i, m, t in result.no_perfdata_figure)]
    if written is not None:
        lines += ["", f"### Written: {written}", ""]
        lines += [f"- record {c.index}, {c.month}, {c.data_type}: {c.what}" for c in result.changes] or [
            "- no change: the records as they were"]
        if result.corrected_problems:
            lines += ["", f"Still {_plural(len(result.corrected_problems), 'problem')} for OPG's validator "
                          "(edit by hand):"] + [f"- {p}" for p in result.corrected_problems]
        else:
            lines += ["", "It passes OPG's validator rules."]
    lines += ["", _summary(result, name)]
    return "\n".join(lines) + "\n"


def _summary(result: Reconciliation, name: str) -> str:
    if result.ok:
        return f"Result: {name} is valid and every figure perfdata also publishes agrees."
    by_hand = sum(f.fix is None for f in result.findings)
    prefer = sum(f.fix == "--prefer-perfdata writes perfdata's" for f in result.findings)
    fixed = len(result.findings) - by_hand - prefer
    return (
        f"Result: {_plural(len(result.findings), 'finding')}: {fixed} corrected by --write, "
        f"{prefer} by --write --prefer-perfdata, {by_hand} by hand."
    )


__all__ = ["BadInput", "Comparison", "Finding", "Reconciliation", "agrees", "read_records", "reconcile", "render",
           "write_records"]
