"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, over real HTTP.

The app is ``create_app`` with the dashboard, behind uvicorn on a loopback port.
Skipped only when no ``chromium`` is installed (CI installs it); Playwright
itself must then be importable. Any console error, failed request or HTTP error
response (a missing font or stylesheet, a refused inline style) fails the test.
"""

from __future__ import annotations

import pytest

from perfdata_assets_tests.publishing.fixtures import seed_kpis
from perfdata_assets_tests.support import running_server
from perfdata_assets_tests.web.dashboard.support import (
    ODD_CHANNEL,
    app_for,
    chromium,
    chromium_path,
    seed_series,
)

CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (apt-get install -y chromium)"),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]
BRAND_BLUE = "rgb(29, 112, 184)"
HEADLINES = {
    "user-satisfaction": "85.00%",
    "uptime": "99.95%",
    "digital-take-up": "70.00%",
    "completion-rate": "65.00%",
}
# Widths in CSS pixels: desktop, a phone, the narrowest WCAG reflow width, and 1280 at 200 % zoom.
WIDTHS = {"desktop": 1280, "mobile": 375, "narrow": 320, "zoom-200": 640}


class Problems:
    """Everything that went wrong in the page's loading, as it happened."""

    def __init__(self, page):
        self.items: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.items.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: self.items.append(f"failed: {req.url} {req.failure}"))
        page.on("response", lambda res: res.status >= 400 and self.items.append(f"HTTP {res.status}: {res.url}"))


def _no_horizontal_overflow(page) -> None:
    overflow = page.evaluate(
        """() => {
            const root = document.documentElement;
            const wide = [...document.querySelectorAll('body *')]
              .filter(el => !el.closest('.app-table-container'))
              .filter(el => el.getBoundingClientRect().right > root.clientWidth + 0.5)
              .map(el => el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : ''));
            return {scroll: root.scrollWidth, client: root.clientWidth, wide: wide.slice(0, 5)};
        }"""
    )
    assert overflow["scroll"] <= overflow["client"], overflow
    assert overflow["wide"] == [], overflow


def test_the_page_in_chromium(backend, tmp_path):
    seed_series(backend)
    with running_server(app_for(backend)) as base, chromium(CHROMIUM) as browser:
        for name, width in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=True)
            page = context.new_page()
            problems = Problems(page)
            response = page.goto(base + "/", wait_until="load")
            assert response.status == 200
            page.evaluate("document.fonts.ready")

            # GOV.UK Frontend's stylesheet and its font really arrived and apply.
            fonts = page.evaluate(
                "[...document.fonts].filter(f => f.status === 'loaded').map(f => f.family + ' ' + f.weight)")
            assert any("GDS Transport" in f for f in fonts), fonts
            assert "GDS Transport" in page.eval_on_selector("h1", "el => getComputedStyle(el).fontFamily")
            assert page.eval_on_selector(".govuk-header", "el => getComputedStyle(el).backgroundColor") == BRAND_BLUE
            assert page.evaluate("document.fonts.check('700 80px \"GDS Transport\"')")

            # The figures are on screen.
            for key, value in HEADLINES.items():
                figure = page.locator(f"#{key}-latest-value")
                assert figure.is_visible() and figure.inner_text() == value
                assert page.locator(f"#{key}-latest-month").inner_text() == "March 2024"
                assert page.locator(f"#{key}-change").is_visible()
            channels = page.locator("#channels-table")
            assert channels.get_by_role("cell", name="2,788", exact=True).is_visible()  # March's paper forms
            assert channels.get_by_role("rowheader", name=ODD_CHANNEL, exact=True).is_visible()  # text, escaped

            # Charts: named images, as wide as the column allows, never wider than the screen.
            for key in HEADLINES:
                chart = page.get_by_role("img", name=page.locator(f"#{key}-chart-title").text_content())
                assert chart.count() == 1
                box = chart.bounding_box()
                assert box["width"] > 0.85 * min(width - 30, 640) and box["x"] + box["width"] <= width
                assert box["height"] == pytest.approx(box["width"] * 280 / 480, abs=2)
            assert page.get_by_role("table", name="Completion rate by month, April 2022 to March 2024, "
                                                   "latest first").count() == 1

            # Nothing but a table's own scroll container is wider than the screen.
            _no_horizontal_overflow(page)
            for container in page.locator(".app-table-container").all():
                box = container.bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5

            if name in ("desktop", "mobile"):
                page.screenshot(path=str(tmp_path / f"dashboard-{name}.png"), full_page=True)

            if name == "desktop":
                # The download links work from the page, for anyone.
                hrefs = page.eval_on_selector_all("a[download]", "els => els.map(a => a.href)")
                assert len(hrefs) >= 8
                for href in sorted(set(hrefs)):
                    download = page.request.get(href)
                    assert download.status == 200, href
                with page.expect_download() as caught:
                    page.locator("#user-satisfaction-downloads a").first.click()
                assert caught.value.suggested_filename == "make_a_lasting_power_of_attorney_24_03.json"
                assert '"dataType": "user-satisfaction-percent"' in open(caught.value.path()).read()

            assert problems.items == [], f"{name}: {problems.items}"
            context.close()
    for name in ("desktop", "mobile"):
        shot = tmp_path / f"dashboard-{name}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_empty_page_in_chromium(backend):
    seed_kpis(backend)  # nothing published yet
    with running_server(app_for(backend)) as base, chromium(CHROMIUM) as browser:
        page = browser.new_page(viewport={"width": 320, "height": 700})
        problems = Problems(page)
        assert page.goto(base + "/performance", wait_until="load").status == 200
        assert page.get_by_text("No figures have been published yet.").is_visible()
        assert page.locator("svg.app-chart").count() == 0
        _no_horizontal_overflow(page)
        assert problems.items == []
