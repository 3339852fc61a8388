"""Rate limits, retries and timeouts of the GitHub client, over real HTTP.

The emulator produces GitHub's limits and failures; a scripted local server produces the
header shapes it cannot (no rate headers at all, a 200 that used the last request).
"""

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from integrations.github.client import GitHubClient
from integrations.github.errors import GitHubUnavailable, NoAccess, NotFound, RateLimited
from integrations.github.pulls import AdaptivePageSize
from tests.conftest import TEST_TOKEN, add_fault, emulator_stats
from tests.github_helpers import SCRIPTED_TOKEN, Recorder, ScriptedServer, client_for


def repo_with_most_prs(server):
    return max(server.world.repos("acme"), key=lambda repo: len(repo.prs)).full_name


def clear_faults(server):
    """What the passing of time does to the emulator's rate limit (it lasts until its reset)."""
    requests.delete(f"{server.url}/_emulator/faults", timeout=5).raise_for_status()


def seconds_from_now(moment):
    return (moment - datetime.now(UTC)).total_seconds()


# --- primary rate limit ----------------------------------------------------------


def test_primary_limit_waits_until_the_reset_then_succeeds(emulator):
    add_fault(emulator, kind="rate_limit", path="/orgs/*", reset_in=30)
    seen_resets = []

    def reset_passes(until, reason):
        seen_resets.append(client.rate_limit.reset_at)
        clear_faults(emulator)

    waiter = Recorder(reset_passes)
    with client_for(emulator, waiter=waiter) as client:
        org = client.get_org("acme")
    assert org["login"] == "acme"
    [(until, reason)] = waiter.calls
    assert until == seen_resets[0] + timedelta(seconds=1)
    assert 25 < seconds_from_now(until) <= 32
    assert "rate limit" in reason
    assert client.request_count == 2


def test_primary_limit_really_waits_with_the_default_waiter(emulator):
    add_fault(emulator, kind="rate_limit", path="/orgs/*", reset_in=1)
    with client_for(emulator, waiter=None, sleep=time.sleep) as client:
        started = time.monotonic()
        assert client.get_org("acme")["login"] == "acme"
        elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 4
    assert client.request_count == 2


def test_graphql_rate_limited_error_waits_for_the_reset(emulator):
    add_fault(emulator, kind="rate_limit", path="/graphql", reset_in=20)
    owner, name = repo_with_most_prs(emulator).split("/")
    waiter = Recorder(lambda until, reason: clear_faults(emulator))
    with client_for(emulator, waiter=waiter) as client:
        page = next(client.iter_pull_request_pages(owner, name))
    [(until, _reason)] = waiter.calls
    assert 15 < seconds_from_now(until) <= 22
    assert page.total_count == len(emulator.world.pull_requests(f"{owner}/{name}"))


def test_a_wait_longer_than_allowed_raises_rate_limited_without_waiting(emulator):
    add_fault(emulator, kind="rate_limit", path="/orgs/*", reset_in=900)
    waiter = Recorder()
    with client_for(emulator, waiter=waiter, max_wait_seconds=60) as client, pytest.raises(RateLimited) as raised:
        client.get_org("acme")
    assert 890 < seconds_from_now(raised.value.until) <= 902
    assert waiter.calls == []


def test_a_successful_answer_with_nothing_remaining_makes_the_next_request_wait():
    reset = int(time.time()) + 40
    with ScriptedServer() as server:
        server.reply(200, {"login": "octocat"}, X_RateLimit_Remaining="0", X_RateLimit_Reset=str(reset))
        server.reply(200, {"login": "octocat"}, X_RateLimit_Remaining="4999", X_RateLimit_Reset=str(reset + 3600))
        requests_when_waiting = []
        waiter = Recorder(lambda until, reason: requests_when_waiting.append(len(server.seen)))
        with client_for(server, SCRIPTED_TOKEN, waiter=waiter) as client:
            client.get_viewer()
            assert waiter.calls == []
            client.get_viewer()
    [(until, _reason)] = waiter.calls
    assert until == datetime.fromtimestamp(reset + 1, UTC)
    assert requests_when_waiting == [1]  # waited before sending the second request


