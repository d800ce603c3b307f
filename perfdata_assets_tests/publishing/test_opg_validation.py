"""opg_validation: OPG's validator rules, its import's merge, its page, and perfdata's export contract.

One test (or parametrised group) per rule, each with a passing and a failing
example, on realistic monthly files of the Make an LPA service.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from decimal import Decimal

import pytest

from perfdata_assets.publishing.opg_validation import (
    CONTRACT_DATA_TYPES,
    DATA_TYPE_COLUMN,
    PAGE_COLUMNS,
    check_publication_file,
    merge_like_opg_import,
    missing_page_columns,
    page_rows,
    validate_records,
)

JAN = "2024-01-01T00:00:00+00:00"
FEB = "2024-02-01T00:00:00+00:00"
DEC = "2023-12-01T00:00:00+00:00"

# 160 responses: 100 x (48 + 92) / 160 = 87.5; score (25x5 + 50x12 + 75x48 + 100x92) / 160 = 84.53125.
JANUARY = {
    "user-satisfaction-percent": 87.5,
    "very-dissatisfied": 3,
    "dissatisfied": 5,
    "neither": 12,
    "satisfied": 48,
    "very-satisfied": 92,
    "uptime-percent": 99.97,
    "digital-take-up": 91.3,
    "completion-rate-percent": 76.42,
    "user-satisfaction-score": 84.53,
}
# 800 responses: 100 x 701 / 800 = 87.625 exactly, which rounds half up to 87.63
# (float rounding, round(87.625, 2), gives 87.62); score 68275 / 800 = 85.34375.
HALF_WAY = {
    "user-satisfaction-percent": 87.63,
    "very-dissatisfied": 20,
    "dissatisfied": 30,
    "neither": 49,
    "satisfied": 201,
    "very-satisfied": 500,
    "uptime-percent": 100,
    "digital-take-up": 92.05,
    "completion-rate-percent": 103.5,
    "user-satisfaction-score": 85.34,
}


def record(data_type: str, count: object, timestamp: str = JAN, **fields: object) -> dict:
    """One record as perfdata writes it (keys in the contract's order)."""
    return {
        "_timestamp": timestamp,
        "service": "make-a-lpa",
        "channel": "digital",
        "count": count,
        "dataType": data_type,
        "period": "month",
        **fields,
    }


def month(figures: dict = JANUARY, timestamp: str = JAN) -> list[dict]:
    """A monthly file's records, in the contract's order."""
    return [record(t, figures[t], timestamp) for t in CONTRACT_DATA_TYPES if t in figures]


def as_bytes(records: object) -> bytes:
    """The file as perfdata's exporter writes it."""
    return (json.dumps(records, indent=2) + "\n").encode("utf-8")


def with_count(figures: dict, data_type: str, count: object) -> dict:
    return {**figures, data_type: count}


def only(figures: dict, *data_types: str) -> dict:
    return {t: figures[t] for t in data_types}


def without(figures: dict, *data_types: str) -> dict:
    return {t: v for t, v in figures.items() if t not in data_types}


# --- the page's columns -------------------------------------------------------------


def test_page_columns_are_the_eight_starred_data_types_in_page_order():
    assert PAGE_COLUMNS == (
        "user_satisfaction_percent", "very_dissatisfied", "dissatisfied", "neither",
        "satisfied", "very_satisfied", "uptime_percent", "digital_take_up",
    )
    assert tuple(DATA_TYPE_COLUMN(t) for t in CONTRACT_DATA_TYPES[:8]) == PAGE_COLUMNS


def test_data_type_column_turns_dashes_into_underscores():
    assert DATA_TYPE_COLUMN("user-satisfaction-percent") == "user_satisfaction_percent"
    assert DATA_TYPE_COLUMN("neither") == "neither"


# --- OPG's validator: validate_records ----------------------------------------------------


def test_a_complete_month_is_valid():
    assert validate_records(month()) == []
    assert validate_records([]) == []


@pytest.mark.parametrize(
    ("top", "kind"), [({"records": []}, "an object"), (None, "null"), ("[]", "a string"), (3, "a number")]
)
def test_the_top_level_must_be_an_array(top, kind):
    assert validate_records(top) == [f"file: top level is {kind}, not a JSON array"]


@pytest.mark.parametrize(
    ("item", "kind"), [("digital", "a string"), ([record("neither", 12)], "an array"), (None, "null")]
)
def test_every_record_must_be_an_object(item, kind):
    assert validate_records([record("neither", 12), item]) == [f"file record 1: is {kind}, not an object"]


@pytest.mark.parametrize("key", ["_timestamp", "service", "channel", "count", "dataType", "period"])
def test_every_record_has_the_six_keys(key):
    records = month()
    del records[3][key]
    assert validate_records(records) == [f'file record 3: missing "{key}"']


@pytest.mark.parametrize("count", [0, 12, 87.5, 100.0, Decimal("91.25"), -1])
def test_count_as_a_number_passes(count):
    assert validate_records([record("satisfied", count)]) == []


@pytest.mark.parametrize(
    ("count", "kind"),
    [("87.5", "a string"), (None, "null"), (True, "a boolean"), (False, "a boolean"), ([87.5], "an array")],
)
def test_count_that_is_not_a_number_fails(count, kind):
    assert validate_records([record("uptime-percent", 99.9), record("satisfied", count)]) == [
        f'file record 1: "count" is {kind}, not a number'
    ]


@pytest.mark.parametrize("count", [math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("Infinity")])
def test_count_that_is_not_finite_fails(count):
    (problem,) = validate_records([record("uptime-percent", count)])
    assert problem.startswith('file record 0: "count" is ')
    assert "not a JSON number" in problem


@pytest.mark.parametrize("key", ["dataType", "service"])
@pytest.mark.parametrize("value", ["make-a-lpa", "User-Satisfaction-Percent", "neither", "x"])
def test_data_type_and_service_of_letters_and_dashes_pass(key, value):
    assert validate_records([record("neither", 12, **{key: value})]) == []


@pytest.mark.parametrize("key", ["dataType", "service"])
@pytest.mark.parametrize("value", ["user_satisfaction_percent", "make a lpa", "uptime-percent-2", "", "néither"])
def test_data_type_and_service_with_other_characters_fail(key, value):
    assert validate_records([record("neither", 12, **{key: value})]) == [
        f'file record 0: "{key}" {json.dumps(value, ensure_ascii=False)} has characters other than letters and dashes'
    ]


@pytest.mark.parametrize("key", ["dataType", "service"])
def test_data_type_and_service_must_be_strings(key):
    assert validate_records([record("neither", 12, **{key: 7})]) == [
        f'file record 0: "{key}" is a number, not a string'
    ]


@pytest.mark.parametrize("period", ["year", "month", "week", "day"])
def test_period_of_year_month_week_or_day_passes(period):
    assert validate_records([record("neither", 12, period=period)]) == []


@pytest.mark.parametrize("period", ["quarter", "Month", "months", "", None, 1])
def test_period_outside_year_month_week_day_fails(period):
    assert validate_records([record("neither", 12, period=period)]) == [
        f'file record 0: "period" {json.dumps(period)} is not one of year, month, week, day'
    ]


@pytest.mark.parametrize("timestamp", [JAN, "2024-03-31T23:00:00+00:00", "2024-06-01T00:00:00+01:00"])
def test_timestamp_of_the_iso_form_with_offset_passes(timestamp):
    assert validate_records([record("neither", 12, timestamp)]) == []


def test_timestamp_must_be_a_string():
    assert validate_records([record("neither", 12, 1704067200)]) == [
        'file record 0: "_timestamp" is a number, not a string'
    ]


@pytest.mark.parametrize(
    "timestamp", ["2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01 00:00:00+00:00", "2024-01-01T00:00:00.000+00:00"]
)
def test_timestamp_of_another_form_fails_as_a_perfdata_rule(timestamp):
    assert validate_records([record("neither", 12, timestamp)]) == [
        f'file record 0: "_timestamp" "{timestamp}" is not of the form YYYY-MM-DDTHH:MM:SS+00:00 (perfdata contract)'
    ]


def test_timestamp_that_is_no_real_date_fails_as_a_perfdata_rule():
    assert validate_records([record("neither", 12, "2024-02-30T00:00:00+00:00")]) == [
        'file record 0: "_timestamp" "2024-02-30T00:00:00+00:00" is not a real date and time (perfdata contract)'
    ]


def test_the_same_data_type_in_different_months_passes():
    assert validate_records(month(timestamp=DEC) + month(timestamp=JAN)) == []


def test_two_records_with_the_same_timestamp_and_data_type_fail_naming_both():
    records = month() + [record("dissatisfied", 6)]
    assert validate_records(records) == [
        f'file record 10: same "_timestamp" "{JAN}" and "dataType" "dissatisfied" as file record 2'
    ]


def test_messages_name_the_file_given():
    assert validate_records([record("neither", "12")], where="data.json") == [
        'data.json record 0: "count" is a string, not a number'
    ]


def test_every_problem_of_a_record_is_reported():
    bad = {"service": "make_a_lpa", "count": "1", "dataType": "neither", "period": "quarter"}
    assert validate_records([bad]) == [
        'file record 0: missing "_timestamp"',
        'file record 0: missing "channel"',
        'file record 0: "service" "make_a_lpa" has characters other than letters and dashes',
        'file record 0: "count" is a string, not a number',
        'file record 0: "period" "quarter" is not one of year, month, week, day',
    ]


# --- OPG's import: merge_like_opg_import ------------------------------------------------------


def jq_flatten(*files: bytes, tmp_path) -> object:
    """What the real jq makes of the files, decoded."""
    paths = []
    for n, data in enumerate(files):
        path = tmp_path / f"input{n}.json"
        path.write_bytes(data)
        paths.append(str(path))
    result = subprocess.run(["jq", "-s", "flatten", *paths], capture_output=True, check=True)
    return json.loads(result.stdout)


MERGE_CASES = [
    pytest.param(
        as_bytes(month(timestamp=DEC)), as_bytes(month()), month(timestamp=DEC) + month(), id="older-month-then-new"
    ),
    pytest.param(b"[]\n", as_bytes(month()), month(), id="empty-data-json"),
    pytest.param(as_bytes(month(timestamp=DEC)), b"[]", month(timestamp=DEC), id="empty-new-file"),
    pytest.param(b'[[{"a": 1}], [[2]]]', b'[{"b": [3]}]', [{"a": 1}, 2, {"b": [3]}], id="nested-arrays-spread"),
    pytest.param(
        b'[{"a": 1}]\n[{"a": 2}]', b'{"c": "\xc3\xa9"}', [{"a": 1}, {"a": 2}, {"c": "\u00e9"}], id="several-texts"
    ),
]


@pytest.mark.parametrize(("data_json", "new_file", "expected"), MERGE_CASES)
def test_merge_is_the_two_arrays_concatenated_as_jq_makes_them(data_json, new_file, expected, tmp_path):
    merged = json.loads(merge_like_opg_import(data_json, new_file))
    assert merged == expected
    if shutil.which("jq"):  # the Python expectation always; the real jq as well where it is installed
        assert merged == jq_flatten(data_json, new_file, tmp_path=tmp_path)


def test_merge_is_written_as_two_space_indented_utf8():
    merged = merge_like_opg_import(b'[{"service": "make-a-lpa", "note": "\xc3\xa9"}]', b"[]")
    assert merged == '[\n  {\n    "service": "make-a-lpa",\n    "note": "é"\n  }\n]\n'.encode()


def test_merge_of_a_file_that_is_not_json_fails_as_jq_does():
    with pytest.raises(ValueError):
        merge_like_opg_import(b"[]", b'[{"count": 1},]')


# --- the page: page_rows, missing_page_columns ---------------------------------------------------


def test_a_complete_month_fills_all_eight_page_columns_in_page_order():
    rows = page_rows(month())
    assert list(rows) == [JAN]
    assert list(rows[JAN]) == list(PAGE_COLUMNS)
    assert rows[JAN] == {
        "user_satisfaction_percent": 87.5, "very_dissatisfied": 3, "dissatisfied": 5, "neither": 12,
        "satisfied": 48, "very_satisfied": 92, "uptime_percent": 99.97, "digital_take_up": 91.3,
    }
    assert missing_page_columns(month()) == {JAN: []}


def test_page_rows_read_bytes_as_the_page_does():
    assert page_rows(as_bytes(month())) == page_rows(month())
    assert page_rows(b'[{"_timestamp": "%s", "dataType": "neither", "count": 12.0}]' % JAN.encode()) == {
        JAN: {"neither": 12.0}
    }


def test_page_rows_ignore_the_data_types_the_page_does_not_show():
    rows = page_rows(month(only(JANUARY, "completion-rate-percent", "user-satisfaction-score")))
    assert rows == {JAN: {}}
    assert missing_page_columns(month(only(JANUARY, "completion-rate-percent"))) == {JAN: list(PAGE_COLUMNS)}


def test_missing_page_columns_names_each_months_gaps():
    records = month(timestamp=DEC) + month(without(JANUARY, "uptime-percent", "neither"))
    assert missing_page_columns(records) == {DEC: [], JAN: ["neither", "uptime_percent"]}


def test_page_rows_skip_records_opg_would_reject():
    records = [record("uptime-percent", "99.9"), record("digital-take-up", 91.3), "not a record"]
    assert page_rows(records) == {JAN: {"digital_take_up": 91.3}}


# --- check_publication_file: the whole file ------------------------------------------------------


def test_a_complete_month_passes_as_bytes_and_decoded():
    assert check_publication_file(as_bytes(month())) == []
    assert check_publication_file(month()) == []
    assert check_publication_file(as_bytes(month(HALF_WAY, FEB))) == []


def test_any_subset_of_kpis_passes_when_satisfaction_is_whole_or_absent():
    assert check_publication_file(as_bytes(month(only(JANUARY, "uptime-percent", "completion-rate-percent")))) == []
    assert check_publication_file(as_bytes(month(without(JANUARY, "digital-take-up")))) == []
    assert check_publication_file(b"[]") == []


def test_opg_rules_are_part_of_the_check():
    records = month()
    records[6]["count"] = "99.97"
    assert check_publication_file(as_bytes(records)) == ['file record 6: "count" is a string, not a number']


def test_a_file_that_is_not_json_is_one_problem_not_an_exception():
    assert check_publication_file(b'[{"count": 1},]') == [
        "file: not valid JSON (Expecting value at line 1 column 15)"
    ]
    assert check_publication_file(b"\xff[]") == ["file: not UTF-8 (invalid start byte at byte 0)"]
    assert check_publication_file(b'{"records": []}') == ["file: top level is an object, not a JSON array"]


@pytest.mark.parametrize(
    ("key", "value"), [("service", "make-an-lpa"), ("channel", "paper"), ("period", "week"), ("period", "year")]
)
def test_service_channel_and_period_are_the_contracts(key, value):
    records = month()
    records[4][key] = value
    assert check_publication_file(records) == [
        f'file record 4: "{key}" "{value}" is not "{records[0][key]}" (perfdata contract)'
    ]


def test_records_have_only_the_six_keys():
    records = month()
    records[1]["numerator"] = 3
    assert check_publication_file(records) == ['file record 1: unexpected key "numerator" (perfdata contract)']


# --- the month's timestamp

def test_every_record_shares_the_first_records_timestamp():
    records = month()
    records[7]["_timestamp"] = FEB
    assert check_publication_file(records) == [
        f'file record 7: "_timestamp" "{FEB}" differs from file record 0\'s "{JAN}"; a file holds one month '
        "(perfdata contract)"
    ]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-01-15T00:00:00+00:00",
        "2024-01-01T01:00:00+00:00",
        "2024-06-01T00:00:00+01:00",  # midnight BST, but the contract writes every month +00:00
        "2024-05-31T23:00:00+00:00",  # the same instant, still not the first day as written
    ],
)
def test_the_timestamp_is_a_months_first_day_at_midnight_utc_offset(timestamp):
    assert check_publication_file(month(timestamp=timestamp)) == [
        f'file record 0: "_timestamp" "{timestamp}" is not the first day of a month at T00:00:00+00:00 '
        "(perfdata contract)"
    ]


