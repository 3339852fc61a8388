"""Every state a sync can be in, reached by real processes and a misbehaving GitHub, told the same everywhere.

Each test brings real runs into one or more states: daphne, ``rundramatiq``
workers and ``sync_watcher`` as subprocesses (``tests.fault_rig.Stack``, on a
private Redis that one test restarts, and on the test database), against the
GitHub emulator with its faults switched on. Then, for each state, every
surface must say the same (``Matrix.check``):

(a) the progress page in chromium, loaded over HTTP from daphne and updated
    through its websocket: ``#sync-state``'s data-state and data-cause, the
    headline, the reason;
(b) ``/onboarding/sync/status/?run=N``;
(c) ``manage.py sync_status --team T``, run in this process on the same database;
(d) the admin's change list of sync runs, as a staff user;
(e) the page's actions (its data-action values, in order) and Stop tracking rows.

Each state's page is saved as ``<state>[-<cause>].png``: under pytest's
tmp_path, or into ``STATE_SCREENSHOTS`` when set (``make states`` retakes
docs/states/). One emulator and one Stack serve the module; each test hires
the workers and the watcher it needs (``Crew``).
"""

import io
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness.http_client import Browser
from harness.progress_page import text_of
from integrations.github.errors import BadCredentials
from integrations.models import SyncRun
from integrations.sync.runner import INTERRUPTED_MESSAGE
from integrations.workers import live_worker_count
from tests.base import connected_team
from tests.conftest import TEST_TOKEN, add_fault, emulator_stats, start_emulator
from tests.fault_rig import Stack, emulator_control, reset_emulator, session_key
from tests.services import require_postgres, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.browser,
]

LATENCY_MS = 30
# The organisation whose members listing hangs while a test needs a worker thread kept busy.
HOLD_ORG = "hold"
# The token a test revokes: the other teams' runs go on with theirs.
REVOKED_TOKEN = "token-to-revoke"
# GitHub this slow keeps a run mid-sync, each page's note standing while the surfaces are read.
SLOW_MS = 2500
RATE_LIMIT_RESET_SECONDS = 15
VIEWPORT = {"width": 1100, "height": 600}  # the screenshots take the whole page
ENDED = ("succeeded", "partly_failed", "failed", "superseded", "skipped")


@dataclass(frozen=True)
class Shows:
    """What every surface must say of a run in a state."""

    state: str
    cause: str
    headline: str
    reason: str  # a regular expression the reason must match whole
    actions: tuple
    untrack: tuple = ()  # repositories whose row offers Stop tracking


# -- the module's processes ------------------------------------------------------------


@pytest.fixture(scope="module")
def github():
    server = start_emulator(
        seed=97,
        orgs=("acme", "initech", HOLD_ORG),
        repos=2,
        prs=(210, 260),  # three GraphQL pages a repository: a sync can be caught mid-repository
        members=6,
        tokens=(TEST_TOKEN, REVOKED_TOKEN),
        latency_ms=LATENCY_MS,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, private_redis, github, tmp_path_factory):
    require_postgres()
    stack = Stack(
        github.url,
        private_redis.url,
        tmp_path_factory.mktemp("state-matrix"),
        SERVE_STATIC="1",  # chromium loads htmx and the page's script from daphne
        GITHUB_READ_TIMEOUT="30",  # the hang of HOLD_ORG's members holds a worker that long at most
        GITHUB_MAX_RETRIES="1",  # GitHub down fails the run after two 502s a page
        SYNC_FANOUT_RENEW_SECONDS="1",  # pages hear events again soon after the Redis restart
    )
    try:
        stack.start_web()
        yield stack
    finally:
        with django_db_blocker.unblock():
            stack.stop()


