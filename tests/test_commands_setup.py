"""The developer commands: scripts/run-tests' service detection, and manage.py demo: its entry, pace and restarts."""

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model

from integrations.emulator.server import EmulatorServer
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from onboarding.management.commands.demo import DEFAULT_LATENCY_MS, _demo_user, demo_world
from tests.base import connected_team, point_settings_at
from tests.conftest import TEST_TOKEN
from tests.onboarding_base import fast_passwords  # noqa: F401
from tests.services import wait_for

ROOT = Path(__file__).resolve().parent.parent


def _closed_port():
    """A port on 127.0.0.1 that nothing listens on (just released by the kernel)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_tests_script(**env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "DATABASE_URL", "REDIS_TEST_URL", "REDIS_URL"}}
    env.update(env_overrides)
    # "--version": if detection wrongly passed, pytest prints its version
    # instead of running this suite again inside itself.
    return subprocess.run(
        [str(ROOT / "scripts" / "run-tests"), "--version"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_tests_fails_under_ci_when_postgres_does_not_answer():
    port = _closed_port()
    result = _run_tests_script(CI="true", TEST_PG_PORT=str(port))

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"PostgreSQL does not answer on 127.0.0.1:{port}" in result.stderr
    assert "CI=true" in result.stderr
    assert "pytest" not in result.stdout


def test_run_tests_fails_under_ci_when_redis_does_not_answer():
    port = _closed_port()
    result = _run_tests_script(CI="true", TEST_REDIS_PORT=str(port))

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Redis does not answer on 127.0.0.1:{port}" in result.stderr


def test_run_tests_warns_and_runs_pytest_without_ci():
    result = _run_tests_script(TEST_PG_PORT=str(_closed_port()), TEST_REDIS_PORT=str(_closed_port()))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING: these tests will be skipped" in result.stderr
    assert "PostgreSQL does not answer" in result.stderr
    assert "pytest" in result.stdout + result.stderr  # pytest --version ran


def _manage(*args, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_demo_help_lists_its_options():
    result = _manage("demo", "--help")

    assert result.returncode == 0, result.stderr
    for option in ("--port", "--emulator-port", "--seed"):
        assert option in result.stdout


def test_demo_refuses_production_mode():
    result = _manage("demo", REDIS_URL="redis://127.0.0.1:1/0")

    assert result.returncode != 0
    assert "REDIS_URL is set" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_the_demos_default_latency_makes_a_sync_of_its_organisation_last_20_to_40_seconds(settings):
    # Counted at no latency: the sync's time at the default is its number of requests times the latency.
    server = EmulatorServer(demo_world(seed=1), tokens=(TEST_TOKEN,)).start()
    try:
        point_settings_at(settings, server)
        team = connected_team(server)
        run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
        summary = run_sync(run.pk, message_id="test")
    finally:
        server.stop()

    assert summary.outcome == "succeeded", summary.error
    assert team.repositories.count() == 12
    assert 20 <= summary.requests * DEFAULT_LATENCY_MS / 1000 <= 40, summary.requests
    assert f"(default {DEFAULT_LATENCY_MS}:" in _manage("demo", "--help").stdout


@contextmanager
def _demo_running(var_dir, port):
    """``manage.py demo`` in a subprocess on ``port``, with its SQLite database and secrets in ``var_dir``."""
    env = {
        name: value
        for name, value in os.environ.items()
        # The demo's own database and secrets, never the test run's PostgreSQL.
        if name not in {"REDIS_URL", "DATABASE_URL", "SECRET_KEY", "FERNET_KEYS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env["VAR_DIR"] = str(var_dir)
    args = ["demo", "--port", str(port), "--emulator-port", str(_closed_port()), "--latency-ms", "0"]
    with open(Path(var_dir).parent / "demo.log", "ab") as log:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:

        def answers():
            assert demo.poll() is None, (Path(var_dir).parent / "demo.log").read_text()[-3000:]
            try:
                return requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code
            except requests.ConnectionError:
                return None

        wait_for(answers, timeout=60, interval=0.2, message="the demo to answer")
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()


def _signed_in(browser, url):
    """Whether ``browser`` (a requests session) reaches a page that needs a signed-in user."""
    return browser.get(f"{url}/onboarding/team/", allow_redirects=False, timeout=10).status_code == 200


def test_a_restart_of_the_demo_keeps_the_demo_user_signed_in(tmp_path):
    var_dir, port, browser = tmp_path / "var", _closed_port(), requests.Session()
    with _demo_running(var_dir, port) as url:
        browser.get(f"{url}/accounts/login/", timeout=10)
        answer = browser.post(
            f"{url}/accounts/login/",
            data={"username": "demo", "password": "demo", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text
        assert _signed_in(browser, url)

    with _demo_running(var_dir, port) as url:
        assert _signed_in(browser, url)


@pytest.mark.django_db
def test_the_demo_resets_the_password_of_a_demo_user_who_changed_it():
    user = get_user_model().objects.create_user("demo", password="something-else")

    _demo_user()

    user.refresh_from_db()
    assert user.check_password("demo")
    assert user.is_staff and user.is_superuser
