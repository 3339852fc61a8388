"""The sync progress page: each state in words, a row per repository, Retry and Skip, and only the team's own runs."""

import re
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
import time_machine
from django.test import Client

from integrations.models import (
    GitHubIntegration,
    PullRequest,
    PullRequestReview,
    SyncRun,
    SyncRunRepository,
    TrackedRepository,
)
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, point_settings_at
from tests.onboarding_base import make_team, make_user, sign_in

pytestmark = pytest.mark.django_db

URL = "/onboarding/sync/"
NOW = datetime(2025, 3, 14, 13, 55, 0, tzinfo=UTC)


def ago(seconds):
    return NOW - timedelta(seconds=seconds)


@pytest.fixture
def acme(settings):
    """(user, team) with two tracked repositories; the stall window is the default 45 s."""
    settings.SYNC_STALL_SECONDS = 45
    user = make_user("ada")
    team = make_team("Acme", user)
    for github_id, name in ((1, "acme/api"), (2, "acme/web")):
        TrackedRepository.objects.create(team=team, github_id=github_id, full_name=name)
    return user, team


def make_run(team, repos=None, progress=None, **fields):
    """A run of ``repos`` (default: all the team's); ``progress`` maps a full name to its row's fields."""
    fields.setdefault("created_at", ago(600))
    run = SyncRun.objects.create(team=team, reason="onboarding", **fields)
    repos = team.repositories.all() if repos is None else repos
    progress = progress or {}
    for repo in repos:
        SyncRunRepository.objects.create(run=run, repository=repo, **progress.get(repo.full_name, {}))
    return run


def page(client, team, user, **params):
    sign_in(client, user, team)
    with time_machine.travel(NOW, tick=False):
        response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


