"""The Procfile's processes under supervisord (``deploy/supervisord.conf``): a dead worker is started again.

Dramatiq does not replace a worker process that died: ``rundramatiq`` stops
its other processes and exits ("Worker with PID ... exited unexpectedly.
Shutting down..."). Under supervisord the ``worker`` program is then started
again, so a live worker exists within seconds and the sync goes on with no
one acting: resumed by the watcher when it ran on the dead process, resumed
from its checkpoint when it ran on the stopped one.

Real processes: supervisord running daphne, ``rundramatiq`` (the Procfile's
``--processes 2 --threads 4``) and ``sync_watcher``; Redis under a prefix of
each test's own; the test database (PostgreSQL). The emulator answers after
400 ms, so a sync lasts several seconds. A worker process is killed by pid.
"""

import configparser
import os
import shlex
import signal
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
import redis
from django.test import override_settings

from harness import proc
from harness.http_client import Browser
from harness.processes import ROOT, Supervisor, procfile_command
from integrations import workers
from integrations.models import SyncRun
from tests.base import connected_team
from tests.conftest import start_emulator
from tests.fault_rig import Stack, assert_team_equal, reset_emulator, session_key, wait_mid_sync
from tests.services import require_postgres, wait_for

LATENCY_MS = 400
PROCESSES = 2  # the Procfile's --processes
# Longer than a worker's restart (about 10 s here): a run queued again by a stopped worker process
# is resumed by the restarted worker, not replaced by the watcher.
RESTART_STALL_SECONDS = 30


def test_the_supervised_programs_are_the_procfiles_processes():
    config = configparser.RawConfigParser()
    config.read(Supervisor.CONFIG)
    programs = {
        section.removeprefix("program:"): shlex.split(config[section]["command"].replace("%(ENV_PORT)s", "$PORT"))
        for section in config.sections()
        if section.startswith("program:")
    }
    procfile = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        procfile[name.strip()] = shlex.split(command)
    assert programs == procfile
    assert procfile_command("worker")[1:] == programs["worker"][1:]
    for name in programs:
        assert config[f"program:{name}"]["autorestart"] == "true", name
    # A second SIGTERM makes a Dramatiq worker process exit at once, its syncs cut short mid-step:
    # rundramatiq alone gets the stop signal (it passes it on), the group only SIGKILL.
    worker = config["program:worker"]
    assert worker.get("stopasgroup", "false") == "false"
    assert (worker["stopsignal"], worker["killasgroup"]) == ("TERM", "true")


@pytest.fixture(scope="module")
def github():
    server = start_emulator(seed=93, repos=2, prs=(260, 300), members=8, latency_ms=LATENCY_MS)
    yield server
    server.stop()


@pytest.fixture
def make_stack(django_db_setup, django_db_blocker, redis_url, github, tmp_path, settings):
    """A ``Stack`` with ``environment`` on top of the fault rig's, for processes the test starts under
    supervisord (``stack.start_supervised()``); everything is killed at the end."""
    require_postgres()
    made = []

    def make(**environment):
        made.append(Stack(github.url, redis_url, tmp_path, **environment))
        settings.SYNC_STALL_SECONDS = made[-1].stall_seconds
        return made[-1]

    yield make
    with django_db_blocker.unblock():
        for stack in made:
            stack.stop()


@pytest.fixture
def acme(github, settings):
    """(team, its owner): a team connected to the emulator's acme."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    reset_emulator(github, LATENCY_MS)
    team = connected_team(github)
    yield team, team.members.get()
    reset_emulator(github, LATENCY_MS)


@contextmanager
def production_settings(stack):
    """The test process's settings pointed at the supervised processes' Redis keys (it runs embedded)."""
    namespace = stack.env["DRAMATIQ_NAMESPACE"]
    with override_settings(
        EMBEDDED=False, REDIS_URL=stack.keys.url, DRAMATIQ_BROKER={"OPTIONS": {"namespace": namespace}}
    ):
        yield


def live_workers(stack):
    """The pids of the worker processes that ``live_worker_count()`` (what the watcher asks) counts.

    None when an announcement aged past the limit between counting and listing: ask again.
    """
    with production_settings(stack):
        count = workers.live_worker_count()
        client = redis.Redis.from_url(stack.keys.url, socket_timeout=5)
        try:
            members = client.zrangebyscore(workers._key(), time.time() - workers.WORKER_ALIVE_SECONDS, "+inf")
        finally:
            client.close()
    pids = {int(member.decode().rsplit(":", 1)[1]) for member in members}
    return pids if count == len(pids) else None


def wait_for_new_workers(stack, supervised, old_pids, timeout):
    """Wait until the ``worker`` program's processes are all alive and announced, none of ``old_pids``."""

    def ready():
        running = set(supervised.worker_processes())
        announced = live_workers(stack)
        return len(running) == PROCESSES and announced == running and not running & old_pids and running

    return wait_for(ready, timeout=timeout, interval=0.2, message="the worker's processes to announce themselves")


