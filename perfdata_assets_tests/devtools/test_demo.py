"""`perfdata demo` as a new user runs it, then its files taken the way OPG's import takes them.

OPG's monthly import appends a month's file to the service's data.json with
`jq -s flatten`, runs the validator, and the page shows one column per data
type: every demo month must pass and show all eight of the page's figures.
"""

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from perfdata_assets.publishing.opg_validation import (
    PAGE_COLUMNS,
    check_publication_file,
    merge_like_opg_import,
    missing_page_columns,
    page_rows,
    validate_records,
)

BIN = Path(sys.executable).parent
MONTHS = 3
# What OPG's data.json already holds: months typed in by hand before perfdata.
EXISTING_DATA_JSON = json.dumps([
    {"_timestamp": "2019-03-01T00:00:00+00:00", "service": "make-a-lpa", "channel": "digital", "count": 91.1,
     "dataType": "user-satisfaction-percent", "period": "month"},
    {"_timestamp": "2019-03-01T00:00:00+00:00", "service": "make-a-lpa", "channel": "digital", "count": 99.98,
     "dataType": "uptime-percent", "period": "month"},
], indent=2).encode()


def test_the_demo_publishes_every_figure_of_opgs_page_and_its_files_pass_opgs_import(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LPA_", "PERFDATA_", "SIRIUS_", "DAGSTER_", "UPTIME_", "SERVICE_UPTIME", "AWS_"))}
    env.update(PERFDATA_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "dagster_home"),
               NO_PROXY="127.0.0.1,localhost", AWS_EC2_METADATA_DISABLED="true")
    (tmp_path / "dagster_home").mkdir()
    result = subprocess.run([str(BIN / "perfdata"), "demo", "--months", str(MONTHS)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "skipping" not in out  # every source runs in the demo
    # Quiet when all is well (#20): nothing meant for production, no trace, no Dagster log.
    assert "warning" not in (out + result.stderr).lower(), out + result.stderr
    assert "Traceback" not in result.stderr and " - dagster - " not in out + result.stderr
    header = next(line for line in out.splitlines() if line.split()[:2] == ["month", "responses"])
    assert "uptime_percent" in header and "take_up_percent" in header and "satisfied_percent" in header
    assert f"({MONTHS} delivered to the demo bucket)" in out

    files = sorted((tmp_path / "home" / "exports").glob("make_a_lasting_power_of_attorney_*.json"))
    assert len(files) == MONTHS
    data_json = EXISTING_DATA_JSON
    for path in files:
        assert re.fullmatch(r"make_a_lasting_power_of_attorney_\d\d_\d\d\.json", path.name)
        body = path.read_bytes()
        assert check_publication_file(body, json.loads(data_json)) == [], path.name
        data_json = merge_like_opg_import(data_json, body)
        if shutil.which("jq"):  # the import's own tool, where this machine has it
            (tmp_path / "data.json").write_bytes(data_json)
            jq = subprocess.run(["jq", "-s", "flatten", str(tmp_path / "data.json"), str(path)], capture_output=True,
                                check=True)
            assert json.loads(jq.stdout)[-len(json.loads(body)):] == json.loads(body)

    merged = json.loads(data_json)
    assert validate_records(merged, where="data.json") == []
    rows = page_rows(merged)
    assert len(rows) == MONTHS + 1
    demo_months = [stamp for stamp in rows if not stamp.startswith("2019")]
    for stamp in demo_months:
        assert set(PAGE_COLUMNS) <= set(rows[stamp]), stamp
    demo_records = [r for r in merged if not r["_timestamp"].startswith("2019")]
    assert not any(missing_page_columns(demo_records).values())

    # OPG's data.json as if kept by hand (devtools/opg_history.py): reconcile finds its slips and fixes them.
    hand_kept = tmp_path / "home" / "opg-data.json"
    assert f"perfdata opg reconcile {hand_kept}" in out
    reconcile = [str(BIN / "perfdata"), "opg", "reconcile"]
    found = subprocess.run([*reconcile, str(hand_kept)], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert found.returncode == 1, found.stdout + found.stderr
    findings = [line for line in found.stdout.splitlines() if line.startswith("- record ")]
    assert sum('"count" is a string, not a number' in f for f in findings) == MONTHS  # digital take-up as text
    assert sum(" disagrees with perfdata's " in f for f in findings) == 1  # the swapped digits
    assert sum(" same \"_timestamp\" " in f for f in findings) == 1  # pasted twice
    assert len(findings) == MONTHS + 2
    first = dt.date.fromisoformat(demo_months[0][:10])
    earlier = (first - dt.timedelta(days=1)).replace(day=1)
    assert f"- months only in opg-data.json: {earlier:%Y-%m}" in found.stdout.splitlines()  # before perfdata's first
    assert "- months only in perfdata's publication: none" in found.stdout.splitlines()
    corrected = tmp_path / "corrected.json"
    subprocess.run([*reconcile, str(hand_kept), "--write", str(corrected), "--prefer-perfdata"], env=env,
                   cwd=tmp_path, capture_output=True, timeout=120)
    assert validate_records(json.loads(corrected.read_bytes())) == []
    again = subprocess.run([*reconcile, str(corrected)], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