def test_a_summer_month_is_still_written_with_a_zero_offset():
    assert check_publication_file(month(timestamp="2024-06-01T00:00:00+00:00")) == []


# --- the data types and their order

def test_records_in_the_contracts_order_pass():
    assert [r["dataType"] for r in month()] == list(CONTRACT_DATA_TYPES)
    assert check_publication_file(month()) == []


def test_records_out_of_the_contracts_order_fail():
    records = month()
    records[6], records[7] = records[7], records[6]  # digital-take-up before uptime-percent
    (problem,) = check_publication_file(records)
    assert problem.startswith(
        'file record 7: "dataType" "uptime-percent" comes after "digital-take-up" (file record 6); '
        "the contract's order is user-satisfaction-percent, very-dissatisfied,"
    )


def test_the_satisfaction_percent_after_the_levels_is_out_of_order():
    records = month()
    records.insert(5, records.pop(0))  # after the five levels
    (problem,) = check_publication_file(records)
    assert problem.startswith(
        'file record 5: "dataType" "user-satisfaction-percent" comes after "very-satisfied" (file record 4)'
    )


def test_a_data_type_outside_the_contract_fails():
    records = month(only(JANUARY, "uptime-percent")) + [record("digital-take-up-percent", 91.0)]
    (problem,) = check_publication_file(records)
    assert problem.startswith('file record 1: "dataType" "digital-take-up-percent" is not a data type of the contract')


