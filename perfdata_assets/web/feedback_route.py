"""``POST /v1/feedback``: the feedback form's intake over HTTP.

Rate-limited per client first, then the media type and the size are checked,
then the body is validated by ``FeedbackForm`` and stored in the LPA service's
``feedback`` table (``feedback.FeedbackStore``). No submitted value is logged.
"""

from __future__ import annotations

import datetime as dt
import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from perfdata_assets.web import feedback
from perfdata_assets.web.errors import ApiError, documented
from perfdata_assets.web.feedback import FeedbackForm
from perfdata_assets.web.ratelimit import RateLimiter

log = logging.getLogger("perfdata.api")

# 2,000 characters of details, each written as a 12-byte JSON escape pair
# (\ud83d\ude00) in the worst case, is 24,000 bytes: the limit lets every
# valid submission through and stops anything far beyond one.
MAX_FEEDBACK_BYTES = 32 * 1024


class FeedbackCreated(BaseModel):
    id: int


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


def feedback_router(store: feedback.FeedbackStore, limiter: RateLimiter, max_feedback_bytes: int) -> APIRouter:
    """``POST /feedback``: open, as the service's own form is."""
    router = APIRouter()

    @router.post(
        "/feedback",
        status_code=201,
        response_model=FeedbackCreated,
        responses=documented(400, 413, 415, 429, 503),
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

    return router
