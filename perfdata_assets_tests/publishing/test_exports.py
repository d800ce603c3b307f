"""Exports: byte-for-byte against hand-written files, written atomically by the exports asset."""

import datetime as dt
import errno
import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from perfdata_assets.publishing import atomic
from perfdata_assets.publishing.assets import performance_data_exports
from perfdata_assets.publishing.atomic import ExportError, write_files
from perfdata_assets.publishing.exports import (
    performance_data_file_name,
    performance_data_json,
    transactions_by_channel_csv,
)
from perfdata_assets.publishing.published import ChannelTotal
from perfdata_assets.publishing.resource import ExportDirectory
from perfdata_assets_tests.publishing.fixtures import MONTHS, expected_values, seed_publication
from perfdata_assets_tests.support import materialize

EXPECTED = Path(__file__).parent / "expected"
EXPECTED_FILES = ["make-a-lasting-power-of-attorney-kpis.csv", "make-a-lasting-power-of-attorney-kpis.csv-metadata.json",
                  "make_a_lasting_power_of_attorney_24_01.json", "make_a_lasting_power_of_attorney_24_02.json",
                  "make_a_lasting_power_of_attorney_24_03.json", "transactions-by-channel.csv"]
# Monthly totals of fixtures.CHANNEL_COUNTS (published months only).
CHANNEL_TOTALS = [
    ChannelTotal(MONTHS[0], "online", 91),
    ChannelTotal(MONTHS[0], "paper", 8),
    ChannelTotal(MONTHS[0], "phone", 1),
    ChannelTotal(MONTHS[2], "assisted-digital", 5),
    ChannelTotal(MONTHS[2], "online", 1000),
    ChannelTotal(MONTHS[2], "paper", 300),
    ChannelTotal(MONTHS[2], "phone", 45),
]


def test_file_names():
    # OPG's import looks for the service's directory name without "_service", then YY_MM.
    assert performance_data_file_name(dt.date(2024, 1, 1)) == "make_a_lasting_power_of_attorney_24_01.json"
    assert performance_data_file_name(dt.date(2019, 12, 1)) == "make_a_lasting_power_of_attorney_19_12.json"


def test_level_counts_are_json_integers_and_percentages_numbers():
    text = performance_data_json(expected_values(MONTHS[0])).decode()
    assert '"count": 2,\n    "dataType": "very-dissatisfied"' in text
    assert '"count": 87.5,\n    "dataType": "user-satisfaction-percent"' in text
    assert '"count": 91.0,\n    "dataType": "digital-take-up"' in text


@pytest.mark.parametrize("month", MONTHS)
def test_performance_data_json_byte_for_byte(month):
    expected = (EXPECTED / performance_data_file_name(month)).read_bytes()
    # Input order must not matter.
    assert performance_data_json(reversed(expected_values(month))) == expected


def test_transactions_by_channel_csv_byte_for_byte():
    assert transactions_by_channel_csv(reversed(CHANNEL_TOTALS)) == (EXPECTED / "transactions-by-channel.csv").read_bytes()


def test_csv_keeps_odd_channel_names_and_merges_a_clash():
    rows = [
        ChannelTotal(MONTHS[0], "online", 10),
        ChannelTotal(MONTHS[0], "digital", 2),  # a new Sirius channel that happens to be called digital
        ChannelTotal(MONTHS[0], "post, courier", 3),
    ]
    assert transactions_by_channel_csv(rows) == (
        b"_timestamp,period,channel,count\n"
        b"2024-01-01T00:00:00+00:00,month,digital,12\n"
        b'2024-01-01T00:00:00+00:00,month,"post, courier",3\n'
    )
    assert transactions_by_channel_csv([]) == b"_timestamp,period,channel,count\n"


def test_the_exports_asset_writes_the_expected_files(backend, tmp_path):
    seed_publication(backend)
    out = tmp_path / "exports"
    result = materialize([performance_data_exports], backend, "2024-01-01", "2024-03-01",
                         resources={"export_directory": ExportDirectory(path=str(out))})
    assert result.success
    assert sorted(p.name for p in out.iterdir()) == EXPECTED_FILES  # no temporary files left
    for name in EXPECTED_FILES:
        assert (out / name).read_bytes() == (EXPECTED / name).read_bytes(), name
    january = [m.materialization.metadata for m in result.get_asset_materialization_events()
               if m.materialization.partition == "2024-01-01"][0]
    assert january["records"].value == 10
    assert january["path"].value == str(out / "make_a_lasting_power_of_attorney_24_01.json")


