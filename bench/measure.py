"""Running one measured step: wall time, peak RSS, and PostgreSQL's own memory.

Every measured step runs in a fresh Python subprocess (``python -m bench.steps``,
or for the demo the ``perfdata demo`` command itself), so its peak RSS is its own: ``os.wait4`` returns the child's ``ru_maxrss``
(the kernel's high-water mark of its resident set, its reaped children
included), nothing of the benchmark's parent process.

The PostgreSQL backends that do the work are not our processes, and their RSS
counts the shared buffers they touch, so it says little. While a step runs, a
thread samples every 0.25 s the *anonymous* memory (``Anonymous:`` in
``/proc/PID/smaps_rollup``: heap, sort and hash memory; not shared buffers, not
the page cache) of every backend connected to the benchmark's databases, and
of their parallel workers, and keeps the peak of the sum. Spills to disk show
as the temp bytes PostgreSQL counts for the database (``pg_stat_database``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
LOG_DIR = DATA_DIR / "logs"


@dataclass
class Measurement:
    name: str
    seconds: float
    max_rss_mb: float
    pg_anon_peak_mb: float
    pg_temp_mb: float
    result: dict = field(default_factory=dict)
    log: str = ""


class BackendMemorySampler(threading.Thread):
    """Peak, over 0.25 s samples, of the summed anonymous memory of the given databases' backends."""

    def __init__(self, databases: list[str], interval: float = 0.25):
        super().__init__(daemon=True, name="pg-memory-sampler")
        self.databases = set(databases)
        self.interval = interval
        self.peak_kb = 0
        self._halt = threading.Event()

    def _backends(self) -> list[int]:
        pids, leaders = [], {}
        workers: list[tuple[int, int]] = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                title = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if not title.startswith("postgres: "):
                continue
            # "postgres: [CLUSTER: ]USER DB HOST(PORT) STATE" or "postgres: [CLUSTER: ]parallel worker for PID 123"
            title = re.sub(r"^postgres: (\S+: )?", "", title)
            match = re.match(r"parallel worker for PID (\d+)", title)
            if match:
                workers.append((int(entry.name), int(match.group(1))))
                continue
            parts = title.split()
            if len(parts) >= 2 and parts[1] in self.databases:
                leaders[int(entry.name)] = True
                pids.append(int(entry.name))
        pids += [pid for pid, leader in workers if leader in leaders]
        return pids

    @staticmethod
    def _anonymous_kb(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Anonymous:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self) -> None:
        while not self._halt.is_set():
            total = sum(self._anonymous_kb(pid) for pid in self._backends())
            self.peak_kb = max(self.peak_kb, total)
            self._halt.wait(self.interval)

    def stop(self) -> float:
        self._halt.set()
        self.join(timeout=5)
        return self.peak_kb / 1024


def temp_bytes(admin_url: str, database: str) -> int:
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT temp_bytes FROM pg_stat_database WHERE datname = :d"),
                                    {"d": database}).scalar() or 0)
    finally:
        engine.dispose()


def run_step(
    name: str,
    step: str,
    args: dict,
    env: dict[str, str],
    admin_url: str,
    databases: list[str],
    echo=print,
) -> Measurement:
    """Run ``python -m bench.steps STEP`` in a subprocess and measure it."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", dir=DATA_DIR, delete=False) as out:
        result_path = out.name
    try:
        command = [sys.executable, "-m", "bench.steps", step, json.dumps(args), result_path]
        measurement = run_command(name, command, {**os.environ, **env}, admin_url, databases, echo)
        measurement.result = json.loads(Path(result_path).read_text() or "{}")
    finally:
        os.unlink(result_path)
    return measurement


def run_command(
    name: str,
    command: list[str],
    env: dict[str, str],
    admin_url: str,
    databases: list[str],
    echo=print,
) -> Measurement:
    """Run any command in a subprocess and measure it; ``env`` is its whole environment (nothing is inherited)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.log"
    temp_before = temp_bytes(admin_url, databases[0])
    sampler = BackendMemorySampler(databases)
    sampler.start()
    try:
        started = time.perf_counter()
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        pg_peak = sampler.stop()
        temp_mb = (temp_bytes(admin_url, databases[0]) - temp_before) / 2**20
    finally:
        sampler.stop()
    if process.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-25:])
        raise StepFailed(f"{name} failed (exit {process.returncode}); log {log_path}:\n{tail}")
    measurement = Measurement(name, seconds, usage.ru_maxrss / 1024, pg_peak, temp_mb, {}, str(log_path))
    echo(f"  {name}: {seconds:.1f} s, peak RSS {measurement.max_rss_mb:.0f} MB, "
         f"PostgreSQL backends {pg_peak:.0f} MB anonymous, {temp_mb:.0f} MB temp files")
    return measurement


class StepFailed(Exception):
    pass
