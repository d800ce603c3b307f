"""Deterministic, plausible channel counts for the stub and the demo.

Each (seed, day, channel) gets its own random stream, so any day's figures are the
same whichever range they are asked for in: the stub can answer overlapping or split
requests consistently, and tests can compute the expected figures directly.
"""

from __future__ import annotations

import datetime as dt
import random

from perfdata_assets.sources.sirius.counts import ChannelCount

KNOWN_CHANNELS = ("online", "paper", "phone")

# Receipts dip in August and over Christmas, peak after New Year.
_MONTH_FACTOR = {1: 1.15, 2: 1.05, 3: 1.05, 4: 0.95, 5: 1.0, 6: 0.95, 7: 0.95, 8: 0.8, 9: 1.0, 10: 1.05, 11: 1.0, 12: 0.75}
# Monday..Sunday: posted forms arrive on weekdays; the online tool is used at weekends too.
_WEEKDAY_FACTOR = (1.1, 1.05, 1.0, 1.0, 0.95, 0.3, 0.2)
_WEEKDAY_TOTAL = 1500


def _rng(seed: int, day: dt.date, what: str) -> random.Random:
    # A string seed is hashed with SHA-512 by `random`, so this is stable across runs
    # and independent of PYTHONHASHSEED.
    return random.Random(f"sirius-stub:{seed}:{day.isoformat()}:{what}")


def _day_counts(day: dt.date, seed: int, extra_channel: str | None) -> dict[str, int]:
    total = _WEEKDAY_TOTAL * _MONTH_FACTOR[day.month] * _WEEKDAY_FACTOR[day.weekday()]
    total *= _rng(seed, day, "total").uniform(0.9, 1.1)
    # Digital take-up stays within 60-75%: it creeps up a little each year, and is
    # higher in the new-year peak and at weekends (no post).
    years = min(max(day.year - 2019, 0), 8)
    online_share = 0.61 + 0.012 * years + 0.02 * (day.month <= 3) + 0.04 * (day.weekday() >= 5)
    online_share = min(0.75, max(0.60, online_share + _rng(seed, day, "share").uniform(-0.02, 0.02)))
    phone_share = _rng(seed, day, "phone").uniform(0.01, 0.04)
    counts = {
        "online": round(total * online_share),
        "phone": round(total * phone_share),
    }
    counts["paper"] = max(0, round(total) - counts["online"] - counts["phone"])
    if extra_channel:
        counts[extra_channel] = round(_rng(seed, day, "extra").uniform(0, 30) * _WEEKDAY_FACTOR[day.weekday()])
    return counts


def synthetic_channel_counts(
    start: dt.date, end: dt.date, seed: int = 0, extra_channel: str | None = None
) -> list[ChannelCount]:
    """Counts for every day in [start, end], sorted by (day, channel).

    Zero counts are left out, as Sirius does ("a missing pair means zero").
    """
    if extra_channel in KNOWN_CHANNELS:
        raise ValueError(f"extra channel {extra_channel!r} is already a known channel")
    result = []
    day = start
    while day <= end:
        for channel, count in sorted(_day_counts(day, seed, extra_channel).items()):
            if count > 0:
                result.append(ChannelCount(day=day, channel=channel, count=count))
        day += dt.timedelta(days=1)
    return result