# --- counts and percentages

@pytest.mark.parametrize("level", ["very-dissatisfied", "dissatisfied", "neither", "satisfied", "very-satisfied"])
def test_level_counts_written_as_5_0_fail(level):
    text = as_bytes(month()).replace(b'"count": %d,' % JANUARY[level], b'"count": %d.0,' % JANUARY[level], 1)
    assert json.loads(text) == month()  # equal once decoded: only the text tells 5.0 from 5
    index = CONTRACT_DATA_TYPES.index(level)
    assert check_publication_file(text) == [
        f'file record {index}: "count" {JANUARY[level]}.0 of "{level}" is not a JSON integer (a count at a level) '
        "(perfdata contract)"
    ]


def test_level_counts_that_are_floats_or_booleans_fail_when_decoded():
    assert check_publication_file(month(with_count(JANUARY, "neither", 12.0))) == [
        'file record 3: "count" 12.0 of "neither" is not a JSON integer (a count at a level) (perfdata contract)'
    ]
    assert check_publication_file(month(with_count(JANUARY, "neither", True))) == [
        'file record 3: "count" is a boolean, not a number'
    ]


def test_a_negative_level_count_fails():
    problems = check_publication_file(month(with_count(JANUARY, "dissatisfied", -5)))
    assert problems == ['file record 2: "count" -5 of "dissatisfied" is negative (perfdata contract)']


