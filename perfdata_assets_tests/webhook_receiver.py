"""A webhook receiver on loopback that records every POSTed JSON body, and a notifier aimed at it."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from perfdata_assets.publishing.webhooks import WebhookNotifier


class Receiver:
    """A loopback HTTP server recording every POSTed JSON body; can fail the first N requests."""

    def __init__(self, fail_first: int = 0, status: int = 500):
        self.bodies: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                receiver.attempts += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = status if receiver.attempts <= fail_first else 204
                if code == 204:
                    receiver.bodies.append(json.loads(body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token-path"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def notifier(*urls: str, **kwargs) -> WebhookNotifier:
    return WebhookNotifier(urls=",".join(urls), timeout_seconds=2, backoff_seconds=0.01, **kwargs)
