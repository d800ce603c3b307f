"""Vendor a govuk-frontend release into ``static/govuk-frontend/``.

The dashboard serves GOV.UK Frontend's built CSS, the fonts and images that CSS
references, and a few icons, from this package: no CDN, no npm at run time, no
JavaScript. To update to a new release::

    cd "$(mktemp -d)" && npm pack govuk-frontend@X.Y.Z     # writes govuk-frontend-X.Y.Z.tgz
    .venv/bin/python -m perfdata_assets.web.dashboard.vendor "$PWD"/govuk-frontend-X.Y.Z.tgz

then compare the header, service navigation and footer markup in
``templates/base.html`` with the release's ``dist/govuk/components/*/template-*.html``,
run the dashboard tests (they check every ``url()`` in the CSS resolves) and
regenerate the screenshots.

What the script does to the release, and nothing else:

- ``dist/govuk/govuk-frontend.min.css`` -> ``govuk-frontend.min.css``, with the
  absolute ``/assets/`` URLs made relative to the CSS file (so the static files
  can be mounted under any prefix) and the source-map comment removed (the map
  is not shipped, so no browser asks for it);
- every font and image the CSS references, plus the favicons the page links to;
- ``VERSION``: the release, the tarball's SHA-512, and these instructions.

The npm package carries no licence file; ``LICENSE`` is upstream's MIT licence
text (alphagov/govuk-frontend ``LICENSE.txt``) and is kept as it is. The script
refuses a release whose ``package.json`` no longer says MIT.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import sys
import tarfile
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
TARGET = STATIC / "govuk-frontend"
DIST = "package/dist/govuk/"
CSS = "govuk-frontend.min.css"
# Linked from the page's <head> (not referenced by the CSS).
ICONS = ("images/favicon.ico", "images/favicon.svg", "images/govuk-icon-mask.svg", "images/govuk-icon-180.png")
URL = re.compile(r"url\((['\"]?)/assets/([^)'\"]+)\1\)")
SOURCE_MAP = re.compile(r"\s*/\*# sourceMappingURL=[^*]*\*/\s*$")


def css_references(css: str) -> list[str]:
    """The asset paths (relative to the CSS file) that the vendored CSS refers to with url()."""
    return sorted({m.group(2) for m in re.finditer(r"url\((['\"]?)([^)'\"]+)\1\)", css)
                   if not m.group(2).startswith("data:")})


def vendor(tarball: Path, target: Path = TARGET) -> str:
    """Replace ``target``'s assets with those of the release in ``tarball``; return its version."""
    with tarfile.open(tarball, "r:gz") as tar:
        def read(name: str) -> bytes:
            member = tar.extractfile(name)
            if member is None:
                raise SystemExit(f"{tarball}: {name} is missing")
            return member.read()

        package = json.loads(read("package/package.json"))
        if package.get("name") != "govuk-frontend":
            raise SystemExit(f"{tarball} is not govuk-frontend but {package.get('name')!r}")
        if package.get("license") != "MIT":
            raise SystemExit(f"govuk-frontend {package['version']} is licensed {package.get('license')!r}, not MIT: "
                             "check the new licence before vendoring it")
        version = package["version"]
        css = read(DIST + CSS).decode("utf-8")
        css = SOURCE_MAP.sub("\n", URL.sub(lambda m: f"url({m.group(2)})", css))
        assets = {path: read(DIST + "assets/" + path) for path in (*css_references(css), *ICONS)}

    for sub in ("fonts", "images"):
        shutil.rmtree(target / sub, ignore_errors=True)
    for path, content in assets.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(content)
    (target / CSS).write_text(css, encoding="utf-8")
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode("ascii")
    (target / "VERSION").write_text(
        f"govuk-frontend {version}\n"
        f"\n"
        f"Vendored from the npm package govuk-frontend@{version} (integrity sha512-{digest}),\n"
        f"licensed MIT (see LICENSE). Files: dist/govuk/{CSS} (its /assets/ URLs made\n"
        f"relative, its source-map comment removed), the fonts and images it references,\n"
        f"and the favicons the dashboard links to.\n"
        f"\n"
        f"The GDS Transport font and the GOV.UK crown and logotype may only be used by\n"
        f"services on GOV.UK (Make a Lasting Power of Attorney is one).\n"
        f"\n"
        f"To update:\n"
        f"    cd \"$(mktemp -d)\" && npm pack govuk-frontend@X.Y.Z\n"
        f"    .venv/bin/python -m perfdata_assets.web.dashboard.vendor \"$PWD\"/govuk-frontend-X.Y.Z.tgz\n"
        f"then compare the header, service navigation and footer markup in\n"
        f"perfdata_assets/web/dashboard/templates/base.html with the release's\n"
        f"dist/govuk/components/{{header,service-navigation,footer}}/template-default.html,\n"
        f"run the dashboard tests and regenerate docs/dashboard-*.png.\n",
        encoding="utf-8",
    )
    return version


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help="govuk-frontend-X.Y.Z.tgz from `npm pack govuk-frontend`")
    args = parser.parse_args(argv)
    version = vendor(args.tarball)
    print(f"vendored govuk-frontend {version} into {TARGET}", file=sys.stderr)


if __name__ == "__main__":
    main()
