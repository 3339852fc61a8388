"""The repositories page in a real browser: a filter that matches nothing, a Start button that looks disabled, Refresh.

Chromium (Debian's, through Playwright) on a daphne subprocess in embedded
mode, against a GitHub emulator; the team is connected and tracks nothing yet.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.browser import sign_in
from tests.live_server import LiveApp
from tests.onboarding_base import connect, make_team

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def picker(make_emulator, browser, settings, tmp_path):
    """A page on the repositories list of a connected team with six repositories."""
    server = make_emulator(seed=41, repos=6, prs=(0, 0), members=2)
    # The production hasher: the daphne subprocess checks the password with its own settings.
    user = get_user_model().objects.create_user("ada", password="pw")
    connect(make_team("Acme", user), "acme", user=user)
    with LiveApp(settings, server.url, tmp_path) as app:
        daphne = app.start_web()
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        sign_in(page, daphne.url, "ada", "pw")  # nothing tracked yet: onboarding sends her to the list
        assert page.url.endswith("/onboarding/repos/"), page.url
        expect(page.locator("#repo-form tr[data-repo]")).to_have_count(6, timeout=15_000)
        yield page
        page.close()


def look(locator):
    """The computed opacity and cursor of an element."""
    return locator.evaluate("e => { const s = getComputedStyle(e); return [s.opacity, s.cursor]; }")


def test_the_start_button_looks_disabled_until_a_repository_is_chosen(picker):
    start = picker.locator("[data-start]")
    expect(start).to_be_disabled()
    disabled = look(start)

    picker.locator('#repo-form input[name="repository"]').first.check()

    expect(start).to_be_enabled()
    enabled = look(start)
    assert enabled == ["1", "pointer"]
    assert disabled[1] == "not-allowed"
    assert float(disabled[0]) < 0.6


def test_a_filter_that_matches_nothing_says_so_instead_of_an_empty_table(picker):
    search = picker.get_by_label("Filter repositories by name")
    no_match = picker.locator("#repos-no-match")
    expect(no_match).to_be_hidden()

    search.fill("  no-such-repo ")

    expect(no_match).to_be_visible()
    expect(no_match).to_have_text("No repositories match 'no-such-repo'")
    expect(picker.locator("#repo-form table")).to_be_hidden()
    # Markup typed into the filter is shown as text, never parsed.
    search.fill("<b>x</b>")
    expect(no_match).to_have_text("No repositories match '<b>x</b>'")
    expect(no_match.locator("b")).to_have_count(0)

    search.fill(picker.locator("#repo-form tr[data-repo] label").first.inner_text()[:7])
    expect(no_match).to_be_hidden()
    expect(picker.locator("#repo-form table")).to_be_visible()
    assert picker.locator("#repo-form tr[data-repo]:visible").count() >= 1


def test_refresh_shows_that_the_list_is_being_fetched_again(picker):
    refreshing = picker.locator("#repos-refreshing")
    expect(refreshing).to_be_hidden()
    # The answer is held until the loading state has been seen, whatever the emulator's speed.
    held = []
    picker.route(re.compile(r"/onboarding/repos/fetch/\?refresh=1"), lambda route: held.append(route))

    with picker.expect_request(re.compile(r"/onboarding/repos/fetch/\?refresh=1")):
        picker.get_by_role("button", name="Refresh").click()

    expect(refreshing).to_be_visible()
    expect(refreshing).to_contain_text("Fetching repositories from GitHub…")
    expect(picker.get_by_role("button", name="Refresh")).to_be_disabled()
    assert float(look(picker.locator("#repo-form table"))[0]) < 1
    held[0].continue_()
    expect(picker.locator("#repos-refreshing")).to_be_hidden()
    expect(picker.get_by_role("button", name="Refresh")).to_be_enabled()
    expect(picker.locator("#repo-form tr[data-repo]")).to_have_count(6)
