"""The export files over HTTP: one month's OPG file and the GOV.UK CSV, for both routers.

The API serves them behind its bearer token (``/v1/exports/...``) and the public
dashboard offers them as downloads (``/performance/exports/...``); both routes
answer with the bytes these functions make, read through ``PerformanceData``,
which are the bytes of the export files themselves.
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, Response
from fastapi import Path as PathParam

from perfdata_assets.publishing import exports
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.web.errors import ApiError, documented

# Year 0000 does not exist; fullmatch: "2024-01\n" is not a month.
MONTH_PATTERN = r"^(?!0000)([0-9]{4})-(0[1-9]|1[0-2])$"
JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def parse_month(text: str) -> dt.date | None:
    """'2024-01' -> 2024-01-01; None for anything else."""
    match = re.fullmatch(MONTH_PATTERN, text)
    return None if match is None else dt.date(int(match[1]), int(match[2]), 1)


def month_param(field: str, text: str) -> dt.date:
    """A YYYY-MM request parameter, or a 400 naming it."""
    month = parse_month(text)
    if month is None:
        raise ApiError(400, f"{field}: must be a month written YYYY-MM, e.g. 2024-01")
    return month


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


def exports_router(performance: PerformanceData) -> APIRouter:
    """The API's export routes; the app puts them behind the bearer token."""
    router = APIRouter()

    @router.get(
        "/exports/performance-data/{month}.json",
        responses={
            200: {
                "content": {"application/json": {}},
                "headers": {
                    "Content-Disposition": {
                        "description": "attachment; filename=\"make_a_lasting_power_of_attorney_YY_MM.json\"",
                        "schema": {"type": "string"},
                    }
                },
            },
            **documented(400, 404),
        },
        response_class=Response,
    )
    def performance_data_export(
        month: str = PathParam(description="YYYY-MM", json_schema_extra={"pattern": MONTH_PATTERN}),
    ) -> Response:
        """One month's OPG performance-data file (``make_a_lasting_power_of_attorney_YY_MM.json``), byte for byte.

        One record per data type published for the month with a value; 404 when
        nothing is published for it yet.
        """
        period_start = month_param("month", month)
        found = performance_data_file(performance, period_start)
        if found is None:
            raise ApiError(404, f"month: {period_start:%Y-%m} has not been published")
        # The name OPG's import looks for, so a downloaded file can go in its bucket as it is.
        name, body = found
        return Response(body, media_type=JSON_MEDIA_TYPE, headers=attachment(name))

    @router.get(
        "/exports/transactions-by-channel.csv",
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
        response_class=Response,
    )
    def transactions_by_channel() -> Response:
        """The GOV.UK transactions-by-channel CSV of every published month, byte for byte."""
        _, body = transactions_file(performance)
        return Response(body, media_type=CSV_MEDIA_TYPE)

    return router
