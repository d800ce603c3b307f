"""`perfdata opg reconcile`: OPG's hand-kept data.json beside perfdata's publication (issue #24).

The data.json is built the way OPG's is: three figures a month typed by hand, a
blank line between months, digital take-up typed as strings, one record pasted
twice, one figure with two digits swapped, a month before perfdata's first and
one perfdata publishes no figure for. perfdata's publication is the fixtures'
(January to March 2024, February with every value NULL), seeded on SQLite and
on PostgreSQL; the command runs as a person runs it, in a subprocess.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from perfdata_assets.publishing import exports, published
from perfdata_assets.publishing.opg_validation import (
    check_publication_file,
    merge_like_opg_import,
    record_contract_problems,
    validate_records,
    validate_records_by_index,
)
from perfdata_assets.publishing.published import PublishedValue
from perfdata_assets.publishing.reconcile import (
    BadInput,
    agrees,
    read_records,
    reconcile,
    render,
    write_records,
)
from perfdata_assets_tests.publishing.fixtures import MONTHS, PUBLISHED_AT, expected_values, seed_publication

BIN = Path(sys.executable).parent
D = Decimal
DEC, JAN, FEB, MAR = "2023-12-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00", \
    "2024-03-01T00:00:00+00:00"


def opg_record(timestamp: str, data_type: str, count: str) -> str:
    """One record as OPG's file has them; ``count`` is the JSON text typed (a string count keeps its quotes)."""
    return (
        f'  {{\n    "_timestamp": "{timestamp}",\n    "service": "make-a-lpa",\n    "channel": "digital",\n'
        f'    "count": {count},\n    "dataType": "{data_type}",\n    "period": "month"\n  }}'
    )


def opg_file(*months: list[str]) -> bytes:
    """OPG's data.json: the months' records, a blank line between months, as its hand-edited file is laid out."""
    return ("[\n" + ",\n\n".join(",\n".join(m) for m in months) + "\n]\n").encode()


# perfdata publishes January (87.50 %, 91.00 %, 99.91 %), nothing for February (every value NULL), and March.
HAND_KEPT = opg_file(
    [  # December 2023: before perfdata's first month
        opg_record(DEC, "user-satisfaction-percent", "90"),
        opg_record(DEC, "digital-take-up", "88.1"),
        opg_record(DEC, "uptime-percent", "99.9"),
    ],
    [
        opg_record(JAN, "user-satisfaction-percent", "88"),  # 87.50 to 0 places, half up: agrees
        opg_record(JAN, "user-satisfaction-percent", "88"),  # pasted twice
        opg_record(JAN, "digital-take-up", '"91.0"'),  # typed as text
        opg_record(JAN, "uptime-percent", "99.19"),  # typed wrong: perfdata has 99.91
    ],
    [  # February: perfdata publishes no figure (no feedback, no LPAs, no uptime data)
        opg_record(FEB, "user-satisfaction-percent", "93"),
        opg_record(FEB, "digital-take-up", '"90.4"'),
        opg_record(FEB, "uptime-percent", "99.95"),
    ],
)

FINDINGS = [
    f'record 4, 2024-01, user-satisfaction-percent: same "_timestamp" "{JAN}" and "dataType" '
    '"user-satisfaction-percent" as record 3 (OPG\'s validator) -> removed (the same record as record 3)',
    'record 5, 2024-01, digital-take-up: "count" is a string, not a number (OPG\'s validator) -> made the number 91.0',
    "record 6, 2024-01, uptime-percent: \"count\" 99.19 disagrees with perfdata's 99.91 (perfdata's figure) "
    "-> --prefer-perfdata writes perfdata's",
    'record 8, 2024-02, digital-take-up: "count" is a string, not a number (OPG\'s validator) -> made the number 90.4',
]
COMPARISONS = [
    "| 3 | 2024-01 | user-satisfaction-percent | 88 | 87.50 | agrees |",
    "| 4 | 2024-01 | user-satisfaction-percent | 88 | 87.50 | agrees |",
    "| 5 | 2024-01 | digital-take-up | 91.0 | 91.00 | agrees |",
    "| 6 | 2024-01 | uptime-percent | 99.19 | 99.91 | **disagrees** |",
]


