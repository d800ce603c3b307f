"""perfdata's HTTP API: the published KPIs, the export files, and the feedback form.

All routes are under ``/v1/``; the OpenAPI document is at ``/v1/openapi.json``
(committed as ``openapi/perfdata-api.json``; regenerate it with
``python -m perfdata_assets.web.api``) and its pages at ``/v1/docs``.

- ``GET /v1/healthcheck`` and ``POST /v1/feedback`` are open: the feedback form
  is public, and a load balancer must be able to check health.
- Everything else needs ``Authorization: Bearer <PERFDATA_API_TOKEN>``. With no
  token configured those routes answer 503: the API is never open by default.
"""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import json
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from perfdata_assets.publishing import published
from perfdata_assets.publishing.published import COUNT_DATA_TYPES, DATA_TYPES, PERIOD, SERVICE, PublishedValue
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.web import errors, feedback
from perfdata_assets.web import exports as web_exports
from perfdata_assets.web.dashboard import mount_dashboard
from perfdata_assets.web.errors import ApiError, ErrorBody
from perfdata_assets.web.feedback import FeedbackForm
from perfdata_assets.web.ratelimit import RateLimit, RateLimiter

log = logging.getLogger("perfdata.api")

API_VERSION = "1.0.0"
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi" / "perfdata-api.json"
# 2,000 characters of details, each written as a 12-byte JSON escape pair
# (\ud83d\ude00) in the worst case, is 24,000 bytes: the limit lets every
# valid submission through and stops anything far beyond one.
MAX_FEEDBACK_BYTES = 32 * 1024
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
KPI_CSV_HEADER = ["period_start", "period", "service", "data_type", "value", "numerator", "denominator",
                  "published_at"]
# Documented in the OpenAPI parameters and used to parse them (there is no year 0000).
MONTH_PATTERN = web_exports.MONTH_PATTERN

# Literal[tuple] is Literal[each item]: the documented enums are the very lists the code uses.
DataType = Literal[DATA_TYPES]


# --- Documented shapes -------------------------------------------------------


_LEVELS = ", ".join(published.SATISFACTION_LEVELS)


class KpiValue(BaseModel):
    """One published value: one month of one data type (kpis.md section 5)."""

    period_start: dt.date = Field(description="first day of the month")
    period: Literal["month"]
    service: Literal["make-a-lpa"]
    data_type: DataType
    value: float | None = Field(
        description=f"a percentage to 2 decimal places; for the five satisfaction levels ({_LEVELS}) the number "
        "of responses at that level, an integer; null when the denominator is 0"
    )
    numerator: int | None = Field(
        description="satisfied + very satisfied, the level's count, healthy minutes, LPAs received online or "
        "LPAs created; null for user-satisfaction-score"
    )
    denominator: int | None = Field(
        description="feedback responses, minutes observed, LPAs received or LPAs started"
    )
    published_at: dt.datetime = Field(description="when the run that wrote this value published it")


class KpiList(BaseModel):
    """Published values, oldest month first, each month's in the order of the data_type enum."""

    data: list[KpiValue]


class Health(BaseModel):
    ok: bool


class FeedbackCreated(BaseModel):
    id: int


def _errors(*statuses: int) -> dict[int | str, dict]:
    return {status: {"model": ErrorBody, "description": errors.CODES[status][1]} for status in statuses}


# --- Representations -----------------------------------------------------------


def _json_value(v: PublishedValue) -> int | float | None:
    # A level's count is a JSON integer, as in the OPG export; a percentage a JSON number.
    if v.value is None:
        return None
    return int(v.value) if v.data_type in COUNT_DATA_TYPES else float(v.value)


