"""Settings read from the environment, validated once, with one-line errors.

Every setting perfdata reads from the environment is resolved here so that a
wrong value fails early with a message naming the variable, never deep inside a
run with a traceback.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_START_DATE = dt.date(2019, 4, 1)
# The embedded SQLite default lives in the working directory, so the demo needs
# no server and `rm -r .perfdata` resets it.
DEFAULT_HOME = Path(".perfdata")
SUPPORTED_DIALECTS = ("postgresql", "sqlite")


class ConfigError(ValueError):
    """A setting is missing or wrong. The message is one line naming the variable.

    Never worth retrying: a run fails at once on it (``allow_retries=False``)."""


@dataclass(frozen=True)
class DatabaseUrls:
    lpa: str
    perfdata: str


def perfdata_home() -> Path:
    return Path(os.environ.get("PERFDATA_HOME", DEFAULT_HOME))


def default_sqlite_urls(home: Path | None = None) -> DatabaseUrls:
    home = (home or perfdata_home()).resolve()
    return DatabaseUrls(
        lpa=f"sqlite:///{home / 'lpa.sqlite'}",
        perfdata=f"sqlite:///{home / 'perfdata.sqlite'}",
    )


def normalise_url(variable: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise ConfigError(f"{variable} is set but empty: unset it or give a SQLAlchemy URL")
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError(
            f"{variable} is not a database URL (expected e.g. postgresql+psycopg://user@host/db)"
        ) from None
    if url.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ConfigError(
            f"{variable} uses '{url.get_backend_name()}': perfdata supports "
            f"{' and '.join(SUPPORTED_DIALECTS)} only"
        )
    if url.drivername == "postgresql":
        # Plain postgresql:// means psycopg2 to SQLAlchemy; we ship psycopg 3.
        value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return value


def database_urls(environ: dict[str, str] | None = None) -> DatabaseUrls:
    """LPA_DATABASE_URL (read only) and PERFDATA_DATABASE_URL (defaults to it)."""
    env = os.environ if environ is None else environ
    lpa = env.get("LPA_DATABASE_URL")
    perf = env.get("PERFDATA_DATABASE_URL")
    if lpa is None and perf is None:
        return default_sqlite_urls()
    if lpa is None:
        raise ConfigError(
            "PERFDATA_DATABASE_URL is set but LPA_DATABASE_URL is not: "
            "perfdata needs the LPA service database to read from"
        )
    lpa = normalise_url("LPA_DATABASE_URL", lpa)
    perf = lpa if perf is None else normalise_url("PERFDATA_DATABASE_URL", perf)
    return DatabaseUrls(lpa=lpa, perfdata=perf)


def start_date(environ: dict[str, str] | None = None) -> dt.date:
    """First day of the daily partitions (PERFDATA_START_DATE, default 2019-04-01)."""
    env = os.environ if environ is None else environ
    raw = env.get("PERFDATA_START_DATE")
    if raw is None or raw.strip() == "":
        return DEFAULT_START_DATE
    try:
        value = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ConfigError(f"PERFDATA_START_DATE '{raw}' is not a date in YYYY-MM-DD form") from None
    if value < dt.date(2000, 1, 1) or value > dt.date.today():
        raise ConfigError(f"PERFDATA_START_DATE {value} is outside 2000-01-01 to today")
    return value


# --- Every other setting, checked by one rule each ------------------------------------
#
# A command checks every setting it will use before it starts any work (`check_settings`),
# and a run checks its resource's own again when it starts, so a wrong value is one line
# naming the variable, the value (masked where it may hold a secret) and what is expected,
# and is never retried.

_BUCKET = re.compile(r"(?!xn--)(?!sthree-)(?!amzn-s3-demo-)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")
_ACCOUNT = re.compile(r"\d{12}")


def _http_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    return None if ok else "an http:// or https:// URL with a host, e.g. https://api.sirius.example/prod"


def _uuid(value: str) -> str | None:
    try:
        uuid.UUID(value)
    except ValueError:
        return "a Route 53 health check id, a UUID such as 0a1b2c3d-1111-2222-3333-444455556666"
    return None if len(value) == 36 else "a Route 53 health check id in its 36-character form"


def _readable_file(value: str) -> str | None:
    path = Path(value)
    if not path.exists():
        return "a CSV file that exists (no such file)"
    if not path.is_file():
        return "a CSV file (it is a directory)" if path.is_dir() else "a regular CSV file"
    if not os.access(path, os.R_OK):
        return "a CSV file this process may read (permission denied)"
    return None


def _writable_directory(value: str) -> str | None:
    path = Path(value)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return "a directory, or a path where one can be made (a file is in the way)"
    # Tried, not judged by os.access: root passes every access check, yet cannot write /proc.
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        where = "it" if existing == path else f"{existing}, where it would be made,"
        return f"a directory this process can write ({where} is not writable: {exc.strerror})"
    return None


def _bucket(value: str) -> str | None:
    if _BUCKET.fullmatch(value) and ".." not in value and not _IPV4.fullmatch(value) \
            and not value.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3")):
        return None
    return "an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"


def _prefix(value: str) -> str | None:
    if value.startswith("/") or any(ord(c) < 32 for c in value) or "//" in value.strip("/"):
        return "a folder in the bucket such as performance-data/ (no leading /, no empty segment)"
    return None


def _region(value: str) -> str | None:
    return None if _REGION.fullmatch(value) else "an AWS region such as eu-west-1"


def _accounts(value: str) -> str | None:
    ids = [a.strip() for a in value.split(",")]
    if all(_ACCOUNT.fullmatch(a) for a in ids):
        return None
    return "comma-separated 12-digit AWS account ids, e.g. 123456789012,210987654321"


def _webhook_urls(value: str) -> str | None:
    for position, url in enumerate((u.strip() for u in value.split(",") if u.strip()), start=1):
        if _http_url(url):
            return f"comma-separated http:// or https:// URLs (entry {position} is not one)"
    return None


def _token(value: str) -> str | None:
    return None if len(value.strip()) >= 16 else "a bearer token of at least 16 characters"


def _start_date(value: str) -> str | None:
    try:
        start_date({"PERFDATA_START_DATE": value})
    except ConfigError:
        return "a date in YYYY-MM-DD form, from 2000-01-01 to today"
    return None


@dataclass(frozen=True)
class Setting:
    name: str
    check: Callable[[str], str | None]  # None when the value is right, else what is expected
    secret: bool = False


SETTINGS = {
    s.name: s
    for s in (
        Setting("PERFDATA_START_DATE", _start_date),
        Setting("PERFDATA_HOME", _writable_directory),
        Setting("SIRIUS_BASE_URL", _http_url),
        Setting("SIRIUS_REGION", _region),
        Setting("SIRIUS_CHANNEL_COUNTS_CSV", _readable_file),
        Setting("SERVICE_UPTIME_CSV", _readable_file),
        Setting("UPTIME_HEALTH_CHECK_ID", _uuid),
        Setting("PERFDATA_EXPORT_DIR", _writable_directory),
        Setting("PERFDATA_PUBLICATION_BUCKET", _bucket),
        Setting("PERFDATA_PUBLICATION_PREFIX", _prefix),
        Setting("SERVICE_COSTS_CSV", _readable_file),
        Setting("USD_GBP_RATES_CSV", _readable_file),
        Setting("SERVICE_COST_AWS_ACCOUNTS", _accounts),
        Setting("PERFDATA_WEBHOOK_URLS", _webhook_urls, secret=True),
        Setting("PERFDATA_API_TOKEN", _token, secret=True),
    )
}


def masked(name: str, value: str) -> str:
    """The value as it may be shown: a secret's is never printed, a URL's password never."""
    if SETTINGS.get(name, Setting(name, None)).secret:
        return "'***'" if value else "''"
    if "://" in value and "@" in value:
        try:
            return repr(make_url(value).render_as_string(hide_password=True))
        except ArgumentError:
            return "'***'"
    return repr(value if len(value) <= 240 else value[:237] + "...")


def check_setting(name: str, value: str) -> str:
    """The value, stripped, or ConfigError: the variable, its value and what is expected."""
    value = value.strip()
    problem = SETTINGS[name].check(value) if value else "a value (it is set but empty: unset it or give one)"
    if problem:
        raise ConfigError(f"{name}={masked(name, value)}: expected {problem}")
    return value


def check_settings(names: Iterable[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Check each named setting that is set (every one by default), and the database URLs.

    Raises ConfigError for the first wrong one, saying how many others are wrong too, so
    the person fixing it is not sent round the loop once per variable.
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []
    try:
        database_urls(dict(env))
    except ConfigError as exc:
        problems.append(str(exc))
    for name in SETTINGS if names is None else names:
        if name in env:
            try:
                check_setting(name, env[name])
            except ConfigError as exc:
                problems.append(str(exc))
    if problems:
        more = len(problems) - 1
        raise ConfigError(problems[0] + (f" (and {more} other setting{'s' if more > 1 else ''} wrong)" if more else ""))
