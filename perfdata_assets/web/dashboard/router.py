"""The public performance dashboard: ``GET /`` and ``/performance``, its static files and downloads.

Mount it on the API with one line::

    mount_dashboard(app, performance)   # performance: a PerformanceData, or a function returning one

Routes (none in the OpenAPI document, which describes the ``/v1`` API only):

- ``GET /``, ``GET /performance``: the page, server-rendered HTML, no login.
- ``GET /static/dashboard/...``: GOV.UK Frontend's CSS, fonts and images, and the
  dashboard's own CSS (``static/``).
- ``GET /performance/exports/performance-data/{YYYY-MM}.json`` and
  ``GET /performance/exports/transactions-by-channel.csv``: the page's download
  links. They are the public counterparts of ``/v1/exports/...`` (which need the
  API token), made by the same ``exports`` functions from the same published rows,
  so the bytes are identical. ``export_base="/v1/exports"`` points the links at the
  API's routes instead, for a deployment where those are public.

The page shows published months only and reads nothing until a request comes.
It sends a strict Content-Security-Policy: no scripts at all, styles and fonts
from this server only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from perfdata_assets.publishing import exports
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.web import exports as web_exports
from perfdata_assets.web.dashboard import views
from perfdata_assets.web.dashboard.data import Dashboard, read_dashboard

log = logging.getLogger("perfdata.dashboard")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
STATIC_PATH = "/static/dashboard"
EXPORTS_PATH = "/performance/exports"
PAGE_PATHS = ("/", "/performance")
HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # every value on the page is escaped
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
_templates.globals["v"] = views


@dataclass(frozen=True)
class Links:
    """Where the page's download links point."""

    exports: str  # e.g. /performance/exports or /v1/exports

    @property
    def csv(self) -> str:
        return f"{self.exports}/{exports.TRANSACTIONS_FILE_NAME}"

    def json(self, month: dt.date) -> str:
        return f"{self.exports}/performance-data/{month:%Y-%m}.json"

    @staticmethod
    def json_name(month: dt.date) -> str:
        return exports.performance_data_file_name(month)


def render_dashboard(dashboard: Dashboard, *, static: str = STATIC_PATH, links: Links = Links(EXPORTS_PATH)) -> str:
    """The page's HTML for what ``read_dashboard`` read."""
    kpi_charts = [views.kpi_chart(kpi) for kpi in dashboard.kpis]
    return _templates.get_template("dashboard.html").render(
        page_title="Make a lasting power of attorney: service performance – GOV.UK",
        dashboard=dashboard, kpi_charts=kpi_charts, static=static, links=links,
    )


def render_message(title: str, lines: list[str], *, static: str = STATIC_PATH, home: str = "/performance") -> str:
    """A page with a heading and a few lines (errors)."""
    return _templates.get_template("message.html").render(
        page_title=f"{title} – Make a lasting power of attorney: service performance – GOV.UK",
        title=title, lines=lines, static=static, home=home,
    )


def _factory(performance_data: PerformanceData | Callable[[], PerformanceData]) -> Callable[[], PerformanceData]:
    if isinstance(performance_data, PerformanceData):
        return lambda: performance_data
    if callable(performance_data):
        return performance_data
    raise TypeError(f"expected a PerformanceData or a function returning one, not {type(performance_data).__name__}")


def dashboard_router(
    performance_data: PerformanceData | Callable[[], PerformanceData],
    *,
    export_base: str | None = None,
) -> APIRouter:
    """The dashboard's routes and static files, over the publication that ``performance_data`` reads."""
    performance = _factory(performance_data)
    router = APIRouter(include_in_schema=False)

    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def unavailable(request: Request, exc: Exception) -> HTMLResponse:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        log.error("%s %s: perfdata database error: %s", request.method, request.url.path, reason)
        html = render_message(
            "Sorry, there is a problem with the service",
            ["The performance figures cannot be shown at the moment.", "Try again later."],
            static=root(request) + STATIC_PATH, home=root(request) + "/performance",
        )
        return HTMLResponse(html, status_code=503, headers={**HTML_HEADERS, "Retry-After": "60"})

    def not_found(request: Request, message: str) -> HTMLResponse:
        html = render_message("Page not found", [message], static=root(request) + STATIC_PATH,
                              home=root(request) + "/performance")
        return HTMLResponse(html, status_code=404, headers=HTML_HEADERS)

    def page(request: Request) -> Response:
        try:
            dashboard = read_dashboard(performance())
        except sa.exc.SQLAlchemyError as exc:
            return unavailable(request, exc)
        links = Links(root(request) + (export_base if export_base is not None else EXPORTS_PATH))
        html = render_dashboard(dashboard, static=root(request) + STATIC_PATH, links=links)
        return HTMLResponse(html, headers=HTML_HEADERS)

    for path in PAGE_PATHS:
        router.add_api_route(path, page, methods=["GET", "HEAD"], response_class=HTMLResponse,
                             name="dashboard" if path == "/" else "dashboard-performance")

    @router.get(EXPORTS_PATH + "/performance-data/{month}.json", name="dashboard-performance-data")
    def performance_data_json(request: Request, month: str) -> Response:
        period_start = web_exports.parse_month(month)
        if period_start is None:
            return not_found(request, "Months are written YYYY-MM, for example 2024-01.")
        try:
            found = web_exports.performance_data_file(performance(), period_start)
        except sa.exc.SQLAlchemyError as exc:
            return unavailable(request, exc)
        if found is None:
            return not_found(request, f"{views.month_name(period_start)} has not been published.")
        name, body = found
        return Response(body, media_type=web_exports.JSON_MEDIA_TYPE,
                        headers={**web_exports.attachment(name), "Cache-Control": "no-cache"})

    @router.get(EXPORTS_PATH + "/" + exports.TRANSACTIONS_FILE_NAME, name="dashboard-transactions-by-channel")
    def transactions_by_channel(request: Request) -> Response:
        try:
            name, body = web_exports.transactions_file(performance())
        except sa.exc.SQLAlchemyError as exc:
            return unavailable(request, exc)
        return Response(body, media_type=web_exports.CSV_MEDIA_TYPE,
                        headers={**web_exports.attachment(name), "Cache-Control": "no-cache"})

    router.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    return router


def mount_dashboard(
    app: FastAPI,
    performance_data: PerformanceData | Callable[[], PerformanceData],
    *,
    export_base: str | None = None,
) -> APIRouter:
    """Add the dashboard to ``app`` (see the module's docstring); returns the router added."""
    router = dashboard_router(performance_data, export_base=export_base)
    app.include_router(router)
    return router