def test_a_month_with_nothing_published_has_no_file_and_the_others_are_written(backend, tmp_path):
    seed_publication(backend)
    out = tmp_path / "exports"
    result = materialize([performance_data_exports], backend, "2024-03-01", "2024-04-01",
                         resources={"export_directory": ExportDirectory(path=str(out))})
    assert result.success
    assert sorted(p.name for p in out.iterdir()) == [
        "make-a-lasting-power-of-attorney-kpis.csv", "make-a-lasting-power-of-attorney-kpis.csv-metadata.json",
        "make_a_lasting_power_of_attorney_24_03.json", "transactions-by-channel.csv"]
    april = [m.materialization.metadata for m in result.get_asset_materialization_events()
             if m.materialization.partition == "2024-04-01"][0]
    assert april["records"].value == 0 and april["file"].value == "none: nothing published yet"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unwritable_directory_fails_naming_the_path(backend, tmp_path):
    seed_publication(backend)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the export directory should be")
    target = blocker / "exports"
    result = materialize([performance_data_exports], backend, "2024-01-01", raise_on_error=False,
                         resources={"export_directory": ExportDirectory(path=str(target))})
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    # The setting is checked before anything is written (config.SETTINGS), naming the variable and the path.
    assert failure.description == (f"PERFDATA_EXPORT_DIR='{target}': expected a directory, or a path where one can be "
                                   "made (a file is in the way)")


def test_a_read_only_directory_keeps_the_previous_files(tmp_path):
    (tmp_path / "a.json").write_bytes(b"old")
    # Root writes through permission bits, so as root (CI) the directory is made
    # immutable instead: the same refusal, from the filesystem.
    lock, unlock = (["chattr", "+i"], ["chattr", "-i"]) if os.geteuid() == 0 else (None, None)
    if lock:
        subprocess.run([*lock, str(tmp_path)], check=True)
    else:
        tmp_path.chmod(0o555)
    try:
        with pytest.raises(ExportError, match=f"cannot write export files to {tmp_path}: "
                                              "(Permission denied|Operation not permitted)"):
            write_files(tmp_path, {"a.json": b"new"})
    finally:
        if unlock:
            subprocess.run([*unlock, str(tmp_path)], check=True)
        tmp_path.chmod(0o755)
    assert (tmp_path / "a.json").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_failure_while_writing_leaves_every_previous_file_intact(tmp_path, monkeypatch):
    write_files(tmp_path, {"a.json": b"old a", "b.csv": b"old b"})
    calls = []

    def disk_full_on_second_file(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", disk_full_on_second_file)
    with pytest.raises(ExportError, match=f"cannot write export files to {tmp_path}: No space left on device"):
        write_files(tmp_path, {"a.json": b"new a", "b.csv": b"new b"})
    assert (tmp_path / "a.json").read_bytes() == b"old a"  # staged in full, yet not renamed
    assert (tmp_path / "b.csv").read_bytes() == b"old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.csv"]


def test_written_files_are_complete_and_readable(tmp_path):
    paths = write_files(tmp_path / "new" / "dir", {"x.json": b"[]\n"})
    assert paths == [tmp_path / "new" / "dir" / "x.json"]
    assert paths[0].read_bytes() == b"[]\n"
    assert paths[0].stat().st_mode & 0o777 == 0o644


def test_export_directory_resource_from_env(monkeypatch, tmp_path):
    from perfdata_assets.publishing.resource import export_directory_from_env

    monkeypatch.setenv("PERFDATA_EXPORT_DIR", str(tmp_path / "x"))
    resource = export_directory_from_env()
    assert isinstance(resource.path, dg.EnvVar)
    assert resource.path.get_value() == str(tmp_path / "x")
    monkeypatch.delenv("PERFDATA_EXPORT_DIR")
    monkeypatch.setenv("PERFDATA_HOME", str(tmp_path / "home"))
    assert export_directory_from_env().path == str(tmp_path / "home" / "exports")