def perfdata_next_file(values: list[PublishedValue]) -> bytes:
    """perfdata's monthly file for March, the month after the hand-kept file's last, as the export writes it."""
    return exports.performance_data_json([v for v in values if v.period_start == MONTHS[2]])


def jq_flatten(tmp_path: Path, *files: bytes) -> list:
    paths = []
    for n, data in enumerate(files):
        (tmp_path / f"jq{n}.json").write_bytes(data)
        paths.append(str(tmp_path / f"jq{n}.json"))
    return json.loads(subprocess.run(["jq", "-s", "flatten", *paths], capture_output=True, check=True).stdout)


def assert_takes_perfdatas_next_file(written: bytes, values: list[PublishedValue], tmp_path: Path) -> None:
    """The written file, with perfdata's next monthly file appended as OPG's import appends it, passes
    OPG's rules and the checks of `opg_files_valid` (check_publication_file with the data.json)."""
    next_file = perfdata_next_file(values)
    assert json.loads(next_file), "March has figures"
    assert check_publication_file(next_file, written) == []
    merged = json.loads(merge_like_opg_import(written, next_file))
    assert validate_records(merged, "data.json") == []
    if shutil.which("jq"):  # OPG's import's own tool where this machine has it; the Python flatten always
        assert jq_flatten(tmp_path, written, next_file) == merged


# --- the agreement rule --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hand", "perfdata", "expected"),
    [
        (D("40.9"), D("40.94"), True),  # the issue's example
        (D("40.9"), D("41.2"), False),
        (D("40.9"), D("40.85"), True),  # half away from zero, as kpis.md rounds
        (D("40.9"), D("40.95"), False),
        (D("40.94"), D("40.94"), True),  # exact
        (D("40.940"), D("40.94"), True),  # more places than perfdata's: exact
        (D("40.93"), D("40.94"), False),
        (89, D("88.50"), True),
        (89, D("88.49"), False),
        (D("32.0"), D("32.04"), True),
        (12, D("12"), True),  # a level count
        (11, D("12"), False),
    ],
)
def test_a_hand_figure_agrees_within_its_own_rounding(hand, perfdata, expected):
    assert agrees(hand, perfdata) is expected


# --- reading and writing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"count": 1},]', "not JSON (Expecting value at line 1 column 15)"),
        (b"", "not JSON (Expecting value at line 1 column 1)"),
        (b'[{"count": NaN}]', "not JSON (NaN is not JSON)"),
        (b"\xff[]", "not UTF-8 (invalid start byte at byte 0)"),
        (b'{"records": []}', "not a list of records: the top level is an object, not an array"),
        (b'"data"', "not a list of records: the top level is a string, not an array"),
        (b'[{"count": 1}, "digital"]', "not a list of records: item 1 is a string, not an object"),
        (b"[{}, [{}]]", "not a list of records: item 1 is an array, not an object"),
    ],
)
def test_a_file_that_is_no_list_of_records_is_bad_input(data, message):
    with pytest.raises(BadInput) as raised:
        read_records(data)
    assert str(raised.value) == message


def test_records_are_written_as_perfdatas_exports_are():
    records = json.loads(HAND_KEPT)
    assert write_records(records) == (json.dumps(records, indent=2) + "\n").encode()
    assert write_records([]) == b"[]\n"
    assert write_records([{"a": {}, "b": [], "c": "é", "d": None}]) == (
        json.dumps([{"a": {}, "b": [], "c": "é", "d": None}], indent=2, ensure_ascii=False) + "\n"
    ).encode()


def test_numbers_keep_their_text_and_keys_their_order():
    data = b'[{"period": "month", "count": 32.0, "dataType": "digital-take-up", "x": 1.50, "y": 7}]'
    written = write_records(read_records(data))
    assert b'"count": 32.0,' in written and b'"x": 1.50,' in written and b'"y": 7' in written
    assert list(json.loads(written)[0]) == ["period", "count", "dataType", "x", "y"]