def _kpi_record(v: PublishedValue) -> dict:
    return {
        "period_start": v.period_start.isoformat(),
        "period": PERIOD,
        "service": SERVICE,
        "data_type": v.data_type,
        "value": _json_value(v),
        "numerator": v.numerator,
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
            v.period_start.isoformat(), PERIOD, SERVICE, v.data_type,
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


def parse_month(field: str, text: str) -> dt.date:
    month = web_exports.parse_month(text)
    if month is None:
        raise ApiError(400, f"{field}: must be a month written YYYY-MM, e.g. 2024-01")
    return month


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(413, f"body: must be at most {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():  # also bounds a body sent without Content-Length
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


# --- The application ---------------------------------------------------------------


def create_app(
    perfdata_database_url: str,
    lpa_database_url: str,
    api_token: str | None,
    *,
    feedback_rate_limit: RateLimit = RateLimit(),
    max_feedback_bytes: int = MAX_FEEDBACK_BYTES,
) -> FastAPI:
    """The API over the given databases. Nothing connects until a request needs it."""
    performance = PerformanceData(perfdata_database_url=perfdata_database_url, lpa_database_url=lpa_database_url)
    store = feedback.FeedbackStore(lpa_database_url)
    limiter = RateLimiter(feedback_rate_limit)
    bearer = HTTPBearer(auto_error=False, description="the PERFDATA_API_TOKEN shared secret")

    def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if not api_token:
            raise ApiError(503, "PERFDATA_API_TOKEN is not set: the KPI and export routes are closed until it is")
        given = credentials.credentials.encode("utf-8") if credentials else b""
        # Constant-time comparison: the time taken says nothing about the token.
        if not hmac.compare_digest(given, api_token.encode("utf-8")):
            raise ApiError(401, "Authorization: a valid bearer token is required",
                           headers={"WWW-Authenticate": "Bearer"})

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        store.dispose()

    app = FastAPI(
        title="perfdata",
        version=API_VERSION,
        description="Published KPIs of the Make a Lasting Power of Attorney service, and its feedback form.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url="/v1/docs/oauth2-redirect",
        lifespan=lifespan,
    )
    errors.install(app)
    public = APIRouter(prefix="/v1")
    protected = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=_errors(401, 503))
    csv_or_json = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
    format_query = Query(None, description="csv or json; otherwise the Accept header decides (default JSON)")

    @public.get("/healthcheck", response_model=Health, responses=_errors(503))
    def healthcheck() -> JSONResponse:
        """Whether the perfdata database answers."""
        try:
            performance.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            log.warning("healthcheck: perfdata database unavailable: %s", type(exc).__name__)
            raise ApiError(503, "the perfdata database is unavailable") from None
        return JSONResponse({"ok": True})

    @protected.get("/kpis/latest", response_model=KpiList, responses={**csv_or_json, **_errors(400)})
    def latest_kpis(request: Request, format: Literal["json", "csv"] | None = format_query) -> Response:
        """Each data type's most recent published month.

        Each KPI is published as soon as its own month is complete, so the data
        types may be of different months; one never published is absent.
        """
        return _kpis_response(performance.latest_all(), format, request.headers.get("accept"))

    @protected.get("/kpis", response_model=KpiList, responses={**csv_or_json, **_errors(400)})
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
        yet complete for the month is absent, never zero.
        """
        first = parse_month("from", from_) if from_ is not None else dt.date.min
        last = parse_month("to", to) if to is not None else dt.date.max
        if first > last:
            raise ApiError(400, "from: must not be after to")
        return _kpis_response(performance.history(data_type, first, last), format, request.headers.get("accept"))

    @protected.get(
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
            **_errors(400, 404),
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
        period_start = parse_month("month", month)
        found = web_exports.performance_data_file(performance, period_start)
        if found is None:
            raise ApiError(404, f"month: {period_start:%Y-%m} has not been published")
        # The name OPG's import looks for, so a downloaded file can go in its bucket as it is.
        name, body = found
        return Response(body, media_type=web_exports.JSON_MEDIA_TYPE, headers=web_exports.attachment(name))

    @protected.get(
        "/exports/transactions-by-channel.csv",
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
        response_class=Response,
    )
    def transactions_by_channel() -> Response:
        """The GOV.UK transactions-by-channel CSV of every published month, byte for byte."""
        _, body = web_exports.transactions_file(performance)
        return Response(body, media_type=CSV_MEDIA_TYPE)

    @public.post(
        "/feedback",
        status_code=201,
        response_model=FeedbackCreated,
        responses=_errors(400, 413, 415, 429, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": FeedbackForm.model_json_schema()}},
            }
        },
    )
    async def post_feedback(request: Request) -> JSONResponse:
        """Store a feedback form submission in the LPA service's feedback table."""
        wait = limiter.take(_client(request))
        if wait is not None:
            raise ApiError(429, "too many feedback submissions from this client; try again later",
                           headers={"Retry-After": str(wait)})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(415, "Content-Type: must be application/json")
        body = await _read_body(request, max_feedback_bytes)
        try:
            form = feedback.parse_feedback(body)
        except feedback.FeedbackInvalid as exc:
            raise ApiError(400, *(f"{field}: {problem}" for field, problem in exc.problems)) from None
        document = feedback.message(form, request.headers.get("user-agent"), request.headers.get("referer"))
        try:
            feedback_id = await run_in_threadpool(store.add, document, dt.datetime.now(dt.timezone.utc))
        except feedback.FeedbackNotStored as exc:
            log.error("feedback not stored: %s", exc)
            raise ApiError(503, "the feedback could not be stored; try again later") from None
        log.info("feedback %s stored", feedback_id)
        return JSONResponse({"id": feedback_id}, status_code=201)

    app.include_router(public)
    app.include_router(protected)
    # The public dashboard at / and /performance (outside the OpenAPI document).
    mount_dashboard(app, performance)

    def openapi() -> dict:
        # FastAPI documents a 422 for its validation errors; this API answers 400.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for path_item in schema["paths"].values():
                for operation in path_item.values():
                    operation.get("responses", {}).pop("422", None)
            for unused in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def openapi_document() -> str:
    """The OpenAPI document the API serves, as committed in openapi/perfdata-api.json."""
    # The document does not depend on the databases or the token; nothing connects.
    app = create_app("sqlite:///unused-perfdata.sqlite", "sqlite:///unused-lpa.sqlite", api_token=None)
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OPENAPI_FILE.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI_FILE.write_text(openapi_document(), encoding="utf-8")
    print(f"wrote {OPENAPI_FILE}")
