import datetime as dt
import re

import pytest

from perfdata_assets.sources.sirius.counts import ChannelCount, ChannelCountsCsvError
from perfdata_assets.sources.sirius.csv_source import read_channel_counts_csv

D = dt.date
GOOD = """date,channel,count
2024-01-01,online,1812
2024-01-01,paper,1203
2024-01-02,assisted-digital,4
2024-02-01,online,900
"""


def write(tmp_path, text, name="counts.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_reads_whole_file_with_its_own_range(tmp_path):
    result = read_channel_counts_csv(write(tmp_path, GOOD))
    assert (result.start, result.end, result.complete_through) == (D(2024, 1, 1), D(2024, 2, 1), D(2024, 2, 1))
    assert result.counts == (
        ChannelCount(D(2024, 1, 1), "online", 1812),
        ChannelCount(D(2024, 1, 1), "paper", 1203),
        ChannelCount(D(2024, 1, 2), "assisted-digital", 4),  # unknown channel kept
        ChannelCount(D(2024, 2, 1), "online", 900),
    )


def test_range_filters_rows_but_complete_through_is_the_files_last_date(tmp_path):
    result = read_channel_counts_csv(write(tmp_path, GOOD), D(2024, 1, 1), D(2024, 1, 31))
    assert (result.start, result.end) == (D(2024, 1, 1), D(2024, 1, 31))
    assert [c.day for c in result.counts] == [D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 2)]
    # January is final even though 2024-01-31 has no row: the file runs to February.
    assert result.complete_through == D(2024, 2, 1)
    # A range beyond the file is not final: no silent zero month.
    later = read_channel_counts_csv(write(tmp_path, GOOD), D(2024, 3, 1), D(2024, 3, 31))
    assert later.counts == () and not later.is_final(D(2024, 3, 1))


def test_spreadsheet_export_with_bom_crlf_quotes_and_blank_lines(tmp_path):
    text = '\ufeffdate,channel,count\r\n2024-01-01,"online",5\r\n\r\n2024-01-01,paper,0\r\n'
    result = read_channel_counts_csv(write(tmp_path, text))
    assert result.counts == (ChannelCount(D(2024, 1, 1), "online", 5), ChannelCount(D(2024, 1, 1), "paper", 0))


def test_header_only_file(tmp_path):
    path = write(tmp_path, "date,channel,count\n")
    result = read_channel_counts_csv(path, D(2024, 1, 1), D(2024, 1, 31))
    assert result.counts == () and result.complete_through is None
    with pytest.raises(ChannelCountsCsvError, match="has no data rows, so no date range can be inferred"):
        read_channel_counts_csv(path)


def test_start_after_end_is_refused(tmp_path):
    with pytest.raises(ValueError, match="start 2024-02-01 is after end 2024-01-01"):
        read_channel_counts_csv(write(tmp_path, GOOD), D(2024, 2, 1), D(2024, 1, 1))


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(ChannelCountsCsvError, match=re.escape(f"channel counts CSV {path}: cannot be read")):
        read_channel_counts_csv(path)


H = "date,channel,count\n"
OK = "2024-01-01,online,5\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "the file is empty, expected the header date,channel,count"),
        ("day,channel,count\n" + OK, 1, "header is 'day,channel,count', expected 'date,channel,count'"),
        ("date,channel,count,extra\n" + OK, 1, "header is 'date,channel,count,extra'"),
        ("Date,Channel,Count\n" + OK, 1, "header is 'Date,Channel,Count'"),
        (OK, 1, "header is '2024-01-01,online,5'"),
        (H + OK + "2024-13-01,online,5\n", 3, "date '2024-13-01' is not a YYYY-MM-DD date"),
        (H + OK + "01/02/2024,online,5\n", 3, "date '01/02/2024' is not a YYYY-MM-DD date"),
        (H + "20240101,online,5\n", 2, "date '20240101' is not a YYYY-MM-DD date"),
        (H + ",online,5\n", 2, "date '' is not a YYYY-MM-DD date"),
        (H + OK + OK.replace("online", ""), 3, "channel is empty"),
        (H + "2024-01-01, online,5\n", 2, "channel ' online' has leading or trailing whitespace"),
        (H + "2024-01-01,online,abc\n", 2, "count 'abc' is not a non-negative integer"),
        (H + "2024-01-01,online,-1\n", 2, "count '-1' is not a non-negative integer"),
        (H + "2024-01-01,online,1.5\n", 2, "count '1.5' is not a non-negative integer"),
        (H + "2024-01-01,online,3.0\n", 2, "count '3.0' is not a non-negative integer"),
        (H + "2024-01-01,online,\n", 2, "count '' is not a non-negative integer"),
        (H + "2024-01-01,online, 5\n", 2, "count ' 5' is not a non-negative integer"),
        (H + "2024-01-01,online,1e3\n", 2, "count '1e3' is not a non-negative integer"),
        (H + "2024-01-01,online,9999999999\n", 2, "count 9999999999 is too large"),
        (H + OK + "2024-01-02,online\n", 3, "has 2 columns, expected 3 (date,channel,count)"),
        (H + "2024-01-02,online,5,6\n", 2, "has 4 columns, expected 3"),
        (H + OK + "2024-01-01,paper,5\n" + OK, 4, "2024-01-01 'online' appears again (first on line 2)"),
        (H + OK + '2024-01-02,"online,5\n', 3, "is not valid CSV"),
        (H.encode() + OK.encode() + b"2024-01-02,caf\xe9,5\n", 3, "is not UTF-8 text"),
    ],
)
def test_bad_files_name_the_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(ChannelCountsCsvError, match=re.escape(f"channel counts CSV {path} line {line}: {message}")):
        read_channel_counts_csv(path)


def test_bad_rows_outside_the_range_still_fail(tmp_path):
    path = write(tmp_path, H + OK + "2025-01-01,online,x\n")
    with pytest.raises(ChannelCountsCsvError, match="line 3: count 'x'"):
        read_channel_counts_csv(path, D(2024, 1, 1), D(2024, 1, 31))
