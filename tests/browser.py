"""A real browser on the app's processes: Debian's chromium through Playwright's sync API.

The app runs in subprocesses (``tests.live_server.LiveApp``) that share the
test database, so that database must be PostgreSQL.
"""

import os
from pathlib import Path

import pytest
from django.db import connection

from harness.chromium import CHROMIUM_ARGS
from tests.services import require_postgres

STATE = "#sync-state[data-state='{}']"


@pytest.fixture
def browser(chromium, monkeypatch):
    """Chromium for the test, launched once the test database is ready to be shared with it (see below)."""
    from playwright.sync_api import sync_playwright

    require_postgres()
    # Playwright's sync API keeps an event loop in this thread; the ORM calls
    # made while it runs are plain blocking ones, made between browser steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # Once Playwright's sync API runs, Django's (context-local) connection
    # lookup finds another connection than before it: each is closed
    # explicitly, or one stays open and blocks the test database's teardown.
    connection.close()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            connection.close()
            browser.close()


def sign_in(page, base_url, username, password):
    """Log in through the login form; the browser then lands wherever the app sends it."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def screenshot_path(tmp_path):
    """Where the mid-sync screenshot goes: ``SYNC_PROGRESS_SCREENSHOT`` if set (the README's image), else tmp."""
    path = Path(os.environ.get("SYNC_PROGRESS_SCREENSHOT") or tmp_path / "sync-progress.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
