"""The fault suite's rig: the production processes, a private Redis, and a page's view of a sync.

- ``Stack``: the Procfile's ``web`` (daphne), ``worker`` (``rundramatiq``) and
  ``watcher`` (``sync_watcher``) as subprocesses on the test database, with
  Redis keys under a prefix of their own; each is stopped or killed by its
  process id (a worker's whole process tree: ``rundramatiq`` execs
  ``dramatiq``, which forks the process that runs the actor).
- ``RedisServer``: a private ``redis-server`` on a free port, to restart
  without disturbing anyone else's Redis.
- ``ProgressPage``: what a signed-in browser's progress page shows, read from
  ``/ws/sync/<run_id>/`` with a small RFC 6455 client. It applies the page
  script's rule (an older ``data-seq`` is dropped), follows a switch to a
  newer run, and reconnects like htmx's websocket extension.
- ``StatusPoller``: ``/onboarding/sync/status/?run=<id>`` polled beside it.

Nothing here imports Django models at module level: ``bench/recovery.py``
uses the processes and the page client too.
"""

import base64
import hashlib
import html
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import redis
import requests

from tests.live_server import Daphne, Process, free_port
from tests.services import wait_for

ROOT = Path(__file__).resolve().parent.parent

# Test-sized timings (defaults: heartbeat 5 s, stall 45 s, watch 2 s, progress 1 s).
FAST_TIMINGS = {
    "SYNC_HEARTBEAT_SECONDS": "0.5",
    "SYNC_STALL_SECONDS": "3",
    "SYNC_WATCH_SECONDS": "0.5",
    "SYNC_PROGRESS_INTERVAL_SECONDS": "0.25",
    "GITHUB_CONNECT_TIMEOUT": "2",
    "GITHUB_READ_TIMEOUT": "2",
    "GITHUB_BACKOFF_SECONDS": "0.05",
    "GITHUB_BACKOFF_MAX_SECONDS": "0.2",
}


def procfile_command(process, **options):
    """The Procfile's command for ``process``, with this interpreter; ``options`` replace ``--name value`` pairs."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            argv = shlex.split(command)
            argv = [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
            for option, value in options.items():
                flag = f"--{option}"
                if flag in argv:
                    argv[argv.index(flag) + 1] = str(value)
                else:
                    argv += [flag, str(value)]
            return argv
    raise AssertionError(f"no {process} line in the Procfile")


def process_tree(pid):
    """``pid`` and its descendants (Linux /proc), parents first."""
    found = [pid]
    for parent in found:
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                found += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return list(dict.fromkeys(found))


class Worker(Process):
    """``manage.py rundramatiq`` (the Procfile's ``worker`` line; ``--processes 1 --threads 2`` by default)."""

    READY = "Worker process is ready for action."

    def __init__(self, name, env, log_dir, *, processes=1, threads=2):
        super().__init__(name, procfile_command("worker", processes=processes, threads=threads), env, log_dir)

    def start(self, wait=True):
        super().start()
        return self.wait_ready() if wait else self

    def wait_ready(self, timeout=60):
        wait_for(self._ready, timeout=timeout, interval=0.1, message=f"{self.name} to boot")
        return self

    def _ready(self):
        if not self.alive():
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
        return self.READY in self.log()

    def runs(self, run_id):
        """Whether this worker's log shows it took ``run_id``."""
        return f"[SYNC_TASK] entry run={run_id} " in self.log()

    def kill(self):
        """SIGKILL the whole tree at once, as a machine or the OOM killer would: nothing gets to clean up."""
        pids = process_tree(self.popen.pid)
        for pid in pids:  # frozen first, so no process reacts to another's death
            _signal(pid, signal.SIGSTOP)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        self.popen.wait(10)
        for pid in pids[1:]:
            wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=10)

    def terminate(self, wait=True, timeout=30):
        """SIGTERM to the ``rundramatiq`` process, as a process manager stops it (and waits for it to exit)."""
        self.popen.send_signal(signal.SIGTERM)
        if wait:
            self.popen.wait(timeout)


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class Watcher(Process):
    """``manage.py sync_watcher`` (the Procfile's ``watcher`` line)."""

    def __init__(self, name, env, log_dir, *extra):
        super().__init__(name, [*procfile_command("watcher"), *extra], env, log_dir)

    def start(self, timeout=30):
        super().start()
        wait_for(lambda: "[SYNC_TASK] watcher started" in self.log(), timeout=timeout, message="the watcher to start")
        return self