def syncing_process(supervised, github):
    """The worker process talking to the emulator, once only one is."""
    port = urlsplit(github.url).port
    talking = [pid for pid in supervised.worker_processes() if port in proc.tcp_peer_ports(pid)]
    return talking[0] if len(talking) == 1 else None


def start_supervised_sync(stack, github, team, user):
    """supervisord with its worker's processes ready, and a run started on its daphne, mid-sync."""
    supervised = stack.start_supervised()
    first = wait_for_new_workers(stack, supervised, set(), timeout=60)
    browser = Browser(supervised.url, session_key(user))
    run = browser.start_sync(team.repositories.values_list("github_id", flat=True))
    wait_mid_sync(team, run)
    busy = wait_for(lambda: syncing_process(supervised, github), message="the worker process running the sync")
    return supervised, first, run, busy


def run_ended(run_id):
    return SyncRun.objects.get(pk=run_id).outcome in ("succeeded", "failed")


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.redis
def test_the_worker_process_running_a_sync_is_killed_and_the_sync_completes_unattended(github, make_stack, acme):
    team, user = acme
    stack = make_stack(SYNC_STALL_SECONDS=8)
    supervised, first, run, busy = start_supervised_sync(stack, github, team, user)
    main = supervised.program_pid("worker")

    os.kill(busy, signal.SIGKILL)

    # rundramatiq stops its other process and exits; supervisord starts it again.
    new = wait_for_new_workers(stack, supervised, first, timeout=45)
    assert supervised.program_pid("worker") != main
    log = supervised.log()
    assert f"Worker with PID {busy} exited unexpectedly" in log, log[-3000:]
    assert "exited: worker (exit status 1; not expected)" in log, log[-3000:]

    # The watcher resumes the dead process's run on the new worker: no one presses Retry.
    automatic = wait_for(
        lambda: SyncRun.objects.filter(team=team, reason="automatic").first(),
        timeout=stack.stall_seconds + 30,
        message="the watcher to start an automatic run",
    )
    wait_for(lambda: run_ended(automatic.pk), timeout=90, message="the automatic run to end")

    assert_team_equal(github, team)
    automatic.refresh_from_db()
    assert automatic.outcome == "succeeded", automatic.error
    old = SyncRun.objects.get(pk=run)
    assert (old.get_state().state, old.superseded_by_id) == ("superseded", automatic.pk)
    assert SyncRun.objects.filter(team=team).count() == 2
    assert live_workers(stack) == new


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.redis
def test_the_idle_worker_process_is_killed_and_the_sync_resumes_from_its_checkpoint(github, make_stack, acme):
    team, user = acme
    stack = make_stack(SYNC_STALL_SECONDS=RESTART_STALL_SECONDS)
    supervised, first, run, busy = start_supervised_sync(stack, github, team, user)
    idle = next(pid for pid in first if pid != busy)

    os.kill(idle, signal.SIGKILL)

    # rundramatiq stops the process running the sync (SIGTERM): it queues the run again, and the
    # restarted worker resumes it.
    wait_for_new_workers(stack, supervised, first, timeout=45)
    wait_for(lambda: run_ended(run), timeout=90, message="the resumed run to end")

    assert_team_equal(github, team)
    resumed = SyncRun.objects.get(pk=run)
    assert (resumed.outcome, resumed.attempts) == ("succeeded", 2), resumed.error
    assert SyncRun.objects.filter(team=team).count() == 1
    log = supervised.log()
    assert f"Worker with PID {idle} exited unexpectedly" in log, log[-3000:]
    assert "Killing worker process" not in log, log[-3000:]


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.redis
def test_supervisorctl_restart_stops_the_worker_gracefully_and_the_sync_resumes(github, make_stack, acme):
    team, user = acme
    stack = make_stack(SYNC_STALL_SECONDS=RESTART_STALL_SECONDS)
    supervised, first, run, _ = start_supervised_sync(stack, github, team, user)

    output = supervised.ctl("restart", "worker", timeout=120)
    assert "worker: stopped" in output and "worker: started" in output, output

    wait_for_new_workers(stack, supervised, first, timeout=45)
    wait_for(lambda: run_ended(run), timeout=90, message="the resumed run to end")

    assert_team_equal(github, team)
    resumed = SyncRun.objects.get(pk=run)
    assert (resumed.outcome, resumed.attempts) == ("succeeded", 2), resumed.error
    assert SyncRun.objects.filter(team=team).count() == 1
    log = supervised.log()
    assert "Killing worker process" not in log, log[-3000:]
    assert "stopped: worker (exit status 0)" in log, log[-3000:]