def words(html):
    """The page's visible text, whitespace collapsed."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r" ([.,])", r"\1", " ".join(re.sub(r"<[^>]+>", " ", text).split()))


def actions(html):
    """The actions the state section offers, in order."""
    return re.findall(r'data-action="(\w+)"', re.search(r'<section id="sync-state".*?</section>', html, re.S).group(0))


def state_section(html):
    return words(re.search(r'<section id="sync-state".*?</section>', html, re.S).group(0))


def test_a_queued_run_says_it_waits_for_a_worker(client, acme):
    user, team = acme
    make_run(team, created_at=ago(5))
    text = state_section(page(client, team, user))
    assert text.startswith("Queued")
    assert "Waiting for a worker." in text
    assert "Retry" not in text


def test_a_running_run_shows_what_it_does_and_its_last_activity(client, acme):
    user, team = acme
    make_run(team, started_at=ago(60), heartbeat_at=ago(3), heartbeat_note="acme/api: page 3 of 12", members_synced=7)
    text = state_section(page(client, team, user))
    assert text.startswith("Syncing · acme/api: page 3 of 12")
    assert "Last activity 3 s ago." in text
    assert "Members synced: 7." in text


def test_a_run_waiting_on_the_rate_limit_says_when_it_resumes(client, acme):
    user, team = acme
    make_run(team, started_at=ago(60), heartbeat_at=ago(2), waiting_until=NOW + timedelta(minutes=10))
    text = state_section(page(client, team, user))
    assert text.startswith("Waiting")
    assert "GitHub rate limit, resumes at 14:05" in text


def test_a_silent_run_with_no_worker_alive_says_so_and_offers_skip_only(client, acme):
    user, team = acme
    run = make_run(team, started_at=ago(300), heartbeat_at=ago(120), heartbeat_note="acme/web: page 2 of 4")
    html = page(client, team, user)
    text = state_section(html)
    assert text.startswith("Stalled: no worker is running")
    assert "The worker stopped responding at 13:53:00 while acme/web: page 2 of 4." in text
    assert "No worker is running: start one (manage.py rundramatiq) and the sync goes on by itself." in text
    # Retry would only queue another run behind this one.
    assert actions(html) == ["skip"]
    assert f'form="sync-skip-form" name="run" value="{run.pk}" data-action="skip">Skip' in html


def test_a_silent_run_while_a_worker_is_alive_offers_retry_and_skip(client, acme, settings):
    from integrations import embedded

    settings.SYNC_AUTO_RECOVER = False
    user, team = acme
    run = make_run(team, started_at=ago(300), heartbeat_at=ago(120), heartbeat_note="acme/web: page 2 of 4")
    embedded.start_worker(threads=1)
    try:
        html = page(client, team, user)
    finally:
        embedded.stop_worker()
    text = state_section(html)
    assert text.startswith("Stalled: the worker stopped responding")
    assert "1 worker is alive: Retry resumes it from its last checkpoint." in text
    assert actions(html) == ["retry", "skip"]
    assert f'form="sync-retry-form" name="run" value="{run.pk}" data-action="retry">Retry</button>' in html


def test_a_failed_run_shows_the_reason_what_to_do_retry_and_skip(client, acme):
    user, team = acme
    run = make_run(
        team,
        progress={
            "acme/api": {"status": "complete", "prs_synced": 40, "prs_total": 40},
            "acme/web": {
                "status": "failed",
                "prs_synced": 10,
                "prs_total": 30,
                "error": "The GitHub token has no access to acme/web.",
            },
        },
        started_at=ago(100),
        heartbeat_at=ago(50),
        finished_at=ago(50),
        outcome="failed",
        error="1 of 2 failed. acme/web: The GitHub token has no access to acme/web.",
    )
    html = page(client, team, user)
    text = state_section(html)
    assert text.startswith("Failed")
    assert "1 of 2 failed. acme/web: The GitHub token has no access to acme/web." in text
    assert actions(html) == ["retry", "skip"]
    assert f'name="run" value="{run.pk}" data-action="retry">Retry</button>' in html
    # The forms the fragments' buttons submit carry the CSRF token the fragments cannot.
    assert re.search(r'<form id="sync-retry-form" method="post" action="/onboarding/sync/retry/">\s*<input', html)
    assert re.search(r'<form id="sync-skip-form" method="post" action="/onboarding/sync/skip/">\s*<input', html)
    rows = words(re.search(r'<table id="sync-repos".*?</table>', html, re.S).group(0))
    assert "acme/api Complete 40 of 40 100%" in rows
    assert "acme/web Failed The GitHub token has no access to acme/web. 10 of 30 33%" in rows


def test_an_interrupted_run_offers_retry(client, acme):
    user, team = acme
    make_run(team, started_at=ago(100), finished_at=ago(10), outcome="interrupted", error="The worker was shut down.")
    text = state_section(page(client, team, user))
    assert text.startswith("Interrupted: it resumes on the next worker")
    assert "The worker was shut down." in text
    assert actions(page(client, team, user)) == ["continue"]


def test_rows_show_progress_time_left_and_last_activity(client, acme):
    user, team = acme
    # 120 PRs written in 60 s: 2 a second, so acme/web's 60 left take about 30 s.
    make_run(
        team,
        started_at=ago(60),
        heartbeat_at=ago(4),
        heartbeat_note="acme/web: page 1 of 1",
        progress={
            "acme/api": {
                "status": "complete",
                "prs_synced": 100,
                "prs_total": 100,
                "prs_written": 100,
                "finished_at": ago(40),
            },
            "acme/web": {"status": "syncing", "prs_synced": 20, "prs_total": 80, "prs_written": 20},
        },
    )
    html = page(client, team, user)
    rows = words(re.search(r'<table id="sync-repos".*?</table>', html, re.S).group(0))
    assert "acme/api Complete 100 of 100 100% — 40 s ago" in rows
    assert "acme/web Syncing 20 of 80 25% less than a minute left 4 s ago" in rows
    assert '<progress max="100" value="25">' in html


def test_a_pending_repository_of_unknown_size_shows_no_estimate(client, acme):
    user, team = acme
    make_run(team, started_at=ago(10), heartbeat_at=ago(1))
    rows = words(re.search(r'<table id="sync-repos".*?</table>', page(client, team, user), re.S).group(0))
    assert "acme/api Waiting to start 0 of ? — — —" in rows


def test_a_succeeded_run_shows_a_summary_and_the_dashboard_link(client, acme):
    user, team = acme
    api, web = team.repositories.order_by("full_name")
    for repo, count in ((api, 3), (web, 2)):
        for number in range(count):
            pr = PullRequest.objects.create(
                repository=repo,
                github_id=repo.github_id * 100 + number,
                number=number + 1,
                title="x",
                state="merged",
                created_at=NOW,
                updated_at=NOW,
            )
            PullRequestReview.objects.create(pull_request=pr, github_id=pr.github_id, state="APPROVED")
    make_run(
        team,
        started_at=ago(150),
        heartbeat_at=ago(25),
        finished_at=ago(25),
        outcome="succeeded",
        members_synced=9,
        progress={
            "acme/api": {"status": "complete", "prs_synced": 3, "prs_total": 3},
            "acme/web": {"status": "complete", "prs_synced": 2, "prs_total": 2},
        },
    )
    html = page(client, team, user)
    text = state_section(html)
    assert text.startswith("Complete")
    assert "2 repositories, 5 pull requests, 5 reviews, 9 members, in 2 min 5 s." in text
    assert (
        '<a class="button primary" href="/onboarding/dashboard/" data-action="dashboard">Go to the dashboard</a>'
        in html
    )
    assert "Retry" not in text


def test_the_page_connects_its_websocket_and_never_polls(client, acme):
    user, team = acme
    run = make_run(team, created_at=ago(5))
    html = page(client, team, user)
    assert f'hx-ext="ws" ws-connect="/ws/sync/{run.pk}/"' in html
    assert f'<section id="sync-state" data-run="{run.pk}" data-seq="0"' in html
    assert "hx-trigger" not in html and "hx-get" not in html


def test_the_latest_run_is_shown_unless_another_of_the_teams_runs_is_asked_for(client, acme):
    user, team = acme
    old = make_run(team, created_at=ago(500), started_at=ago(500), finished_at=ago(400), outcome="failed", error="x")
    new = make_run(team, created_at=ago(5))
    assert f'ws-connect="/ws/sync/{new.pk}/"' in page(client, team, user)
    html = page(client, team, user, run=old.pk)
    assert f'ws-connect="/ws/sync/{old.pk}/"' in html
    assert f'A newer sync of this team has started. <a href="/onboarding/sync/?run={new.pk}">Show it</a>' in html


def test_another_teams_run_is_not_found(client, acme):
    user, team = acme
    intruder = make_user("mallory")
    make_team("Globex", intruder)
    run = make_run(team)
    sign_in(client, intruder)
    assert client.get(URL, {"run": run.pk}).status_code == 404
    assert client.get(URL, {"run": "1 OR 1=1"}).status_code == 404
    assert client.post("/onboarding/sync/retry/", {"run": run.pk}).status_code == 404
    assert SyncRun.objects.count() == 1


def test_signing_in_is_required(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_team_without_a_sync_is_sent_to_choose_repositories(client, acme):
    user, team = acme
    assert '<a class="button primary" href="/onboarding/repos/">Choose repositories</a>' in page(client, team, user)


def skip(client, user, team, run):
    sign_in(client, user, team)
    with time_machine.travel(NOW, tick=False):
        response = client.post("/onboarding/sync/skip/", {"run": run.pk}, follow=True)
    assert response.redirect_chain == [("/onboarding/dashboard/", 302)]
    return words(response.content.decode())


def test_skip_ends_a_stalled_run_as_skipped_and_says_what_was_not_synced(client, acme):
    user, team = acme
    run = make_run(
        team,
        started_at=ago(300),
        heartbeat_at=ago(120),
        progress={"acme/api": {"status": "complete", "prs_synced": 5, "prs_total": 5}},
    )

    text = skip(client, user, team, run)

    assert f"You skipped sync run {run.pk}: 1 of 2 repositories were not synced." in text
    assert "goes on in the background" not in text
    run.refresh_from_db()
    assert run.get_state(NOW).state == "skipped"
    page_html = page(client, team, user, run=run.pk)
    assert state_section(page_html).startswith("Skipped")
    assert "Skipped while stalled: The worker stopped responding at 13:53:00." in state_section(page_html)
    assert actions(page_html) == ["dashboard"]
    assert "acme/web Not started" in repo_rows(page_html)


def test_skip_on_a_running_run_leaves_it_running_in_the_background(client, acme):
    user, team = acme
    run = make_run(team, started_at=ago(30), heartbeat_at=ago(1))

    text = skip(client, user, team, run)

    assert "The sync goes on in the background" in text
    run.refresh_from_db()
    assert run.outcome == "" and run.get_state(NOW).state == "running"


def test_skip_on_a_failed_run_says_it_failed_not_that_it_goes_on(client, acme):
    user, team = acme
    run = make_run(team, started_at=ago(300), finished_at=ago(200), outcome="failed", error="GitHub was down.")

    text = skip(client, user, team, run)

    assert f"Sync run {run.pk} ended with failures: GitHub was down." in text
    assert "goes on in the background" not in text


def test_a_queued_run_says_how_many_syncs_are_ahead_of_it(client, acme):
    user, team = acme
    other = make_team("Initech", make_user("bob"))
    SyncRun.objects.create(team=other, reason="onboarding", created_at=ago(20))
    SyncRun.objects.create(team=other, reason="onboarding", created_at=ago(15), started_at=ago(10))  # running
    make_run(team, created_at=ago(5))

    text = state_section(page(client, team, user))

    assert text.startswith("Queued")
    assert "Waiting for a worker: 1 sync is ahead of this one." in text


def test_retry_and_skip_need_the_csrf_token(acme):
    user, team = acme
    run = make_run(team, outcome="failed", error="x")
    client = sign_in(Client(enforce_csrf_checks=True), user, team)
    assert client.post("/onboarding/sync/retry/", {"run": run.pk}).status_code == 403
    assert client.post("/onboarding/sync/skip/").status_code == 403
    assert SyncRun.objects.count() == 1


def test_retry_with_nothing_incomplete_says_so(client, acme):
    user, team = acme
    progress = {r.full_name: {"status": "complete"} for r in team.repositories.all()}
    run = make_run(team, outcome="failed", error="x", members_synced=3, progress=progress)
    sign_in(client, user, team)
    response = client.post("/onboarding/sync/retry/", {"run": run.pk}, follow=True)
    assert response.redirect_chain == [(f"/onboarding/sync/?run={run.pk}", 302)]
    assert "there is nothing to retry" in response.content.decode()
    assert SyncRun.objects.count() == 1


@pytest.fixture
def stub_broker():
    """The in-process broker, emptied after the test: a Retry here enqueues a message no worker runs."""
    broker = dramatiq.get_broker()
    yield broker
    broker.flush_all()


@pytest.mark.django_db(transaction=True)
def test_retry_starts_a_run_of_the_incomplete_repositories_that_completes(client, make_emulator, settings, stub_broker):
    server = make_emulator(seed=23, repos=3, prs=(10, 30), members=4)
    point_settings_at(settings, server)
    team = connected_team(server)
    first, *rest = team.repositories.order_by("full_name")
    progress = {first.full_name: {"status": "complete"}} | {
        r.full_name: {"status": "failed", "error": "boom"} for r in rest
    }
    failed = make_run(
        team, outcome="failed", error="2 of 3 failed.", members_synced=4, created_at=ago(5), progress=progress
    )
    sign_in(client, team.members.get(), team)

    response = client.post("/onboarding/sync/retry/", {"run": failed.pk})

    retry = SyncRun.objects.exclude(pk=failed.pk).get()
    assert response.status_code == 302
    assert response["Location"] == f"/onboarding/sync/?run={retry.pk}"
    assert retry.reason == "retry"
    assert set(retry.repositories.all()) == set(rest)
    assert not retry.include_members  # the failed run synced them already
    assert stub_broker.queues["sync"].qsize() == 1  # handed to the worker through start_sync
    summary = run_sync(retry.pk, message_id="test")
    assert summary.outcome == "succeeded", summary.error
    assert state_section(client.get(response["Location"]).content.decode()).startswith("Complete")


def test_an_event_is_rendered_once_for_every_page_open_on_it(acme, monkeypatch):
    from integrations.sync.progress import run_snapshot
    from onboarding import progress_view

    _, team = acme
    run = make_run(team, started_at=ago(30), heartbeat_at=ago(1), event_seq=4)
    event = run_snapshot(run, NOW)
    built = []
    build = progress_view.progress_context

    def counted(*args, **kwargs):
        built.append(kwargs["now"])
        return build(*args, **kwargs)

    monkeypatch.setattr(progress_view, "progress_context", counted)
    texts = {progress_view.render_event(event, now=NOW + timedelta(milliseconds=n)) for n in range(200)}
    assert len(texts) == 1 and len(built) == 1
    assert 'data-seq="4"' in texts.pop()
    progress_view.render_event(event | {"seq": 5}, now=NOW)
    progress_view.render_event(event, now=NOW, newer_run_id=run.pk + 1)  # what a page shows differs: rendered
    assert len(built) == 3


def repo_rows(html):
    return words(re.search(r'<table id="sync-repos".*?</table>', html, re.S).group(0))


def test_a_full_resync_shows_every_repository_pending_with_its_own_zero_counts(client, acme):
    user, team = acme
    GitHubIntegration.objects.create(team=team, organization_login="acme")
    done = {"status": "complete", "prs_synced": 265, "prs_total": 265, "prs_written": 265, "finished_at": ago(400)}
    make_run(
        team,
        started_at=ago(500),
        finished_at=ago(400),
        outcome="succeeded",
        progress={r.full_name: done for r in team.repositories.all()},
    )
    with time_machine.travel(NOW, tick=False):
        run = start_sync(team, list(team.repositories.all()), reason="admin", full=True, enqueue=False)

    rows = repo_rows(page(client, team, user, run=run.pk))
    assert "acme/api Waiting to start 0 of ? — — —" in rows
    assert "acme/web Waiting to start 0 of ? — — —" in rows
    assert "265" not in rows


def test_an_older_run_keeps_its_own_figures_after_a_newer_run_starts(client, acme):
    user, team = acme
    old = make_run(
        team,
        created_at=ago(300),
        started_at=ago(300),
        heartbeat_at=ago(200),
        finished_at=ago(200),
        outcome="superseded",
        progress={"acme/api": {"status": "syncing", "prs_synced": 30, "prs_total": 90}},
    )
    make_run(
        team,
        created_at=ago(100),
        started_at=ago(100),
        heartbeat_at=ago(1),
        progress={
            "acme/api": {"status": "complete", "prs_synced": 90, "prs_total": 90},
            "acme/web": {"status": "syncing", "prs_synced": 5, "prs_total": 50},
        },
    )
    html = page(client, team, user, run=old.pk)
    rows = repo_rows(html)
    assert "acme/api Stopped 30 of 90 33%" in rows
    assert "acme/web Not started 0 of ?" in rows
    assert "Complete" not in rows and "Syncing" not in rows


def test_a_failed_run_shows_repositories_it_never_reached_as_not_started(client, acme):
    user, team = acme
    make_run(
        team,
        started_at=ago(100),
        finished_at=ago(50),
        outcome="failed",
        error="GitHub rejected the token.",
        progress={
            "acme/api": {"status": "failed", "prs_synced": 10, "prs_total": 40, "error": "GitHub rejected the token."}
        },
    )
    rows = repo_rows(page(client, team, user))
    assert "acme/api Failed GitHub rejected the token. 10 of 40 25%" in rows
    assert "acme/web Not started 0 of ? — — —" in rows
    assert "Waiting to start" not in rows


def test_the_run_shows_its_overall_progress_and_time_left(client, acme):
    user, team = acme
    make_run(
        team,
        started_at=ago(60),
        heartbeat_at=ago(1),
        progress={
            "acme/api": {"status": "complete", "prs_synced": 100, "prs_total": 100, "prs_written": 100},
            "acme/web": {"status": "syncing", "prs_synced": 20, "prs_total": 300, "prs_written": 20},
        },
    )
    text = words(re.search(r'<p id="sync-overall">.*?</p>', page(client, team, user), re.S).group(0))
    # 120 written in 60 s: the 280 left take about 2 min 20 s.
    assert text == "30% · 1 of 2 repositories complete · 120 of 400 pull requests · about 2 min left"


def test_the_overall_progress_shows_no_percentage_while_a_repositorys_size_is_unknown(client, acme):
    user, team = acme
    make_run(
        team,
        started_at=ago(60),
        heartbeat_at=ago(1),
        progress={"acme/api": {"status": "syncing", "prs_synced": 100, "prs_total": 126, "prs_written": 100}},
    )
    text = words(re.search(r'<p id="sync-overall">.*?</p>', page(client, team, user), re.S).group(0))
    assert text == "0 of 2 repositories complete · 100 pull requests"
