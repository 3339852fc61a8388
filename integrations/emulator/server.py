"""One HTTP port standing in for api.github.com (REST + GraphQL) and github.com (OAuth).

``EmulatorApp.handle`` turns a ``Request`` into a ``Response`` (no sockets,
easy to reason about); ``EmulatorServer`` serves it over real HTTP/1.1 with
keep-alive, one daemon thread per connection, and a ``stop()`` that returns
promptly even while requests are hanging on a fault.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .control import Control
from .data import World
from .faults import Fault, FaultBook
from .graphql_api import Context, GraphQLService, make_rate_info
from .oauth import OAuthProvider
from .ratelimit import RateLimiter, Snapshot
from .rest_api import RestAPI, not_found_response
from .stats import Stats
from .wire import Hang, Request, Response, html_response, json_response

logger = logging.getLogger(__name__)

REST_DOCS = "https://docs.github.com/rest"
GRAPHQL_DOCS = "https://docs.github.com/graphql"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
DEFAULT_SCOPES = "read:org, repo, user"


@dataclass
class TokenInfo:
    login: str
    scopes: str  # as in X-OAuth-Scopes: "read:org, repo"


def _bearer(header: str | None) -> str | None:
    # GitHub accepts both "Bearer <t>" and the older "token <t>".
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


class EmulatorApp:
    def __init__(
        self,
        world: World,
        base_url: str,
        latency_ms: int = 0,
        tokens=("test-token",),
        oauth_clients: dict | None = None,
    ):
        self.world = world
        self.base_url = base_url
        self.latency_ms = latency_ms
        self.tokens: dict[str, TokenInfo] = {}
        self._token_lock = threading.Lock()
        for token in tokens:
            self.add_token(token)
        self.stopping = threading.Event()
        self.stats = Stats()
        self.faults = FaultBook()
        self.limiter = RateLimiter()
        self.rest = RestAPI(world, base_url)
        self.graphql = GraphQLService(world)
        self.oauth = OAuthProvider(world.viewer.login, self._issue_oauth_token, oauth_clients)
        self.control = Control(self)
        self._request_ids = itertools.count(1)

    def add_token(self, token: str, scopes: str | None = None) -> None:
        with self._token_lock:
            self.tokens[token] = TokenInfo(self.world.viewer.login, DEFAULT_SCOPES if scopes is None else scopes)

    def _issue_oauth_token(self, token: str, scope: str) -> None:
        self.add_token(token, ", ".join(s for s in scope.split(",") if s))

    # -- dispatch ----------------------------------------------------------

    def handle(self, request: Request) -> Response | Hang:
        path = request.path
        if path.startswith("/_emulator/"):
            return self.control.handle(request)
        if path == "/graphql":
            kind, template, route = "graphql", "/graphql", None
        elif path.startswith("/login/oauth/"):
            kind, template, route = "oauth", path, None
        else:
            kind = "rest"
            route = self.rest.match(path) if request.method in ("GET", "HEAD") else None
            if route is not None:
                template = route[0]
            elif path.rstrip("/") == "/rate_limit":
                template = "/rate_limit"
            else:
                template = "(unmatched)"
        self.stats.count_request(kind, template)

        # The latency is GitHub's time to answer: the answer leaves latency_ms
        # after the request arrived, its own computing included (or as soon as
        # it is ready, if that takes longer). A delay fault adds to it.
        answer_at = time.monotonic() + self.latency_ms / 1000
        token = _bearer(request.headers.get("authorization"))
        delay, fault = self.faults.match(request.method, path, token)
        if delay:
            self.stopping.wait(delay)
            answer_at += delay
        if fault is not None:
            self.stats.count_fault()
            response = self._fault_response(fault, kind, token)
        elif kind == "oauth":
            response = self._oauth(request)
        else:
            response = self._api(request, kind, template, route, token)
        if isinstance(response, Response):
            self.stats.count_status(response.status)
            wait = answer_at - time.monotonic()
            if wait > 0:
                self.stopping.wait(wait)
        return response

    def _request_id(self) -> str:
        n = next(self._request_ids)
        # Shaped like GitHub's "C3F1:2B0E5:1A2B3C:1B2C3D:6745A3F2".
        parts = (os.getpid() & 0xFFFF, n, n * 7919 & 0xFFFFFFF, n * 104729 & 0xFFFFFFF, int(time.time()))
        return "{:04X}:{:05X}:{:07X}:{:07X}:{:08X}".format(*parts)

    def _finish(self, response: Response, snapshot: Snapshot, token_info: TokenInfo | None) -> Response:
        headers = response.headers
        headers.update(snapshot.headers())
        headers.setdefault("X-GitHub-Request-Id", self._request_id())
        headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        if token_info is not None:
            headers["X-OAuth-Scopes"] = token_info.scopes
            headers["X-Accepted-OAuth-Scopes"] = "repo"
        return response

    def _api(self, request: Request, kind: str, template: str, route, token: str | None) -> Response:
        info = self.tokens.get(token) if token else None
        if info is None or self.faults.is_revoked(token):
            return self._unauthorized(kind, request.client)
        if kind == "graphql":
            return self._graphql(request, token, info)
        if template == "/rate_limit":
            return self._finish(
                json_response(200, self._rate_limit_payload(token)), self.limiter.peek(token, "core"), info
            )
        allowed, snapshot = self.limiter.charge(token, "core")
        if not allowed:
            return self._finish(self._rest_rate_limited(), snapshot, info)
        if route is None:
            return self._finish(not_found_response(), snapshot, info)
        _, handler, args = route
        return self._finish(self.rest.handle(request, handler, args), snapshot, info)

    def _unauthorized(self, kind: str, client: str) -> Response:
        docs = GRAPHQL_DOCS if kind == "graphql" else REST_DOCS
        snapshot = self.limiter.peek(f"anonymous:{client}", "core", 60)
        body = {"message": "Bad credentials", "documentation_url": docs, "status": "401"}
        return self._finish(json_response(401, body), snapshot, None)

    def _graphql(self, request: Request, token: str, info: TokenInfo) -> Response:
        if request.method != "POST":
            return self._finish(not_found_response(GRAPHQL_DOCS), self.limiter.peek(token, "graphql"), info)
        prepared = self.graphql.prepare(request.body)
        if isinstance(prepared, dict):
            return self._finish(json_response(200, prepared), self.limiter.peek(token, "graphql"), info)
        points = prepared.cost.points
        if prepared.cost.dry_run:
            allowed, snapshot = True, self.limiter.peek(token, "graphql")
        else:
            allowed, snapshot = self.limiter.charge(token, "graphql", points)
        if not allowed:
            body = {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]}
            return self._finish(json_response(200, body), snapshot, info)
        if not prepared.cost.dry_run:
            self.stats.add_points(points)
        ctx = Context(self.world, self.base_url, self.world.viewer, make_rate_info(prepared.cost, snapshot))
        try:
            payload = self.graphql.execute(prepared, ctx)
        except Exception:  # noqa: BLE001 - a GraphQL error, never a 500
            logger.exception("GraphQL execution failed")
            payload = {
                "data": None,
                "errors": [{"type": "INTERNAL", "message": "Something went wrong while executing your query."}],
            }
        return self._finish(json_response(200, payload), snapshot, info)

    def _rate_limit_payload(self, token: str) -> dict:
        core = self.limiter.peek(token, "core").as_json()
        graphql = self.limiter.peek(token, "graphql").as_json()
        search = self.limiter.peek(token, "search").as_json()
        return {
            "resources": {
                "core": core,
                "graphql": graphql,
                "search": search,
                "integration_manifest": {**core, "used": 0, "remaining": core["limit"]},
            },
            "rate": core,
        }

    # -- faults --------------------------------------------------------------

    def _rest_rate_limited(self) -> Response:
        return json_response(
            403,
            {
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help,"
                " please include the request ID.",
                "documentation_url": RATE_DOCS,
            },
        )

    def _fault_response(self, fault: Fault, kind: str, token: str | None) -> Response | Hang:
        info = self.tokens.get(token) if token else None
        resource = "graphql" if kind == "graphql" else "core"
        owner = token if info is not None else "anonymous:"
        snapshot = self.limiter.peek(owner, resource, None if info is not None else 60)
        if fault.kind == "hang":
            return Hang(fault)
        if fault.kind == "revoke_token":
            return self._unauthorized(kind, "")
        if fault.kind == "rate_limit":
            exhausted = Snapshot(resource, snapshot.limit, 0, snapshot.limit, int(fault.reset_at))
            if kind == "graphql":
                body = {
                    "errors": [
                        {
                            "type": "RATE_LIMITED",
                            "message": fault.message or "API rate limit already exceeded for user ID 1.",
                        }
                    ]
                }
                response = json_response(200, body)
            else:
                response = self._rest_rate_limited()
            return self._finish(response, exhausted, info)
        if fault.kind == "secondary_rate_limit":
            request_id = self._request_id()
            message = fault.message or (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
                f" If you reach out to GitHub Support for help, please include the request ID {request_id}."
            )
            body = {
                "message": message,
                "documentation_url": f"{RATE_DOCS}#about-secondary-rate-limits",
            }
            headers = {"Retry-After": str(fault.retry_after), "X-GitHub-Request-Id": request_id}
            return self._finish(json_response(403, body, headers), snapshot, info)
        if fault.kind == "bare_403":
            body = {
                "message": fault.message or "Resource not accessible by integration",
                "documentation_url": REST_DOCS,
                "status": "403",
            }
            return self._finish(json_response(403, body), snapshot, info)
        if fault.kind == "graphql_errors":
            errors = fault.errors or [
                {
                    "type": "INTERNAL",
                    "message": "Something went wrong while executing your query. This may be the result of a"
                    " timeout, or it could be a GitHub bug. Please include `"
                    f"{self._request_id()}` when reporting this issue.",
                }
            ]
            return self._finish(json_response(200, {"data": None, "errors": errors}), snapshot, info)
        # kind == "status"
        status = fault.status or 500
        if fault.body is not None:
            if isinstance(fault.body, str):
                response = Response(status, fault.body.encode(), {}, "text/html; charset=utf-8")
            else:
                response = json_response(status, fault.body)
        elif status in (502, 503, 504):
            # GitHub's load balancers answer these with an HTML page, not JSON.
            reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}[status]
            response = html_response(
                status,
                f"<html><head><title>{status} {reason}</title></head>"
                f"<body><h1>{reason}</h1><p>We couldn't respond to your request in time.</p></body></html>",
            )
        else:
            message = "Server Error" if status >= 500 else BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
            response = json_response(
                status, {"message": message, "documentation_url": REST_DOCS, "status": str(status)}
            )
        response.headers.update(fault.headers or {})
        if kind == "oauth":
            return response
        return self._finish(response, snapshot, info)

    # -- OAuth ---------------------------------------------------------------

    def _oauth(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/login/oauth/authorize":
            if request.method == "GET":
                return self.oauth.authorize_page(request)
            if request.method == "POST":
                return self.oauth.authorize_submit(request)
        if path == "/login/oauth/access_token" and request.method == "POST":
            return self.oauth.access_token(request)
        return html_response(404, "<!DOCTYPE html><title>Page not found</title><h1>404</h1>")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup
        # that can take seconds in sandboxes; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response has Content-Length
    # Headers and body go out in two writes; with Nagle on, the second waits
    # for the client's delayed ACK of the first: ~40 ms on every response.
    disable_nagle_algorithm = True
    server_version = "GitHub.com"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are dropped after this
    app: EmulatorApp
    connections: set
    log_requests = False

    def setup(self):
        super().setup()
        self.connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.connections.discard(self.connection)

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):
        if self.log_requests:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self):
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400)
            return
        request = Request(
            self.command,
            unquote(split.path) or "/",
            parse_qs(split.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            self.client_address[0] if self.client_address else "",
        )
        try:
            response = self.app.handle(request)
        except Exception:  # noqa: BLE001 - answer like GitHub's 500 rather than drop
            logger.exception("emulator failed on %s %s", self.command, self.path)
            response = json_response(500, {"message": "Server Error"})
        if isinstance(response, Hang):
            self.app.faults.wait_released(self.app.stopping)
            self.close_connection = True  # the client gets no answer at all
            return
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _dispatch


class EmulatorServer:
    """The emulator on a real port. ``port=0`` picks a free one.

    The socket is bound in the constructor, so ``url`` is known before
    ``start()``.
    """

    def __init__(
        self,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: int = 0,
        tokens=("test-token",),
        oauth_clients: dict | None = None,
        log_requests: bool = False,
    ):
        self.world = world
        connections: set = set()
        self._connections = connections
        self._httpd = _HTTPServer((host, port), _Handler, bind_and_activate=True)
        self.host = host
        self.port = self._httpd.server_address[1]
        url_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url = f"http://{url_host}:{self.port}"
        self.app = EmulatorApp(world, self.url, latency_ms, tokens, oauth_clients)
        self._httpd.RequestHandlerClass = type(
            "Handler", (_Handler,), {"app": self.app, "connections": connections, "log_requests": log_requests}
        )
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def tokens(self) -> list[str]:
        return list(self.app.tokens)

    @property
    def stats(self) -> Stats:
        return self.app.stats

    @property
    def faults(self) -> FaultBook:
        return self.app.faults

    def start(self) -> EmulatorServer:
        """Serve in a daemon thread; returns self."""
        self._serving.set()
        self._thread = threading.Thread(target=self._serve, name="github-emulator", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.05)
        finally:
            self._serving.clear()

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` (from another thread) or Ctrl-C."""
        self._serving.set()
        try:
            self._serve()
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving; hanging and idle keep-alive connections are closed too."""
        self.app.stopping.set()
        self.app.faults.wake_all()
        if self._serving.is_set():
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self.app.stopping.set()
        self._httpd.server_close()
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