@pytest.mark.parametrize("data_type", ["uptime-percent", "digital-take-up"])
@pytest.mark.parametrize("value", [0, 0.0, 100, 100.0, 99.99])
def test_percentages_within_0_to_100_pass(data_type, value):
    assert check_publication_file(month(with_count(JANUARY, data_type, value))) == []


@pytest.mark.parametrize("data_type", ["uptime-percent", "digital-take-up"])
@pytest.mark.parametrize("value", [-0.01, 100.01, 9130])
def test_percentages_outside_0_to_100_fail(data_type, value):
    index = CONTRACT_DATA_TYPES.index(data_type)
    assert check_publication_file(month(with_count(JANUARY, data_type, value))) == [
        f'file record {index}: "count" {value} of "{data_type}" is not a percentage between 0 and 100 '
        "(perfdata contract)"
    ]


@pytest.mark.parametrize(("data_type", "index"), [("user-satisfaction-percent", 0), ("user-satisfaction-score", 9)])
def test_satisfaction_percent_and_score_above_100_fail(data_type, index):
    problems = check_publication_file(month(with_count(JANUARY, data_type, 100.5)))
    assert problems[0] == (
        f'file record {index}: "count" 100.5 of "{data_type}" is not a percentage between 0 and 100 (perfdata contract)'
    )
    assert problems[1].startswith(f'file record {index}: "count" 100.5 of "{data_type}" should be ')


