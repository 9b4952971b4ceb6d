"""`python -m simulators --port PORT [--host H] [--origin URL] [--speed S] [--key vendor=KEY ...]
[--seed N]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .app import VENDOR_NAMES
from .server import start


def parse_key(text: str) -> tuple[str, str]:
    vendor, separator, key = text.partition("=")
    if not separator or vendor not in VENDOR_NAMES or not key:
        raise argparse.ArgumentTypeError(f"expected vendor=KEY with vendor in {VENDOR_NAMES}")
    return vendor, key


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    # 0.0.0.0 in a container, so other containers reach the vendor APIs; /_sim stays loopback.
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--origin",
        help="the URL others reach the sandbox at, in the base and recording URLs it hands out "
        "(default http://HOST:PORT), e.g. http://sandbox:8100 in compose.yaml",
    )
    parser.add_argument("--speed", type=positive_float, default=1.0, help="10 = ten times faster")
    parser.add_argument("--key", type=parse_key, action="append", default=[], metavar="VENDOR=KEY")
    parser.add_argument("--seed", type=int, default=None, help="repeatable random choices")
    args = parser.parse_args(argv)

    stop_requested = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop_requested.set())

    sandbox = start(
        host=args.host, port=args.port, speed=args.speed, keys=dict(args.key), seed=args.seed
    )
    if args.origin:
        sandbox.app.set_origin(args.origin.rstrip("/"))
    print("\n".join(sandbox.json_lines()), flush=True)
    try:
        while not stop_requested.wait(timeout=0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
