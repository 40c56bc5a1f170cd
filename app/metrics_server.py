"""`synthtiles serve` with SYNTHTILES_METRICS_PORT: the deployment's metrics on their own
port (for a scraper on the cluster network), so the public port need not expose them.

Serves what GET /metrics serves: every process's metrics aggregated through
PROMETHEUS_MULTIPROC_DIR, plus the queue gauges read from Redis at scrape time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app import metrics

QueueStats = Callable[[], tuple[dict[str, int], dict[str, int]]]


def start_metrics_server(host: str, port: int, queue_stats: QueueStats) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "only /metrics here")
                return
            try:
                waiting, in_progress = queue_stats()
            except Exception:  # metrics must still render when Redis is down
                waiting, in_progress = {}, {}
            body = metrics.render(waiting, in_progress)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:  # scrapes are not news
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server
