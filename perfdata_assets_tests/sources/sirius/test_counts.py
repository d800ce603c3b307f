import datetime as dt
import re

import pytest

from perfdata_assets.sources.sirius.counts import (
    ChannelCount,
    ChannelCounts,
    SiriusMalformedResponse,
    merge_channel_counts,
    merged_complete_through,
    parse_channel_counts_response,
)

JAN1 = dt.date(2024, 1, 1)
JAN31 = dt.date(2024, 1, 31)


def body(**overrides):
    base = {
        "from": "2024-01-01",
        "to": "2024-01-31",
        "completeThrough": "2024-01-30",
        "counts": [
            {"date": "2024-01-02", "channel": "paper", "count": 1203},
            {"date": "2024-01-01", "channel": "online", "count": 1812},
            {"date": "2024-01-01", "channel": "phone", "count": 41},
        ],
    }
    base.update(overrides)
    return base


def entries(*extra):
    return body()["counts"] + list(extra)


def test_valid_body_is_parsed_and_sorted():
    result = parse_channel_counts_response(body(), JAN1, JAN31)
    assert result == ChannelCounts(
        start=JAN1,
        end=JAN31,
        complete_through=dt.date(2024, 1, 30),
        counts=(
            ChannelCount(JAN1, "online", 1812),
            ChannelCount(JAN1, "phone", 41),
            ChannelCount(dt.date(2024, 1, 2), "paper", 1203),
        ),
    )
    assert result.is_final(dt.date(2024, 1, 30)) and not result.is_final(JAN31)


def test_unknown_channel_is_kept():
    extra = {"date": "2024-01-05", "channel": "assisted-digital", "count": 7}
    result = parse_channel_counts_response(body(counts=entries(extra)), JAN1, JAN31)
    assert ChannelCount(dt.date(2024, 1, 5), "assisted-digital", 7) in result.counts


def test_null_complete_through_means_nothing_final():
    result = parse_channel_counts_response(body(completeThrough=None), JAN1, JAN31)
    assert result.complete_through is None
    assert not result.is_final(JAN1)


def test_zero_count_and_empty_list_are_fine():
    result = parse_channel_counts_response(body(counts=[{"date": "2024-01-31", "channel": "phone", "count": 0}]), JAN1, JAN31)
    assert result.counts == (ChannelCount(JAN31, "phone", 0),)
    assert parse_channel_counts_response(body(counts=[]), JAN1, JAN31).counts == ()


def test_extra_fields_are_ignored():
    extra = {"date": "2024-01-05", "channel": "paper", "count": 7, "note": "x"}
    result = parse_channel_counts_response(body(counts=[extra], version=2), JAN1, JAN31)
    assert result.counts == (ChannelCount(dt.date(2024, 1, 5), "paper", 7),)


def one(**entry):
    base = {"date": "2024-01-05", "channel": "online", "count": 3}
    base.update(entry)
    return body(counts=[{"date": "2024-01-01", "channel": "online", "count": 1}, base])


def without(key):
    b = body()
    del b[key]
    return b


def entry_without(key):
    entry = {"date": "2024-01-05", "channel": "online", "count": 3}
    del entry[key]
    return body(counts=[entry])