@pytest.fixture(scope="module")
def crew(stack):
    return Crew(stack)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    path = Path(os.environ.get("STATE_SCREENSHOTS") or tmp_path_factory.mktemp("states"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def matrix(stack, crew, github, browser, screenshots, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SYNC_STALL_SECONDS = stack.stall_seconds
    # sync_status runs in this process, which is in embedded mode: it counts live workers
    # where an operator's shell would, in the Stack's Redis.
    settings.EMBEDDED = False
    settings.REDIS_URL = stack.keys.url
    settings.DRAMATIQ_BROKER = {
        **settings.DRAMATIQ_BROKER,
        "OPTIONS": {"url": stack.keys.url, "namespace": stack.keys.env()["DRAMATIQ_NAMESPACE"]},
    }
    reset_emulator(github, LATENCY_MS)
    crew.watch(recover=False)
    matrix = Matrix(stack, github, browser, screenshots)
    yield matrix
    reset_emulator(github, LATENCY_MS)  # also releases a hung request
    # The database is emptied after the test: no worker may be writing to it then.
    try:
        wait_for(
            lambda: not SyncRun.objects.filter(outcome__in=("", "interrupted"), started_at__isnull=False).exists(),
            timeout=30,
            message="the test's runs to end",
        )
    except AssertionError:
        crew.kill_all()


class Crew:
    """The workers and the watcher, changed as each test needs; every process started and ended by its pid."""

    def __init__(self, stack):
        self.stack = stack
        self.workers = []
        self.watcher = None
        self.recovering = None

    def staff(self, count):
        """Exactly ``count`` live workers of one thread each; returns them."""
        self.workers = [w for w in self.workers if w.alive()]
        while len(self.workers) > count:
            self.workers.pop(0).terminate()  # gracefully: an idle worker is gone at once, and says so
        new = [self.stack.start_worker(wait=False, threads=1) for _ in range(count - len(self.workers))]
        for worker in new:
            worker.wait_ready()
        self.workers += new
        # A killed worker still counts for a few seconds (integrations.workers.WORKER_ALIVE_SECONDS).
        wait_for(lambda: live_worker_count() == count, timeout=15, message=f"{count} live workers")
        return self.workers

    def running(self, run):
        """The worker whose log shows it took ``run``."""
        return wait_for(lambda: next((w for w in self.workers if w.runs(run)), None), message=f"run {run}'s worker")

    def watch(self, *, recover):
        """One watcher: recovering runs whose worker died, or (``sync_watcher --no-recover``) not."""
        if self.watcher is not None and self.watcher.alive() and self.recovering == recover:
            return
        if self.watcher is not None:
            self.watcher.stop()
        self.watcher = self.stack.start_watcher(*([] if recover else ["--no-recover"]))
        self.recovering = recover

    def kill_all(self):
        for worker in self.workers:
            if worker.alive():
                worker.kill()
        self.workers = []


# -- the surfaces ------------------------------------------------------------------------

READ_PAGE = """() => {
  const state = document.querySelector("#sync-state");
  const text = (el) => (el ? el.textContent.replace(/\\s+/g, " ").trim() : "");
  return {
    run: Number(state.dataset.run),
    state: state.dataset.state,
    cause: state.dataset.cause,
    headline: text(state.querySelector("p.state strong")),
    reason: text(state.querySelector("#sync-reason > p")),
    note: text(state.querySelector("p.state > span.muted")).replace(/^· /, ""),
    actions: [...state.querySelectorAll("[data-action]")].map((el) => el.dataset.action),
    untrack: [...document.querySelectorAll("#sync-repos tr[data-repository]")]
      .filter((row) => row.querySelector("[data-action='untrack']"))
      .map((row) => row.dataset.repository),
    time_left: [...document.querySelectorAll("#sync-overall, #sync-repos tr[data-repository] > td:nth-child(5)")]
      .map(text)
      .filter((words) => words.includes(" left")),
    same_page: window.samePage === true,
  };
}"""
# A sync_status line of a run: id, team, reason, state, heartbeat age, then the reason (or the note).
RUN_LINE = re.compile(r"^\s*(?P<run>\d+)\s+\S+\s+\S+\s+(?P<state>\S+)\s+(?:\d+ s|-)  (?P<reason>.*)$")
# Figures that tick on between two reads: seconds since something, and live workers (a killed
# worker counts for a few seconds). The page's own stay as pushed: see FROZEN_FIGURE.
TICKING = ((re.compile(r"\b\d+ s\b"), "N s"), (re.compile(r"\b\d+ workers? (?:is|are) alive\b"), "N alive"))
FROZEN_FIGURE = (
    "the page's reason ({page!r}) differs from the status endpoint's ({status!r}) while the run stays stalled: "
    "a reason must name moments, not ages, and the watcher must push each change of it"
)

TIME_LEFT = (
    "product bug: the page of a {state} run says {said}, though nothing is syncing it: "
    "onboarding/progress_view.py, progress_context estimates time left for every state in ACTIVE_STATES, "
    "stalled included"
)
AHEAD = (
    "product bug: run {run}'s reason said {said!r}, yet {ran} runs waiting when it was said ran before it "
    "(run {interrupted}, interrupted and queued to resume, among them): integrations/sync/progress.py, "
    "describe_state counts never-started runs only (outcome=''), not interrupted runs waiting to resume "
    "(integrations/sync/lost.py, waiting_runs, counts both)"
)


def ticking(text):
    for pattern, replacement in TICKING:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


@dataclass
class Owner:
    """A team connected to the emulator and its owner's signed-in HTTP session on daphne."""

    team: object
    http: Browser

    def start(self, repositories=None):
        """Start a sync from the onboarding page (every tracked repository by default); returns the run's id."""
        repositories = repositories or self.team.repositories.all()
        return self.http.start_sync([r.github_id for r in repositories])


class Matrix:
    """A test's view of the surfaces, its pages in chromium, and the disagreements it found."""

    def __init__(self, stack, github, browser, screenshots):
        self.url = stack.web.url
        self.keys = stack.keys
        self.github = github
        self.browser = browser
        self.screenshots = screenshots
        staff = get_user_model().objects.create_superuser("operator", password="pw")
        self.staff = Browser(self.url, session_key(staff))
        self.problems = []

    def team(self, slug, org="acme", token=TEST_TOKEN):
        team = connected_team(self.github, slug=slug, org=org, token=token)
        return Owner(team, Browser(self.url, session_key(team.members.get())))

    def page(self, owner, run):
        """The owner's progress page of ``run`` in a tab of its own, loaded over HTTP; it follows its websocket."""
        context = self.browser.new_context(viewport=VIEWPORT)
        context.add_cookies([{"name": "sessionid", "value": owner.http.session_key, "url": self.url}])
        page = context.new_page()
        page.goto(f"{self.url}/onboarding/sync/?run={run}")
        page.evaluate("window.samePage = true")  # gone if the page reloads
        return page

    def resync(self, owner, repositories):
        """The admin's "Resync selected repositories", by the staff user; returns the run it started."""
        self.staff.post(
            "/admin/integrations/trackedrepository/",
            {"action": "resync_selected", "index": "0", "_selected_action": [str(r.pk) for r in repositories]},
        )
        return SyncRun.objects.filter(team=owner.team).latest("created_at").pk

    # -- reading -----------------------------------------------------------------------

    def surfaces(self, owner, run, page):
        return {
            "page": page.evaluate(READ_PAGE),
            "status": owner.http.status(run),
            "sync_status": self.sync_status(owner.team, run),
            "admin": self.admin(owner.team, run),
        }

    def sync_status(self, team, run):
        """The run's line of ``sync_status --team``: {"state", "reason", "latest"}, or None."""
        out = io.StringIO()
        call_command("sync_status", team=team.slug, stdout=out)
        lines = [RUN_LINE.match(line) for line in out.getvalue().splitlines()[1:]]
        runs = [line for line in lines if line]
        mine = next((line for line in runs if int(line["run"]) == run), None)
        if mine is None:
            return None
        return {"state": mine["state"], "reason": mine["reason"], "latest": runs[0] is mine}

    def admin(self, team, run):
        """The run's "state" column in the admin's change list: {"state", "reason"}, or None."""
        response = self.staff.http.get(
            f"{self.url}/admin/integrations/syncrun/", params={"team__id__exact": team.pk}, timeout=10
        )
        response.raise_for_status()
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", response.text, re.S):
            if f"/admin/integrations/syncrun/{run}/change/" in row:
                cell = re.search(r'<td class="field-derived_state">(.*?)</td>', row, re.S)
                state, _, reason = text_of(cell[1]).partition(": ")
                return {"state": state, "reason": reason}
        return None

    # -- checking ----------------------------------------------------------------------

    def check(self, owner, run, page, shows, *, timeout=20):
        """Wait for the page to show ``shows`` (over its websocket), then for every surface to agree with it.

        Disagreements are recorded (``assert_agreed`` fails on them at the end of the test), so each
        state of a test is checked and photographed whatever an earlier one showed. Returns the surfaces.
        """
        selector = f"#sync-state[data-run='{run}'][data-state='{shows.state}'][data-cause='{shows.cause}']"
        try:
            page.wait_for_selector(selector, timeout=timeout * 1000)
        except PlaywrightTimeout:
            raise AssertionError(
                f"run {run}: the page never showed {shows}; it shows {page.evaluate(READ_PAGE)}\n"
                + "\n".join(["earlier:", *self.problems])
            ) from None
        seen = {}

        def agreed():
            seen.update(self.surfaces(owner, run, page))
            return not disagreements(run, seen, shows)

        try:
            wait_for(agreed, timeout=10, interval=0.2, message="the surfaces to agree")
        except AssertionError:
            pass
        # The wording is checked once they agree: a wrong sentence is no reason to wait.
        wrong = disagreements(run, seen, shows)
        if not re.fullmatch(shows.reason, seen["status"]["reason"]):
            wrong.append(f"the reason is {seen['status']['reason']!r}, expected /{shows.reason}/")
        if shows.state not in ("running", "waiting") and seen["page"]["time_left"]:
            wrong.append(TIME_LEFT.format(state=shows.state, said=seen["page"]["time_left"]))
        if SyncRun.objects.filter(team=owner.team).latest("created_at").pk == run and not (
            seen["sync_status"] and seen["sync_status"]["latest"]
        ):
            wrong.append("sync_status does not list the team's latest run right after its header")
        if wrong:
            self.problems.append(f"run {run} ({shows.state}/{shows.cause}): " + "; ".join(wrong))
        return seen

    def shoot(self, page):
        """Save the page as <state>[-<cause>].png."""
        state = page.get_attribute("#sync-state", "data-state")
        cause = page.get_attribute("#sync-state", "data-cause")
        path = self.screenshots / (f"{state}-{cause}.png" if cause else f"{state}.png")
        page.screenshot(path=str(path), full_page=True)
        return path

    def assert_agreed(self):
        assert not self.problems, "\n".join(self.problems)

    # -- GitHub ------------------------------------------------------------------------

    def hold_a_worker(self, *, full=False):
        """Runs of HOLD_ORG, whose members listing hangs until the faults are cleared: the worker thread that
        takes the first is busy. ``full``: a second one waits, fetched ahead by that worker (Dramatiq fetches
        twice as many messages as a worker has threads), so the next message goes to another worker.
        Returns the runs' ids."""
        add_fault(self.github, kind="hang", path=f"/orgs/{HOLD_ORG}/members")
        runs = [self.team("holding", org=HOLD_ORG).start()]
        wait_for(
            lambda: SyncRun.objects.get(pk=runs[0]).started_at and emulator_stats(self.github)["faults_fired"],
            timeout=30,
            message="a worker to hang on the held run",
        )
        if full:
            runs.append(self.team("holding-too", org=HOLD_ORG).start())
            wait_for(lambda: self.messages_in_line() == 0, timeout=10, message="the worker to fetch the second run")
        return runs

    def messages_in_line(self):
        """Sync messages waiting in Redis for a worker to fetch them."""
        client = redis.Redis.from_url(self.keys.url, socket_timeout=5)
        try:
            return client.llen(f"{self.keys.env()['DRAMATIQ_NAMESPACE']}:sync")
        finally:
            client.close()

    def slow_down(self, run):
        """Once ``run`` has its organisation's members, every GraphQL request takes SLOW_MS (until the faults
        are cleared). Returns when it stored a page: it stays mid-repository, each page's note ("acme/api:
        page 1 of 3") standing for seconds."""
        wait_for(lambda: SyncRun.objects.get(pk=run).heartbeat_note, timeout=30, message=f"run {run} to begin")
        add_fault(self.github, kind="delay", path="/graphql", delay_ms=SLOW_MS)
        wait_for(
            lambda: re.search(r": page \d+ of \d+$", SyncRun.objects.get(pk=run).heartbeat_note),
            timeout=30,
            message=f"run {run} to store a page",
        )
        assert SyncRun.objects.get(pk=run).outcome == "", "the run ended before GitHub slowed down"

    def release(self):
        """Clear the emulator's faults: a hung request is answered with a dropped connection, and retried."""
        emulator_control(self.github, "faults", method="DELETE")


def disagreements(run, seen, shows):
    """What the surfaces in ``seen`` say otherwise than ``shows`` and than each other (ticking figures aside)."""
    page, status, cli, admin = seen["page"], seen["status"], seen["sync_status"], seen["admin"]
    wrong = []
    if (page["run"], page["state"], page["cause"]) != (run, shows.state, shows.cause):
        wrong.append(f"the page shows run {page['run']} {page['state']}/{page['cause']}")
    if page["headline"] != shows.headline:
        wrong.append(f"the page's headline is {page['headline']!r}, expected {shows.headline!r}")
    if not page["same_page"]:
        wrong.append("the page reloaded instead of following its websocket")
    if tuple(page["actions"]) != shows.actions:
        wrong.append(f"the page offers {page['actions']}, expected {list(shows.actions)}")
    if tuple(page["untrack"]) != shows.untrack:
        wrong.append(f"the page offers Stop tracking for {page['untrack']}, expected {list(shows.untrack)}")
    if (status["run_id"], status["state"], status["cause"]) != (run, shows.state, shows.cause):
        wrong.append(f"the status endpoint says run {status['run_id']} {status['state']}/{status['cause']}")
    reason = ticking(status["reason"])
    # A running sync's reason is its note, shown beside the headline.
    shown = page["note"] if shows.state == "running" else page["reason"]
    if ticking(shown) != reason:
        wrong.append(f"the page says {shown!r}, the status endpoint {status['reason']!r}")
    if cli is None:
        wrong.append("sync_status does not list the run")
    # sync_status's last column is "reason / note": the note of a run without a reason.
    elif (cli["state"], ticking(cli["reason"])) != (shows.state, ticking(status["reason"] or status["note"])):
        wrong.append(f"sync_status says {cli['state']}: {cli['reason']!r}")
    if admin is None:
        wrong.append("the admin does not list the run")
    elif (admin["state"], ticking(admin["reason"])) != (shows.state, reason):
        wrong.append(f"the admin says {admin['state']}: {admin['reason']!r}")
    return wrong


def wait_ended(*runs, timeout=60):
    """Each run's outcome once all of them ended: {run id: outcome}."""
    outcomes = {}

    def ended():
        outcomes.update(SyncRun.objects.filter(pk__in=runs).values_list("pk", "outcome"))
        return all(outcomes.get(run) in ENDED for run in runs)

    wait_for(ended, timeout=timeout, message=f"runs {runs} to end")
    return outcomes


# -- the states ----------------------------------------------------------------------------


def test_without_a_worker_a_sync_stalls_saying_so_and_skip_ends_it(matrix, crew):
    crew.staff(0)
    owner = matrix.team("nobody-home")
    run = owner.start()
    page = matrix.page(owner, run)
    watching = matrix.page(owner, run)  # a second tab, open on the run while the first one skips it

    stalled = matrix.check(
        owner,
        run,
        page,
        Shows(
            "stalled",
            "no_worker",
            "Stalled: no worker is running",
            r"No worker has picked up this sync since it was queued at \d\d:\d\d:\d\d\. "
            r"No worker is running: start one \(manage\.py rundramatiq\) and the sync goes on by itself\.",
            ("skip",),
        ),
    )
    matrix.shoot(page)
    # The page is told once that the run stalled; what it says must stay true while it stays stalled.
    told = time.monotonic()
    wait_for(lambda: time.monotonic() - told >= 3, timeout=10, message="3 s more of the stall")
    page_says, status_says = page.evaluate(READ_PAGE)["reason"], owner.http.status(run)["reason"]
    if " ".join(page_says.split()) != " ".join(status_says.split()):
        matrix.problems.append(FROZEN_FIGURE.format(page=page_says, status=status_says))
    assert stalled["page"]["reason"]

    with page.expect_navigation():
        page.click("#sync-state [data-action='skip']")
    assert urlsplit(page.url).path == "/onboarding/dashboard/", page.url
    matrix.check(
        owner,
        run,
        watching,
        Shows(
            "skipped",
            "",
            "Skipped",
            r"Skipped while stalled: No worker has picked up this sync since it was queued at \d\d:\d\d:\d\d\.",
            ("dashboard",),
        ),
    )
    matrix.shoot(watching)
    matrix.assert_agreed()


def test_syncs_behind_a_busy_worker_wait_in_line_even_when_redis_forgets_them(matrix, crew, private_redis):
    crew.staff(1)
    [held] = matrix.hold_a_worker()
    ahead = matrix.team("first-in-line")
    owner = matrix.team("second-in-line")
    first = ahead.start()
    run = owner.start()
    page = matrix.page(owner, run)

    matrix.check(
        owner,
        run,
        page,
        Shows("queued", "", "Queued", r"Waiting for a worker: 1 sync is ahead of this one\.", ("continue",)),
    )
    matrix.shoot(page)

    # Redis without persistence forgets both waiting messages; the watcher queues the runs again.
    private_redis.stop()
    private_redis.start()
    matrix.check(
        owner,
        run,
        page,
        Shows(
            "queued",
            "task_lost",
            "Queued",
            r"Waiting for a worker: 1 sync is ahead of this one\. "
            r"Its task was lost when Redis restarted; queued again at \d\d:\d\d:\d\d\.",
            ("continue",),
        ),
        timeout=30,
    )
    matrix.shoot(page)

    matrix.release()
    assert set(wait_ended(held, first, run).values()) == {"succeeded"}
    matrix.assert_agreed()


def test_a_worker_stopped_mid_sync_interrupts_its_run_until_a_worker_is_free(matrix, crew):
    # The README's rule: a worker stopped with SIGTERM releases its run and queues it again. With no
    # live worker at all the run is "interrupted" for SYNC_STALL_SECONDS only, and then truly "stalled:
    # no worker resumed it"; here the other worker is busy, as in a rolling deploy, so the run waits
    # in the queue, interrupted, until that worker is free.
    crew.staff(1)
    held = matrix.hold_a_worker(full=True)
    crew.staff(2)
    owner = matrix.team("deploy-day")
    run = owner.start()
    matrix.slow_down(run)
    page = matrix.page(owner, run)
    page.wait_for_selector(f"#sync-state[data-run='{run}'][data-state='running']")

    matrix.check(owner, run, page, Shows("running", "", "Syncing", r"acme/\w+: page \d+ of \d+", ("continue",)))
    matrix.shoot(page)

    stopping = crew.running(run)
    stopping.terminate(wait=False)
    matrix.check(
        owner,
        run,
        page,
        Shows(
            "interrupted",
            "",
            "Interrupted: it resumes on the next worker",
            re.escape(INTERRUPTED_MESSAGE),
            ("continue",),
        ),
    )
    matrix.shoot(page)

    # A sync started once the interrupted run is back in line (its message is sent with a short delay)
    # waits behind two: the held worker's second run, and the interrupted one.
    wait_for(lambda: matrix.messages_in_line() == 1, timeout=15, message="the interrupted run back in line")
    later = matrix.team("later-still")
    behind = later.start()
    said = later.http.status(behind)["reason"]

    matrix.release()
    stopping.popen.wait(30)
    assert set(wait_ended(*held, run, behind).values()) == {"succeeded"}
    waiting = [held[1], run]
    ran = SyncRun.objects.filter(pk__in=waiting, started_at__lt=SyncRun.objects.get(pk=behind).started_at).count()
    claimed = re.fullmatch(r"Waiting for a worker(?:: (\d+) syncs? (?:is|are) ahead of this one)?\.", said)
    if claimed is None or int(claimed[1] or 0) != ran:
        matrix.problems.append(AHEAD.format(run=behind, said=said, ran=ran, interrupted=run))
    matrix.assert_agreed()


def test_a_rate_limit_shows_as_waiting_until_its_reset(matrix, crew, github):
    crew.staff(1)
    owner = matrix.team("rate-limited")
    # A few requests in: the first pages are stored when GitHub's limit runs out.
    add_fault(github, kind="rate_limit", reset_in=RATE_LIMIT_RESET_SECONDS, path="/graphql", after=3)
    run = owner.start()
    page = matrix.page(owner, run)

    matrix.check(
        owner,
        run,
        page,
        Shows(
            "waiting",
            "rate_limited",
            "Waiting for GitHub's rate limit",
            r"Paused: GitHub rate limit, resumes at \d\d:\d\d:\d\d\.",
            ("continue",),
        ),
    )
    matrix.shoot(page)

    assert wait_ended(run, timeout=RATE_LIMIT_RESET_SECONDS + 45) == {run: "succeeded"}
    matrix.assert_agreed()


def test_a_killed_worker_stalls_its_run_and_retry_replaces_it(matrix, crew):
    crew.staff(2)
    crew.watch(recover=False)  # nobody resumes the run but the person pressing Retry
    owner = matrix.team("worker-died")
    run = owner.start()
    matrix.slow_down(run)
    page = matrix.page(owner, run)
    page.wait_for_selector(f"#sync-state[data-run='{run}'][data-state='running']")

    crew.running(run).kill()
    matrix.release()  # GitHub fast again, for the run that replaces it
    page.wait_for_selector(f"#sync-state[data-run='{run}'][data-state='stalled']", timeout=20_000)
    wait_for(lambda: live_worker_count() == 1, timeout=15, message="the killed worker to stop counting as alive")
    matrix.check(
        owner,
        run,
        page,
        Shows(
            "stalled",
            "worker_died",
            "Stalled: the worker stopped responding",
            r"The worker stopped responding at \d\d:\d\d:\d\d while acme/\w+: page \d+ of \d+\. "
            r"1 worker is alive: Retry resumes it from its last checkpoint\.",
            ("retry", "skip"),
        ),
    )
    assert SyncRun.objects.filter(team=owner.team).count() == 1, "a run was started though the watcher recovers none"
    # The live page keeps the figures it was pushed with: a fresh one has them as of now.
    page.reload()
    page.evaluate("window.samePage = true")
    matrix.shoot(page)

    with page.expect_navigation():
        page.click("#sync-state [data-action='retry']")
    retry = int(parse_qs(urlsplit(page.url).query)["run"][0])
    assert retry != run
    old = matrix.page(owner, run)
    matrix.check(
        owner,
        run,
        old,
        Shows(
            "superseded",
            "",
            "Replaced by a newer sync",
            rf"Run {retry} of the same repositories replaced this one\.",
            ("show_newer",),
        ),
    )
    matrix.shoot(old)

    assert wait_ended(retry) == {retry: "succeeded"}
    matrix.assert_agreed()


def test_github_failures_end_the_run_naming_the_cause_and_what_helps(matrix, crew, github):
    crew.staff(2)
    # GitHub down for everyone (every GraphQL request answers 502): alone, before the others start.
    down = matrix.team("github-down")
    add_fault(github, kind="status", status=502, path="/graphql")
    down_run = down.start()
    down_page = matrix.page(down, down_run)
    unavailable = r"GitHub answered 502 twice in a row; try again later\."
    matrix.check(
        down,
        down_run,
        down_page,
        Shows(
            "failed",
            "github_down",
            "Failed: GitHub was unavailable",
            # The members' names come through GraphQL too.
            rf"The members and 2 of 2 repositories failed\. members: {unavailable}; "
            rf"acme/api: {unavailable}; acme/web: {unavailable}",
            ("retry", "skip"),
        ),
    )
    matrix.shoot(down_page)
    matrix.release()

    # The rest at once: a token revoked mid-sync (only that team's), a repository deleted on GitHub,
    # resynced by an operator alone and with another one, and a team whose sync goes well.
    revoked = matrix.team("token-revoked", token=REVOKED_TOKEN)
    add_fault(github, kind="revoke_token", token=REVOKED_TOKEN, path="/graphql", after=3)
    alone, partly = matrix.team("repo-gone", org="initech"), matrix.team("one-repo-gone", org="initech")
    doomed = "initech/api"
    emulator_control(github, "repos/delete", {"full_name": doomed})
    whole = matrix.team("all-synced")
    runs = {
        "token": (revoked, revoked.start()),
        "alone": (alone, matrix.resync(alone, alone.team.repositories.filter(full_name=doomed))),
        "partly": (partly, matrix.resync(partly, partly.team.repositories.all())),
        "whole": (whole, whole.start()),
    }
    pages = {name: matrix.page(owner, run) for name, (owner, run) in runs.items()}
    gone = rf"{doomed}: {doomed} no longer exists on GitHub, or the token cannot see it\. Remove it or check access\."
    expected = {
        "token": Shows(
            "failed",
            "token",
            "Failed: GitHub no longer accepts the team's token",
            re.escape(str(BadCredentials())),
            ("reconnect", "skip"),
        ),
        "alone": Shows(
            "failed",
            "repository_gone",
            "Failed: a repository is gone from GitHub",
            rf"1 of 1 repository failed\. {gone}",
            ("skip",),
            untrack=(doomed,),
        ),
        "partly": Shows(
            "partly_failed",
            "repository_gone",
            "Partly failed",
            rf"1 of 2 repositories failed\. {gone}",
            ("dashboard",),
            untrack=(doomed,),
        ),
        "whole": Shows("succeeded", "", "Complete", "", ("dashboard",)),
    }
    for name, (owner, run) in runs.items():
        matrix.check(owner, run, pages[name], expected[name], timeout=45)
        matrix.shoot(pages[name])
    assert "Everything is synced." in pages["whole"].inner_text("#sync-summary")
    matrix.assert_agreed()


def test_a_killed_worker_is_resumed_by_a_newer_run_and_the_old_page_says_so(matrix, crew):
    crew.staff(2)
    crew.watch(recover=True)
    owner = matrix.team("resumed")
    run = owner.start()
    matrix.slow_down(run)
    page = matrix.page(owner, run)
    page.wait_for_selector(f"#sync-state[data-run='{run}'][data-state='running']")

    crew.running(run).kill()
    matrix.release()  # GitHub fast again, for the run that resumes it
    newer = wait_for(
        lambda: SyncRun.objects.filter(team=owner.team, reason="automatic").values_list("pk", flat=True).first(),
        timeout=20,
        message="the watcher to resume the run",
    )
    # The open page follows the newer run; the old run's page, opened now, tells what became of it.
    page.wait_for_selector(f"#sync-live[ws-connect='/ws/sync/{newer}/']", timeout=20_000)
    old = matrix.page(owner, run)
    matrix.check(
        owner,
        run,
        old,
        Shows(
            "superseded",
            "resumed",
            "Resumed by a newer sync",
            rf"Its worker stopped responding, so run {newer} resumed it from its checkpoints\.",
            ("show_newer",),
        ),
    )
    matrix.shoot(old)

    assert wait_ended(newer) == {newer: "succeeded"}
    matrix.assert_agreed()