class RedisServer:
    """A private ``redis-server`` on a free port, without persistence: a restart forgets everything."""

    def __init__(self, log_dir, port=None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = Path(log_dir) / f"redis-{self.port}.log"
        self.popen = None

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with self.log_path.open("a") as log:
            self.popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.answers, timeout=10, message=f"redis-server on port {self.port}")
        return self

    def answers(self):
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return client.ping()
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self, sig=signal.SIGTERM):
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(10)


class Stack:
    """The production processes (production mode: ``REDIS_URL`` set) against the test database."""

    def __init__(self, emulator_url, redis_url, log_dir, **environment):
        from django.conf import settings

        from tests.live_server import database_url

        self.redis_url = redis_url
        self.log_dir = Path(log_dir)
        self.prefix = f"faults-{uuid.uuid4().hex[:10]}"
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
        }
        env.update(
            DATABASE_URL=database_url(),
            SECRET_KEY=settings.SECRET_KEY,
            FERNET_KEYS=",".join(settings.FERNET_KEYS),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            VAR_DIR=str(self.log_dir / "var"),
            GITHUB_API_URL=emulator_url,
            GITHUB_GRAPHQL_URL=f"{emulator_url}/graphql",
            GITHUB_WEB_URL=emulator_url,
            REDIS_URL=redis_url,
            DRAMATIQ_NAMESPACE=f"{self.prefix}-dramatiq",
            CHANNELS_PREFIX=f"{self.prefix}-asgi",
            LOG_LEVEL="INFO",
            **FAST_TIMINGS,
        )
        env.update({name: str(value) for name, value in environment.items()})
        self.env = env
        self.web = None
        self.processes = []
        self._names = 0

    @property
    def stall_seconds(self):
        return float(self.env["SYNC_STALL_SECONDS"])

    def start_web(self):
        self.web = Daphne(self.env, self.log_dir).start()
        self.processes.append(self.web)
        return self.web

    def start_worker(self, name="worker", wait=True, **options):
        """A new worker process; ``wait=False`` returns before it is ready (``wait_ready()``)."""
        self._names += 1
        worker = Worker(f"{self._names:02d}-{name}", self.env, self.log_dir, **options)
        self.processes.append(worker)
        return worker.start(wait=wait)

    def start_watcher(self, *extra):
        self._names += 1
        watcher = Watcher(f"{self._names:02d}-watcher", self.env, self.log_dir, *extra)
        self.processes.append(watcher)
        return watcher.start()

    def stop_workers(self):
        """Kill the workers and stop the watchers (the web process stays): a test leaves nothing running."""
        for process in reversed(self.processes):
            if process is self.web:
                continue
            if isinstance(process, Worker) and process.alive():
                process.kill()  # a worker shutting down gracefully would requeue its run
            else:
                process.stop()
        self.processes = [p for p in self.processes if p is self.web]

    def live_workers(self):
        """Dramatiq workers that fetched from the broker in the last 15 s (what /healthz and the page count)."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            return client.zcount(f"{self.prefix}-dramatiq:__heartbeats__", (time.time() - 15) * 1000, "+inf")
        finally:
            client.close()

    def stop(self):
        from tests.live_server import wait_until_servers_disconnect

        self.stop_workers()
        if self.web is not None:
            self.web.stop()
        self.processes.clear()
        wait_until_servers_disconnect()
        try:
            client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
            for key in client.scan_iter(f"{self.prefix}*"):
                client.delete(key)
            client.close()
        except redis.RedisError:
            pass  # a private Redis already stopped


# -- the user, over HTTP ------------------------------------------------------


def session_key(user):
    """A signed-in session for ``user`` in the test database; its ``sessionid`` cookie value."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Browser:
    """A signed-in user's HTTP requests to daphne (forms with their CSRF token, no JavaScript)."""

    def __init__(self, base_url, session):
        self.base_url = base_url
        self.session_key = session
        self.http = requests.Session()
        self.http.cookies.set("sessionid", session, domain="127.0.0.1", path="/")

    def _csrf(self):
        self.http.get(f"{self.base_url}/accounts/login/", timeout=10).raise_for_status()
        return self.http.cookies.get("csrftoken")

    def post(self, path, data):
        token = self._csrf()
        response = self.http.post(
            f"{self.base_url}{path}", data={**data, "csrfmiddlewaretoken": token}, allow_redirects=False, timeout=30
        )
        assert response.status_code == 302, f"POST {path}: {response.status_code} {response.text[:2000]}"
        return response.headers["Location"]

    def start_sync(self, github_ids):
        """Choose repositories on the onboarding page and start their sync; returns the new run's id."""
        # The page lists them first. Listed afresh: the list is cached per team id in Redis, and team
        # ids repeat from one test database to the next.
        listing = self.http.get(f"{self.base_url}/onboarding/repos/fetch/", params={"refresh": "1"}, timeout=30)
        listing.raise_for_status()
        location = self.post("/onboarding/repos/start/", {"repository": [str(i) for i in github_ids]})
        assert location.endswith("/onboarding/sync/"), location
        return self.status()["run_id"]

    def retry(self, run_id):
        """Press Retry on run ``run_id``'s page; returns the id of the run it started."""
        location = self.post("/onboarding/sync/retry/", {"run": str(run_id)})
        new = parse_qs(urlsplit(location).query).get("run", [None])[0]
        assert new is not None and int(new) != run_id, f"Retry did not start a new run: {location}"
        return int(new)

    def status(self, run_id=None):
        params = {} if run_id is None else {"run": run_id}
        response = self.http.get(f"{self.base_url}/onboarding/sync/status/", params=params, timeout=10)
        response.raise_for_status()
        return response.json()


