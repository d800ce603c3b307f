"""The two export formats of kpis.md ("Exports"), byte for byte.

OPG performance-data JSON, one file per month (``make_a_lasting_power_of_attorney_YY_MM.json``:
OPG's import takes the service's directory name without ``_service``)::

    [
      {
        "_timestamp": "2024-01-01T00:00:00+00:00",
        "service": "make-a-lpa",
        "channel": "digital",
        "count": 91.25,
        "dataType": "user-satisfaction-percent",
        "period": "month"
      },
      ...
    ]

- One record per data type with a value, in the order of ``DATA_TYPES``.
- A NULL value (its denominator was zero) has no record: the contract makes
  ``count`` a JSON number, and the performance-data readers sum and chart it,
  so a ``null`` would break them while an absent record reads as "no figure".
- ``count`` is the published value as a JSON number (``91.25``, ``100.0``), and
  a JSON integer (``12``) for the five satisfaction levels, which are counts. It
  is not clamped: a completion rate can exceed 100 when LPAs started in earlier
  months are created this month, and the export says what was published.
- ``_timestamp`` labels the calendar month: its first day at midnight, always
  written ``+00:00`` as the GOV.UK Performance Platform records were, even for
  months that began at 00:00 BST.

GOV.UK transactions-by-channel CSV, all published months in one file:

- header ``_timestamp,period,channel,count``, lines ending ``\\n``, UTF-8;
- channels renamed ``online`` -> ``digital``, ``paper`` -> ``paper_form``,
  ``phone`` -> ``telephone_human``; any other channel under its own name;
- one row per month and (renamed) channel that had LPAs, sorted by month then
  channel name; ``count`` an integer.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from perfdata_assets.publishing.published import (
    COUNT_DATA_TYPES,
    DATA_TYPES,
    PERIOD,
    SERVICE,
    ChannelTotal,
    PublishedValue,
)

# Sirius channel name -> GOV.UK channel name.
GOVUK_CHANNELS = {"online": "digital", "paper": "paper_form", "phone": "telephone_human"}
TRANSACTIONS_FILE_NAME = "transactions-by-channel.csv"


def period_timestamp(month: dt.date) -> str:
    return f"{month.isoformat()}T00:00:00+00:00"


def performance_data_file_name(month: dt.date) -> str:
    return f"make_a_lasting_power_of_attorney_{month:%y_%m}.json"


def opg_count(data_type: str, value: Decimal) -> int | float:
    """A published value as an OPG record's ``count``: an integer for a level count, else a float (91.25, 100.0)."""
    return int(value) if data_type in COUNT_DATA_TYPES else float(value)


def performance_data_json(records: Iterable[PublishedValue]) -> bytes:
    """The OPG performance-data records of the given published values (normally one month's).

    The monthly data types only: cost per transaction is a year's figure, and OPG's page has
    no column for it (kpis.md section 6), so it never reaches OPG's file whatever is passed.
    """
    monthly = [r for r in records if r.data_type in DATA_TYPES and r.period == PERIOD]
    ordered = sorted(monthly, key=lambda r: (r.period_start, DATA_TYPES.index(r.data_type)))
    items = [
        {
            "_timestamp": period_timestamp(r.period_start),
            "service": SERVICE,
            "channel": "digital",
            "count": opg_count(r.data_type, r.value),
            "dataType": r.data_type,
            "period": PERIOD,
        }
        for r in ordered
        if r.value is not None
    ]
    return (json.dumps(items, indent=2) + "\n").encode("utf-8")


def transactions_by_channel_csv(rows: Iterable[ChannelTotal]) -> bytes:
    """The GOV.UK transactions-by-channel CSV of per-month, per-channel LPA counts."""
    totals: Counter[tuple[dt.date, str]] = Counter()
    for row in rows:
        # Summed, not assigned: a new Sirius channel could itself be called "digital".
        totals[row.month, GOVUK_CHANNELS.get(row.channel, row.channel)] += row.count
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["_timestamp", "period", "channel", "count"])
    for (month, channel), count in sorted(totals.items()):
        writer.writerow([period_timestamp(month), PERIOD, channel, count])
    return out.getvalue().encode("utf-8")