def test_a_completion_rate_above_100_passes_but_not_below_0():
    assert check_publication_file(month(with_count(JANUARY, "completion-rate-percent", 131.25))) == []
    assert check_publication_file(month(with_count(JANUARY, "completion-rate-percent", -1.5))) == [
        'file record 8: "count" -1.5 of "completion-rate-percent" is negative (perfdata contract)'
    ]


def test_percentages_have_at_most_2_decimal_places():
    assert check_publication_file(as_bytes(month(with_count(JANUARY, "uptime-percent", 99.970)))) == []
    assert check_publication_file(month(with_count(JANUARY, "uptime-percent", 99.968))) == [
        'file record 6: "count" 99.968 of "uptime-percent" has more than 2 decimal places (perfdata contract)'
    ]


# --- the user-satisfaction figures

def test_the_satisfaction_percent_agrees_with_the_levels():
    assert check_publication_file(month(JANUARY)) == []
    assert check_publication_file(month(with_count(JANUARY, "user-satisfaction-percent", 87.56))) == [
        'file record 0: "count" 87.56 of "user-satisfaction-percent" should be 87.50, from the level counts '
        "very-dissatisfied=3, dissatisfied=5, neither=12, satisfied=48, very-satisfied=92 (perfdata contract)"
    ]


def test_the_satisfaction_percent_rounds_half_up_exactly():
    assert round(87.625, 2) == 87.62  # the float trap the contract's Decimal rounding avoids
    assert check_publication_file(as_bytes(month(HALF_WAY))) == []
    (problem,) = check_publication_file(as_bytes(month(with_count(HALF_WAY, "user-satisfaction-percent", 87.62))))
    assert problem.startswith('file record 0: "count" 87.62 of "user-satisfaction-percent" should be 87.63')


