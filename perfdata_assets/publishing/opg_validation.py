"""Check a monthly OPG performance-data file before it is uploaded, as OPG will.

perfdata's monthly file ``make_a_lasting_power_of_attorney_YY_MM.json`` is
copied by OPG's monthly import (kpis.md section 5, "Delivery"), appended to the
service's ``data.json`` with ``jq -s flatten``, validated by OPG's validator and
proposed as a pull request. A file OPG rejects costs a hand-made pull request,
so this module lets perfdata run the same checks first, and also the stricter
rules of perfdata's own contract (kpis.md section 5, "Exports"), which OPG does
not check but downstream readers rely on.

- ``validate_records``: OPG's validator rules, written from the contract text
  (plus the ``_timestamp`` form, a perfdata rule, reported as such).
- ``merge_like_opg_import``: what OPG's ``jq -s flatten data.json new.json`` makes.
- ``page_rows`` / ``missing_page_columns``: what the public page shows per month.
- ``check_publication_file``: every problem of one monthly file, for OPG and for
  perfdata's contract, alone and appended to an existing ``data.json``.

Pure Python, standard library only: it must run wherever an export is written.
It restates the contract's data types and order itself rather than importing
``published.DATA_TYPES``: a check that took its expectations from the code it
checks could not catch that code's mistakes.
Every problem is one line naming the file, the record index and the key, so a
failed upload says exactly what to fix.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal, localcontext

SERVICE = "make-a-lpa"
CHANNEL = "digital"
PERIOD = "month"
REQUIRED_KEYS = ("_timestamp", "service", "channel", "count", "dataType", "period")
OPG_PERIODS = ("year", "month", "week", "day")

LEVELS = ("very-dissatisfied", "dissatisfied", "neither", "satisfied", "very-satisfied")
# The order of the table in kpis.md section 5; a monthly file lists its records in it.
CONTRACT_DATA_TYPES = (
    "user-satisfaction-percent",
    *LEVELS,
    "uptime-percent",
    "digital-take-up",
    "completion-rate-percent",
    "user-satisfaction-score",
)
# The figures of one perfdata.user_satisfaction row: they share the denominator
# `responses`, so the contract publishes all of them for a month or none.
SATISFACTION_DATA_TYPES = ("user-satisfaction-percent", *LEVELS, "user-satisfaction-score")
# Percentages that cannot exceed 100. A completion rate can: LPAs started in
# earlier months may be created this month.
BOUNDED_PERCENTAGES = ("user-satisfaction-percent", "uptime-percent", "digital-take-up", "user-satisfaction-score")
UNBOUNDED_PERCENTAGES = ("completion-rate-percent",)

# The Make an LPA page's columns, in page order (kpis.md section 5, marked ★).
PAGE_COLUMNS = (
    "user_satisfaction_percent",
    "very_dissatisfied",
    "dissatisfied",
    "neither",
    "satisfied",
    "very_satisfied",
    "uptime_percent",
    "digital_take_up",
)

CONTRACT = "(perfdata contract)"
# OPG allows "letters and dashes"; read as ASCII letters, the stricter reading.
_LETTERS_AND_DASHES = re.compile(r"[A-Za-z-]+")
# [0-9], not \d: \d also matches non-ASCII digits, which no ISO-8601 reader accepts.
_TIMESTAMP_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}")
_MONTH_START = re.compile(r"[0-9]{4}-[0-9]{2}-01T00:00:00\+00:00")
_HUNDREDTH = Decimal("0.01")

Labeller = Callable[[int], str]


def DATA_TYPE_COLUMN(data_type: str) -> str:  # noqa: N802 - named as the page's own mapping
    """The page column of a data type: the page shows ``user-satisfaction-percent`` as ``user_satisfaction_percent``."""
    return data_type.replace("-", "_")


# --- reading JSON --------------------------------------------------------------


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages readable by whoever edits the file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _show(value: object) -> str:
    """A decoded value as JSON text, for messages (a Decimal as the number it was read from)."""
    if isinstance(value, Decimal):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _decode_exact(data: bytes | bytearray) -> object:
    """Decode JSON text keeping every number's exact value: 5 is an int, 5.0 and 87.63 are Decimals.

    Floats would turn the text 5.0 into something indistinguishable from a
    decoded 5.0 written by Python, and 87.625 into a binary approximation;
    the integer-count and satisfaction rules need the text's exact value.
    """
    return json.loads(bytes(data).decode("utf-8"), parse_float=Decimal)


def _decoded(value: object, name: str) -> tuple[object, list[str]]:
    """Bytes are JSON text (decoded exactly); anything else is already-decoded JSON."""
    if not isinstance(value, (bytes, bytearray)):
        return value, []
    try:
        return _decode_exact(value), []
    except UnicodeDecodeError as exc:
        return None, [f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})"]
    except json.JSONDecodeError as exc:
        return None, [f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]


def _as_decimal(value: object) -> Decimal | None:
    """A JSON number's value as a Decimal (None if not a finite number).

    A float goes through its repr, the shortest text that reads back as the
    same float: the JSON text it was most likely decoded from.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    number = Decimal(value)
    return number if number.is_finite() else None