# --- reconcile, without the CLI -----------------------------------------------------------------


def test_every_finding_is_named_with_its_record_month_and_type():
    result = reconcile(HAND_KEPT, expected_values())
    assert [f.line() for f in result.findings] == FINDINGS
    assert not result.ok
    assert result.only_in_file == [dt.date(2023, 12, 1), MONTHS[1]]
    assert result.only_in_perfdata == [MONTHS[2]]
    assert [(c.index, c.hand, c.perfdata, c.agrees) for c in result.comparisons] == [
        (3, "88", D("87.50"), True), (4, "88", D("87.50"), True), (5, "91.0", D("91.00"), True),
        (6, "99.19", D("99.91"), False),
    ]


def test_the_findings_use_opgs_validator_and_perfdatas_contract_as_they_are():
    records = json.loads(HAND_KEPT, parse_float=D)
    assert [i for i, _ in validate_records_by_index(records)] == [5, 8, 4]
    assert len(validate_records(records)) == 3  # the same rules, one validator
    assert all(record_contract_problems(r) == [] for r in records if not isinstance(r["count"], str))


def test_the_corrected_file_changes_only_string_counts_and_the_repeat():
    result = reconcile(HAND_KEPT, expected_values())
    original, corrected = json.loads(HAND_KEPT), json.loads(result.corrected)
    numbers = [{**r, "count": float(r["count"])} if isinstance(r["count"], str) else r for r in original]
    assert corrected == numbers[:4] + numbers[5:]  # the repeat (record 4) is gone; nothing else differs
    assert [r["count"] for r in corrected] == [90, 88.1, 99.9, 88, 91.0, 99.19, 93, 90.4, 99.95]
    assert [list(r) for r in corrected] == [list(r) for r in original[:9]]
    assert validate_records(corrected) == [] and result.corrected_problems == []
    assert b'"count": 91.0,' in result.corrected and b'"count": 90,' in result.corrected


def test_prefer_perfdata_replaces_only_the_disagreeing_figure_as_perfdatas_export_writes_it():
    result = reconcile(HAND_KEPT, expected_values(), prefer_perfdata=True)
    corrected = json.loads(result.corrected)
    assert [r["count"] for r in corrected] == [90, 88.1, 99.9, 88, 91.0, 99.91, 93, 90.4, 99.95]
    assert [(c.index, c.what) for c in result.changes] == [
        (4, "removed: the same record as record 3"),
        (5, '"count" "91.0" made the number 91.0'),
        (6, "\"count\" 99.19 replaced by perfdata's 99.91"),
        (8, '"count" "90.4" made the number 90.4'),
    ]
    again = reconcile(result.corrected, expected_values())
    assert again.ok and again.findings == [] and again.corrected == result.corrected


def test_the_corrected_file_is_byte_stable():
    first = reconcile(HAND_KEPT, expected_values()).corrected
    assert reconcile(HAND_KEPT, expected_values()).corrected == first
    assert reconcile(first, expected_values()).corrected == first


def test_the_corrected_file_takes_perfdatas_next_file(tmp_path):
    for prefer in (False, True):
        written = reconcile(HAND_KEPT, expected_values(), prefer_perfdata=prefer).corrected
        assert_takes_perfdatas_next_file(written, expected_values(), tmp_path)
    # The file as OPG has it today does not: the first import would fail whatever perfdata sends.
    assert check_publication_file(perfdata_next_file(expected_values()), HAND_KEPT) == [
        'data.json record 5: "count" is a string, not a number',
        'data.json record 8: "count" is a string, not a number',
        f'data.json record 4: same "_timestamp" "{JAN}" and "dataType" "user-satisfaction-percent" as data.json '
        "record 3",
    ]


