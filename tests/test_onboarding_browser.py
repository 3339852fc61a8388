"""A new user's whole onboarding in a real browser: sign in, team, GitHub OAuth, repositories, a live sync.

Chromium (Debian's, through Playwright) drives daphne subprocesses serving
``project.asgi`` on the test database, against a GitHub emulator that
registers this app as an OAuth client and answers after 300 ms, so a sync
lasts a few seconds. Nothing is prepared in the database but the user: the
team, the GitHub connection, the tracked repositories and the run are all
made by the pages.

In production mode the sync runs in a separate ``rundramatiq`` worker and its
events reach the page through Redis; in embedded mode (no ``REDIS_URL``) it
runs in a worker thread inside daphne and its events reach the page through
the in-process channel layer. Either way the progress page, once loaded,
follows the sync to the end over its websocket alone.

The production test also takes the README's screenshot of the progress page
mid-sync: into ``SYNC_PROGRESS_SCREENSHOT`` when set
(``SYNC_PROGRESS_SCREENSHOT=docs/sync-progress.png``), else into tmp.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from integrations.models import GitHubIntegration, PullRequest, SyncRun, Team, TrackedRepository
from tests.browser import STATE, screenshot_path, sign_in
from tests.conftest import start_emulator
from tests.live_server import LiveApp

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.postgres]

CLIENT_ID = "onboarding-browser-app"
CLIENT_SECRET = "onboarding-browser-secret"
USERNAME = "newcomer"
PASSWORD = "first-day-at-work"
TEAM_NAME = "Platform Team"
VIEWPORT = {"width": 1200, "height": 800}


@pytest.fixture
def github():
    """An emulator with one organisation that knows this app's OAuth client, answering after 300 ms.

    No token is valid up front: the only one the app gets is the one the OAuth flow issues.
    """
    server = start_emulator(
        seed=23, repos=4, prs=(90, 130), members=7, tokens=(), latency_ms=300, oauth_clients={CLIENT_ID: CLIENT_SECRET}
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def new_user(github):
    """A user with a password and no team, as a sign-up leaves one."""
    return get_user_model().objects.create_user(USERNAME, password=PASSWORD)


def live_app(settings, github, tmp_path, redis_url=None, **extra):
    """The app's processes, with this app's OAuth client."""
    oauth = {"GITHUB_CLIENT_ID": CLIENT_ID, "GITHUB_CLIENT_SECRET": CLIENT_SECRET}
    return LiveApp(settings, github.url, tmp_path, redis_url, **oauth, **extra)


def path_is(page, path):
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+{re.escape(path)}", page.url), page.url


def onboard(page, daphne, github, *, screenshot=None):
    """The whole flow from the login page to a finished sync; returns the two repositories chosen.

    ``screenshot``: where to save the progress page once it shows a repository's
    pull requests arriving while the run is still going.
    """
    # Sign in: a user without a team is sent to create one.
    sign_in(page, daphne.url, USERNAME, PASSWORD)
    path_is(page, "/onboarding/team/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your team")

    page.get_by_label("Team name").fill(TEAM_NAME)
    with page.expect_navigation():
        page.get_by_role("button", name="Create team").click()
    path_is(page, "/onboarding/github/connect/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect GitHub")

    # Connect GitHub: the emulator's authorisation page, as GitHub's would be.
    with page.expect_navigation(url=f"{github.url}/login/oauth/authorize?*"):
        page.get_by_role("button", name="Connect GitHub").click()
    expect(page.locator("#client-id")).to_have_text(CLIENT_ID)
    expect(page.locator("#viewer-login")).to_have_text("octocat")

    # Back from GitHub with one organisation, straight to the repositories. The
    # list's request is held until the spinner has been seen, so seeing it
    # does not depend on how fast the emulator answers.
    held = []
    page.route("**/onboarding/repos/fetch/**", lambda route: held.append(route))
    with page.expect_request("**/onboarding/repos/fetch/"):
        with page.expect_navigation(url=re.compile(r"/onboarding/repos/$")):
            page.get_by_role("button", name="Authorize").click()
    path_is(page, "/onboarding/repos/")
    spinner = page.locator("#repo-list .loading")
    expect(spinner).to_be_visible()
    expect(spinner).to_have_text("Fetching repositories from GitHub…")
    expect(page.locator("#repo-form")).to_have_count(0)
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/onboarding/repos/fetch/**")

    # The list (newest push first) replaces the spinner; choose two repositories.
    rows = page.locator("#repo-form tr[data-repo]")
    expect(rows).to_have_count(4, timeout=15_000)
    expect(spinner).to_have_count(0)
    expect(page.locator("[data-start]")).to_be_disabled()
    chosen = [rows.nth(index).locator("label").inner_text() for index in (0, 2)]
    for name in chosen:
        page.get_by_label(name, exact=True).check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")

    with page.expect_navigation():
        page.get_by_role("button", name="Start sync").click()
    page.wait_for_load_state("load")
    path_is(page, "/onboarding/sync/")

    # From here on, everything arrives over the websocket.
    page.evaluate("window.samePage = true")  # gone if the page reloads
    made = []
    page.on("request", lambda request: made.append(f"{request.method} {request.url}"))
    expect(page.locator("#sync-repos tr[data-status]")).to_have_count(2)

    if screenshot is not None:
        take_mid_sync_screenshot(page, screenshot)

    page.wait_for_selector(STATE.format("succeeded"), timeout=40_000)
    expect(page.locator("#sync-repos tr[data-status='complete']")).to_have_count(2)
    expect(page.locator("#sync-summary")).to_contain_text("Everything is synced.")
    expect(page.locator("#sync-summary")).to_contain_text("2 repositories")
    for name in chosen:
        total = github.world.repo(name).count()
        row = page.locator(f"#sync-repos tr[data-repository='{name}']")
        expect(row.locator("td.numbers")).to_have_text(f"{total} of {total}")

    assert page.evaluate("window.samePage") is True
    # The websocket is no HTTP request; were it ever reported as one, it would not count.
    assert [made_request for made_request in made if not made_request.split(" ", 1)[1].startswith("ws")] == []
    return chosen


def take_mid_sync_screenshot(page, path):
    """Save the page once a row shows pull requests arriving, and prove the run was still going then."""
    page.wait_for_function(
        """() => {
            const state = document.querySelector("#sync-state").dataset.state;
            const rows = [...document.querySelectorAll("#sync-repos tr[data-status]")];
            return (state === "running" || state === "waiting")
                && rows.some(row => /^[1-9]\\d* of/.test(row.cells[2].textContent.trim()))
                && rows.some(row => row.dataset.status !== "complete");
        }""",
        timeout=30_000,
    )
    page.screenshot(path=str(path))
    # The page never runs ahead of the database: a run still active now was active in the picture.
    run = SyncRun.objects.get(team__name=TEAM_NAME)
    assert run.get_state().is_active, "the sync finished before the screenshot: slow the emulator down"


def assert_synced(github, chosen):
    """The database holds what the pages did: the team, its connection, and the two repositories complete."""
    user = get_user_model().objects.get(username=USERNAME)
    team = Team.objects.get(members=user)
    assert team.name == TEAM_NAME
    integration = GitHubIntegration.objects.get(team=team)
    assert integration.organization_login == "acme"
    assert integration.get_access_token().startswith("gho_")
    assert integration.get_access_token() in github.tokens

    repositories = TrackedRepository.objects.filter(team=team).order_by("full_name")
    assert sorted(chosen) == [repo.full_name for repo in repositories]
    for repo in repositories:
        total = github.world.repo(repo.full_name).count()
        assert (repo.sync_status, repo.prs_synced, repo.prs_total) == ("complete", total, total), repo.full_name
        assert PullRequest.objects.filter(repository=repo).count() == total

    run = SyncRun.objects.get(team=team)
    assert run.reason == "onboarding"
    assert run.outcome == "succeeded"
    assert run.get_state().state == "succeeded"
    assert sorted(run.repositories.values_list("full_name", flat=True)) == sorted(chosen)
    assert run.members_synced == len(github.world.members("acme"))


def test_production_mode_a_new_user_onboards_and_watches_the_sync_live(
    github, new_user, browser, settings, tmp_path, redis_url
):
    with live_app(settings, github, tmp_path, redis_url, SERVE_STATIC="1") as app:
        worker = app.start_worker(wait=False)
        daphne = app.start_web()
        page = browser.new_page(viewport=VIEWPORT)
        shot = screenshot_path(tmp_path)
        chosen = onboard(page, daphne, github, screenshot=shot)
        assert shot.stat().st_size > 0
        page.close()
        assert_synced(github, chosen)
        assert worker.alive(), worker.log()[-3000:]
        assert "[SYNC_TASK]" in worker.log()  # the sync ran in the worker, not in daphne


def test_embedded_mode_a_new_user_onboards_and_watches_the_sync_live(github, new_user, browser, settings, tmp_path):
    with live_app(settings, github, tmp_path) as app:
        daphne = app.start_web()
        page = browser.new_page(viewport=VIEWPORT)
        chosen = onboard(page, daphne, github)
        page.close()
        assert_synced(github, chosen)
        assert "[SYNC_TASK]" in daphne.log()  # the sync ran in daphne's own worker thread