# --- secondary rate limit --------------------------------------------------------


def test_secondary_limit_waits_as_long_as_retry_after_says(emulator):
    add_fault(emulator, kind="secondary_rate_limit", path="/orgs/*", retry_after=7, times=1)
    waiter = Recorder()
    with client_for(emulator, waiter=waiter) as client:
        assert client.get_org("acme")["login"] == "acme"
    [(until, reason)] = waiter.calls
    assert 5 < seconds_from_now(until) <= 7.5
    assert "secondary" in reason


def test_429_with_retry_after_waits_that_long():
    with ScriptedServer() as server:
        server.reply(429, {"message": "Too many requests"}, Retry_After="3")
        server.reply(200, {"login": "octocat"})
        waiter = Recorder()
        with client_for(server, SCRIPTED_TOKEN, waiter=waiter) as client:
            client.get_viewer()
    [(until, _reason)] = waiter.calls
    assert 1.5 < seconds_from_now(until) <= 3.5


def test_secondary_limit_without_retry_after_waits_a_minute():
    message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    with ScriptedServer() as server:
        server.reply(403, {"message": message}, X_RateLimit_Remaining="4000", X_RateLimit_Reset="1")
        server.reply(200, {"login": "octocat"})
        waiter = Recorder()
        with client_for(server, SCRIPTED_TOKEN, waiter=waiter) as client:
            client.get_viewer()
    [(until, _reason)] = waiter.calls
    assert 58 < seconds_from_now(until) <= 61


# --- not limits ------------------------------------------------------------------


def test_bare_403_is_no_access_and_never_waits(emulator):
    add_fault(emulator, kind="bare_403", path="/orgs/*")
    waiter = Recorder()
    with client_for(emulator, waiter=waiter) as client, pytest.raises(NoAccess) as raised:
        client.get_org("acme")
    assert "acme" in str(raised.value)
    assert waiter.calls == []
    assert client.request_count == 1


def test_missing_rate_headers_never_mean_wait():
    """GitHub Enterprise Server with rate limiting off sends no X-RateLimit-* headers at all."""
    with ScriptedServer() as server:
        server.reply(200, {"login": "octocat"})
        server.reply(403, {"message": "Must have admin rights to Repository."})
        server.reply(404, {"message": "Not Found"})
        waiter, sleep = Recorder(), Recorder()
        with client_for(server, SCRIPTED_TOKEN, waiter=waiter, sleep=sleep) as client:
            assert client.get_viewer() == {"login": "octocat"}
            assert client.rate_limit is None
            with pytest.raises(NoAccess, match="Must have admin rights"):
                client.get_org("acme")
            with pytest.raises(NotFound, match="Organisation gone was not found"):
                client.get_org("gone")
    assert waiter.calls == []
    assert sleep.calls == []
    assert client.request_count == 3


def test_recorded_github_headers_do_not_mean_wait():
    with ScriptedServer() as server:
        server.replay("get-repository")
        waiter = Recorder()
        with client_for(server, SCRIPTED_TOKEN, waiter=waiter) as client:
            client.get_repo("octokit-fixture-org/hello-world")
    assert client.rate_limit.remaining == 4999
    assert waiter.calls == []


# --- 5xx, timeouts, connection failures ------------------------------------------


def test_a_burst_of_5xx_is_retried_with_backoff_then_succeeds(emulator):
    add_fault(emulator, kind="status", status=502, path="/orgs/*", times=2)
    attempts, sleep = Recorder(), Recorder()
    with client_for(emulator, max_retries=3, backoff=0.5, backoff_max=0.75, on_attempt=attempts, sleep=sleep) as client:
        assert client.get_org("acme")["login"] == "acme"
    delays = [args[0] for args in sleep.calls]
    assert len(delays) == 2
    assert 0 <= delays[0] <= 0.5 and 0 <= delays[1] <= 0.75  # full jitter, capped
    assert client.request_count == len(attempts.calls) == 3
    assert emulator_stats(emulator)["total_requests"] == 3


