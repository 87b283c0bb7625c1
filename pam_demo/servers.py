"""Start the stand-ins on loopback, in threads of the calling process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    # The default handler prints every request line, and a getSigninToken request line
    # carries credentials: never print them, not even in a demo.
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class RunningServer:
    url: str
    stop: Callable[[], None]


def serve_wsgi(app: Callable, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `app` on host:port (0 picks a free port) in a daemon thread."""
    server = make_server(
        host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="pam-standin", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return RunningServer(url=f"http://{host}:{server.server_port}", stop=stop)
