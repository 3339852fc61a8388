"""The dashboard in a real browser: its buttons keep their shape, Sync now and Stop tracking work as a person uses them.

Chromium (Debian's, through Playwright) on a daphne subprocess in embedded
mode (the sync runs in daphne's worker thread), against a GitHub emulator.
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from integrations.models import PullRequest, SyncRun
from tests.base import connected_team
from tests.browser import sign_in
from tests.live_server import LiveApp

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def dashboard(make_emulator, browser, settings, tmp_path):
    """(page, team): the team's owner signed in on the dashboard of a team tracking three repositories."""
    server = make_emulator(seed=43, repos=3, prs=(5, 15), members=3, latency_ms=100)
    team = connected_team(server)  # its owner's password is "pw"
    with LiveApp(settings, server.url, tmp_path) as app:
        daphne = app.start_web()
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        sign_in(page, daphne.url, team.members.get().username, "pw")
        page.goto(f"{daphne.url}/onboarding/dashboard/")
        yield page, team
        page.close()


def test_see_its_progress_never_breaks_across_lines(dashboard):
    page, team = dashboard
    now = timezone.now()
    note = "acme/a-repository-with-a-rather-long-name: page 3 of 12, 300 of 1,200 pull requests stored so far"
    run = SyncRun.objects.create(team=team, reason="onboarding", started_at=now, heartbeat_at=now, heartbeat_note=note)
    page.reload()
    button = page.get_by_role("link", name="See its progress")
    expect(button).to_have_attribute("href", f"/onboarding/sync/?run={run.pk}")

    for width in range(320, 1001, 20):
        page.set_viewport_size({"width": width, "height": 800})
        lines, height, font = button.evaluate(
            "e => [e.getClientRects().length, e.getBoundingClientRect().height,"
            " parseFloat(getComputedStyle(e).fontSize)]"
        )
        # One box, one line of text (line height 1.5) plus its padding.
        assert lines == 1 and height < 2.5 * font, (width, lines, height, font)


def test_sync_now_of_one_repository_and_stop_tracking_another(dashboard):
    page, team = dashboard
    first, second, third = team.repositories.order_by("full_name")
    expect(page.get_by_role("link", name="Onboarding sync")).to_have_attribute("href", "/onboarding/dashboard/")

    with page.expect_navigation():
        page.get_by_role("button", name=f"Sync {first.full_name} now").click()

    run = SyncRun.objects.get()
    assert re.search(rf"/onboarding/sync/\?run={run.pk}$", page.url), page.url
    assert list(run.repositories.all()) == [first]
    assert not run.include_members

    with page.expect_navigation():
        page.get_by_role("link", name="Onboarding sync").click()
    # Stop tracking asks first: dismissed, nothing happens.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name=f"Stop tracking {second.full_name}").click()
    expect(page.locator(f"tr[data-repository='{second.full_name}']")).to_have_count(1)
    assert team.repositories.count() == 3

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        page.get_by_role("button", name=f"Stop tracking {second.full_name}").click()

    assert asked and asked[0].startswith(f"Stop tracking {second.full_name}? Its ")
    expect(page.locator(".box.success")).to_contain_text(f"{second.full_name} is no longer tracked")
    expect(page.locator(f"tr[data-repository='{second.full_name}']")).to_have_count(0)
    assert sorted(team.repositories.values_list("full_name", flat=True)) == [first.full_name, third.full_name]
    assert not PullRequest.objects.filter(repository_id=second.pk).exists()