# -- a minimal websocket client (RFC 6455) -------------------------------------


class WebSocketClosed(Exception):
    pass


class WebSocket:
    """Text frames over one connection: ``recv()`` returns a message, or None once closed (``close_code``)."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, url, *, origin, cookie=None, timeout=10):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.close_code = None
        self._buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {parts.path} HTTP/1.1",
            f"Host: {parts.hostname}:{parts.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {origin}",
        ]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status, *headers = head.decode("latin1").split("\r\n")
        if " 101 " not in f"{status} ":
            self.sock.close()
            raise ConnectionError(f"websocket handshake refused: {status}")
        accept = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
        if not any(
            h.lower().startswith("sec-websocket-accept:") and h.split(":", 1)[1].strip() == accept for h in headers
        ):
            self.sock.close()
            raise ConnectionError("websocket handshake without the right Sec-WebSocket-Accept")
        self.sock.settimeout(None)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise WebSocketClosed("connection closed")
        self._buffer += chunk

    def _read(self, count):
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv(self):
        message = b""
        try:
            while True:
                first, second = self._read(2)
                opcode, length = first & 0x0F, second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", self._read(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", self._read(8))
                mask = self._read(4) if second & 0x80 else None
                payload = self._read(length)
                if mask:
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                if opcode == 0x8:  # close
                    self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self.close()
                    return None
                if opcode == 0x9:  # ping
                    self._send_frame(0xA, payload)
                    continue
                if opcode in (0x0, 0x1, 0x2):
                    message += payload
                    if first & 0x80:
                        return message.decode()
        except (WebSocketClosed, OSError):
            if self.close_code is None:
                self.close_code = 1006
            return None

    def close(self, code=1000):
        try:
            self._send_frame(0x8, struct.pack("!H", code))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# -- what the page shows ----------------------------------------------------------

STATE_SECTION = re.compile(
    r'<section id="sync-state" data-run="(\d+)" data-seq="(\d+)" data-state="(\w+)">(.*?)</section>', re.S
)
SWITCH = re.compile(r'<div id="sync-live"[^>]*ws-connect="/ws/sync/(\d+)/"')
REPO_ROW = re.compile(r'data-repository="([^"]+)" data-status="(\w+)"')


def text_of(fragment):
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


@dataclass
class Shown:
    """One update the page applied: when (monotonic), which run and seq, the state and the state box's words."""

    at: float
    run: int
    seq: int
    state: str
    text: str
    page_text: str = ""  # every fragment of the update, in words
    repositories: dict = field(default_factory=dict)
    switched: bool = False  # the page swapped to a newer run with this update

    def __str__(self):
        return f"run {self.run} seq {self.seq} {self.state}: {self.text[:160]}"


