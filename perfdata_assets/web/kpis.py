"""The KPI routes: ``GET /v1/kpis/latest`` and ``GET /v1/kpis`` (JSON or CSV), ``GET /v1/kpis/revisions``,
and the healthcheck.

Every figure is read through ``PerformanceData``, the publication's read model.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from perfdata_assets.publishing import published, staleness
from perfdata_assets.publishing.published import (
    ALL_DATA_TYPES,
    COUNT_DATA_TYPES,
    GBP_DATA_TYPES,
    SERVICE,
    PublishedValue,
)
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.web.errors import ApiError, documented
from perfdata_assets.web.exports import CSV_MEDIA_TYPE, MONTH_PATTERN, month_param

log = logging.getLogger("perfdata.api")

KPI_CSV_HEADER = ["period_start", "period", "service", "data_type", "value", "numerator", "denominator",
                  "published_at"]
# Literal[tuple] is Literal[each item]: the documented enums are the very lists the code uses.
DataType = Literal[ALL_DATA_TYPES]


# --- Documented shapes -------------------------------------------------------


_LEVELS = ", ".join(published.SATISFACTION_LEVELS)


class KpiValue(BaseModel):
    """One published value: one month of one data type (kpis.md section 5), or for cost per transaction
    one year, the twelve months to a quarter end (section 6)."""

    period_start: dt.date = Field(description="first day of the month; for period year, of the year's first month")
    period: Literal["month", "year"] = Field(
        description="year for cost-per-transaction and digital-cost-per-transaction, month for the others")
    service: Literal["make-a-lpa"]
    data_type: DataType
    value: float | None = Field(
        description=f"a percentage to 2 decimal places; for the five satisfaction levels ({_LEVELS}) the number "
        "of responses at that level, an integer; for cost per transaction pounds per transaction, to 2 decimal "
        "places; null when the denominator is 0"
    )
    numerator: int | float | None = Field(
        description="satisfied + very satisfied, the level's count, healthy minutes, LPAs received online or "
        "LPAs created; the year's cost (or digital cost) in pounds for cost per transaction; null for "
        "user-satisfaction-score, and for the digital cost of a year without transactions"
    )
    denominator: int | None = Field(
        description="feedback responses, minutes observed, LPAs received, LPAs started, or the year's LPAs "
        "received (online, for digital-cost-per-transaction)"
    )
    published_at: dt.datetime = Field(description="when the run that wrote this value published it")


class KpiList(BaseModel):
    """Published values, oldest month first, each month's in the order of the data_type enum."""

    data: list[KpiValue]


class StaleDataset(BaseModel):
    """A KPI, named by its headline data type, whose latest published month is older than it should be."""

    dataset: Literal[staleness.DATASETS]
    latest_month: str | None = Field(description="the latest month published, YYYY-MM (for cost-per-transaction, the "
                                     "last month of the latest year published: its quarter end); null if never published",
                                     json_schema_extra={"pattern": MONTH_PATTERN})
    expected_month: str = Field(
        description="the month that should be published by now, YYYY-MM: last month from 12:00 UTC on the 1st "
        "(OPG's import), the month before until then; for cost-per-transaction the quarter end whose year should "
        "be published, due a month later (by 12:00 UTC on 1 May for the year to March)",
        json_schema_extra={"pattern": MONTH_PATTERN})
    due: dt.datetime = Field(
        description="since when it is late: the deadline (12:00 UTC on the 1st) of the first month missing")


class Health(BaseModel):
    """The process and its database answer (ok); which published data is late (stale)."""

    ok: bool
    stale: list[StaleDataset] = Field(description="empty when every expected dataset is up to date")


