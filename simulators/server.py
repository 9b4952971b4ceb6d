"""A small threaded HTTP/1.1 server for the sandbox's WSGI app, and the in-process starter.

wsgiref would answer an exception with a 500; this runner instead honours `DropConnection`
by closing the TCP connection without writing a byte, which the drop faults need.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from .app import SandboxApp, json_lines
from .core import DropConnection

IDLE_CONNECTION_TIMEOUT_SECONDS = 60


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, WSGIRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Wake handler threads idling on keep-alive connections so they exit promptly."""
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class WSGIRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_TIMEOUT_SECONDS
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients would
    # wait ~40 ms for the delayed ACK on every response.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def do_request(self) -> None:
        try:
            body = self.read_body()
        except ValueError:
            self.send_error(400, "Bad request body")
            return
        environ = self.build_environ(body)
        status_and_headers: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> None:
            status_and_headers[:] = [status, headers]

        try:
            chunks = self.server.app(environ, start_response)
        except DropConnection:
            self.close_connection = True
            return
        self.write_response(status_and_headers[0], status_and_headers[1], chunks)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_request

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def build_environ(self, body: bytes) -> dict[str, Any]:
        url = urlsplit(self.path)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path),
            "QUERY_STRING": url.query,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def write_response(self, status: str, headers: list[tuple[str, str]], chunks: Any) -> None:
        code, _, reason = status.partition(" ")
        names = {name.lower() for name, _ in headers}
        if "content-length" not in names:
            # Our app always sets it; buffer anything that does not so keep-alive stays valid.
            buffered = b"".join(chunks)
            headers = [*headers, ("Content-Length", str(len(buffered)))]
            chunks = [buffered]
        try:
            self.send_response(int(code), reason)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                for chunk in chunks:
                    self.wfile.write(chunk)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log at /_sim/log is the record of traffic."""


class Sandbox:
    """A running sandbox: URLs, keys and `stop()`. Also a context manager."""

    def __init__(self, app: SandboxApp, server: SandboxHTTPServer) -> None:
        self.app = app
        self.server = server
        self.host, self.port = server.server_address[:2]
        self.origin = f"http://{self.host}:{self.port}"
        self.admin_url = f"{self.origin}/_sim"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sim-server",
            daemon=True,
        )

    @property
    def base_urls(self) -> dict[str, str]:
        return self.app.base_urls

    @property
    def api_keys(self) -> dict[str, str]:
        return self.app.api_keys

    def json_lines(self) -> list[str]:
        return json_lines(self.app, self.admin_url)

    def serve_in_background(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.close_open_connections()
        self.app.stop_background_work()
        self._thread.join(timeout=2)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start(
    port: int = 0,
    speed: float = 1.0,
    keys: dict[str, str] | None = None,
    seed: int | None = None,
    host: str = "127.0.0.1",
) -> Sandbox:
    """Start the sandbox on a background thread; `port=0` picks a free port."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    app = SandboxApp(speed=speed, keys=keys, seed=seed)
    server = SandboxHTTPServer((host, port), app)
    sandbox = Sandbox(app, server)
    app.set_origin(sandbox.origin)
    app.start_background_work()
    sandbox.serve_in_background()
    return sandbox