def test_repeats_that_differ_and_strings_that_are_no_number_are_left_for_a_hand_edit():
    data = opg_file([
        opg_record(DEC, "uptime-percent", "99.9"),
        opg_record(DEC, "uptime-percent", "99.8"),
        opg_record(DEC, "digital-take-up", '"88,1"'),
        opg_record(DEC, "digital_take_up", "88.1"),
        opg_record(DEC, "satisfied", "881.5"),
    ])
    result = reconcile(data, expected_values(), prefer_perfdata=True)
    assert [f.line() for f in result.findings] == [
        f'record 1, 2023-12, uptime-percent: same "_timestamp" "{DEC}" and "dataType" "uptime-percent" as record 0 '
        "(OPG's validator) -> by hand",
        'record 2, 2023-12, digital-take-up: "count" is a string, not a number (OPG\'s validator) -> by hand',
        'record 3, 2023-12, digital_take_up: "dataType" "digital_take_up" has characters other than letters and '
        "dashes (OPG's validator) -> by hand",
        'record 3, 2023-12, digital_take_up: "dataType" "digital_take_up" is not a data type of the contract '
        "(user-satisfaction-percent, very-dissatisfied, dissatisfied, neither, satisfied, very-satisfied, "
        "uptime-percent, digital-take-up, completion-rate-percent, user-satisfaction-score) (perfdata contract) "
        "-> by hand",
        'record 4, 2023-12, satisfied: "count" 881.5 of "satisfied" is not a JSON integer (a count at a level) '
        "(perfdata contract) -> by hand",
    ]
    assert json.loads(result.corrected) == json.loads(data)
    assert len(result.corrected_problems) == 3
    assert "by hand" in render(result, "data.json", written="out.json")


def test_records_of_any_json_shape_are_reported_not_a_crash():
    data = (
        b'[{"_timestamp": 1704067200.5, "dataType": 7, "count": true},'
        b' {"_timestamp": "2024-01-01T00:00:00+00:00", "dataType": "neither", "count": 1, "period": "month"},'
        b' {"_timestamp": "2024-01-01T00:00:00+00:00", "dataType": "neither", "count": true, "period": "month"},'
        b' {"_timestamp": "2024-01-15T00:00:00+00:00", "dataType": "neither", "count": {"n": [1.50]}}]'
    )
    result = reconcile(data, expected_values(), prefer_perfdata=True)
    lines = [f.line() for f in result.findings]
    assert lines[0].startswith('record 0, _timestamp 1704067200.5, dataType 7: missing "service"')
    assert 'record 2, 2024-01, neither: same "_timestamp" "2024-01-01T00:00:00+00:00" and "dataType" "neither" ' \
           "as record 1 (OPG's validator) -> by hand" in lines  # true is not a repeat of 1
    assert any(line.startswith('record 3, _timestamp "2024-01-15T00:00:00+00:00", neither:') for line in lines)
    assert len(json.loads(result.corrected)) == 4 and b'"n": [\n' in result.corrected
    assert result.corrected_problems


def test_a_valid_file_that_agrees_is_ok():
    data = opg_file([
        opg_record(JAN, "user-satisfaction-percent", "87.5"),
        opg_record(JAN, "very-dissatisfied", "2"),
        opg_record(JAN, "uptime-percent", "99.91"),
    ])
    result = reconcile(data, expected_values())
    assert result.ok and result.changes == [] and result.corrected == write_records(json.loads(data))
    assert render(result, "data.json").endswith(
        "Result: data.json is valid and every figure perfdata also publishes agrees.\n"
    )


# --- the command, on SQLite and on PostgreSQL ---------------------------------------------------


