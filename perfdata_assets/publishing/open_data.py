"""The open data of kpis.md section 7: the CSV, its CSVW metadata, and the data.gov.uk record.

The three are made here and nowhere else. The export asset writes the CSV and the
metadata beside OPG's files, the open routes serve the same bytes, and
``perfdata open-data dataset`` turns the same metadata into the dataset record OPG
registers on data.gov.uk, so the file, its description and the catalogue entry
cannot disagree.

- The CSV: RFC 4180, UTF-8 without a byte-order mark, CRLF line ends, a field
  quoted only when it must be (none of ours needs it today); empty for NULL.
  ``value`` as published (two decimal places: the column is ``numeric(8,2)``),
  ``numerator`` a whole count or pounds to the penny, ``last_revised`` the London
  date of the row's latest restatement.
- The metadata: a CSVW table description (W3C "Metadata Vocabulary for Tabular
  Data"). ``dc:modified`` is when the publication last changed: the latest
  ``published_at`` of its rows, which is also the routes' ``Last-Modified``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import urlsplit

from perfdata_assets.publishing.published import OpenDataRow

CSV_FILE_NAME = "make-a-lasting-power-of-attorney-kpis.csv"
METADATA_FILE_NAME = f"{CSV_FILE_NAME}-metadata.json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
METADATA_MEDIA_TYPE = "application/csvm+json"

TITLE = "Make a Lasting Power of Attorney: service performance KPIs"
DESCRIPTION = (
    "The key performance indicators of the Office of the Public Guardian's Make a Lasting Power of "
    "Attorney service, as it publishes them under the GOV.UK Service Standard: each month's user "
    "satisfaction (with the count at each of the five levels), service uptime, digital take-up, "
    "completion rate and user satisfaction score; and, for the twelve months ending with each "
    "quarter, the cost per transaction and the digital cost per transaction. Each row gives the "
    "figure with the counts (or pounds) it is computed from. A figure published again with a "
    "different value is restated in place; last_revised gives the date of its latest restatement."
)
PUBLISHER = "Office of the Public Guardian"
LICENSE = "http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"

# (name, title, CSVW datatype, required): the header, in order, and the table schema.
COLUMNS = (
    ("period_start", "Period start", "date", True),
    ("period", "Period", {"base": "string", "format": "month|year"}, True),
    ("measure", "Measure", "string", True),
    ("value", "Value", "decimal", False),
    ("numerator", "Numerator", "decimal", False),
    ("denominator", "Denominator", "integer", False),
    ("unit", "Unit", {"base": "string", "format": "percent|count|GBP"}, True),
    ("last_revised", "Last revised", "date", False),
)
PRIMARY_KEY = ("period_start", "period", "measure")
COLUMN_DESCRIPTIONS = {
    "period_start": "the first day of the period: the month, or the first month of the twelve",
    "period": "month, or year for cost per transaction (the twelve months ending with a quarter)",
    "measure": "the data type, as in OPG's performance data (e.g. user-satisfaction-percent)",
    "value": "the published figure; empty where its denominator is zero",
    "numerator": "what the figure is computed from: a count, or pounds for a GBP measure",
    "denominator": "the count the figure is out of (responses, minutes, LPAs, transactions)",
    "unit": "percent, count or GBP",
    "last_revised": "the date of the figure's latest restatement; empty if never restated",
}

# data.gov.uk (CKAN): the dataset's fixed classification, and the publisher's organisation there.
CKAN_LICENSES = {LICENSE: "uk-ogl"}
CKAN_ORGANISATIONS = {PUBLISHER: "office-of-the-public-guardian"}
THEME = "digital-services-performance"
UPDATE_FREQUENCY = "monthly"


def _field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"  # never an exponent
    return str(value)


def kpis_csv(rows: Sequence[OpenDataRow]) -> bytes:
    """The open-data CSV of the given rows (``published.open_data_rows``, already in order)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([name for name, *_ in COLUMNS])
    for r in rows:
        writer.writerow(_field(v) for v in (r.period_start, r.period, r.measure, r.value, r.numerator,
                                            r.denominator, r.unit, r.last_revised))
    return out.getvalue().encode("utf-8")


def last_modified(rows: Sequence[OpenDataRow]) -> dt.datetime | None:
    """When the publication last changed (its latest published_at, UTC), or None while it is empty."""
    return max((r.published_at for r in rows), default=None)


def iso_utc(moment: dt.datetime) -> str:
    """The ISO form of ``dc:modified``: UTC, whole seconds, ``Z``."""
    return moment.astimezone(dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata(modified: dt.datetime | None) -> dict:
    """The CSVW table description of the CSV (``modified``: ``last_modified`` of its rows)."""
    document: dict = {
        "@context": "http://www.w3.org/ns/csvw",
        "url": CSV_FILE_NAME,
        "dc:title": TITLE,
        "dc:description": DESCRIPTION,
        "dc:publisher": PUBLISHER,
        "dc:license": {"@id": LICENSE},
    }
    if modified is not None:
        document["dc:modified"] = {"@value": iso_utc(modified), "@type": "xsd:dateTime"}
    document["tableSchema"] = {
        "columns": [
            {"name": name, "titles": title, "dc:description": COLUMN_DESCRIPTIONS[name], "datatype": datatype,
             "required": required}
            for name, title, datatype, required in COLUMNS
        ],
        "primaryKey": list(PRIMARY_KEY),
    }
    return document


def metadata_json(modified: dt.datetime | None) -> bytes:
    return (json.dumps(metadata(modified), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def files(rows: Sequence[OpenDataRow]) -> dict[str, bytes]:
    """``{name: bytes}`` of the CSV and its metadata, as written and served."""
    return {CSV_FILE_NAME: kpis_csv(rows), METADATA_FILE_NAME: metadata_json(last_modified(rows))}


def check_base_url(text: str) -> str:
    """The URL the open routes are served under (``https://host[/path]``), without a trailing slash;
    ValueError naming what is wrong."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or not text.strip().isprintable() \
            or any(c.isspace() for c in text.strip()):
        raise ValueError(f"--base-url {text!r}: must be an absolute http(s) URL, e.g. https://perfdata.example.gov.uk")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"--base-url {text!r}: must have no query, fragment or user name")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number from 0 to 65535)
    except ValueError:
        raise ValueError(f"--base-url {text!r}: the port is not a port number") from None
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def dataset_record(document: dict, base_url: str) -> dict:
    """The data.gov.uk (CKAN) dataset of ``metadata(...)``, its resources served under ``base_url``."""
    base = check_base_url(base_url)
    csv_name = document["url"]
    return {
        "name": csv_name.removesuffix(".csv"),
        "title": document["dc:title"],
        "notes": document["dc:description"],
        "owner_org": CKAN_ORGANISATIONS[document["dc:publisher"]],
        "license_id": CKAN_LICENSES[document["dc:license"]["@id"]],
        "theme-primary": THEME,
        "update_frequency": UPDATE_FREQUENCY,
        "resources": [
            {"name": csv_name, "url": f"{base}/open-data/{csv_name}", "format": "CSV",
             "description": "The KPIs, one row per period and measure (RFC 4180, UTF-8)."},
            {"name": f"{csv_name}-metadata.json", "url": f"{base}/open-data/{csv_name}-metadata.json",
             "format": "JSON",
             "description": "Its CSV on the Web (CSVW) metadata: the columns, their types and units."},
        ],
    }