# --- OPG's validator -------------------------------------------------------------


def _count_problem(count: object) -> str | None:
    """Why ``count`` is not a JSON number, or None.

    Python's bool is an int, but JSON true is not a number; NaN and Infinity
    are not JSON at all, though Python's json module reads and writes them.
    """
    if isinstance(count, bool) or not isinstance(count, (int, float, Decimal)):
        return f'"count" is {_json_type(count)}, not a number'
    if _as_decimal(count) is None:
        return f'"count" is {count}, which is not a JSON number (NaN and Infinity are not JSON)'
    return None


def _name_problem(key: str, value: object) -> str | None:
    """Why ``service`` or ``dataType`` breaks OPG's "letters and dashes only" rule, or None."""
    if not isinstance(value, str):
        return f'"{key}" is {_json_type(value)}, not a string'
    if not _LETTERS_AND_DASHES.fullmatch(value):
        return f'"{key}" {_show(value)} has characters other than letters and dashes'
    return None


def _period_problem(period: object) -> str | None:
    if period not in OPG_PERIODS or not isinstance(period, str):
        return f'"period" {_show(period)} is not one of {", ".join(OPG_PERIODS)}'
    return None


def _timestamp_problem(timestamp: object) -> str | None:
    """Why ``_timestamp`` is not a string of the form 2024-01-01T00:00:00+00:00 naming a real instant."""
    if not isinstance(timestamp, str):
        return f'"_timestamp" is {_json_type(timestamp)}, not a string'
    shown = _show(timestamp)
    if not _TIMESTAMP_FORM.fullmatch(timestamp):
        return f'"_timestamp" {shown} is not of the form YYYY-MM-DDTHH:MM:SS+00:00 {CONTRACT}'
    try:
        dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return f'"_timestamp" {shown} is not a real date and time {CONTRACT}'
    return None


def _record_problems(record: object) -> list[str]:
    """One record's breaches of OPG's rules (and of the ``_timestamp`` form), without its label."""
    if not isinstance(record, dict):
        return [f"is {_json_type(record)}, not an object"]
    problems = [f'missing "{key}"' for key in REQUIRED_KEYS if key not in record]
    checks = {
        "_timestamp": _timestamp_problem,
        "service": lambda v: _name_problem("service", v),
        "count": _count_problem,
        "dataType": lambda v: _name_problem("dataType", v),
        "period": _period_problem,
    }
    for key, check in checks.items():
        if key in record and (problem := check(record[key])) is not None:
            problems.append(problem)
    return problems


def _duplicates(records: list) -> list[tuple[int, int]]:
    """OPG's rule: no two records with the same ``_timestamp`` and ``dataType`` in the service's file.

    Each repeat as (its index, the index of the first record with that pair).
    Compared as the strings written, as a JSON file is compared. A record
    whose ``_timestamp`` or ``dataType`` is not a string is already reported.
    """
    first_seen: dict[tuple[str, str], int] = {}
    repeats = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        timestamp, data_type = record.get("_timestamp"), record.get("dataType")
        if not (isinstance(timestamp, str) and isinstance(data_type, str)):
            continue
        key = (timestamp, data_type)
        if key in first_seen:
            repeats.append((index, first_seen[key]))
        else:
            first_seen[key] = index
    return repeats