def cli_env(tmp_path: Path, backend=None) -> dict[str, str]:
    """The command's environment: the backend's databases, or (for input the command refuses before it
    reads a database) the SQLite default under an empty PERFDATA_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LPA_", "PERFDATA_", "DAGSTER_"))}
    return {**env, **(backend.env() if backend else {}), "PERFDATA_HOME": str(tmp_path / "home")}


def reconcile_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "perfdata"), "opg", "reconcile", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_reconcile_command_reports_writes_and_exits_as_the_issue_says(backend, tmp_path):
    """Runs twice: test_..._says[sqlite] and test_..._says[postgres]."""
    seed_publication(backend)
    with backend.dbs.perfdata.connect() as conn:
        values = published.values_between(conn, MONTHS[0], MONTHS[2])
    assert values == expected_values(published_at=PUBLISHED_AT)
    env = cli_env(tmp_path, backend)
    data_json = tmp_path / "data.json"
    data_json.write_bytes(HAND_KEPT)

    report = reconcile_cli(env, str(data_json))
    assert report.returncode == 1, report.stderr
    assert report.stderr == ""
    lines = report.stdout.splitlines()
    assert [line[2:] for line in lines if line.startswith("- record ")] == FINDINGS
    assert [line for line in lines if line.startswith("| ") and "record" not in line] == COMPARISONS
    assert "- months only in data.json: 2023-12, 2024-02" in lines
    assert "- months only in perfdata's publication: 2024-03" in lines
    assert lines[-1] == "Result: 4 findings: 3 corrected by --write, 1 by --write --prefer-perfdata, 0 by hand."

    written = tmp_path / "corrected.json"
    first = reconcile_cli(env, str(data_json), "--write", str(written))
    assert first.returncode == 1 and first.stderr == ""
    assert "It passes OPG's validator rules." in first.stdout
    body = written.read_bytes()
    assert data_json.read_bytes() == HAND_KEPT  # the input is never changed
    assert reconcile_cli(env, str(data_json), "--write", str(written)).returncode == 1
    assert written.read_bytes() == body  # byte-stable when written twice
    assert_takes_perfdatas_next_file(body, values, tmp_path)

    preferred = tmp_path / "preferred.json"
    result = reconcile_cli(env, str(data_json), "--write", str(preferred), "--prefer-perfdata")
    assert result.returncode == 1
    assert "- record 6, 2024-01, uptime-percent: \"count\" 99.19 replaced by perfdata's 99.91" in result.stdout
    assert json.loads(preferred.read_bytes())[5]["count"] == 99.91
    assert_takes_perfdatas_next_file(preferred.read_bytes(), values, tmp_path)

    clean = reconcile_cli(env, str(preferred))
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.endswith("Result: preferred.json is valid and every figure perfdata also publishes agrees.\n")


BAD_INPUTS = [
    pytest.param(b"[{", "not JSON (Expecting property name enclosed in double quotes at line 1 column 3)", id="json"),
    pytest.param(b'{"records": []}', "not a list of records: the top level is an object, not an array", id="object"),
    pytest.param(b'[{"count": 1}, 3]', "not a list of records: item 1 is a number, not an object", id="item"),
    pytest.param(b"\xfe\xff", "not UTF-8 (invalid start byte at byte 0)", id="utf8"),
]


@pytest.mark.parametrize(("data", "message"), BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(data, message, tmp_path):
    path = tmp_path / "data.json"
    path.write_bytes(data)
    result = reconcile_cli(cli_env(tmp_path), str(path), "--write", str(tmp_path / "out.json"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"perfdata: error: {path}: {message}\n"
    assert not (tmp_path / "out.json").exists()


def test_a_file_that_cannot_be_read_and_wrong_options_are_one_line_and_exit_2(tmp_path):
    env = cli_env(tmp_path)
    data_json = tmp_path / "data.json"
    data_json.write_bytes(HAND_KEPT)
    cases = [
        ([str(tmp_path / "missing.json")], f"cannot read {tmp_path / 'missing.json'}: No such file or directory"),
        ([str(tmp_path)], f"cannot read {tmp_path}: Is a directory"),
        ([str(data_json), "--prefer-perfdata"], "--prefer-perfdata changes only the file --write FILE writes: "
                                                "give --write too"),
        ([str(data_json), "--write", str(tmp_path / "no" / "out.json")],
         f"--write {tmp_path / 'no' / 'out.json'}: its directory does not exist"),
        ([str(data_json), "--write", str(tmp_path)], f"--write {tmp_path}: is a directory"),
        # A good file, but PERFDATA_HOME holds no perfdata schema yet.
        ([str(data_json)], "the perfdata schema has not been created: run `perfdata db upgrade`"),
    ]
    for args, message in cases:
        result = reconcile_cli(env, *args)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", f"perfdata: error: {message}\n"), args
