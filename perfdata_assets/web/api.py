"""perfdata's HTTP API: the published KPIs, the export files, and the feedback form.

All routes are under ``/v1/``; the OpenAPI document is at ``/v1/openapi.json``
(committed as ``openapi/perfdata-api.json``; regenerate it with
``python -m perfdata_assets.web.api``) and its pages at ``/v1/docs``.

- ``GET /v1/healthcheck`` and ``POST /v1/feedback`` are open: the feedback form
  is public, and a load balancer must be able to check health.
- ``GET /open-data/make-a-lasting-power-of-attorney-kpis.csv`` and its CSVW
  metadata (``….csv-metadata.json``) are open: published figures, listed on
  data.gov.uk (kpis.md section 7).
- Everything else needs ``Authorization: Bearer <PERFDATA_API_TOKEN>``. With no
  token configured those routes answer 503: the API is never open by default.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.publishing.staleness import DATASETS
from perfdata_assets.web import errors, feedback
from perfdata_assets.web.dashboard import mount_dashboard
from perfdata_assets.web.errors import ApiError, documented
from perfdata_assets.web.exports import exports_router
from perfdata_assets.web.feedback_route import MAX_FEEDBACK_BYTES, feedback_router
from perfdata_assets.web.kpis import health_router, kpis_router, utc_now
from perfdata_assets.web.open_data import open_data_router
from perfdata_assets.web.ratelimit import RateLimit, RateLimiter

API_VERSION = "1.0.0"
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi" / "perfdata-api.json"

__all__ = ["MAX_FEEDBACK_BYTES", "create_app", "openapi_document"]


# --- The application ---------------------------------------------------------------


def create_app(
    perfdata_database_url: str,
    lpa_database_url: str,
    api_token: str | None,
    *,
    feedback_rate_limit: RateLimit = RateLimit(),
    max_feedback_bytes: int = MAX_FEEDBACK_BYTES,
    expected_datasets: Collection[str] = DATASETS,
    clock: Callable[[], dt.datetime] = utc_now,
) -> FastAPI:
    """The API over the given databases. Nothing connects until a request needs it.

    ``expected_datasets``: the KPIs (by headline data type) this deployment publishes; the
    healthcheck reports only those as stale.
    """
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
    # Open: the healthcheck (for a load balancer) and the feedback form (public, as the service's).
    app.include_router(health_router(performance, tuple(expected_datasets), clock), prefix="/v1")
    app.include_router(feedback_router(store, limiter, max_feedback_bytes), prefix="/v1")
    # Open too: the open data for data.gov.uk (published figures), at /open-data/.
    app.include_router(open_data_router(performance))
    # Behind the bearer token: the published figures and the export files.
    protected = {"prefix": "/v1", "dependencies": [Depends(require_token)], "responses": documented(401, 503)}
    app.include_router(kpis_router(performance), **protected)
    app.include_router(exports_router(performance), **protected)
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
