"""The local services some tests need, and waiting on conditions with a deadline.

A test that needs PostgreSQL, Redis or Debian's chromium is skipped when the
service is missing on a laptop, and fails under ``CI=true``, where a missing
service is a broken machine rather than a choice. ``scripts/run-tests`` finds
the services and exports ``DATABASE_URL`` and ``REDIS_TEST_URL``.
"""

import os
import time

import pytest
import redis
from django.db import connections

CHROMIUM_PATH = "/usr/bin/chromium"


def _missing(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true, so a missing service is a failure)", pytrace=False)
    pytest.skip(reason)


def redis_test_url():
    """``REDIS_TEST_URL`` once Redis answers a PING there; skips or fails otherwise."""
    url = os.environ.get("REDIS_TEST_URL")
    if not url:
        _missing("needs Redis: REDIS_TEST_URL is not set (scripts/run-tests sets it when Redis answers on :6379)")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        _missing(f"needs Redis: nothing answers at REDIS_TEST_URL={url} ({exc})")
    return url


def require_postgres():
    """Skip or fail unless the test database is PostgreSQL."""
    vendor = connections["default"].vendor
    if vendor != "postgresql":
        _missing(
            f"needs PostgreSQL: the test database is {vendor} "
            "(scripts/run-tests sets DATABASE_URL when PostgreSQL answers on :5432)"
        )


def chromium_path():
    """The path of Debian's chromium; skips or fails when it is not installed."""
    if not os.access(CHROMIUM_PATH, os.X_OK):
        _missing(f"needs a browser: {CHROMIUM_PATH} is missing (apt-get install chromium)")
    return CHROMIUM_PATH


@pytest.fixture(scope="session")
def redis_url():
    return redis_test_url()


@pytest.fixture(scope="session")
def chromium():
    return chromium_path()


def wait_for(predicate, timeout=10.0, interval=0.05, message=None):
    """Call ``predicate`` until it returns something truthy, and return that.

    Raises AssertionError after ``timeout`` seconds, naming ``message`` (or the
    predicate) and the last value seen. Uses the monotonic clock, which
    time-machine leaves running, so it works inside a frozen-time test.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last value: {value!r})")
        time.sleep(interval)
