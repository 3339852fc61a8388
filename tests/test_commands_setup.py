"""The developer commands: scripts/run-tests' service detection and manage.py demo's entry."""

import os
import socket
import subprocess
import sys
from pathlib import Path

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