def test_5xx_forever_ends_in_github_unavailable(emulator):
    add_fault(emulator, kind="status", status=502, path="/orgs/*")
    sleep = Recorder()
    with client_for(emulator, max_retries=4, sleep=sleep) as client, pytest.raises(GitHubUnavailable) as raised:
        client.get_org("acme")
    assert str(raised.value).startswith("GitHub answered 502 five times")
    assert client.request_count == 5
    assert len(sleep.calls) == 4


def test_a_hung_server_ends_in_a_timeout_quickly(emulator):
    add_fault(emulator, kind="hang", path="/orgs/*")
    started = time.monotonic()
    with client_for(emulator, read_timeout=0.3, max_retries=1) as client, pytest.raises(GitHubUnavailable) as raised:
        client.get_org("acme")
    assert time.monotonic() - started < 3
    assert "did not answer within 0.3 s" in str(raised.value)
    assert client.request_count == 2


def test_a_body_that_stops_arriving_ends_in_a_timeout():
    with ScriptedServer() as server:
        server.reply(200, {"login": "octocat"}, stall=True)
        server.reply(200, {"login": "octocat"}, stall=True)
        with client_for(server, SCRIPTED_TOKEN, read_timeout=0.3, max_retries=1) as client:
            with pytest.raises(GitHubUnavailable, match="did not answer within 0.3 s"):
                client.get_viewer()
    assert client.request_count == 2


def test_a_refused_connection_ends_in_github_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = GitHubClient(SCRIPTED_TOKEN, api_url=f"http://127.0.0.1:{port}", max_retries=1, sleep=Recorder())
    with client, pytest.raises(GitHubUnavailable, match="Could not connect"):
        client.get_viewer()
    assert client.request_count == 2


def test_page_size_halves_on_502_and_recovers(make_emulator):
    server = make_emulator(repos=1, prs=(500, 500))
    owner, name = repo_with_most_prs(server).split("/")
    add_fault(server, kind="status", status=502, path="/graphql", times=3)
    sizes = []
    with client_for(server, max_retries=3) as client:
        assert client.page_size == 100
        pages = []
        for page in client.iter_pull_request_pages(owner, name):
            pages.append(page)
            sizes.append(client.page_size)
    # 100 → 50 → 25 → 12 after three 502s, then doubled after every five good pages.
    assert sizes[:15] == [12] * 4 + [24] * 5 + [48] * 5 + [96]
    ids = [pr.github_id for page in pages for pr in page.pull_requests]
    assert len(ids) == len(set(ids)) == pages[0].total_count == 500


def test_page_size_stays_between_5_and_100():
    size = AdaptivePageSize()
    for _ in range(10):
        size.shrink()
    assert size.value == 5
    for _ in range(100):
        size.succeeded()
    assert size.value == 100
    size.set(1000)
    assert size.value == 100
    size.set(2)
    assert size.value == 5


def test_a_smaller_page_size_can_be_asked_for(emulator):
    owner, name = repo_with_most_prs(emulator).split("/")
    with client_for(emulator) as client:
        client.page_size = 10
        page = next(client.iter_pull_request_pages(owner, name))
    assert len(page.pull_requests) == 10


def test_page_size_halves_on_a_graphql_timeout(emulator):
    owner, name = repo_with_most_prs(emulator).split("/")
    add_fault(emulator, kind="delay", delay_ms=1500, path="/graphql", times=1)
    with client_for(emulator, read_timeout=0.5) as client:
        next(client.iter_pull_request_pages(owner, name))
        assert client.page_size == 50
    assert client.request_count == 2


def test_the_token_never_appears_in_errors_or_logs(emulator, caplog):
    caplog.set_level("DEBUG")
    add_fault(emulator, kind="status", status=502, path="/orgs/*")
    with client_for(emulator) as client, pytest.raises(GitHubUnavailable) as raised:
        client.get_org("acme")
    assert TEST_TOKEN not in str(raised.value)
    assert TEST_TOKEN not in caplog.text