class Revision(BaseModel):
    """A published value replaced by a different one (kpis.md section 5: restatements are kept)."""

    period_start: dt.date = Field(description="first day of the month revised (of the year, for period year)")
    period: Literal["month", "year"]
    data_type: DataType
    old_value: float | None = Field(description="the value published before; null when it was null")
    new_value: float | None = Field(description="the value published since")
    old_published_at: dt.datetime = Field(description="when the old value had been published")
    restated_at: dt.datetime = Field(description="when the run that changed it published the new value")
    run_id: str = Field(description="the Dagster run that published the new value")


class RevisionList(BaseModel):
    """Every revision, oldest first."""

    data: list[Revision]


# --- Representations -----------------------------------------------------------


def _number(value: Decimal | None, data_type: str) -> int | float | None:
    # A level's count is a JSON integer, as in the OPG export; a percentage a JSON number.
    if value is None:
        return None
    return int(value) if data_type in COUNT_DATA_TYPES else float(value)


def _json_value(v: PublishedValue) -> int | float | None:
    return _number(v.value, v.data_type)


def _json_numerator(v: PublishedValue) -> int | float | None:
    # Pounds are a JSON number with their pence; counts an integer.
    if v.numerator is None:
        return None
    return float(v.numerator) if v.data_type in GBP_DATA_TYPES else int(v.numerator)


def _kpi_record(v: PublishedValue) -> dict:
    return {
        "period_start": v.period_start.isoformat(),
        "period": v.period,
        "service": SERVICE,
        "data_type": v.data_type,
        "value": _json_value(v),
        "numerator": _json_numerator(v),
        "denominator": v.denominator,
        "published_at": v.published_at.isoformat(),
    }


def _kpis_csv(values: list[PublishedValue]) -> bytes:
    def blank(value: object) -> object:
        return "" if value is None else value

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KPI_CSV_HEADER)
    for v in values:
        writer.writerow([
            v.period_start.isoformat(), v.period, SERVICE, v.data_type,
            blank(v.value),  # the Decimal as published, e.g. 87.50
            blank(v.numerator), blank(v.denominator), v.published_at.isoformat(),
        ])
    return out.getvalue().encode("utf-8")


def _accept_quality(accept: str, media_type: str) -> float:
    """The q the Accept header gives media_type: that of the most specific range matching it."""
    specificity = {media_type: 2, media_type.split("/")[0] + "/*": 1, "*/*": 0}
    matches = []
    for part in accept.lower().split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name in specificity:
            q = 1.0
            for key, _, value in (param.partition("=") for param in params):
                if key.strip() == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = 0.0
            matches.append((specificity[name], q))
    return max(matches)[1] if matches else 0.0


def _wants_csv(format: str | None, accept: str | None) -> bool:
    """``?format=`` wins; otherwise CSV only when Accept prefers text/csv to application/json."""
    if format is not None:
        return format == "csv"
    if not accept:
        return False
    return _accept_quality(accept, "text/csv") > _accept_quality(accept, "application/json")


def _kpis_response(values: list[PublishedValue], format: str | None, accept: str | None) -> Response:
    headers = {"Vary": "Accept"}
    if _wants_csv(format, accept):
        return Response(_kpis_csv(values), media_type=CSV_MEDIA_TYPE, headers=headers)
    return JSONResponse({"data": [_kpi_record(v) for v in values]}, headers=headers)


def _revision_record(r: published.Restatement) -> dict:
    return {
        "period_start": r.period_start.isoformat(),
        "period": r.period,
        "data_type": r.data_type,
        "old_value": _number(r.old_value, r.data_type),
        "new_value": _number(r.new_value, r.data_type),
        "old_published_at": r.old_published_at.isoformat(),
        "restated_at": r.restated_at.isoformat(),
        "run_id": r.run_id,
    }


# --- Routes ------------------------------------------------------------------------


