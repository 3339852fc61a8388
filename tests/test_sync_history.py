"""A sync run against the emulator stores exactly GitHub's data: no row missing, none twice."""

import pytest
import requests
from django.utils.dateparse import parse_datetime

from integrations.models import Member, PullRequest, PullRequestReview, SyncRun, TrackedRepository
from integrations.sync import history
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, export_members, export_repo, point_settings_at, stored_repo
from tests.conftest import emulator_stats

pytestmark = pytest.mark.django_db(transaction=True)


def _dt(value):
    return parse_datetime(value) if value else None


def _expected(server, full_name):
    expected = {}
    for pr in export_repo(server, full_name):
        row = dict(pr)
        for key in ("created_at", "updated_at", "merged_at", "closed_at"):
            row[key] = _dt(pr[key])
        row["reviews"] = sorted(
            (r["id"], r["reviewer_login"], r["state"], _dt(r["submitted_at"])) for r in pr["reviews"]
        )
        expected[pr["id"]] = row
    return expected


def _sync(team, *, reason="onboarding", full=False, repos=None):
    run = start_sync(team, repos or list(team.repositories.all()), reason=reason, full=full, enqueue=False)
    return run, run_sync(run.pk, message_id="test")


@pytest.fixture
def synced(make_emulator, settings):
    server = make_emulator(seed=5, repos=3, prs=(40, 130), members=9)
    point_settings_at(settings, server)
    team = connected_team(server)
    run, summary = _sync(team)
    return server, team, run, summary


def test_sync_stores_every_pull_request_review_and_member_field_by_field(synced):
    server, team, run, summary = synced

    run.refresh_from_db()
    assert summary.outcome == "succeeded", summary.error
    assert run.get_state().state == "succeeded"
    for repo in team.repositories.all():
        expected = _expected(server, repo.full_name)
        stored = stored_repo(repo)
        assert stored.keys() == expected.keys()
        assert stored == expected
        assert repo.sync_status == "complete"
        assert repo.prs_synced == repo.prs_total == len(expected)
    members = {m["id"]: (m["login"], m["name"] or "", m["avatar_url"]) for m in export_members(server, "acme")}
    assert {m.github_id: (m.login, m.name, m.avatar_url) for m in Member.objects.filter(team=team)} == members
    assert run.members_synced == len(members)


def test_data_covers_the_hard_cases(synced):
    """The emulator's first repository has a PR with no review and one with 150; both arrive whole."""
    server, team, run, summary = synced
    review_counts = [pr.reviews.count() for pr in PullRequest.objects.filter(repository__team=team)]
    assert 0 in review_counts
    assert 150 in review_counts
    assert PullRequest.objects.filter(repository__team=team, author_login__isnull=True).exists()
    assert any(ord(ch) > 127 for title in PullRequest.objects.values_list("title", flat=True) for ch in title)


def test_second_run_creates_no_duplicates(synced):
    server, team, run, summary = synced
    counts = (PullRequest.objects.count(), PullRequestReview.objects.count(), Member.objects.count())

    again, second = _sync(team, reason="retry", full=True)

    assert second.outcome == "succeeded"
    assert (PullRequest.objects.count(), PullRequestReview.objects.count(), Member.objects.count()) == counts


def test_incremental_run_fetches_only_the_changed_pull_requests(synced):
    server, team, run, summary = synced
    repo = team.repositories.order_by("full_name").first()
    touched = requests.post(
        f"{server.url}/_emulator/repos/touch", json={"full_name": repo.full_name, "count": 3}, timeout=5
    ).json()["numbers"]
    requests.post(f"{server.url}/_emulator/stats/reset", timeout=5)

    again, second = _sync(team, reason="admin", repos=[repo])

    assert second.outcome == "succeeded", second.error
    # The touched three, plus at most the PR at the old watermark itself:
    # it is fetched again so one updated in that same second is never missed.
    assert 3 <= second.prs_written <= 4
    assert emulator_stats(server)["graphql"]["requests"] <= 3  # one page of changes, plus member names
    expected = _expected(server, repo.full_name)
    stored = stored_repo(repo)
    for pr in stored.values():
        if pr["number"] in touched:
            assert pr == expected[pr["id"]]
    assert stored == expected


