"""Shared fixtures: a real local GitHub (the emulator) over HTTP, and a real browser."""

import pytest
import requests

from tests.browser import browser  # noqa: F401  (fixture)
from tests.services import chromium, redis_url  # noqa: F401  (fixtures)

TEST_TOKEN = "test-token"


def start_emulator(*, seed=11, orgs=("acme",), repos=2, prs=(20, 60), members=6, tokens=(TEST_TOKEN,), **options):
    """An emulator in this process with a world built from ``seed``; ``options`` go to ``EmulatorServer``."""
    from integrations.emulator.data import build_world
    from integrations.emulator.server import EmulatorServer

    world = build_world(seed=seed, orgs=orgs, repos=repos, prs=prs, members=members)
    return EmulatorServer(world, tokens=tokens, **options).start()


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    """A ``redis-server`` of the module's own (no persistence): a test may restart it without disturbing anyone's."""
    import os
    import shutil

    from harness.processes import RedisServer

    if shutil.which("redis-server") is None:
        message = "needs redis-server on the PATH to run a private Redis (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true, so a missing service is a failure)", pytrace=False)
        pytest.skip(message)
    server = RedisServer(tmp_path_factory.mktemp("private-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_emulator():
    """One emulator for the whole session; tests must not change its data (use make_emulator)."""
    server = start_emulator(seed=7, repos=4, prs=(0, 120), members=12)
    yield server
    server.stop()


@pytest.fixture
def emulator(shared_emulator):
    """The shared emulator with no faults and zeroed request counts."""
    _reset(shared_emulator)
    yield shared_emulator
    _reset(shared_emulator)


def _reset(server):
    requests.delete(f"{server.url}/_emulator/faults", timeout=5).raise_for_status()
    requests.post(f"{server.url}/_emulator/stats/reset", timeout=5).raise_for_status()
    requests.post(f"{server.url}/_emulator/config", json={"latency_ms": 0}, timeout=5).raise_for_status()


@pytest.fixture
def make_emulator():
    """Start a private emulator (its data may be changed by the test); stopped after the test."""
    started = []

    def make(**options):
        started.append(start_emulator(**options))
        return started[-1]

    yield make
    for server in started:
        server.stop()


def add_fault(server, **fault):
    requests.post(f"{server.url}/_emulator/faults", json=fault, timeout=5).raise_for_status()


def emulator_stats(server):
    return requests.get(f"{server.url}/_emulator/stats", timeout=5).json()


@pytest.fixture(autouse=True)
def empty_broker():
    """Every test starts and ends with an empty in-process broker and no embedded worker or watcher thread.

    Tests enqueue messages that no worker runs (the admin's actions, Retry); left behind,
    they would be run, or waited for, by a later test's worker.
    """
    import dramatiq

    from integrations import embedded

    broker = dramatiq.get_broker()
    broker.flush_all()
    yield broker
    embedded.stop_worker()
    embedded.stop_watcher()
    broker.flush_all()
