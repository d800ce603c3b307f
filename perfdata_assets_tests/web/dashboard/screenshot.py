"""Screenshots of the dashboard for the README: docs/dashboard-desktop.png and docs/dashboard-mobile.png.

After ``make demo`` (or ``.venv/bin/perfdata demo``)::

    .venv/bin/python -m perfdata_assets_tests.web.dashboard.screenshot

It copies the demo's perfdata database (``$PERFDATA_HOME``, default ``.perfdata/``)
to a temporary directory and never writes to the original. If the demo has not
published any month (the publication asset not yet in the demo), it publishes
the copy's KPI months itself with the publication's own SQL (each KPI for the
months its table holds). It then
serves ``perfdata serve``'s app with the dashboard on a loopback port and takes
full-page screenshots with Debian's headless Chromium at 1280 and 375 pixels.
``--synthetic`` uses the tests' two years of synthetic figures instead of the demo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

from perfdata_assets.config import perfdata_home
from perfdata_assets.db import engines
from perfdata_assets.db.migrate import upgrade
from perfdata_assets.publishing.assets import publish
from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets_tests.support import running_server
from perfdata_assets_tests.web.dashboard.support import app_with_dashboard, chromium, chromium_path

DOCS = Path(__file__).resolve().parents[3] / "docs"
WIDTHS = {"desktop": 1280, "mobile": 375}


def _kpi_months(conn: sa.Connection) -> list[dt.date]:
    """Every month any KPI table holds: each KPI is published for the months it has, on its own."""
    query = sa.text(
        "SELECT month FROM perfdata.user_satisfaction UNION SELECT month FROM perfdata.completion_rate "
        "UNION SELECT month FROM perfdata.digital_take_up UNION SELECT month FROM perfdata.service_uptime "
        "ORDER BY month"
    ).columns(month=sa.Date)
    return list(conn.execute(query).scalars())


class _Backend:
    """Just enough of the tests' Backend for support.seed_series."""

    def __init__(self, perfdata_url: str, lpa_url: str):
        self.perfdata_url, self.lpa_url = perfdata_url, lpa_url
        self.dbs = engines.databases(perfdata_url, lpa_url)


def prepare(workdir: Path, synthetic: bool) -> tuple[str, str]:
    """A perfdata database in workdir with published months; returns (perfdata URL, LPA URL)."""
    perfdata_file, lpa_file = workdir / "perfdata.sqlite", workdir / "lpa.sqlite"
    perfdata_url, lpa_url = f"sqlite:///{perfdata_file}", f"sqlite:///{lpa_file}"
    if not synthetic:
        source = perfdata_home() / "perfdata.sqlite"
        if not source.exists():
            sys.exit(f"no demo database at {source}: run `.venv/bin/perfdata demo` first (or pass --synthetic)")
        shutil.copyfile(source, perfdata_file)
    backend = _Backend(perfdata_url, lpa_url)
    upgrade(backend.dbs.perfdata)
    if synthetic:
        from perfdata_assets_tests.web.dashboard.support import seed_series

        seed_series(backend)
    elif not PerformanceData(perfdata_database_url=perfdata_url, lpa_database_url=lpa_url).published_months():
        with backend.dbs.perfdata.begin() as conn:
            months = _kpi_months(conn)
            if not months:
                sys.exit("the demo database has no KPI months: run `.venv/bin/perfdata demo` first")
            publish(conn, months, dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    return perfdata_url, lpa_url


def take(base_url: str, out: Path, executable: str) -> list[Path]:
    written = []
    with chromium(executable) as browser:
        for name, width in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": 900})
            response = page.goto(base_url + "/", wait_until="load")
            if response is None or response.status != 200:
                sys.exit(f"the dashboard answered {response.status if response else 'nothing'}")
            page.evaluate("document.fonts.ready")
            path = out / f"dashboard-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            page.close()
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help=f"where to write the PNGs (default {DOCS})")
    parser.add_argument("--synthetic", action="store_true", help="the tests' synthetic figures, not the demo's")
    args = parser.parse_args(argv)
    executable = chromium_path()
    if executable is None:
        sys.exit("no chromium on PATH: apt-get install -y chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="perfdata-screenshots-") as tmp:
        perfdata_url, lpa_url = prepare(Path(tmp), args.synthetic)
        app = app_with_dashboard(perfdata_url, lpa_url, token=None)
        with running_server(app) as base_url:
            for path in take(base_url, args.out, executable):
                print(f"wrote {path}")
        engines.databases.cache_clear()


if __name__ == "__main__":
    main()