def test_a_failed_repository_resumes_from_its_checkpoint(make_emulator, settings):
    server = make_emulator(seed=8, repos=1, prs=(450, 450), members=3)
    point_settings_at(settings, server, retries=1)
    team = connected_team(server)
    repo = team.repositories.get()
    # Let member names and two pages of pull requests through, then GitHub breaks.
    requests.post(
        f"{server.url}/_emulator/faults",
        json={"kind": "status", "status": 502, "path": "/graphql", "after": 5},
        timeout=5,
    )

    run, first = _sync(team)

    repo.refresh_from_db()
    assert first.outcome == "failed"
    assert repo.sync_status == "failed"
    assert "502" in repo.last_error
    stored_before = repo.prs_synced
    assert 0 < stored_before < 450
    assert stored_before == PullRequest.objects.filter(repository=repo).count()
    row = run.repository_rows.get()
    assert (row.status, row.prs_synced, row.prs_total) == ("failed", stored_before, 450)
    assert row.checkpoint["cursor"]
    requests.delete(f"{server.url}/_emulator/faults", timeout=5)
    requests.post(f"{server.url}/_emulator/stats/reset", timeout=5)

    retry, second = _sync(team, reason="retry")

    repo.refresh_from_db()
    assert second.outcome == "succeeded", second.error
    assert repo.prs_synced == repo.prs_total == 450
    assert stored_repo(repo) == _expected(server, repo.full_name)
    # The retry continued after the last stored page instead of starting over.
    assert second.prs_written == 450 - stored_before
    assert retry.repository_rows.get().prs_written == 450 - stored_before
    # The failed run still shows its own figures.
    assert run.repository_rows.get().prs_synced == stored_before


def test_a_repository_deleted_on_github_fails_alone(make_emulator, settings):
    server = make_emulator(seed=9, repos=3, prs=(10, 30), members=3)
    point_settings_at(settings, server)
    team = connected_team(server)
    gone = team.repositories.order_by("full_name")[1]
    requests.post(f"{server.url}/_emulator/repos/delete", json={"full_name": gone.full_name}, timeout=5)

    run, summary = _sync(team)

    run.refresh_from_db()
    state = run.get_state()
    assert (state.state, state.cause) == ("partly_failed", "repository_gone")
    assert gone.full_name in state.reason
    assert state.reason.startswith("1 of 3 repositories failed.")
    rows = dict(run.repository_rows.values_list("repository__full_name", "error_code"))
    assert rows.pop(gone.full_name) == "repository_gone"
    assert set(rows.values()) == {""}
    statuses = dict(TrackedRepository.objects.filter(team=team).values_list("full_name", "sync_status"))
    assert statuses.pop(gone.full_name) == "failed"
    assert set(statuses.values()) == {"complete"}
    gone.refresh_from_db()
    assert "no longer exists" in gone.last_error


def test_superseded_run_exits_quietly_and_writes_nothing(synced):
    server, team, run, summary = synced
    queued = start_sync(team, list(team.repositories.all()), reason="retry", enqueue=False)
    run.refresh_from_db()
    assert run.get_state().state == "succeeded"  # a finished run is not superseded

    replacement = start_sync(team, list(team.repositories.all()), reason="admin", enqueue=False)
    queued.refresh_from_db()
    assert queued.get_state().state == "superseded"
    assert queued.superseded_by_id == replacement.pk
    assert run_sync(queued.pk, message_id="late-redelivery") is None
    queued.refresh_from_db()
    assert queued.started_at is None
    assert list(SyncRun.objects.filter(team=team, outcome="").values_list("pk", flat=True)) == [replacement.pk]


def test_the_stored_count_is_exact_after_every_page(make_emulator, settings, monkeypatch):
    """New pull requests, a full pass over stored ones and an incremental pass: prs_synced never drifts."""
    server = make_emulator(seed=12, repos=2, prs=(230, 260), members=3)
    point_settings_at(settings, server)
    team = connected_team(server)
    seen = []

    def checked(function):
        def wrapper(repository_or_row, *args, **kwargs):
            repository_id = getattr(repository_or_row, "repository_id", repository_or_row.pk)
            shown = TrackedRepository.objects.get(pk=repository_id).prs_synced
            seen.append((shown, PullRequest.objects.filter(repository=repository_id).count()))
            return function(repository_or_row, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(history, "store_page", checked(history.store_page))
    monkeypatch.setattr(history, "_finish_pass", checked(history._finish_pass))
    first = team.repositories.order_by("full_name").first()

    assert _sync(team)[1].outcome == "succeeded"
    assert _sync(team, reason="admin", full=True)[1].outcome == "succeeded"
    requests.post(f"{server.url}/_emulator/repos/touch", json={"full_name": first.full_name, "count": 3}, timeout=5)
    assert _sync(team, reason="admin")[1].outcome == "succeeded"

    assert len(seen) > 12  # every page and every pass's end, of three runs over two repositories
    assert all(shown == counted for shown, counted in seen), seen
    for repo in team.repositories.all():
        assert repo.prs_synced == PullRequest.objects.filter(repository=repo).count() == repo.prs_total
