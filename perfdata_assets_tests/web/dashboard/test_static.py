"""The vendored GOV.UK Frontend: complete, as documented, and served."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from perfdata_assets.publishing.resource import PerformanceData
from perfdata_assets.web.dashboard import mount_dashboard, vendor
from perfdata_assets.web.dashboard.router import STATIC_DIR
from perfdata_assets_tests.web.dashboard.support import parse_html

GOVUK = STATIC_DIR / "govuk-frontend"
CSS = GOVUK / "govuk-frontend.min.css"


def _app() -> FastAPI:
    app = FastAPI()
    mount_dashboard(app, PerformanceData(perfdata_database_url="sqlite:///unused-perfdata.sqlite"))
    return app


def test_every_asset_the_css_references_is_vendored_and_served():
    css = CSS.read_text(encoding="utf-8")
    references = vendor.css_references(css)
    assert {r.split("/")[0] for r in references} == {"fonts", "images"} and len(references) >= 5
    assert "/assets/" not in css and "sourceMappingURL" not in css
    with TestClient(_app()) as client:
        stylesheet = client.get("/static/dashboard/govuk-frontend/govuk-frontend.min.css")
        assert stylesheet.status_code == 200 and stylesheet.headers["content-type"].startswith("text/css")
        for reference in references:
            assert (GOVUK / reference).is_file(), reference
            response = client.get(f"/static/dashboard/govuk-frontend/{reference}")
            assert response.status_code == 200 and response.content == (GOVUK / reference).read_bytes()
        assert client.get("/static/dashboard/dashboard.css").status_code == 200
        assert client.get("/static/dashboard/../router.py").status_code == 404
        assert client.get("/static/dashboard/govuk-frontend/fonts/nope.woff2").status_code == 404


def test_version_note_and_licence_match_the_vendored_release():
    css_version = re.search(r'--govuk-frontend-version:"([0-9.]+)"', CSS.read_text(encoding="utf-8"))[1]
    note = (GOVUK / "VERSION").read_text(encoding="utf-8")
    assert note.splitlines()[0] == f"govuk-frontend {css_version}"
    assert "npm pack govuk-frontend" in note and "python -m perfdata_assets.web.dashboard.vendor" in note
    licence = (GOVUK / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("The MIT License (MIT)") and "Crown Copyright (Government Digital Service)" in licence


def test_the_page_links_only_to_files_that_exist(tmp_path):
    from perfdata_assets.web.dashboard.data import Breakdown, Dashboard
    from perfdata_assets.web.dashboard.router import render_dashboard

    doc = parse_html(render_dashboard(Dashboard([], [], {}, Breakdown(None), Breakdown(None))))
    hrefs = [link.attrs["href"] for link in doc.iter("link")]
    assert "/static/dashboard/govuk-frontend/govuk-frontend.min.css" in hrefs
    assert "/static/dashboard/dashboard.css" in hrefs
    for href in hrefs:
        assert (STATIC_DIR / href.removeprefix("/static/dashboard/")).is_file(), href


def _tarball(path: Path, css: str, license: str = "MIT") -> Path:
    files = {
        "package/package.json": json.dumps({"name": "govuk-frontend", "version": "9.9.9", "license": license}),
        "package/dist/govuk/govuk-frontend.min.css": css,
        "package/dist/govuk/assets/fonts/a.woff2": "font",
        "package/dist/govuk/assets/images/crest.svg": "<svg/>",
        **{f"package/dist/govuk/assets/{icon}": icon for icon in vendor.ICONS},
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_vendoring_script_makes_urls_relative_and_refuses_another_licence(tmp_path):
    css = ':root{--govuk-frontend-version:"9.9.9"}@font-face{src:url(/assets/fonts/a.woff2)}' \
          'a{background:url("/assets/images/crest.svg")}\n/*# sourceMappingURL=govuk-frontend.min.css.map */\n'
    target = tmp_path / "govuk-frontend"
    assert vendor.vendor(_tarball(tmp_path / "ok.tgz", css), target) == "9.9.9"
    written = (target / "govuk-frontend.min.css").read_text()
    assert "url(fonts/a.woff2)" in written and "url(images/crest.svg)" in written
    assert "sourceMappingURL" not in written
    assert (target / "fonts/a.woff2").read_text() == "font"
    assert (target / "VERSION").read_text().startswith("govuk-frontend 9.9.9\n")
    with pytest.raises(SystemExit, match="licensed 'GPL-3.0'"):
        vendor.vendor(_tarball(tmp_path / "gpl.tgz", css, license="GPL-3.0"), tmp_path / "other")
