"""Helpers for the GitHub client tests: a client with test-sized timeouts, a call recorder, and a
tiny local HTTP server that answers with scripted or recorded (octokit) responses.

The server is for response shapes the emulator does not produce: no rate headers at all (GitHub Enterprise
Server with rate limiting off), a 200 with ``X-RateLimit-Remaining: 0``, real recorded headers.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from integrations.github.client import GitHubClient
from tests.conftest import TEST_TOKEN

FIXTURES = Path(__file__).parent / "fixtures" / "octokit"
SCRIPTED_TOKEN = "ghp_scripted0123456789abcdefghijklmnopqrst"


class Recorder:
    """Stands in for ``waiter``/``sleep``/``on_attempt``: remembers every call, returns at once."""

    def __init__(self, on_call=None):
        self.calls = []
        self.on_call = on_call

    def __call__(self, *args):
        self.calls.append(args)
        if self.on_call:
            self.on_call(*args)


def client_for(server, token=TEST_TOKEN, **options):
    """A client of ``server`` with test-sized timeouts; waits and backoffs are recorded, not slept
    (tests that look at them pass their own Recorder)."""
    defaults = {
        "api_url": server.url,
        "graphql_url": f"{server.url}/graphql",
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "max_retries": 2,
        "backoff": 0.001,
        "backoff_max": 0.005,
        "waiter": Recorder(),
        "sleep": Recorder(),
    }
    return GitHubClient(token, **{**defaults, **options})


@dataclass
class Reply:
    status: int = 200
    body: object = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    stall: bool = False  # send the headers and the start of the body, then nothing


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: bytes


class ScriptedServer:
    """Answers by exact path (``routes``) first, else with the next queued reply."""

    def __init__(self):
        self.routes = {}
        self.queue = []
        self.seen = []
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def reply(self, status=200, body=None, stall=False, **headers):
        """Queue one reply; header names use underscores (``X_RateLimit_Remaining="0"``)."""
        headers = {name.replace("_", "-"): value for name, value in headers.items()}
        self.queue.append(Reply(status, {} if body is None else body, headers, stall))

    def replay(self, fixture):
        """Serve every recorded response of ``fixtures/octokit/<fixture>.json`` at its path, links rewritten here."""
        for entry in json.loads((FIXTURES / f"{fixture}.json").read_text()):
            headers = {k: str(v).replace("https://api.github.com", self.url) for k, v in entry["headers"].items()}
            headers.pop("content-length", None)
            self.routes[(entry["method"].upper(), entry["path"])] = Reply(entry["status"], entry["response"], headers)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                server.seen.append(Seen(self.command, self.path, dict(self.headers), self.rfile.read(length)))
                reply = server.routes.get((self.command, self.path))
                if reply is None:
                    reply = server.queue.pop(0) if server.queue else Reply(599, {"message": "nothing scripted"})
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    if name.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if reply.stall:
                    self.wfile.write(payload[:2])
                    self.wfile.flush()
                    server._stopping.wait()
                    return
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        return Handler
