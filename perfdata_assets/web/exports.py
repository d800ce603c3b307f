"""The export files over HTTP: one month's OPG file and the GOV.UK CSV, for both routers.

The API serves them behind its bearer token (``/v1/exports/...``) and the public
dashboard offers them as downloads (``/performance/exports/...``); both routes
answer with the bytes these functions make, read through ``PerformanceData``,
which are the bytes of the export files themselves.
"""

from __future__ import annotations

import datetime as dt
import re

from perfdata_assets.publishing import exports
from perfdata_assets.publishing.resource import PerformanceData

# Year 0000 does not exist; fullmatch: "2024-01\n" is not a month.
MONTH_PATTERN = r"^(?!0000)([0-9]{4})-(0[1-9]|1[0-2])$"
JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def parse_month(text: str) -> dt.date | None:
    """'2024-01' -> 2024-01-01; None for anything else."""
    match = re.fullmatch(MONTH_PATTERN, text)
    return None if match is None else dt.date(int(match[1]), int(match[2]), 1)


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def performance_data_file(performance: PerformanceData, month: dt.date) -> tuple[str, bytes] | None:
    """The month's OPG file (name, bytes), or None when nothing is published for it yet."""
    values = performance.history(None, month, month)
    if not values:
        return None
    return exports.performance_data_file_name(month), exports.performance_data_json(values)


def transactions_file(performance: PerformanceData) -> tuple[str, bytes]:
    """The GOV.UK transactions-by-channel CSV of every month with digital take-up published."""
    return exports.TRANSACTIONS_FILE_NAME, exports.transactions_by_channel_csv(performance.channel_totals())
