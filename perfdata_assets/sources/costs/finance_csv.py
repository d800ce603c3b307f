"""The finance CSV (SERVICE_COSTS_CSV) and the monthly USD->GBP rates (USD_GBP_RATES_CSV).

Both are read whole and checked line by line before anything is used: a file with one bad
line is a bad file, and the error names the variable, the line and what is wrong with it,
so whoever prepared it can fix it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from decimal import Decimal
from pathlib import Path

from perfdata_assets.sources.costs.figures import CHANNELS, FINANCE, MAX_AMOUNT, CostCsvError, CostLine, month_of

FINANCE_HEADER = ["month", "channel", "category", "amount_gbp"]
RATES_HEADER = ["month", "usd_per_gbp"]
_AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
_RATE = re.compile(r"[0-9]{1,6}(\.[0-9]{1,10})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _RowError(Exception):
    """A problem with one row; the caller adds the file and line."""


def _rows(path: str | os.PathLike[str], variable: str, header: list[str]):
    """(line number, row) for each non-blank row after the header; errors name the variable and line."""
    where = f"{variable} {os.fspath(path)}"
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CostCsvError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CostCsvError(f"{where} line {line}: is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        first = next(reader, None)
        if first is None:
            raise CostCsvError(f"{where} line 1: the file is empty, expected the header {','.join(header)}")
        if first != header:
            raise CostCsvError(f"{where} line 1: header is {','.join(first)[:80]!r}, expected {','.join(header)!r}")
        for row in reader:
            if row:  # a blank line carries nothing
                yield where, reader.line_num, row
    except csv.Error as exc:
        raise CostCsvError(f"{where} line {reader.line_num}: is not valid CSV ({exc})") from None


def _month(raw: str) -> dt.date:
    month = month_of(raw)
    if month is None:
        raise _RowError(f"month {raw[:40]!r} is not a month in YYYY-MM form")
    return month


def _finance_line(row: list[str]) -> CostLine:
    if len(row) != len(FINANCE_HEADER):
        raise _RowError(f"has {len(row)} columns, expected {len(FINANCE_HEADER)} ({','.join(FINANCE_HEADER)})")
    raw_month, channel, category, raw_amount = row
    month = _month(raw_month)
    if channel not in CHANNELS:
        raise _RowError(f"channel {channel[:40]!r} is not one of {', '.join(CHANNELS)}")
    if not 1 <= len(category) <= 100 or _CONTROL.search(category) or category != category.strip():
        raise _RowError("category must be 1 to 100 characters of text, without leading or trailing spaces")
    if not _AMOUNT.fullmatch(raw_amount):
        raise _RowError(
            f"amount_gbp {raw_amount[:40]!r} is not an amount of pounds (a number >= 0 with at most 2 decimal places)"
        )
    amount = Decimal(raw_amount)
    if amount > MAX_AMOUNT:
        raise _RowError(f"amount_gbp {raw_amount} is more than {MAX_AMOUNT}")
    return CostLine(month, channel, category, amount, FINANCE)


def read_finance_csv(path: str | os.PathLike[str]) -> list[CostLine]:
    """Every line of the finance CSV, in file order; CostCsvError naming the line for a malformed
    line, an unknown channel or the same (month, channel, category) twice."""
    lines: list[CostLine] = []
    first_seen: dict[tuple[dt.date, str, str], int] = {}
    for where, number, row in _rows(path, "SERVICE_COSTS_CSV", FINANCE_HEADER):
        try:
            line = _finance_line(row)
            key = (line.month, line.channel, line.category)
            if key in first_seen:
                raise _RowError(
                    f"{line.month:%Y-%m} {line.channel} {line.category!r} appears again (first on line {first_seen[key]})"
                )
        except _RowError as exc:
            raise CostCsvError(f"{where} line {number}: {exc}") from None
        first_seen[key] = number
        lines.append(line)
    return lines


def read_rates_csv(path: str | os.PathLike[str]) -> dict[dt.date, Decimal]:
    """Dollars per pound for each month of USD_GBP_RATES_CSV; a rate that is not a positive
    number, a bad month or a month twice fails naming the variable and the line."""
    rates: dict[dt.date, Decimal] = {}
    first_seen: dict[dt.date, int] = {}
    for where, number, row in _rows(path, "USD_GBP_RATES_CSV", RATES_HEADER):
        try:
            if len(row) != len(RATES_HEADER):
                raise _RowError(f"has {len(row)} columns, expected {len(RATES_HEADER)} ({','.join(RATES_HEADER)})")
            month = _month(row[0])
            if not _RATE.fullmatch(row[1]) or Decimal(row[1]) <= 0:
                raise _RowError(f"usd_per_gbp {row[1][:40]!r} is not a positive number (dollars per pound)")
            if month in first_seen:
                raise _RowError(f"{month:%Y-%m} appears again (first on line {first_seen[month]})")
        except _RowError as exc:
            raise CostCsvError(f"{where} line {number}: {exc}") from None
        first_seen[month] = number
        rates[month] = Decimal(row[1])
    return rates