def _duplicate_problem(records: list, index: int, first: int, label: Labeller) -> str:
    record = records[index]
    return (
        f'same "_timestamp" {_show(record["_timestamp"])} and "dataType" {_show(record["dataType"])} '
        f"as {label(first)}"
    )


def _duplicate_problems(records: list, label: Labeller) -> list[str]:
    return [f"{label(i)}: {_duplicate_problem(records, i, first, label)}" for i, first in _duplicates(records)]


def _validate(records: object, where: str, label: Labeller) -> list[str]:
    if not isinstance(records, list):
        return [f"{where}: top level is {_json_type(records)}, not a JSON array"]
    problems = [f"{label(i)}: {problem}" for i, record in enumerate(records) for problem in _record_problems(record)]
    return problems + _duplicate_problems(records, label)


def validate_records(records: object, where: str = "file") -> list[str]:
    """Every breach of OPG's validator rules in decoded JSON, one line each ([] when valid).

    The rules are those kpis.md lists for OPG's validator: each record an
    object with the six keys, ``count`` a JSON number, ``dataType`` and
    ``service`` letters and dashes only, ``period`` one of year/month/week/day,
    and no two records with the same ``_timestamp`` and ``dataType``. In
    addition ``_timestamp`` must be a string of the form
    ``YYYY-MM-DDTHH:MM:SS+00:00``: perfdata's contract, marked
    "(perfdata contract)" in its message. ``where`` names the file in messages.
    """
    return _validate(records, where, lambda index: f"{where} record {index}")


def validate_records_by_index(records: list) -> list[tuple[int, str]]:
    """``validate_records``' findings in a list, each as (record index, problem).

    The same rules and messages, for a report that names each record its own
    way (with its month and data type); another record is named "record N".
    """
    problems = [(i, problem) for i, record in enumerate(records) for problem in _record_problems(record)]
    label: Labeller = lambda index: f"record {index}"  # noqa: E731
    return problems + [(i, _duplicate_problem(records, i, first, label)) for i, first in _duplicates(records)]


# --- OPG's import ------------------------------------------------------------------


def _json_texts(data: bytes) -> Iterator[object]:
    """Every JSON value in a file, as ``jq -s`` reads it: zero or more texts separated by whitespace."""
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position] in " \t\n\r":
            position += 1
        if position == len(text):
            return
        value, position = decoder.raw_decode(text, position)
        yield value


def _jq_flatten(values: list) -> list:
    """jq's ``flatten``: arrays nested at any depth spread into one array; objects and scalars kept."""
    flat = []
    for value in values:
        if isinstance(value, list):
            flat.extend(_jq_flatten(value))
        else:
            flat.append(value)
    return flat


