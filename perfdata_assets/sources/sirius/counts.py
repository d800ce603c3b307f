"""Channel counts as perfdata holds them, the errors around fetching them, and the
strict reading of a Sirius 200 body (contract: docs/contract/sirius.md).

A malformed body must fail the whole fetch rather than be repaired: a published
digital take-up figure computed from half-understood data is worse than none.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CHANNEL_COUNTS_PATH = "/v1/lpa-online-tool/channel-counts"
# Sirius refuses longer ranges with 400; clients split.
CONTRACT_MAX_DAYS = 92
# The perfdata.channel_counts.count column is a PostgreSQL integer.
MAX_COUNT = 2**31 - 1

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ChannelCount:
    day: dt.date
    channel: str
    count: int


@dataclass(frozen=True)
class ChannelCounts:
    """Counts for every day of [start, end] (both inclusive); a missing (day, channel)
    pair means zero.

    complete_through: the figures are final up to and including this date (it may lie
    before start or after end); None means no day is known to be final.
    counts: sorted by (day, channel), no duplicated pair, every day within [start, end].
    """

    start: dt.date
    end: dt.date
    complete_through: dt.date | None
    counts: tuple[ChannelCount, ...]

    def is_final(self, day: dt.date) -> bool:
        return self.complete_through is not None and day <= self.complete_through


class SiriusError(Exception):
    """Channel counts could not be obtained. The message is one sentence, without
    credentials or personal data."""


class SiriusMalformedResponse(SiriusError):
    """Sirius answered 200 but the body breaks the contract."""


class SiriusRequestRefused(SiriusError):
    """HTTP 400: Sirius refused the parameters; the message carries its `detail`."""


class SiriusCredentialsRefused(SiriusError):
    """HTTP 403: missing or bad signature."""


class SiriusCredentialsMissing(SiriusError):
    """The AWS default credential chain found no credentials (or only part of them) to
    sign the request with."""


class SiriusCredentialsError(SiriusError):
    """A source in the AWS credential chain was found but could not give credentials
    (e.g. STS refused the web-identity role, the container endpoint failed)."""


class SiriusEndpointMissing(SiriusError):
    """HTTP 404: the channel-counts endpoint is not deployed (or base_url is wrong)."""


class SiriusUnexpectedStatus(SiriusError):
    """A status the contract does not define (e.g. 401, 301, 418)."""


class SiriusUnavailable(SiriusError):
    """Retries for 429/5xx/timeouts/dropped connections were exhausted, or Sirius asked
    for a longer wait than we are prepared to sleep."""


class ChannelCountsCsvError(SiriusError):
    """A hand-supplied channel counts CSV is unusable; the message names the line."""


def sort_counts(counts: Iterable[ChannelCount]) -> tuple[ChannelCount, ...]:
    return tuple(sorted(counts, key=lambda c: (c.day, c.channel)))


def describe(value: object) -> str:
    """A short rendering of an offending value for an error message: enough to
    recognise it, never a whole body."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        # 3.0 is refused too: the contract asks for a JSON integer, and a float here
        # means the producer is not doing integer arithmetic.
        return "a number written with a decimal point" if value.is_integer() else "a fractional number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _parse_date(value: object, where: str) -> dt.date:
    if not isinstance(value, str):
        raise SiriusMalformedResponse(f"{where}: {describe(value)} is {json_type(value)}, not a YYYY-MM-DD date string")
    # date.fromisoformat alone would also accept '20240101' or '2024-W01-1'.
    if not _ISO_DATE.fullmatch(value):
        raise SiriusMalformedResponse(f"{where}: {describe(value)} is not a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SiriusMalformedResponse(f"{where}: {describe(value)} is not a valid calendar date") from None


def check_count(value: object, where: str, error: type[SiriusError] = SiriusMalformedResponse) -> int:
    # bool is an int subclass in Python, and 3.0 is a JSON number with a fraction
    # part as far as the contract is concerned: both are refused.
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{where}: {describe(value)} is {json_type(value)}, not a non-negative integer")
    if value < 0:
        raise error(f"{where}: {value} is negative")
    if value > MAX_COUNT:
        raise error(f"{where}: {value} is too large (the maximum is {MAX_COUNT})")
    return value


def check_channel(value: object, where: str, error: type[SiriusError] = SiriusMalformedResponse) -> str:
    if not isinstance(value, str):
        raise error(f"{where}: {describe(value)} is {json_type(value)}, not a channel name")
    if value == "":
        raise error(f"{where}: is empty")
    # ' online' would silently count as an unknown channel and vanish from `digital`.
    if value != value.strip():
        raise error(f"{where}: {describe(value)} has leading or trailing whitespace")
    return value


def parse_channel_counts_response(body: object, start: dt.date, end: dt.date) -> ChannelCounts:
    """Validate a decoded 200 body for the request `from=start&to=end`.

    `completeThrough` must be present; null means "nothing is final yet". A missing
    key is treated as a contract break rather than guessed at, because it decides
    what may be published. Unknown top-level or entry keys are ignored (additive
    changes on the Sirius side must not break us); unknown channels are kept.
    """
    if not isinstance(body, dict):
        raise SiriusMalformedResponse(f"response body is {json_type(body)}, not a JSON object")
    for key in ("from", "to", "completeThrough", "counts"):
        if key not in body:
            raise SiriusMalformedResponse(f"response body has no '{key}' field")
    got_from = _parse_date(body["from"], "from")
    got_to = _parse_date(body["to"], "to")
    if (got_from, got_to) != (start, end):
        raise SiriusMalformedResponse(
            f"from/to: the response covers {got_from}..{got_to} but {start}..{end} was requested"
        )
    raw_through = body["completeThrough"]
    complete_through = None if raw_through is None else _parse_date(raw_through, "completeThrough")

    entries = body["counts"]
    if not isinstance(entries, list):
        raise SiriusMalformedResponse(f"counts: is {json_type(entries)}, not a list")
    seen: dict[tuple[dt.date, str], int] = {}
    counts = []
    for index, entry in enumerate(entries):
        where = f"counts[{index}]"
        if not isinstance(entry, dict):
            raise SiriusMalformedResponse(f"{where}: is {json_type(entry)}, not an object")
        for key in ("date", "channel", "count"):
            if key not in entry:
                raise SiriusMalformedResponse(f"{where}: has no '{key}' field")
        day = _parse_date(entry["date"], f"{where}.date")
        if not start <= day <= end:
            raise SiriusMalformedResponse(f"{where}.date: {day} is outside the requested range {start}..{end}")
        channel = check_channel(entry["channel"], f"{where}.channel")
        count = check_count(entry["count"], f"{where}.count")
        if (day, channel) in seen:
            raise SiriusMalformedResponse(
                f"{where}: ({day}, {channel}) duplicates counts[{seen[(day, channel)]}]"
            )
        seen[(day, channel)] = index
        counts.append(ChannelCount(day=day, channel=channel, count=count))
    return ChannelCounts(start=start, end=end, complete_through=complete_through, counts=sort_counts(counts))


def merged_complete_through(chunks: Sequence[ChannelCounts]) -> dt.date | None:
    """The date through which the merged range is final.

    A day is final when it is <= the completeThrough of the response that returned it.
    The merged value is the largest D such that every requested day <= D is final:
    walking the chunks in order, a chunk that is final through its own end passes
    finality on to the next; the first chunk that is not decides. If it reports a date
    before its own start (or null), the previous chunk's end is what is known final
    (for the first chunk: its value as reported, possibly None).
    If every chunk is final through its end, the last chunk's value is kept as Sirius
    reported it (so a single chunk is returned unchanged).
    """
    through: dt.date | None = None
    for index, chunk in enumerate(chunks):
        reported = chunk.complete_through
        last = index == len(chunks) - 1
        if reported is None or reported < chunk.end:
            if reported is not None and (through is None or reported > through):
                through = reported
            return through
        # Not reported itself: a later chunk may still revise days up to `reported`.
        through = reported if last else chunk.end
    return through


def merge_channel_counts(chunks: Sequence[ChannelCounts]) -> ChannelCounts:
    """Join the responses for consecutive, non-overlapping sub-ranges into one."""
    if not chunks:
        raise ValueError("merge_channel_counts needs at least one chunk")
    for before, after in zip(chunks, chunks[1:]):
        if after.start != before.end + dt.timedelta(days=1):
            raise ValueError(
                f"chunks are not consecutive: {before.start}..{before.end} then {after.start}..{after.end}"
            )
    return ChannelCounts(
        start=chunks[0].start,
        end=chunks[-1].end,
        complete_through=merged_complete_through(chunks),
        counts=sort_counts(c for chunk in chunks for c in chunk.counts),
    )