def _stale_record(s: staleness.StaleDataset) -> dict:
    return {
        "dataset": s.dataset,
        "latest_month": None if s.latest_month is None else f"{s.latest_month:%Y-%m}",
        "expected_month": f"{s.expected_month:%Y-%m}",
        "due": s.due.isoformat(),
    }


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def health_router(
    performance: PerformanceData, datasets: Sequence[str] = staleness.DATASETS, clock: Callable[[], dt.datetime] = utc_now
) -> APIRouter:
    """``GET /healthcheck``: open, for a load balancer and for a monitor.

    ``datasets`` are those this deployment publishes (a KPI whose source is not
    configured is never expected, so never stale).
    """
    datasets = staleness.check_datasets(datasets)
    router = APIRouter()
    strict_query = Query(False, description="answer 503 (listing each late dataset) when any dataset is stale")

    @router.get("/healthcheck", response_model=Health, responses=documented(400, 503))
    def healthcheck(strict: bool = strict_query) -> JSONResponse:
        """Whether the perfdata database answers (200, ``ok``), and which published datasets are late.

        Still 200 when some are stale (the process is healthy; ``stale`` lists them), unless
        ``?strict=1``: then 503 in the error shape, one detail per stale dataset, for a monitor.
        """
        try:
            performance.ping()
            latest = {v.data_type: v.period_start for v in performance.latest_all()}
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            log.warning("healthcheck: perfdata database unavailable: %s", type(exc).__name__)
            raise ApiError(503, "the perfdata database is unavailable") from None
        stale = staleness.stale_datasets(latest, clock(), datasets)
        if strict and stale:
            raise ApiError(503, *(
                f"{s.dataset}: stale since {s.due.isoformat()}: {s.expected_month:%Y-%m} expected, latest published "
                + ("none" if s.latest_month is None else f"{s.latest_month:%Y-%m}")
                for s in stale
            ))
        return JSONResponse({"ok": True, "stale": [_stale_record(s) for s in stale]})

    return router


def kpis_router(performance: PerformanceData) -> APIRouter:
    """``GET /kpis/latest``, ``GET /kpis`` and ``GET /kpis/revisions``; the app puts them behind the bearer token."""
    router = APIRouter()
    csv_or_json = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
    format_query = Query(None, description="csv or json; otherwise the Accept header decides (default JSON)")

    @router.get("/kpis/latest", response_model=KpiList, responses={**csv_or_json, **documented(400)})
    def latest_kpis(request: Request, format: Literal["json", "csv"] | None = format_query) -> Response:
        """Each data type's most recent published month.

        Each KPI is published as soon as its own month is complete, so the data
        types may be of different months; one never published is absent.
        """
        return _kpis_response(performance.latest_all(), format, request.headers.get("accept"))

    @router.get("/kpis/revisions", response_model=RevisionList)
    def revisions() -> JSONResponse:
        """Every published value that a later publication changed: the old and new value, when, by which run."""
        return JSONResponse({"data": [_revision_record(r) for r in performance.restatements()]})

    @router.get("/kpis", response_model=KpiList, responses={**csv_or_json, **documented(400)})
    def kpis(
        request: Request,
        data_type: DataType | None = Query(None, description="one data type; every data type when omitted"),
        from_: str | None = Query(None, alias="from", description="first month, YYYY-MM (inclusive)",
                                  json_schema_extra={"pattern": MONTH_PATTERN}),
        to: str | None = Query(None, description="last month, YYYY-MM (inclusive)",
                               json_schema_extra={"pattern": MONTH_PATTERN}),
        format: Literal["json", "csv"] | None = format_query,
    ) -> Response:
        """Published values, oldest month first.

        A month lists the data types published for it: a KPI whose inputs are not
        yet complete for the month is absent, never zero. Cost per transaction is a
        year's figure (period year), listed under the year's first month: ``from``
        and ``to`` select it by that month.
        """
        first = month_param("from", from_) if from_ is not None else dt.date.min
        last = month_param("to", to) if to is not None else dt.date.max
        if first > last:
            raise ApiError(400, "from: must not be after to")
        return _kpis_response(performance.history(data_type, first, last), format, request.headers.get("accept"))

    return router
