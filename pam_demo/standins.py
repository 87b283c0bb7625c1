"""Run the local AWS stand-ins: STS/IAM (moto behind a trust-policy gate) and the
federation endpoint with its console page. In threads of this process, on loopback.

    python -m pam_demo.standins --aws-port 4566 --federation-port 4567
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import make_server

from . import aws_state
from .aws_standin import describe_credentials, moto_app, revocation_denial
from .federation import FederationStandIn
from .servers import RunningServer, serve_wsgi


@dataclass
class Standins:
    aws: RunningServer
    federation: RunningServer
    federation_app: FederationStandIn

    def stop(self) -> None:
        self.aws.stop()
        self.federation.stop()


class Delayed:
    """Answers after `seconds`, as a real AWS endpoint does from across a network.

    A sleep, not work: the benchmarks use it to see the app's overhead against a
    realistic latency without loading the machine's CPU.
    """

    def __init__(self, app: Callable, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        time.sleep(self.seconds)
        return self.app(environ, start_response)


def _delayed(app: Callable, latency_ms: float) -> Callable:
    return Delayed(app, latency_ms / 1000) if latency_ms > 0 else app


def serve_aws(
    host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0, state_file: Path | None = None
) -> RunningServer:
    """moto behind the gate. With `state_file`, its IAM roles are restored from it before
    serving and saved to it after each IAM write and at stop (pam_demo/aws_state.py)."""
    # werkzeug logs each request line; moto's carry no secrets, but they are noise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    on_change = None
    if state_file is not None:
        aws_state.restore(state_file)

        def on_change() -> None:
            aws_state.save(state_file)

    server = make_server(host, port, _delayed(moto_app(on_change), latency_ms), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="pam-aws-standin", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        if state_file is not None:
            aws_state.save(state_file)

    return RunningServer(url=f"http://{host}:{server.server_port}", stop=stop)


def start(
    host: str = "127.0.0.1",
    aws_port: int = 0,
    federation_port: int = 0,
    latency_ms: float = 0,
    state_file: Path | None = None,
) -> Standins:
    federation_app = FederationStandIn(describe=describe_credentials, denied=revocation_denial)
    return Standins(
        aws=serve_aws(host, aws_port, latency_ms, state_file),
        federation=serve_wsgi(
            _delayed(federation_app, latency_ms), host=host, port=federation_port
        ),
        federation_app=federation_app,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--aws-port", type=int, default=0)
    parser.add_argument("--federation-port", type=int, default=0)
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="delay every answer (benchmarks)"
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="keep the stand-in's IAM roles in this JSON file across restarts",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing once started")
    args = parser.parse_args()
    standins = start(
        aws_port=args.aws_port,
        federation_port=args.federation_port,
        latency_ms=args.latency_ms,
        state_file=args.state_file,
    )
    if not args.quiet:
        print(f"aws={standins.aws.url} federation={standins.federation.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    standins.stop()


if __name__ == "__main__":
    main()