class ProgressPage:
    """The progress page of ``run_id`` as a signed-in browser shows it, fed by its websocket only."""

    def __init__(self, base_url, session, run_id, *, reconnect=True):
        self.ws_base = base_url.replace("http://", "ws://")
        self.origin = base_url
        self.cookie = f"sessionid={session}"
        self.run_id = run_id
        self.reconnect = reconnect
        self.shown = []
        self.dropped = []
        self.closes = []  # (run, close code, when) of every connection the server or the network ended
        self.connects = 0
        self.messages = 0
        self._marks = None  # (run, seq) the page shows
        self._socket = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=f"page-{run_id}", daemon=True)

    def open(self):
        self._thread.start()
        return self

    def close(self):
        self._stop.set()
        if self._socket is not None:
            self._socket.close()
        self._thread.join(10)

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def _loop(self):
        while not self._stop.is_set():
            run = self.run_id
            try:
                ws = WebSocket(f"{self.ws_base}/ws/sync/{run}/", origin=self.origin, cookie=self.cookie)
            except OSError:
                self._stop.wait(0.3)  # daphne not answering: htmx retries with a backoff
                continue
            self._socket = ws
            self.connects += 1
            switched = False
            while not self._stop.is_set():
                message = ws.recv()
                if message is None:
                    break
                self.messages += 1
                if self._apply(message):
                    switched = True
                    ws.close()
                    break
            if self._stop.is_set():
                return
            if not switched:  # the server or the network ended it
                with self._changed:
                    self.closes.append((run, ws.close_code, time.monotonic()))
                    self._changed.notify_all()
                if not self.reconnect:
                    return
                self._stop.wait(0.3)

    def _apply(self, message):
        """Apply one websocket message like the page does; True if it switched the page to another run."""
        found = STATE_SECTION.search(message)
        if found is None:
            return False
        run, seq, state, inner = int(found[1]), int(found[2]), found[3], found[4]
        switch = SWITCH.search(message)
        if (
            self._marks is not None
            and not switch
            and (run < self._marks[0] or (run == self._marks[0] and seq < self._marks[1]))
        ):
            self.dropped.append((run, seq, state))
            return False
        self._marks = (run, seq)
        shown = Shown(
            time.monotonic(), run, seq, state, text_of(inner), text_of(message), dict(REPO_ROW.findall(message))
        )
        shown.switched = bool(switch)
        with self._changed:
            self.shown.append(shown)
            if switch:
                self.run_id = int(switch[1])
            self._changed.notify_all()
        return bool(switch)

    # -- reading it ----------------------------------------------------------------

    def wait_for(self, predicate, timeout=30, message=None, since=0, fail=True):
        """The first update (from index ``since``) that satisfies ``predicate``.

        After ``timeout``: AssertionError, or None if not ``fail``.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for shown in self.shown[since:]:
                    if predicate(shown):
                        return shown
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if not fail:
                        return None
                    raise AssertionError(
                        f"timed out after {timeout} s waiting for the page to show {message or predicate}; "
                        f"it showed:\n{self.history()}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def wait_for_state(self, state, run=None, timeout=30, since=0):
        return self.wait_for(
            lambda s: s.state == state and (run is None or s.run == run),
            timeout=timeout,
            message=f"{state!r}" + (f" for run {run}" if run else ""),
            since=since,
        )

    def states(self, run=None):
        """The states shown, in order, consecutive repeats folded: [(run, state), ...]."""
        folded = []
        for shown in list(self.shown):
            if run is not None and shown.run != run:
                continue
            if not folded or folded[-1] != (shown.run, shown.state):
                folded.append((shown.run, shown.state))
        return folded

    def lost_connections(self):
        """Connections ended other than normally: a server error (1011), a dropped socket (1006), ..."""
        return [(run, code) for run, code, _ in self.closes if code not in (1000, 1005)]

    def history(self):
        return "\n".join(f"  {s}" for s in list(self.shown)) or "  (nothing)"


class StatusPoller:
    """Polls ``/onboarding/sync/status/?run=<id>`` for the run the page shows, recording every answer."""

    def __init__(self, browser, run_of, interval=0.3):
        self.browser = browser
        self.run_of = run_of
        self.interval = interval
        self.answers = []  # (monotonic time, JSON)
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="status-poller", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.answers.append((time.monotonic(), self.browser.status(self.run_of())))
            except (requests.RequestException, ValueError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.interval)

    def states(self, run=None):
        folded = []
        for _, body in list(self.answers):
            if run is not None and body["run_id"] != run:
                continue
            if not folded or folded[-1] != (body["run_id"], body["state"]):
                folded.append((body["run_id"], body["state"]))
        return folded

    def first(self, predicate):
        """The first answer (JSON) satisfying ``predicate``, or None."""
        found = self.first_answer(predicate)
        return None if found is None else found[1]

    def first_answer(self, predicate, since=0.0):
        """``(monotonic time, JSON)`` of the first answer after ``since`` satisfying ``predicate``, or None."""
        return next(((at, body) for at, body in list(self.answers) if at > since and predicate(body)), None)


def start_emulator(*, seed, orgs=("acme",), repos=2, prs=(20, 60), members=6, tokens=None, latency_ms=0):
    """An emulator in this process (like conftest's ``make_emulator``), for a module's processes to share."""
    from integrations.emulator.data import build_world
    from integrations.emulator.server import EmulatorServer
    from tests.conftest import TEST_TOKEN

    world = build_world(seed=seed, orgs=orgs, repos=repos, prs=prs, members=members)
    return EmulatorServer(world, tokens=tokens or (TEST_TOKEN,), latency_ms=latency_ms).start()


def emulator_control(server, path, payload=None, method="POST"):
    response = requests.request(method, f"{server.url}/_emulator/{path}", json=payload, timeout=10)
    response.raise_for_status()
    return response.json()


def reset_emulator(server, latency_ms):
    """No faults, zeroed counters, a fresh rate-limit budget, the module's latency."""
    emulator_control(server, "faults", method="DELETE")
    emulator_control(server, "stats/reset")
    emulator_control(server, "rate_limit/reset")
    emulator_control(server, "config", {"latency_ms": latency_ms})


# -- the database against the emulator ----------------------------------------------


def expected_repo(server, full_name):
    """The emulator's PRs of ``full_name`` in ``stored_repo``'s shape."""
    from django.utils.dateparse import parse_datetime

    from tests.base import export_repo

    def moment(value):
        return parse_datetime(value) if value else None

    expected = {}
    for pr in export_repo(server, full_name):
        row = dict(pr)
        for key in ("created_at", "updated_at", "merged_at", "closed_at"):
            row[key] = moment(pr[key])
        row["reviews"] = sorted(
            (r["id"], r["reviewer_login"], r["state"], moment(r["submitted_at"])) for r in pr["reviews"]
        )
        expected[pr["id"]] = row
    return expected


def assert_repository_equal(server, repo):
    """Every PR and review of ``repo`` stored exactly once, field by field as the emulator has it."""
    from integrations.models import PullRequest, PullRequestReview
    from tests.base import stored_repo

    repo.refresh_from_db()
    expected = expected_repo(server, repo.full_name)
    stored = stored_repo(repo)
    assert PullRequest.objects.filter(repository=repo).count() == len(stored), f"{repo}: duplicate PR rows"
    reviews = sum(len(pr["reviews"]) for pr in expected.values())
    assert PullRequestReview.objects.filter(pull_request__repository=repo).count() == reviews, f"{repo}: reviews"
    missing, extra = expected.keys() - stored.keys(), stored.keys() - expected.keys()
    assert not missing and not extra, f"{repo}: {len(missing)} PRs missing, {len(extra)} not on GitHub"
    assert stored == expected, f"{repo}: stored PRs differ from GitHub's"
    assert repo.sync_status == "complete", f"{repo}: {repo.sync_status} {repo.last_error}"
    assert repo.prs_synced == repo.prs_total == len(expected), (repo, repo.prs_synced, repo.prs_total)


def assert_members_equal(server, team, org):
    from integrations.models import Member
    from tests.base import export_members

    members = {m["id"]: (m["login"], m["name"] or "", m["avatar_url"]) for m in export_members(server, org)}
    stored = {m.github_id: (m.login, m.name, m.avatar_url) for m in Member.objects.filter(team=team)}
    assert Member.objects.filter(team=team).count() == len(stored)
    assert stored == members, f"{team}: members differ from {org}'s"


def assert_team_equal(server, team, org="acme", *, except_repos=()):
    """The team's whole database equals the emulator's ``org``: repositories, PRs, reviews, members."""
    from tests.base import export_repo

    repos = team.repositories.exclude(full_name__in=except_repos).order_by("full_name")
    assert repos.exists()
    for repo in repos:
        assert repo.full_name.startswith(f"{org}/"), repo
        export_repo(server, repo.full_name)  # still on GitHub
        assert_repository_equal(server, repo)
    assert_members_equal(server, team, org)


def assert_subset_of_github(server, repo):
    """A repository whose sync failed holds nothing GitHub lacks, and no row twice (it may hold less)."""
    from integrations.models import PullRequest
    from tests.base import stored_repo

    expected = expected_repo(server, repo.full_name)
    stored = stored_repo(repo)
    assert PullRequest.objects.filter(repository=repo).count() == len(stored)
    assert stored.keys() <= expected.keys()
    for github_id, row in stored.items():
        assert row == expected[github_id]


def wait_mid_sync(team, run_id, timeout=30):
    """Wait until run ``run_id`` is running and has stored some of its pull requests; returns how many."""
    from integrations.models import PullRequest, SyncRun

    def mid_sync():
        run = SyncRun.objects.get(pk=run_id)
        assert run.outcome == "", f"run {run_id} ended ({run.outcome}: {run.error}) before the fault: slow GitHub down"
        return run.started_at is not None and PullRequest.objects.filter(repository__team=team).count()

    return wait_for(mid_sync, timeout=timeout, interval=0.05, message=f"run {run_id} to store a page")
