"""The open data over HTTP (kpis.md section 7): the KPI CSV and its CSVW metadata, with no token.

These are published figures, listed on data.gov.uk, so anyone may fetch them (a
browser on another site too: ``Access-Control-Allow-Origin: *``). Both answers are
the bytes the export asset writes, made from the publication (and made again only when
a digest of its rows, read on every request, changes: never stale), and carry
an ``ETag`` (a hash of those bytes) and ``Last-Modified`` (when the publication last
changed, the metadata's ``dc:modified``): a harvester that sends ``If-None-Match``
(or ``If-Modified-Since``) gets a 304 until a figure changes. The CSV's answer
points at its metadata with ``Link: <…>; rel="describedby"``, as CSVW asks.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from dataclasses import dataclass

from fastapi import APIRouter, Header, Response

from perfdata_assets.publishing import open_data
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.web.errors import documented

PREFIX = "/open-data"
CSV_PATH = f"{PREFIX}/{open_data.CSV_FILE_NAME}"
METADATA_PATH = f"{PREFIX}/{open_data.METADATA_FILE_NAME}"
# Always revalidate: a restated figure must not wait out a cache, and a 304 costs one query.
CACHE_CONTROL = "public, no-cache"
# Relative to the CSV's own URL (both files live under /open-data/), so it holds behind any proxy or prefix.
LINK = f'<{open_data.METADATA_FILE_NAME}>; rel="describedby"; type="{open_data.METADATA_MEDIA_TYPE}"'


def entity_tag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def not_modified(etag: str, modified: dt.datetime | None, if_none_match: str | None,
                 if_modified_since: str | None) -> bool:
    """Whether a conditional GET may be answered 304 (If-None-Match wins over If-Modified-Since)."""
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or etag in tags
    if if_modified_since is None or modified is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False  # an unreadable date is ignored, as RFC 9110 says
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    return modified.replace(microsecond=0) <= since


def _answer(body: bytes, media_type: str, modified: dt.datetime | None, if_none_match: str | None,
            if_modified_since: str | None, extra: dict[str, str]) -> Response:
    etag = entity_tag(body)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Access-Control-Allow-Origin": "*", **extra}
    if modified is not None:
        headers["Last-Modified"] = email.utils.format_datetime(modified.astimezone(dt.timezone.utc), usegmt=True)
    if not_modified(etag, modified, if_none_match, if_modified_since):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


CONDITIONAL_HEADERS = {
    "ETag": {"description": "a hash of the body: send it back in If-None-Match", "schema": {"type": "string"}},
    "Last-Modified": {"description": "when the publication last changed (absent before the first publication)",
                      "schema": {"type": "string"}},
}
NOT_MODIFIED = {304: {"description": "Not modified: the If-None-Match (or If-Modified-Since) still holds",
                      "headers": CONDITIONAL_HEADERS}}


@dataclass(frozen=True)
class Rendered:
    """The open-data files as made from the publication whose fingerprint this is."""

    fingerprint: str | None
    files: dict[str, bytes]
    modified: dt.datetime | None


class RenderedFiles:
    """The files of the current publication, made again only when its fingerprint changes.

    Each request reads the fingerprint (one small query, a digest computed in the
    database) and keeps the files made for it while it is unchanged, so a restated
    figure is served by the very next request, never a stale file. One entry only:
    memory does not grow. Without a fingerprint (SQLite) the files are made every time.
    """

    def __init__(self, performance: PerformanceData) -> None:
        self._performance = performance
        self._last: Rendered | None = None  # replaced whole, so threads never see half of one

    def current(self) -> Rendered:
        last = self._last
        fingerprint, rows = self._performance.open_data_rows_unless(None if last is None else last.fingerprint)
        if rows is None and last is not None:
            return last
        rendered = Rendered(fingerprint, open_data.files(rows), open_data.last_modified(rows))
        if fingerprint is not None:
            self._last = rendered
        return rendered


def open_data_router(performance: PerformanceData) -> APIRouter:
    """The two open routes; the app adds them without the bearer token."""
    router = APIRouter(tags=["open data"])
    rendered = RenderedFiles(performance)

    def files() -> tuple[dict[str, bytes], dt.datetime | None]:
        current = rendered.current()
        return current.files, current.modified

    @router.get(
        CSV_PATH,
        summary="The KPIs as open data (CSV)",
        response_class=Response,
        responses={
            200: {
                "content": {"text/csv": {"schema": {"type": "string"}}},
                "headers": {
                    **CONDITIONAL_HEADERS,
                    "Link": {"description": LINK, "schema": {"type": "string"}},
                },
            },
            **NOT_MODIFIED,
            **documented(503),
        },
    )
    def kpis_csv(
        if_none_match: str | None = Header(None, description="an ETag of an earlier answer"),
        if_modified_since: str | None = Header(None, description="an HTTP date"),
    ) -> Response:
        """Every published KPI, one row per period and measure (kpis.md section 7): open data, no token.

        Header ``period_start,period,measure,value,numerator,denominator,unit,last_revised``; UTF-8, CRLF.
        Described by its CSVW metadata (the ``Link`` header).
        """
        found, modified = files()
        return _answer(found[open_data.CSV_FILE_NAME], open_data.CSV_MEDIA_TYPE, modified, if_none_match,
                       if_modified_since, {"Link": LINK})

    @router.get(
        METADATA_PATH,
        summary="The open-data CSV's CSVW metadata",
        response_class=Response,
        responses={
            200: {"content": {open_data.METADATA_MEDIA_TYPE: {"schema": {"type": "object"}}},
                  "headers": CONDITIONAL_HEADERS},
            **NOT_MODIFIED,
            **documented(503),
        },
    )
    def kpis_csv_metadata(
        if_none_match: str | None = Header(None, description="an ETag of an earlier answer"),
        if_modified_since: str | None = Header(None, description="an HTTP date"),
    ) -> Response:
        """The CSV's CSV on the Web (CSVW) metadata: its title, publisher, licence and table schema. No token."""
        found, modified = files()
        return _answer(found[open_data.METADATA_FILE_NAME], open_data.METADATA_MEDIA_TYPE, modified, if_none_match,
                       if_modified_since, {})

    # HEAD as well, outside the document: a CSVW processor finds the metadata from the CSV's Link header
    # by a HEAD request (CSVW "Locating Metadata", 5.2), and a harvester checks for changes the same way.
    router.add_api_route(CSV_PATH, kpis_csv, methods=["HEAD"], include_in_schema=False)
    router.add_api_route(METADATA_PATH, kpis_csv_metadata, methods=["HEAD"], include_in_schema=False)
    return router
