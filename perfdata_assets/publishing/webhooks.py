"""POSTing JSON notifications to the URLs in PERFDATA_WEBHOOK_URLS, with bounded retries.

A webhook URL is often itself the secret (Slack, Teams), so no log line,
error or tick message ever shows more of it than its scheme and host.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import dagster as dg
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from perfdata_assets.config import ConfigError

# A run tagged ANNOUNCE_TAG: "no" (`perfdata rebuild` without --announce) sends no
# webhook: not its plausibility flags, not its late files, and the publication
# sensor passes over what it published.
ANNOUNCE_TAG = "perfdata/announce"


def announces(tags: dict[str, str]) -> bool:
    return tags.get(ANNOUNCE_TAG, "yes") != "no"


# Worth another attempt: the receiver is overloaded or briefly down.
RETRY_STATUSES = {429, 500, 502, 503, 504}


def redact(url: str) -> str:
    """``https://hooks.example.org/services/T0/B0/secret`` -> ``https://hooks.example.org``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def parse_urls(text: str, variable: str = "PERFDATA_WEBHOOK_URLS") -> list[str]:
    """Comma-separated http(s) URLs; blanks ignored. The error never repeats a URL."""
    urls = [u.strip() for u in text.split(",") if u.strip()]
    for position, url in enumerate(urls, start=1):
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(f"{variable}: entry {position} is not an http:// or https:// URL")
    return urls


@dataclass(frozen=True)
class Delivery:
    url: str
    error: str | None  # None when delivered

    def describe(self) -> str:
        return redact(self.url) + ("" if self.error is None else f" ({self.error})")


class WebhookNotifier(dg.ConfigurableResource):
    """Where notifications go (PERFDATA_WEBHOOK_URLS, comma-separated) and how hard to try."""

    urls: str = ""
    timeout_seconds: float = 5.0
    attempts: int = 3
    backoff_seconds: float = 1.0  # doubled after each failed attempt

    def url_list(self) -> list[str]:
        return parse_urls(self.urls)

    def _session(self) -> requests.Session:
        """A session whose POSTs urllib3 retries on RETRY_STATUSES and failed connections,
        waiting backoff_seconds, then double, between attempts (Retry-After honoured)."""
        retry = Retry(
            total=max(1, self.attempts) - 1,
            backoff_factor=self.backoff_seconds,
            status_forcelist=sorted(RETRY_STATUSES),
            allowed_methods=frozenset({"POST"}),
            raise_on_status=False,  # the last answer is reported, not an exception
            respect_retry_after_header=True,
        )
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        return session

    def _deliver(self, session: requests.Session, url: str, payload: dict) -> Delivery:
        try:
            response = session.post(url, json=payload, timeout=self.timeout_seconds, allow_redirects=False)
        except requests.RequestException as exc:
            # urllib3 has retried already; name the failure's kind, never the URL.
            return Delivery(url, "ConnectionError" if isinstance(exc, requests.ConnectionError) else type(exc).__name__)
        if 200 <= response.status_code < 300:
            return Delivery(url, None)
        return Delivery(url, f"HTTP {response.status_code}")

    def post(self, payload: dict, skip: Collection[str] = ()) -> list[Delivery]:
        """POST the payload to every URL not in ``skip``; one Delivery per URL."""
        with self._session() as session:
            return [
                Delivery(url, "skipped: failed earlier in this tick") if url in skip
                else self._deliver(session, url, payload)
                for url in self.url_list()
            ]


def webhooks_from_env() -> WebhookNotifier:
    """PERFDATA_WEBHOOK_URLS, checked while definitions load; unset means no notifications."""
    raw = os.environ.get("PERFDATA_WEBHOOK_URLS", "")
    if not raw.strip():
        return WebhookNotifier(urls="")
    parse_urls(raw)
    return WebhookNotifier(urls=dg.EnvVar("PERFDATA_WEBHOOK_URLS"))
