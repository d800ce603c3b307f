"""A synthetic OPG data.json for the demo, kept by hand as OPG's was before perfdata.

OPG's Make an LPA ``data.json`` holds, for each month, the three figures a
person typed in: user satisfaction (a whole percentage), digital take-up and
uptime, in that order, a blank line between months. ``hand_kept_data_json``
writes such a file for the demo's first months, from the demo's own published
figures rounded as a person would, with the slips the real file has or could
have: the last five months' digital take-up typed as strings ("40.9"), one
record pasted twice, one uptime figure with two digits swapped, and a month before
perfdata's first. ``perfdata opg reconcile`` then has something to find.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from perfdata_assets.publishing.exports import period_timestamp
from perfdata_assets.publishing.published import PublishedValue, by_month

HAND_TYPES = ("user-satisfaction-percent", "digital-take-up", "uptime-percent")
HAND_PLACES = {"user-satisfaction-percent": 0, "digital-take-up": 1, "uptime-percent": 2}
# The month before perfdata's first, which perfdata never computed: figures as a person typed them.
EARLIER_MONTH = {
    "user-satisfaction-percent": 74, "digital-take-up": Decimal("67.8"), "uptime-percent": Decimal("99.61"),
}
HAND_MONTHS = 6


def _rounded(value: Decimal, places: int) -> int | Decimal:
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return int(rounded) if places == 0 else rounded


def _mistyped(value: Decimal) -> Decimal:
    """The figure with two digits swapped (98.38 -> 89.38, else 99.83 -> 99.38), never the figure itself."""
    text = str(value)
    for swapped in (text[1] + text[0] + text[2:], text[:-2] + text[-1] + text[-2]):
        if swapped != text and "." not in swapped[-2:] and swapped[0] != "0":
            return Decimal(swapped)
    return value - 10  # every digit alike (99.99): ten off


def _record(month: dt.date, data_type: str, count: object) -> str:
    count_text = json.dumps(count) if isinstance(count, str) else str(count)
    return (
        "  {\n"
        f'    "_timestamp": "{period_timestamp(month)}",\n'
        '    "service": "make-a-lpa",\n'
        '    "channel": "digital",\n'
        f'    "count": {count_text},\n'
        f'    "dataType": "{data_type}",\n'
        '    "period": "month"\n'
        "  }"
    )


def hand_kept_data_json(published: Sequence[PublishedValue]) -> bytes:
    """OPG's data.json as hand-kept up to the demo's sixth month (see the module's docstring)."""
    months = sorted(by_month(published))[:HAND_MONTHS]
    if not months:
        return b"[]\n"
    earlier = (months[0] - dt.timedelta(days=1)).replace(day=1)
    values = {(v.period_start, v.data_type): v.value for v in published if v.value is not None}
    blocks = [[_record(earlier, t, EARLIER_MONTH[t]) for t in HAND_TYPES]]
    for position, month in enumerate(months):
        block = []
        for data_type in HAND_TYPES:
            value = values.get((month, data_type))
            if value is None:
                continue
            count: object = _rounded(value, HAND_PLACES[data_type])
            if data_type == "digital-take-up" and position >= len(months) - 5:
                count = str(count)  # typed into the file as text
            if data_type == "uptime-percent" and position == min(2, len(months) - 1):
                count = _mistyped(count)  # type: ignore[arg-type]
            block.append(_record(month, data_type, count))
            if data_type == "user-satisfaction-percent" and position == 1:
                block.append(block[-1])  # pasted twice
        blocks.append(block)
    return ("[\n" + ",\n\n".join(",\n".join(b) for b in blocks if b) + "\n]\n").encode("utf-8")
