"""Two teams sync at once through the same processes: neither sees the other's events or rows.

Two organisations on one emulator (``acme`` and ``globex``), a team and a
user for each, one ``rundramatiq`` worker with two threads so both syncs run
at the same time, one daphne; each user's page is read from its websocket.
"""

import pytest

from harness.http_client import Browser
from harness.progress_page import ProgressPage, StatusPoller
from harness.websocket import WebSocket
from integrations.models import PullRequest, SyncRun, TrackedRepository
from tests.base import connected_team
from tests.conftest import start_emulator
from tests.fault_rig import (
    Stack,
    assert_team_equal,
    reset_emulator,
    session_key,
)
from tests.services import require_postgres, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

LATENCY_MS = 300


@pytest.fixture(scope="module")
def github():
    server = start_emulator(seed=97, orgs=("acme", "globex"), repos=2, prs=(200, 260), members=7, latency_ms=LATENCY_MS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, redis_url, github, tmp_path_factory):
    require_postgres()
    stack = Stack(github.url, redis_url, tmp_path_factory.mktemp("faults-teams"))
    try:
        stack.start_web()
        stack.start_worker(threads=2)
        yield stack
    finally:
        with django_db_blocker.unblock():
            stack.stop()


def test_two_teams_syncing_at_once_see_only_their_own_events_and_rows(github, stack, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    reset_emulator(github, LATENCY_MS)
    teams = {org: connected_team(github, slug=f"{org}-team", org=org) for org in ("acme", "globex")}
    browsers = {org: Browser(stack.web.url, session_key(team.members.get())) for org, team in teams.items()}
    runs = {
        org: browsers[org].start_sync(team.repositories.values_list("github_id", flat=True))
        for org, team in teams.items()
    }
    pages = {org: ProgressPage(stack.web.url, browsers[org].session_key, runs[org]).open() for org in teams}
    pollers = {org: StatusPoller(browsers[org], lambda org=org: runs[org]).__enter__() for org in teams}
    try:
        for org in teams:
            pages[org].wait_for_state("succeeded", run=runs[org], timeout=60)
            wait_for(lambda org=org: pollers[org].first(lambda b: b["state"] == "succeeded"), timeout=5)
    finally:
        for org in teams:
            pages[org].close()
            pollers[org].__exit__()

    acme, globex = (SyncRun.objects.get(pk=runs[org]) for org in ("acme", "globex"))
    assert acme.started_at < globex.finished_at and globex.started_at < acme.finished_at, "the syncs did not overlap"
    for org, other in (("acme", "globex"), ("globex", "acme")):
        team, page = teams[org], pages[org]
        assert_team_equal(github, team, org)
        # Rows: the team holds its organisation's data only.
        assert not TrackedRepository.objects.filter(team=team, full_name__startswith=f"{other}/").exists()
        assert not PullRequest.objects.filter(repository__team=team, repository__full_name__startswith=f"{other}/")
        # Events: every update the page showed was its own run's, about its own repositories.
        assert {s.run for s in page.shown} == {runs[org]}, page.history()
        assert not any(f"{other}/" in s.page_text for s in page.shown)
        assert all(set(s.repositories) <= {r.full_name for r in team.repositories.all()} for s in page.shown)
        assert page.lost_connections() == []
        assert {b["run_id"] for _, b in pollers[org].answers} == {runs[org]}
        assert "succeeded" in [state for _, state in pages[org].states()]

    # And neither can ask for the other's run: the socket closes with 4403, the status answers 404.
    socket = WebSocket(
        f"{stack.web.url.replace('http', 'ws')}/ws/sync/{runs['globex']}/",
        origin=stack.web.url,
        cookie=f"sessionid={browsers['acme'].session_key}",
    )
    assert socket.recv() is None and socket.close_code == 4403
    answer = browsers["acme"].http.get(f"{stack.web.url}/onboarding/sync/status/", params={"run": runs["globex"]})
    assert answer.status_code == 404