def merge_like_opg_import(data_json: bytes, new_file: bytes) -> bytes:
    """What OPG's import writes: ``jq -s flatten data.json new.json``.

    The two arrays concatenated, data.json's records first (and, as jq's
    ``flatten`` does, any nested array spread out). Serialised as jq's default
    output is, two-space indented and UTF-8, as far as Python's ``json`` allows:
    numbers may be written differently (jq 1.6 writes 5.0 as 5, jq 1.7 keeps
    the literal; Python writes the float's repr). That does not matter: OPG
    validates and publishes the decoded records, not the bytes, so compare the
    result decoded. Raises ValueError (as jq fails) if either file is not JSON.
    """
    values = [*_json_texts(data_json), *_json_texts(new_file)]
    return (json.dumps(_jq_flatten(values), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- the public page ------------------------------------------------------------------


def _page_count(count: object) -> float | int | None:
    """The number the page shows for a ``count`` (None for a value OPG would reject)."""
    if _as_decimal(count) is None:
        return None
    # Exact decoding makes a Decimal only of a number written with "." or "e",
    # which the page (like json.loads) reads as a float.
    return float(count) if isinstance(count, Decimal) else count  # type: ignore[return-value]


def page_rows(records: object) -> dict[str, dict[str, float | int]]:
    """The page's table: ``_timestamp`` -> {page column: count}, months in first-seen order.

    Only the eight page columns, in page order: the page ignores other data
    types (a month with none of them still has a row, empty). A record the page
    cannot place (``_timestamp`` or ``dataType`` not a string, ``count`` not a
    number) is skipped; two records for one cell, which OPG's validator rejects
    anyway, leave the later one. Bytes are read as JSON text.
    """
    decoded = _decode_exact(records) if isinstance(records, (bytes, bytearray)) else records
    cells: dict[str, dict[str, float | int]] = {}
    for record in decoded if isinstance(decoded, list) else []:
        if not isinstance(record, dict) or not isinstance(record.get("_timestamp"), str):
            continue
        row = cells.setdefault(record["_timestamp"], {})
        data_type, count = record.get("dataType"), _page_count(record.get("count"))
        if isinstance(data_type, str) and DATA_TYPE_COLUMN(data_type) in PAGE_COLUMNS and count is not None:
            row[DATA_TYPE_COLUMN(data_type)] = count
    return {month: {c: row[c] for c in PAGE_COLUMNS if c in row} for month, row in cells.items()}


def missing_page_columns(records: object) -> dict[str, list[str]]:
    """For each month, the page columns it has no figure for (an empty list when complete).

    A gap is not an error by itself (a KPI may not be published yet), but it
    shows on the page as a blank cell, so an upload report should name it.
    """
    return {month: [c for c in PAGE_COLUMNS if c not in row] for month, row in page_rows(records).items()}


# --- perfdata's contract --------------------------------------------------------------


def _shape_problems(record: dict) -> list[str]:
    """The fixed fields of a perfdata record: service, channel and period, and no other keys."""
    fixed = {"service": SERVICE, "channel": CHANNEL, "period": PERIOD}
    problems = [
        f'"{key}" {_show(record[key])} is not "{value}" {CONTRACT}'
        for key, value in fixed.items()
        if key in record and record[key] != value
    ]
    problems += [f'unexpected key "{key}" {CONTRACT}' for key in record if key not in REQUIRED_KEYS]
    return problems


def _month_start_problem(timestamp: str) -> str | None:
    """Why a ``_timestamp`` string does not label a month as the contract writes it, or None."""
    if _MONTH_START.fullmatch(timestamp) and _timestamp_problem(timestamp) is None:
        return None
    return f'"_timestamp" {_show(timestamp)} is not the first day of a month at T00:00:00+00:00 {CONTRACT}'


def _data_type_problem(data_type: str) -> str | None:
    if data_type in CONTRACT_DATA_TYPES:
        return None
    return (
        f'"dataType" {_show(data_type)} is not a data type '
        f"of the contract ({', '.join(CONTRACT_DATA_TYPES)}) {CONTRACT}"
    )


def _timestamp_problems(records: list[dict], label: Labeller) -> list[str]:
    """One month per file: every record's ``_timestamp`` is the first record's, a month's first day at midnight."""
    stamped = [(i, r["_timestamp"]) for i, r in records if isinstance(r.get("_timestamp"), str)]
    if not stamped:
        return []
    first_index, month = stamped[0]
    problems = []
    if (problem := _month_start_problem(month)) is not None:
        problems.append(f"{label(first_index)}: {problem}")
    problems += [
        f'{label(i)}: "_timestamp" {_show(t)} differs from {label(first_index)}\'s '
        f"{_show(month)}; a file holds one month {CONTRACT}"
        for i, t in stamped[1:]
        if t != month
    ]
    return problems


def _order_problems(records: list[dict], label: Labeller) -> list[str]:
    """Data types known to the contract and listed in its order (any subset; repeats are OPG's duplicates)."""
    problems = []
    latest: tuple[int, int] | None = None  # (position in the contract, record index) furthest along so far
    for index, record in records:
        data_type = record.get("dataType")
        if not isinstance(data_type, str):
            continue
        if (problem := _data_type_problem(data_type)) is not None:
            problems.append(f"{label(index)}: {problem}")
            continue
        position = CONTRACT_DATA_TYPES.index(data_type)
        if latest is not None and position < latest[0]:
            problems.append(
                f'{label(index)}: "dataType" "{data_type}" comes after "{CONTRACT_DATA_TYPES[latest[0]]}" '
                f"({label(latest[1])}); the contract's order is {', '.join(CONTRACT_DATA_TYPES)} {CONTRACT}"
            )
        else:
            latest = (position, index)
    return problems


def _value_problem(data_type: str, count: object) -> str | None:
    """The range and form of one figure: level counts are non-negative JSON integers, percentages 0..100 to 2 places."""
    number = _as_decimal(count)
    if number is None:
        return None  # not a number at all: OPG's rule already reports it
    if data_type in LEVELS:
        if not isinstance(count, int):
            return f'"count" {count} of "{data_type}" is not a JSON integer (a count at a level) {CONTRACT}'
        if count < 0:
            return f'"count" {count} of "{data_type}" is negative {CONTRACT}'
        return None
    if data_type in BOUNDED_PERCENTAGES and not 0 <= number <= 100:
        return f'"count" {number} of "{data_type}" is not a percentage between 0 and 100 {CONTRACT}'
    if data_type in UNBOUNDED_PERCENTAGES and number < 0:
        return f'"count" {number} of "{data_type}" is negative {CONTRACT}'
    if data_type in BOUNDED_PERCENTAGES + UNBOUNDED_PERCENTAGES and number != _round_half_up(number):
        return f'"count" {number} of "{data_type}" has more than 2 decimal places {CONTRACT}'
    return None


def _round_half_up(value: Decimal) -> Decimal:
    """kpis.md's rounding: 2 places, half away from zero (PostgreSQL round(numeric, 2))."""
    return value.quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


def _exact_percent(numerator: int, denominator: int) -> Decimal:
    """100 x numerator / denominator, rounded as kpis.md rounds; exact before rounding, so halves round up."""
    with localcontext() as context:
        context.prec = 60
        return _round_half_up(Decimal(100 * numerator) / Decimal(denominator))


def _expected_satisfaction(levels: dict[str, int]) -> dict[str, Decimal] | None:
    """The two satisfaction percentages the five level counts define (None when there were no responses).

    ``user-satisfaction-percent``: 100 x (satisfied + very satisfied) / responses.
    ``user-satisfaction-score``: 100 x (mean rating - 1) / 4, ratings 1..5, which
    is the weights 0, 25, 50, 75, 100 averaged over the responses.
    """
    responses = sum(levels.values())
    if responses == 0:
        return None
    weighted = sum(weight * levels[level] for weight, level in enumerate(LEVELS))
    return {
        "user-satisfaction-percent": _exact_percent(levels["satisfied"] + levels["very-satisfied"], responses),
        "user-satisfaction-score": _exact_percent(25 * weighted, 100 * responses),
    }


def _satisfaction_problems(records: list[dict], label: Labeller, where: str) -> list[str]:
    """The user-satisfaction figures of one month agree with each other.

    They come from one row of perfdata.user_satisfaction and share its
    denominator ``responses``: all seven are published or none (a NULL value has
    no record), there are none when there were no responses, and the two
    percentages are what the five level counts make them.
    """
    by_type: dict[str, tuple[int, dict]] = {}
    for index, record in records:
        if record.get("dataType") in SATISFACTION_DATA_TYPES:
            by_type.setdefault(record["dataType"], (index, record))
    if not by_type:
        return []
    problems = []
    if missing := [t for t in SATISFACTION_DATA_TYPES if t not in by_type]:
        problems.append(
            f"{where}: has user-satisfaction records but none for {', '.join(missing)}; the contract publishes "
            f"all seven user-satisfaction figures of a month or none {CONTRACT}"
        )
    levels = {t: by_type[t][1].get("count") for t in LEVELS if t in by_type}
    if len(levels) < len(LEVELS) or not all(_is_count(v) for v in levels.values()):
        return problems
    expected = _expected_satisfaction(levels)  # type: ignore[arg-type]
    if expected is None:
        return problems + [
            f"{where}: the five level counts are all 0, but with no responses the contract publishes no "
            f"user-satisfaction record (every value is NULL) {CONTRACT}"
        ]
    for data_type, want in expected.items():
        if data_type not in by_type:
            continue
        index, record = by_type[data_type]
        got = _as_decimal(record.get("count"))
        if got is not None and got != want:
            problems.append(
                f'{label(index)}: "count" {got} of "{data_type}" should be {want}, from the level counts '
                f"{', '.join(f'{t}={levels[t]}' for t in LEVELS)} {CONTRACT}"
            )
    return problems


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _contract_problems(records: list, where: str) -> list[str]:
    """Every breach of perfdata's own contract (kpis.md section 5, "Exports") in one monthly file."""
    label: Labeller = lambda index: f"{where} record {index}"  # noqa: E731
    objects = [(i, r) for i, r in enumerate(records) if isinstance(r, dict)]
    problems = [f"{label(i)}: {p}" for i, r in objects for p in _shape_problems(r)]
    problems += _timestamp_problems(objects, label)
    problems += _order_problems(objects, label)
    problems += [
        f"{label(i)}: {p}"
        for i, r in objects
        if isinstance(r.get("dataType"), str) and (p := _value_problem(r["dataType"], r.get("count"))) is not None
    ]
    return problems + _satisfaction_problems(objects, label, where)


def record_contract_problems(record: object) -> list[str]:
    """perfdata's contract on one record, wherever it is: the rules a record of any month must keep.

    Service, channel and period, only the six keys, ``_timestamp`` a month's
    first day at ``T00:00:00+00:00``, a data type of the contract, and its
    figure's form and range (level counts non-negative integers, percentages
    within range to 2 places). Not the rules of one monthly file as a whole
    (one month, the contract's order, all seven user-satisfaction figures or
    none): a ``data.json`` holds many months, and OPG's hand-made months hold
    three figures each, in their own order. Messages carry no record label.
    """
    if not isinstance(record, dict):
        return []  # OPG's rule already reports it
    problems = _shape_problems(record)
    timestamp, data_type = record.get("_timestamp"), record.get("dataType")
    if isinstance(timestamp, str) and (problem := _month_start_problem(timestamp)) is not None:
        problems.append(problem)
    if isinstance(data_type, str):
        if (problem := _data_type_problem(data_type)) is not None:
            problems.append(problem)
        elif (problem := _value_problem(data_type, record.get("count"))) is not None:
            problems.append(problem)
    return problems


def _merged_problems(existing: list, month: list) -> list[str]:
    """OPG's rules on data.json with the file appended, each record named by the file it came from.

    The file's own records get the same labels as in the file's own check,
    so the caller can drop messages already given. Nested arrays, which jq
    would spread, are not spread here: each is already reported as not an object.
    """
    size = len(existing)
    label: Labeller = lambda i: f"data.json record {i}" if i < size else f"file record {i - size}"  # noqa: E731
    return _validate(existing + month, "data.json + file", label)


def check_publication_file(month_records: object, existing_data_json: object = None) -> list[str]:
    """Every problem of one perfdata monthly file for OPG, one line each ([] when it can be uploaded).

    - OPG's validator rules on the file (``validate_records``);
    - with ``existing_data_json`` (the service's data.json as OPG has it), OPG's
      rules on the two appended as OPG's import appends them: above all a month
      already in data.json, whose records are then duplicates;
    - perfdata's contract: service ``make-a-lpa``, channel ``digital``, period
      ``month``, only the six keys, one ``_timestamp`` for the file at a month's
      first day ``T00:00:00+00:00``, the contract's data types in its order,
      level counts non-negative JSON integers, percentages to 2 places and within
      0..100 (a completion rate only non-negative), and the user-satisfaction
      figures consistent with the level counts (see ``_satisfaction_problems``).

    Pass the files as bytes (``Path.read_bytes()``) for an exact check: the text
    5.0 is then told from 5, and 87.625 is not a binary approximation. Decoded
    JSON (a list) is accepted too; its floats are read through their repr.
    A ``str`` is taken as decoded JSON (a JSON string), not as JSON text.
    """
    month, problems = _decoded(month_records, "file")
    if problems:
        return problems
    problems = validate_records(month, "file")
    if not isinstance(month, list):
        return problems
    problems += _contract_problems(month, "file")
    if existing_data_json is None:
        return problems
    existing, existing_problems = _decoded(existing_data_json, "data.json")
    if not existing_problems and not isinstance(existing, list):
        existing_problems = [f"data.json: top level is {_json_type(existing)}, not a JSON array"]
    if existing_problems:
        return problems + existing_problems
    already = set(problems)
    return problems + [p for p in _merged_problems(existing, month) if p not in already]


__all__ = [
    "CONTRACT_DATA_TYPES",
    "DATA_TYPE_COLUMN",
    "PAGE_COLUMNS",
    "check_publication_file",
    "merge_like_opg_import",
    "missing_page_columns",
    "page_rows",
    "record_contract_problems",
    "validate_records",
    "validate_records_by_index",
]