@pytest.mark.parametrize(
    ("bad_body", "message"),
    [
        ([], "response body is a list, not a JSON object"),
        (None, "response body is null, not a JSON object"),
        (without("from"), "response body has no 'from' field"),
        (without("to"), "response body has no 'to' field"),
        (without("completeThrough"), "response body has no 'completeThrough' field"),
        (without("counts"), "response body has no 'counts' field"),
        (body(**{"from": "2024-01-02"}), "from/to: the response covers 2024-01-02..2024-01-31 but 2024-01-01..2024-01-31 was requested"),
        (body(to="2024-02-29"), "from/to: the response covers 2024-01-01..2024-02-29"),
        (body(to=20240131), "to: 20240131 is an integer, not a YYYY-MM-DD date string"),
        (body(completeThrough="yesterday"), "completeThrough: 'yesterday' is not a YYYY-MM-DD date"),
        (body(completeThrough="2024-02-30"), "completeThrough: '2024-02-30' is not a valid calendar date"),
        (body(counts={"a": 1}), "counts: is an object, not a list"),
        (body(counts=[["2024-01-01", "online", 1]]), "counts[0]: is a list, not an object"),
        (entry_without("date"), "counts[0]: has no 'date' field"),
        (entry_without("channel"), "counts[0]: has no 'channel' field"),
        (entry_without("count"), "counts[0]: has no 'count' field"),
        (one(count=-1), "counts[1].count: -1 is negative"),
        (one(count=2.5), "counts[1].count: 2.5 is a fractional number, not a non-negative integer"),
        (one(count=3.0), "counts[1].count: 3.0 is a number written with a decimal point, not a non-negative integer"),
        (one(count="3"), "counts[1].count: '3' is a string, not a non-negative integer"),
        (one(count=True), "counts[1].count: true is a boolean, not a non-negative integer"),
        (one(count=None), "counts[1].count: null is null, not a non-negative integer"),
        (one(count=2**31), "counts[1].count: 2147483648 is too large"),
        (one(date="2024-02-01"), "counts[1].date: 2024-02-01 is outside the requested range 2024-01-01..2024-01-31"),
        (one(date="2023-12-31"), "counts[1].date: 2023-12-31 is outside the requested range"),
        (one(date="20240105"), "counts[1].date: '20240105' is not a YYYY-MM-DD date"),
        (one(date="2024-01-32"), "counts[1].date: '2024-01-32' is not a valid calendar date"),
        (one(date=None), "counts[1].date: null is null, not a YYYY-MM-DD date string"),
        (one(channel=""), "counts[1].channel: is empty"),
        (one(channel=" online"), "counts[1].channel: ' online' has leading or trailing whitespace"),
        (one(channel=3), "counts[1].channel: 3 is an integer, not a channel name"),
        (one(date="2024-01-01"), "counts[1]: (2024-01-01, online) duplicates counts[0]"),
    ],
)
def test_malformed_bodies_are_refused_naming_the_field(bad_body, message):
    with pytest.raises(SiriusMalformedResponse, match=re.escape(message)):
        parse_channel_counts_response(bad_body, JAN1, JAN31)


def test_long_values_are_shortened_in_messages():
    with pytest.raises(SiriusMalformedResponse) as info:
        parse_channel_counts_response(one(count="x" * 5000), JAN1, JAN31)
    assert len(str(info.value)) < 120


def chunk(start, end, through):
    return ChannelCounts(start=start, end=end, complete_through=through, counts=())


D = dt.date
Q1 = (D(2024, 1, 1), D(2024, 3, 31))
Q2 = (D(2024, 4, 1), D(2024, 6, 30))


@pytest.mark.parametrize(
    ("through1", "through2", "merged"),
    [
        (D(2024, 3, 31), D(2024, 6, 10), D(2024, 6, 10)),  # first final to its end: second decides
        (D(2024, 6, 10), D(2024, 6, 10), D(2024, 6, 10)),
        (D(2024, 2, 10), D(2024, 6, 10), D(2024, 2, 10)),  # first chunk incomplete: stop there
        (D(2024, 7, 5), D(2024, 6, 10), D(2024, 6, 10)),  # the later chunk's own value wins for its days
        (D(2024, 3, 31), None, D(2024, 3, 31)),
        (D(2024, 3, 31), D(2024, 2, 1), D(2024, 3, 31)),  # never below what the first chunk made final
        (None, D(2024, 6, 10), None),
        (D(2023, 12, 31), D(2024, 6, 10), D(2023, 12, 31)),
        (D(2024, 3, 31), D(2024, 9, 1), D(2024, 9, 1)),  # beyond the range is kept as reported
    ],
)
def test_merged_complete_through(through1, through2, merged):
    assert merged_complete_through([chunk(*Q1, through1), chunk(*Q2, through2)]) == merged


def test_single_chunk_complete_through_is_unchanged():
    assert merged_complete_through([chunk(*Q1, D(2024, 2, 1))]) == D(2024, 2, 1)
    assert merged_complete_through([chunk(*Q1, None)]) is None


def test_merge_joins_consecutive_chunks_and_refuses_gaps():
    first = ChannelCounts(*Q1, D(2024, 6, 1), (ChannelCount(D(2024, 3, 31), "online", 1),))
    second = ChannelCounts(*Q2, D(2024, 6, 1), (ChannelCount(D(2024, 4, 1), "online", 2),))
    merged = merge_channel_counts([first, second])
    assert (merged.start, merged.end, merged.complete_through) == (D(2024, 1, 1), D(2024, 6, 30), D(2024, 6, 1))
    assert [c.count for c in merged.counts] == [1, 2]
    with pytest.raises(ValueError, match="not consecutive"):
        merge_channel_counts([first, chunk(D(2024, 4, 2), D(2024, 6, 30), None)])
