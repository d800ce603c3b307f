"""Every error the API answers, in the OPG data API shape.

    {"errors": [{"code": "OPGDATA-API-INVALIDREQUEST", "title": "Invalid Request", "detail": "..."}]}

FastAPI's own errors (validation, 404, 405) and anything unexpected are
turned into this shape too. A ``detail`` names the field at fault but never
repeats a submitted value, so error bodies and logs cannot leak personal data.
"""

from __future__ import annotations

import logging
import traceback

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("perfdata.api")

# status -> (code, title)
CODES = {
    400: ("OPGDATA-API-INVALIDREQUEST", "Invalid Request"),
    401: ("OPGDATA-API-UNAUTHORISED", "Unauthorised"),
    403: ("OPGDATA-API-FORBIDDEN", "Forbidden"),
    404: ("OPGDATA-API-NOTFOUND", "Page not found"),
    405: ("OPGDATA-API-METHODNOTALLOWED", "Method not allowed"),
    406: ("OPGDATA-API-NOTACCEPTABLE", "Not acceptable"),
    413: ("OPGDATA-API-FILESIZELIMIT", "Payload too large"),
    415: ("OPGDATA-API-MEDIA", "Unsupported media type"),
    429: ("OPGDATA-API-TOOMANYREQUESTS", "Too many requests"),
    500: ("OPGDATA-API-SERVERERROR", "Internal server error"),
    503: ("OPGDATA-API-UNAVAILABLE", "Service unavailable"),
}


class ErrorItem(BaseModel):
    code: str
    title: str
    detail: str


class ErrorBody(BaseModel):
    errors: list[ErrorItem]


class ApiError(Exception):
    """An error answer: a status and one detail per problem."""

    def __init__(self, status: int, *details: str, headers: dict[str, str] | None = None):
        super().__init__("; ".join(details))
        self.status = status
        self.details = details
        self.headers = headers or {}


def error_response(status: int, *details: str, headers: dict[str, str] | None = None) -> JSONResponse:
    code, title = CODES.get(status, CODES[500] if status >= 500 else CODES[400])
    body = {"errors": [{"code": code, "title": title, "detail": detail} for detail in details]}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(location: tuple) -> str:
    # ("query", "from") -> "from"; ("path", "month") -> "month"
    names = [str(part) for part in location if part not in ("query", "path", "body", "header")]
    return ".".join(names) or "request"


def _where(exc: BaseException) -> str:
    """The innermost perfdata frame (else the innermost frame) that raised: file and line only."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "perfdata_assets" in f.filename] or frames
    return f"{ours[-1].filename}:{ours[-1].lineno}" if ours else "?"


class UnexpectedErrors:
    """ASGI middleware: an unexpected exception becomes a 500 in the OPG shape.

    Without it Starlette re-raises to the server, which logs the exception's
    message, and a message can quote a submitted value. Here only the
    exception's type and where it was raised are logged.
    """

    def __init__(self, app):  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message):  # noqa: ANN001
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            log.error("%s %s failed: %s at %s", scope["method"], scope["path"], type(exc).__name__, _where(exc))
            if not started:
                await error_response(500, "an unexpected error occurred; it has been logged")(scope, receive, send)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, *exc.details, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            detail = "no such resource; the API's routes are listed at /v1/openapi.json"
        elif exc.status_code == 405:
            detail = f"method: {request.method} is not allowed here; use {(headers or {}).get('Allow', 'another')}"
        return error_response(exc.status_code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'is not valid')}" for e in exc.errors()]
        return error_response(400, *details)

    @app.exception_handler(sa.exc.SQLAlchemyError)
    async def _database_error(request: Request, exc: sa.exc.SQLAlchemyError) -> JSONResponse:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        log.error("%s %s: perfdata database error: %s at %s", request.method, request.url.path, reason, _where(exc))
        return error_response(503, "the perfdata database is unavailable; try again later")

    app.add_middleware(UnexpectedErrors)


def documented(*statuses: int) -> dict[int | str, dict]:
    """The OpenAPI ``responses`` entries of these error statuses, in the OPG error shape."""
    return {status: {"model": ErrorBody, "description": CODES[status][1]} for status in statuses}
