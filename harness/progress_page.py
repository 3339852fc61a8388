"""What a signed-in browser's progress page shows, and the status endpoint polled beside it.

- ``ProgressPage``: the page of a run read from ``/ws/sync/<run_id>/`` with
  ``harness.websocket``. It applies the page script's rule (an older
  ``data-seq`` is dropped), follows a switch to a newer run, and reconnects
  like htmx's websocket extension.
- ``StatusPoller``: ``/onboarding/sync/status/?run=<id>`` polled beside it.
"""

import html
import re
import threading
import time
from dataclasses import dataclass, field

import requests

from harness.websocket import WebSocket

STATE_SECTION = re.compile(
    r'<section id="sync-state" data-run="(\d+)" data-seq="(\d+)" data-state="(\w+)"[^>]*>(.*?)</section>', re.S
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
