"""A real browser watches a sync: live over the websocket, no polling, and back on its feet after daphne restarts.

Chromium (Debian's, through Playwright) talks to daphne subprocesses serving
``project.asgi`` on the test database; the GitHub emulator answers slowly
enough for a sync to last a few seconds. The sync is started the way a user
does it: Retry on a failed run.
"""

import signal

import pytest

from integrations.models import SyncRun
from tests.base import connected_team
from tests.browser import STATE, screenshot_path, sign_in
from tests.live_server import LiveApp
from tests.services import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def failed_sync(make_emulator):
    """(emulator, team, user) with a failed first sync of every repository; the user's password is "pw"."""
    server = make_emulator(seed=31, repos=2, prs=(150, 220), members=5, latency_ms=450)
    team = connected_team(server)
    team.repositories.update(sync_status="failed", last_error="GitHub was unavailable.")
    run = SyncRun.objects.create(
        team=team, reason="onboarding", outcome="failed", error="2 of 2 failed. GitHub was unavailable."
    )
    run.repositories.set(team.repositories.all())
    return server, team, team.members.get()


def retry_from_the_page(page, daphne, user):
    """Sign in, land on the failed sync, press Retry; returns the HTTP requests the page makes afterwards."""
    sign_in(page, daphne.url, user.username, "pw")
    assert page.url.endswith("/onboarding/sync/"), page.url
    page.wait_for_selector(STATE.format("failed"))
    with page.expect_navigation():
        page.get_by_role("button", name="Retry").click()
    page.wait_for_load_state("load")
    retry = SyncRun.objects.get(reason="retry")
    assert page.url.endswith(f"/onboarding/sync/?run={retry.pk}")
    page.evaluate("window.samePage = true")  # gone if the page reloads
    made = []
    page.on("request", lambda request: made.append(f"{request.method} {request.url}"))
    return retry, made


def wait_for_progress(page):
    """The page shows the sync running with pull requests arriving, without a reload."""
    page.wait_for_selector(f"{STATE.format('running')}, {STATE.format('waiting')}", timeout=20_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#sync-repos tr[data-status]')]"
        ".some(row => /^[1-9]\\d* of/.test(row.cells[2].textContent.trim()))",
        timeout=20_000,
    )


def message_is_dropped(page, run_id, seq):
    """Whether the page's script drops a websocket message carrying (run_id, seq)."""
    return page.evaluate(
        """([run, seq]) => {
            const message = `<section id="sync-state" data-run="${run}" data-seq="${seq}"></section>`;
            const event = new CustomEvent("htmx:wsBeforeMessage", {bubbles: true, cancelable: true, detail: {message}});
            document.getElementById("sync-live").dispatchEvent(event);
            return event.defaultPrevented;
        }""",
        [run_id, seq],
    )


def test_embedded_mode_the_page_follows_a_sync_live_with_no_http_request(failed_sync, browser, settings, tmp_path):
    server, team, user = failed_sync
    with LiveApp(settings, server.url, tmp_path) as app:
        daphne = app.start_web()
        page = browser.new_page()
        retry, made = retry_from_the_page(page, daphne, user)
        wait_for_progress(page)
        page.screenshot(path=str(screenshot_path(tmp_path)))
        page.wait_for_selector(STATE.format("succeeded"), timeout=30_000)
        assert "Everything is synced." in page.inner_text("#sync-summary")
        rows = page.locator("#sync-repos tr[data-status='complete']")
        assert rows.count() == 2
        shown = int(page.get_attribute("#sync-state", "data-seq"))
        assert message_is_dropped(page, retry.pk, shown - 1)
        assert not message_is_dropped(page, retry.pk, shown)

        # A newer run of the team (an admin's resync, say) takes the page over, still without HTTP.
        newer = SyncRun.objects.create(team=team, reason="admin")
        page.wait_for_selector(f"#sync-live[ws-connect='/ws/sync/{newer.pk}/'] {STATE.format('queued')}")

        assert page.evaluate("window.samePage") is True
        assert made == []
        retry.refresh_from_db()
        assert retry.get_state().state == "succeeded"


def test_production_mode_the_page_survives_a_daphne_restart_mid_sync(
    failed_sync, browser, settings, tmp_path, redis_url
):
    server, _, user = failed_sync
    with LiveApp(settings, server.url, tmp_path, redis_url, SERVE_STATIC="1") as app:
        app.start_worker(wait=False)
        daphne = app.start_web()
        page = browser.new_page()
        retry, made = retry_from_the_page(page, daphne, user)
        wait_for_progress(page)

        daphne.stop(signal.SIGTERM)
        retry.refresh_from_db()
        assert retry.get_state().is_active, "the sync finished before daphne stopped: slow the emulator down"
        page.wait_for_selector("#sync-connection:has-text('reconnecting')", timeout=10_000)

        # The run finishes while no web server is up: its last events reach nobody.
        def finished():
            retry.refresh_from_db()
            return retry.outcome

        assert wait_for(finished, timeout=40, message="the worker to finish the sync") == "succeeded"
        app.start_web(port=daphne.port)

        # htmx's websocket extension reconnects by itself; the snapshot on connect tells the truth.
        page.wait_for_selector(STATE.format("succeeded"), timeout=20_000)
        assert page.locator("#sync-repos tr[data-status='complete']").count() == 2
        assert page.inner_text("#sync-connection") == ""
        assert page.evaluate("window.samePage") is True
        assert made == []
