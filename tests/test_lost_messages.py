"""A run waiting for a worker whose message is gone is queued again, saying why, with no action by anyone.

Redis restarted without persistence is in ``tests/test_faults_redis.py``; here
the embedded app (its broker lives in its process) stops with a run queued,
and the watcher's own decisions are checked against a real Redis broker.
"""

import re

import pytest

from harness.http_client import Browser
from integrations.models import SyncRun
from tests.base import connected_team
from tests.conftest import start_emulator
from tests.fault_rig import assert_team_equal, session_key
from tests.live_server import LiveApp
from tests.services import require_postgres, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(scope="module")
def github():
    server = start_emulator(seed=61, repos=2, prs=(120, 200), members=5, latency_ms=50)
    yield server
    server.stop()


def test_a_run_queued_when_the_embedded_app_stops_completes_after_it_restarts(github, settings, tmp_path):
    require_postgres()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    team = connected_team(github)
    # The first process runs no worker: the run is still queued in its broker when it stops.
    with LiveApp(settings, github.url, tmp_path / "before", EMBEDDED_WORKER="0") as before:
        before.start_web()
        browser = Browser(before.web.url, session_key(team.members.get()))
        run = browser.start_sync(list(team.repositories.values_list("github_id", flat=True)))
        lost = wait_for(lambda: SyncRun.objects.get(pk=run).message_id, timeout=10, message="the run's message")
    assert SyncRun.objects.get(pk=run).get_state().state == "queued"

    with LiveApp(settings, github.url, tmp_path / "after") as after:
        after.start_web()
        finished = wait_for(lambda: SyncRun.objects.get(pk=run).outcome, timeout=60, message="the run to end")
        record = SyncRun.objects.get(pk=run)
        assert finished == "succeeded", record.error
        assert record.message_id != lost and record.requeued_at is not None
        # The reason its page showed while it waited (a worker's claim clears it), as the watcher logged it.
        said = rf"run={run} message=\S+ lost; Its task was lost when the app restarted; queued again at "
        assert re.search(said, after.web.log(0)), after.web.log()
        assert record.attempts == 1
        assert_team_equal(github, team)