def test_the_satisfaction_percent_is_compared_from_the_json_text():
    text = as_bytes(month(HALF_WAY)).replace(b'"count": 87.63,', b'"count": 87.630,')
    assert check_publication_file(text) == []
    text = as_bytes(month(HALF_WAY)).replace(b'"count": 87.63,', b'"count": 87.6300000000000001,')
    assert json.loads(text) == month(HALF_WAY)  # a float cannot tell them apart
    assert check_publication_file(text) == [
        'file record 0: "count" 87.6300000000000001 of "user-satisfaction-percent" has more than 2 decimal places '
        "(perfdata contract)",
        'file record 0: "count" 87.6300000000000001 of "user-satisfaction-percent" should be 87.63, from the level '
        "counts very-dissatisfied=20, dissatisfied=30, neither=49, satisfied=201, very-satisfied=500 "
        "(perfdata contract)",
    ]


def test_the_satisfaction_score_agrees_with_the_levels():
    (problem,) = check_publication_file(month(with_count(JANUARY, "user-satisfaction-score", 84.54)))
    assert problem.startswith('file record 9: "count" 84.54 of "user-satisfaction-score" should be 84.53, from')


def test_levels_that_are_all_zero_fail():
    levels = ["very-dissatisfied", "dissatisfied", "neither", "satisfied", "very-satisfied"]
    zeros = {**JANUARY, **dict.fromkeys(levels, 0)}
    assert check_publication_file(month(zeros)) == [
        "file: the five level counts are all 0, but with no responses the contract publishes no user-satisfaction "
        "record (every value is NULL) (perfdata contract)"
    ]


def test_user_satisfaction_figures_are_published_all_together_or_not_at_all():
    assert check_publication_file(month(without(JANUARY, *CONTRACT_DATA_TYPES[:6], "user-satisfaction-score"))) == []
    # A level with no responses has the count 0, not a missing record.
    assert check_publication_file(month(without(JANUARY, "very-dissatisfied"))) == [
        "file: has user-satisfaction records but none for very-dissatisfied; the contract publishes all seven "
        "user-satisfaction figures of a month or none (perfdata contract)"
    ]


# --- appended to OPG's data.json

def test_a_new_month_appended_to_an_older_data_json_passes():
    existing = month(timestamp="2023-11-01T00:00:00+00:00") + month(HALF_WAY, DEC)
    assert check_publication_file(as_bytes(month()), as_bytes(existing)) == []
    assert check_publication_file(month(), existing) == []
    assert check_publication_file(as_bytes(month()), b"[]") == []
    merged = json.loads(merge_like_opg_import(as_bytes(existing), as_bytes(month())))
    assert validate_records(merged, "data.json") == []
    assert list(page_rows(merged)) == ["2023-11-01T00:00:00+00:00", DEC, JAN]


def test_the_same_month_uploaded_twice_fails_on_duplicates():
    existing = month(timestamp=DEC) + month()
    problems = check_publication_file(as_bytes(month()), as_bytes(existing))
    assert problems == [
        f'file record {i}: same "_timestamp" "{JAN}" and "dataType" "{t}" as data.json record {10 + i}'
        for i, t in enumerate(CONTRACT_DATA_TYPES)
    ]
    merged = json.loads(merge_like_opg_import(as_bytes(existing), as_bytes(month())))
    assert len(validate_records(merged, "data.json")) == 10


def test_a_restated_month_collides_with_the_published_one():
    existing = month(timestamp=DEC) + month(only(JANUARY, "uptime-percent"))
    restated = month(with_count(JANUARY, "uptime-percent", 99.95))
    assert check_publication_file(restated, existing) == [
        f'file record 6: same "_timestamp" "{JAN}" and "dataType" "uptime-percent" as data.json record 10'
    ]


def test_the_files_own_problems_are_reported_once_and_data_json_problems_named_as_such():
    existing = month(timestamp=DEC)
    existing[2]["count"] = "5"
    records = month()
    records[6]["count"] = "99.97"
    assert check_publication_file(records, existing) == [
        'file record 6: "count" is a string, not a number',
        'data.json record 2: "count" is a string, not a number',
    ]


def test_a_data_json_that_cannot_be_read_is_reported():
    assert check_publication_file(month(), b"[") == ["data.json: not valid JSON (Expecting value at line 1 column 2)"]
    assert check_publication_file(month(), {"records": []}) == ["data.json: top level is an object, not a JSON array"]
