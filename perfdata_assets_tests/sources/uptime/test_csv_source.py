"""SERVICE_UPTIME_CSV: strict reading, every problem named with its line."""

import datetime as dt

import pytest

from perfdata_assets.sources.uptime.csv_source import read_uptime_csv
from perfdata_assets.sources.uptime.figures import UptimeCsvError, UptimeDay

HEADER = "date,observed_minutes,healthy_minutes\n"


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def write(tmp_path, text: str | bytes):
    path = tmp_path / "uptime.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_the_requested_days_in_order(tmp_path):
    path = write(tmp_path, HEADER + "2024-10-28,1440,1440\n2024-10-26,1440,1400\n\n2024-10-27,1500,1499\n"
                 "2019-01-01,0,0\n")
    assert read_uptime_csv(path, d("2024-10-26"), d("2024-10-28")) == [
        UptimeDay(d("2024-10-26"), 1440, 1400, None),
        UptimeDay(d("2024-10-27"), 1500, 1499, None),
        UptimeDay(d("2024-10-28"), 1440, 1440, None),
    ]
    assert read_uptime_csv(path, d("2019-01-01"), d("2019-01-01")) == [UptimeDay(d("2019-01-01"), 0, 0, None)]


def test_a_spreadsheets_byte_order_mark_and_crlf_are_accepted(tmp_path):
    path = write(tmp_path, ("\ufeff" + HEADER + "2024-01-01,1440,1439\n").replace("\n", "\r\n").encode("utf-8"))
    assert read_uptime_csv(path, d("2024-01-01"), d("2024-01-01")) == [UptimeDay(d("2024-01-01"), 1440, 1439, None)]


@pytest.mark.parametrize("body, said", [
    ("", "line 1: the file is empty, expected the header date,observed_minutes,healthy_minutes"),
    ("date,observed,healthy\n2024-01-01,1,1\n", "line 1: header is 'date,observed,healthy'"),
    ("date,healthy_minutes,observed_minutes\n", "line 1: header is"),
    (HEADER + "2024-01-01,1440\n", "line 2: has 2 columns, expected 3"),
    (HEADER + "2024-01-01,1440,1440,1\n", "line 2: has 4 columns"),
    (HEADER + "2024-01-01,1440,1440\n01/02/2024,1440,1440\n", "line 3: date '01/02/2024' is not a YYYY-MM-DD date"),
    (HEADER + "20240101,1440,1440\n", "line 2: date '20240101' is not a YYYY-MM-DD date"),
    (HEADER + "2024-02-30,1440,1440\n", "line 2: date '2024-02-30'"),
    (HEADER + "2024-01-01,1440.0,1440\n", "line 2: observed_minutes '1440.0' is not a whole number of minutes"),
    (HEADER + "2024-01-01,1440,-1\n", "line 2: healthy_minutes '-1' is not a whole number"),
    (HEADER + "2024-01-01, 1440,1440\n", "line 2: observed_minutes ' 1440'"),
    (HEADER + "2024-01-01,,0\n", "line 2: observed_minutes ''"),
    (HEADER + "2024-01-01,1501,0\n", "line 2: observed_minutes 1501 is more than a day has \\(1500 minutes at most\\)"),
    (HEADER + "2024-01-01,1200,1201\n", "line 2: healthy_minutes 1201 is more than observed_minutes 1200"),
    (HEADER + "2024-01-01,1440,1440\n\n2024-01-01,1440,1440\n", "line 4: 2024-01-01 appears again \\(first on line 2\\)"),
    (HEADER + '2024-01-01,"1440,1440\n', "line 2: is not valid CSV"),
])
def test_a_bad_line_is_named(tmp_path, body, said):
    path = write(tmp_path, body)
    with pytest.raises(UptimeCsvError, match=said) as error:
        read_uptime_csv(path, d("2024-01-01"), d("2024-01-01"))
    assert str(error.value).startswith(f"uptime CSV {path}")


def test_a_bad_line_outside_the_requested_days_still_fails(tmp_path):
    path = write(tmp_path, HEADER + "2024-01-01,1440,1440\n2020-05-05,1440,2000\n")
    with pytest.raises(UptimeCsvError, match="line 3: healthy_minutes 2000"):
        read_uptime_csv(path, d("2024-01-01"), d("2024-01-01"))


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path):
    path = write(tmp_path, HEADER.encode() + b"2024-01-01,1440,1440\n2024-01-02,14\xff0,1440\n")
    with pytest.raises(UptimeCsvError, match="line 3: is not UTF-8 text"):
        read_uptime_csv(path, d("2024-01-01"), d("2024-01-02"))


def test_a_requested_day_without_a_line_is_an_error_naming_it(tmp_path):
    # Unlike channel counts, a missing day is not zero: a silent health check is
    # written as 0 observed minutes, so a gap in the file is a mistake.
    path = write(tmp_path, HEADER + "2024-01-01,1440,1440\n2024-01-03,1440,1440\n")
    with pytest.raises(UptimeCsvError, match=r"has no line for 3 requested day\(s\): 2024-01-02, 2024-01-04, 2024-01-05"):
        read_uptime_csv(path, d("2024-01-01"), d("2024-01-05"))


def test_an_unreadable_file_says_so(tmp_path):
    with pytest.raises(UptimeCsvError, match="cannot be read \\(No such file or directory\\)"):
        read_uptime_csv(tmp_path / "absent.csv", d("2024-01-01"), d("2024-01-01"))
