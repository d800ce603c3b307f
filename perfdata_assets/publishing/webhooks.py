"""POSTing JSON notifications to the URLs in PERFDATA_WEBHOOK_URLS, with bounded retries.

A webhook URL is often itself the secret (Slack, Teams), so no log line,
error or tick message ever shows more of it than its scheme and host.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import dagster as dg
import requests

from perfdata_assets.config import ConfigError

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

    def _deliver(self, session: requests.Session, url: str, payload: dict) -> Delivery:
        error = "not attempted"
        for attempt in range(max(1, self.attempts)):
            if attempt:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = session.post(url, json=payload, timeout=self.timeout_seconds, allow_redirects=False)
            except requests.RequestException as exc:
                error = type(exc).__name__
                continue
            if 200 <= response.status_code < 300:
                return Delivery(url, None)
            error = f"HTTP {response.status_code}"
            if response.status_code not in RETRY_STATUSES:
                break  # the receiver refuses this payload: trying again will not help
        return Delivery(url, error)

    def post(self, payload: dict, skip: Collection[str] = ()) -> list[Delivery]:
        """POST the payload to every URL not in ``skip``; one Delivery per URL."""
        with requests.Session() as session:
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
